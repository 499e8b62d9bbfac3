package resample

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"

	"golang.org/x/image/draw"
)

var lanczos3 = Filter{Support: 3, At: func(t float64) float64 {
	if t == 0 {
		return 1
	}
	x := math.Pi * t
	return 3 * math.Sin(x) * math.Sin(x/3) / (x * x)
}}

func TestAxisWeightsSumToOne(t *testing.T) {
	for _, c := range []struct {
		x0, x1 float64
		n      int
	}{{0, 100, 37}, {0, 10, 100}, {3.5, 50.25, 20}, {0, 1, 5}, {0, 3, 1}} {
		a := NewAxis(lanczos3, c.x0, c.x1, c.n, 0, int(math.Ceil(c.x1)))
		for i := range a.Len {
			var s int32
			for _, w := range a.W[i*a.Taps : (i+1)*a.Taps] {
				s += w
			}
			if s != one {
				t.Fatalf("%+v: output %d weights sum to %d", c, i, s)
			}
			if a.Start[i] < 0 || a.Start[i]+a.Taps > int(math.Ceil(c.x1)) {
				t.Fatalf("%+v: output %d reads [%d,%d)", c, i, a.Start[i], a.Start[i]+a.Taps)
			}
		}
	}
}

func TestIdentityAndConstant(t *testing.T) {
	src := Plane{Pix: make([]byte, 40*30), Stride: 40, W: 40, H: 30, Ch: 1}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range src.Pix {
		src.Pix[i] = uint8(rng.IntN(256))
	}
	dst := Plane{Pix: make([]byte, 40*30), Stride: 40, W: 40, H: 30, Ch: 1}
	Resize(dst, src, NewAxis(lanczos3, 0, 40, 40, 0, 40), NewAxis(lanczos3, 0, 30, 30, 0, 30))
	for i := range src.Pix {
		if src.Pix[i] != dst.Pix[i] {
			t.Fatalf("identity resize changed sample %d: %d -> %d", i, src.Pix[i], dst.Pix[i])
		}
	}
	for i := range src.Pix {
		src.Pix[i] = 77
	}
	d2 := Plane{Pix: make([]byte, 13*7), Stride: 13, W: 13, H: 7, Ch: 1}
	Resize(d2, src, NewAxis(lanczos3, 0, 40, 13, 0, 40), NewAxis(lanczos3, 2.5, 28, 7, 0, 30))
	for i, v := range d2.Pix {
		if v != 77 {
			t.Fatalf("constant image resampled to %d at %d", v, i)
		}
	}
}

// TestMatchesXImageDraw compares a 4-channel shrink and a crop-and-shrink
// with golang.org/x/image/draw's Kernel.Scale using the same kernel (an
// independent implementation, float arithmetic).
func TestMatchesXImageDraw(t *testing.T) {
	const w, h = 301, 203
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := 128 + 100*math.Sin(float64(x)/7)*math.Cos(float64(y)/5)
			src.SetRGBA(x, y, color.RGBA{uint8(v), uint8(x), uint8(y), 255})
		}
	}
	k := &draw.Kernel{Support: lanczos3.Support, At: lanczos3.At}
	for _, c := range []struct {
		sr     image.Rectangle
		dw, dh int
	}{{src.Rect, 97, 61}, {image.Rect(20, 30, 220, 180), 50, 75}, {src.Rect, 600, 400}} {
		ref := image.NewRGBA(image.Rect(0, 0, c.dw, c.dh))
		k.Scale(ref, ref.Rect, src, c.sr, draw.Src, nil)
		got := image.NewRGBA(ref.Rect)
		Resize(Plane{Pix: got.Pix, Stride: got.Stride, W: c.dw, H: c.dh, Ch: 4, Premultiply: true},
			Plane{Pix: src.Pix, Stride: src.Stride, W: w, H: h, Ch: 4},
			NewAxis(lanczos3, float64(c.sr.Min.X), float64(c.sr.Max.X), c.dw, c.sr.Min.X, c.sr.Max.X),
			NewAxis(lanczos3, float64(c.sr.Min.Y), float64(c.sr.Max.Y), c.dh, c.sr.Min.Y, c.sr.Max.Y))
		var sum, worst float64
		for i := range got.Pix {
			d := math.Abs(float64(got.Pix[i]) - float64(ref.Pix[i]))
			sum += d
			worst = max(worst, d)
		}
		if mean := sum / float64(len(got.Pix)); mean > 0.6 || worst > 12 {
			t.Errorf("%v -> %dx%d: mean difference %.3f, worst %.0f from x/image/draw", c.sr, c.dw, c.dh, mean, worst)
		}
	}
}

func BenchmarkResizePlane(b *testing.B) {
	src := Plane{Pix: make([]byte, 2016*1512), Stride: 2016, W: 2016, H: 1512, Ch: 1}
	dst := Plane{Pix: make([]byte, 1200*900), Stride: 1200, W: 1200, H: 900, Ch: 1}
	ax, ay := NewAxis(lanczos3, 0, 2016, 1200, 0, 2016), NewAxis(lanczos3, 0, 1512, 900, 0, 1512)
	b.ReportAllocs()
	t0 := cpuTime()
	for b.Loop() {
		Resize(dst, src, ax, ay)
	}
	b.ReportMetric(float64(cpuTime()-t0)/float64(b.N)/1e6, "cpu-ms/op")
}

// cpuTime is the process's user+system CPU time in nanoseconds: on a
// shared machine it measures the work better than the wall clock.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// floatRef resamples one channel of src with ax, ay in float64: the
// vertical pass, clamped to the sample range as between the fixed-point
// passes, then the horizontal one, rounding only at the end.
func floatRef(src Plane, c int, ax, ay *Axis) []float64 {
	out := make([]float64, ax.Len*ay.Len)
	for y := range ay.Len {
		col := func(x int) float64 {
			var s float64
			for j := range ay.Taps {
				s += float64(src.Pix[(ay.Start[y]+j)*src.Stride+x*src.Ch+c]) * float64(ay.W[y*ay.Taps+j]) / one
			}
			return min(max(s, 0), 255)
		}
		for x := range ax.Len {
			var s float64
			for i := range ax.Taps {
				s += col(ax.Start[x]+i) * float64(ax.W[x*ax.Taps+i]) / one
			}
			out[y*ax.Len+x] = min(max(s, 0), 255)
		}
	}
	return out
}

// TestKernels resamples random planes of 1, 3 and 4 channels (shrinks,
// enlargements, crops with fractional ends, odd and even tap counts, rows
// wider and narrower than a vector) through the SSE2 kernels and the plain
// C loops: both must give the same bytes, within a level of the float sums.
func TestKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		w, h, ch       int
		x0, x1, y0, y1 float64
		dw, dh         int
	}{
		{301, 203, 1, 0, 301, 0, 203, 97, 61},
		{301, 203, 4, 0, 301, 0, 203, 97, 61},
		{301, 203, 3, 0, 301, 0, 203, 97, 61},
		{64, 48, 1, 3.25, 60.5, 1.5, 47, 130, 97},
		{64, 48, 4, 3.25, 60.5, 1.5, 47, 130, 97},
		{37, 29, 1, 0, 37, 0, 29, 5, 3},
		{37, 29, 4, 10, 12, 10, 11, 17, 9},
		{7, 5, 1, 0, 7, 0, 5, 7, 5},
		{1000, 9, 4, 0, 1000, 0, 9, 333, 9},
	} {
		src := Plane{Pix: make([]byte, c.w*c.h*c.ch), Stride: c.w * c.ch, W: c.w, H: c.h, Ch: c.ch}
		for i := range src.Pix {
			src.Pix[i] = uint8(rng.IntN(256))
		}
		ax := NewAxis(lanczos3, c.x0, c.x1, c.dw, int(c.x0), int(math.Ceil(c.x1)))
		ay := NewAxis(lanczos3, c.y0, c.y1, c.dh, int(c.y0), int(math.Ceil(c.y1)))
		run := func(plain bool) []byte {
			plainC = plain
			defer func() { plainC = false }()
			// a stride wider than the row, so that rows are not contiguous
			dst := Plane{Pix: make([]byte, (c.dw+3)*c.dh*c.ch), Stride: (c.dw + 3) * c.ch, W: c.dw, H: c.dh, Ch: c.ch}
			Resize(dst, src, ax, ay)
			return dst.Pix
		}
		fast, plain := run(false), run(true)
		name := fmt.Sprintf("%dx%dx%d [%g,%g)x[%g,%g) -> %dx%d", c.w, c.h, c.ch, c.x0, c.x1, c.y0, c.y1, c.dw, c.dh)
		if !bytes.Equal(fast, plain) {
			t.Errorf("%s: the SSE2 kernels and the plain loops differ", name)
		}
		for ch := range c.ch {
			ref := floatRef(src, ch, ax, ay)
			for y := range c.dh {
				for x := range c.dw {
					got := float64(fast[y*(c.dw+3)*c.ch+x*c.ch+ch])
					if want := ref[y*c.dw+x]; math.Abs(got-want) > 1 {
						t.Fatalf("%s: channel %d at (%d,%d) is %.0f; float sums give %.2f", name, ch, x, y, got, want)
					}
				}
			}
		}
	}
}

func TestResizeChecksBounds(t *testing.T) {
	src := Plane{Pix: make([]byte, 10*10), Stride: 10, W: 10, H: 10, Ch: 1}
	dst := Plane{Pix: make([]byte, 5*5), Stride: 5, W: 5, H: 5, Ch: 1}
	ax, ay := NewAxis(lanczos3, 0, 10, 5, 0, 10), NewAxis(lanczos3, 0, 10, 5, 0, 10)
	for name, f := range map[string]func(){
		"short source": func() { Resize(dst, Plane{Pix: src.Pix[:99], Stride: 10, W: 10, H: 10, Ch: 1}, ax, ay) },
		"short output": func() { Resize(Plane{Pix: dst.Pix[:24], Stride: 5, W: 5, H: 5, Ch: 1}, src, ax, ay) },
		"axis outside": func() { Resize(dst, Plane{Pix: src.Pix[:90], Stride: 10, W: 10, H: 9, Ch: 1}, ax, ay) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Resize did not panic", name)
				}
			}()
			f()
		}()
	}
}
