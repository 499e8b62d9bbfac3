// Package resample scales 8-bit images with a separable filter: weights
// are computed once per axis in 14-bit fixed point, the horizontal pass
// runs over only the source rows the output needs, and the output is split
// into row bands resampled in parallel. Crop and scale are one operation:
// an Axis maps any span of the source (fractional ends included) onto the
// output.
package resample

import (
	"math"
	"runtime"
	"sync"
)

// Filter is a resampling kernel, symmetric about 0: At is only called
// with t in [0, Support) (as golang.org/x/image/draw.Kernel). When
// shrinking, the filter is widened by the reduction factor.
type Filter struct {
	Support float64
	At      func(float64) float64
}

const (
	shift = 14
	one   = 1 << shift
	half  = 1 << (shift - 1)
)

// An Axis holds the weights mapping source samples onto Len output samples
// along one axis: output i is the sum over k < Taps of W[i*Taps+k] times
// source sample Start[i]+k, in units of 1<<14.
type Axis struct {
	Len, Taps int
	Start     []int
	W         []int32
}

// NewAxis computes the weights that resample the source span [x0, x1)
// (in source pixel units; pixel j covers [j, j+1)) onto n output samples.
// Taps falling outside [lo, hi) read the nearest sample inside it. It
// panics unless lo < hi and n > 0.
func NewAxis(f Filter, x0, x1 float64, n, lo, hi int) *Axis {
	if lo >= hi || n <= 0 || !(x1 > x0) {
		panic("resample: bad axis")
	}
	scale := (x1 - x0) / float64(n)
	fs := max(scale, 1)
	sup := f.Support * fs
	taps := min(int(math.Ceil(2*sup))+1, hi-lo)
	a := &Axis{Len: n, Taps: taps, Start: make([]int, n), W: make([]int32, n*taps)}
	ws := make([]float64, taps)
	for i := range n {
		c := x0 + (float64(i)+0.5)*scale
		j0, j1 := int(math.Floor(c-sup)), int(math.Ceil(c+sup))
		start := min(max(j0, lo), hi-taps)
		clear(ws)
		var sum float64
		for j := j0; j < j1; j++ {
			t := math.Abs(float64(j)+0.5-c) / fs
			if t >= f.Support {
				continue
			}
			v := f.At(t)
			ws[min(max(j, lo), hi-1)-start] += v
			sum += v
		}
		if sum == 0 { // degenerate filter: take the nearest sample
			ws[min(max(int(c), lo), hi-1)-start], sum = 1, 1
		}
		a.Start[i] = start
		w := a.W[i*taps : (i+1)*taps]
		var total int32
		big := 0
		for k, v := range ws {
			w[k] = int32(math.Round(v / sum * one))
			total += w[k]
			if w[k] > w[big] {
				big = k
			}
		}
		w[big] += one - total // weights sum to exactly one
	}
	return a
}

// Slice returns the axis of outputs [i, j) of a: the part of a scaled
// image that is visible, with the same mapping.
func (a *Axis) Slice(i, j int) *Axis {
	return &Axis{Len: j - i, Taps: a.Taps, Start: a.Start[i:j], W: a.W[i*a.Taps : j*a.Taps]}
}

// Plane is an 8-bit image of Ch interleaved channels: sample c of pixel
// (x, y) is Pix[y*Stride+x*Ch+c].
type Plane struct {
	Pix         []byte
	Stride      int
	W, H, Ch    int
	Premultiply bool // Ch == 4 and premultiplied RGBA: colour is clamped to alpha
}

var tmpPool sync.Pool // *[]byte

// Resize resamples src into dst, whose size must be ax.Len × ay.Len; the
// axes index src's columns and rows. Work is split into row bands run in
// parallel when the image is large enough to pay for it.
func Resize(dst, src Plane, ax, ay *Axis) {
	if dst.W != ax.Len || dst.H != ay.Len || dst.Ch != src.Ch {
		panic("resample: size mismatch")
	}
	bands := 1
	if work := dst.W * dst.H * dst.Ch * (ax.Taps + ay.Taps); work > 1<<20 {
		bands = min(runtime.GOMAXPROCS(0), dst.H/16, work>>19)
		bands = max(bands, 1)
	}
	if bands == 1 {
		resizeBand(dst, src, ax, ay, 0, dst.H)
		return
	}
	var wg sync.WaitGroup
	for b := range bands {
		y0, y1 := b*dst.H/bands, (b+1)*dst.H/bands
		wg.Go(func() { resizeBand(dst, src, ax, ay, y0, y1) })
	}
	wg.Wait()
}

// resizeBand computes output rows [y0, y1): the horizontal pass over the
// source rows they need into a temporary buffer, then the vertical pass.
func resizeBand(dst, src Plane, ax, ay *Axis, y0, y1 int) {
	if y0 >= y1 {
		return
	}
	r0, r1 := ay.Start[y0], ay.Start[y1-1]+ay.Taps
	rowLen := dst.W * dst.Ch
	need := (r1 - r0) * rowLen
	bp, _ := tmpPool.Get().(*[]byte)
	if bp == nil || cap(*bp) < need {
		b := make([]byte, need)
		bp = &b
	}
	tmp := (*bp)[:need]
	defer tmpPool.Put(bp)

	for r := r0; r < r1; r++ {
		in := src.Pix[r*src.Stride:]
		out := tmp[(r-r0)*rowLen : (r-r0+1)*rowLen]
		switch src.Ch {
		case 1:
			horizontal1(out, in, ax)
		case 4:
			horizontal4(out, in, ax)
		default:
			horizontalN(out, in, ax, src.Ch)
		}
	}
	acc := make([]int32, rowLen) // small: one output row
	for y := y0; y < y1; y++ {
		w := ay.W[y*ay.Taps : (y+1)*ay.Taps]
		s := ay.Start[y] - r0
		out := dst.Pix[y*dst.Stride : y*dst.Stride+rowLen]
		vertical(out, tmp, rowLen, s, w, acc)
		if dst.Premultiply && dst.Ch == 4 {
			for i := 0; i+3 < len(out); i += 4 {
				a := out[i+3]
				out[i], out[i+1], out[i+2] = min(out[i], a), min(out[i+1], a), min(out[i+2], a)
			}
		}
	}
}

func clamp8(v int32) uint8 {
	v = (v + half) >> shift
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

func horizontal1(out, in []byte, ax *Axis) {
	n := ax.Taps
	for x := range out {
		s := ax.Start[x]
		w := ax.W[x*n : x*n+n]
		p := in[s : s+len(w)]
		var sum int32
		for k, wv := range w {
			sum += int32(p[k]) * wv
		}
		out[x] = clamp8(sum)
	}
}

func horizontal4(out, in []byte, ax *Axis) {
	n := ax.Taps
	for x := 0; x < len(out)/4; x++ {
		s := ax.Start[x] * 4
		w := ax.W[x*n : x*n+n]
		p := in[s : s+4*len(w)]
		var s0, s1, s2, s3 int32
		for k, wv := range w {
			q := p[4*k : 4*k+4]
			s0 += int32(q[0]) * wv
			s1 += int32(q[1]) * wv
			s2 += int32(q[2]) * wv
			s3 += int32(q[3]) * wv
		}
		o := out[4*x : 4*x+4]
		o[0], o[1], o[2], o[3] = clamp8(s0), clamp8(s1), clamp8(s2), clamp8(s3)
	}
}

func horizontalN(out, in []byte, ax *Axis, ch int) {
	n := ax.Taps
	for x := 0; x < len(out)/ch; x++ {
		s := ax.Start[x] * ch
		w := ax.W[x*n : x*n+n]
		for c := range ch {
			var sum int32
			for k, wv := range w {
				sum += int32(in[s+k*ch+c]) * wv
			}
			out[x*ch+c] = clamp8(sum)
		}
	}
}

// vertical computes one output row from the rows s, s+1, ... of tmp
// (rowLen bytes each) weighted by w, accumulating row by row.
func vertical(out, tmp []byte, rowLen, s int, w []int32, acc []int32) {
	acc = acc[:rowLen]
	k := 0
	if len(w) >= 2 {
		r0 := tmp[s*rowLen : (s+1)*rowLen]
		r1 := tmp[(s+1)*rowLen : (s+2)*rowLen]
		w0, w1 := w[0], w[1]
		r0, r1 = r0[:len(acc)], r1[:len(acc)]
		for x := range acc {
			acc[x] = int32(r0[x])*w0 + int32(r1[x])*w1
		}
		k = 2
	} else {
		clear(acc)
	}
	for ; k+1 < len(w); k += 2 {
		r0 := tmp[(s+k)*rowLen : (s+k+1)*rowLen]
		r1 := tmp[(s+k+1)*rowLen : (s+k+2)*rowLen]
		w0, w1 := w[k], w[k+1]
		r0, r1 = r0[:len(acc)], r1[:len(acc)]
		for x := range acc {
			acc[x] += int32(r0[x])*w0 + int32(r1[x])*w1
		}
	}
	if k < len(w) {
		r := tmp[(s+k)*rowLen : (s+k+1)*rowLen]
		r = r[:len(acc)]
		wk := w[k]
		for x := range acc {
			acc[x] += int32(r[x]) * wk
		}
	}
	out = out[:len(acc)]
	for x, v := range acc {
		out[x] = clamp8(v)
	}
}
