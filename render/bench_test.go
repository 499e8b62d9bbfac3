package render

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	stdpng "image/png"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ipsd/ipsd/render/internal/fastpng"
	"github.com/ipsd/ipsd/render/internal/turbojpeg"
	"golang.org/x/image/draw"
)

// Benchmarks per render stage (decode, resample, sharpen, encode) and of
// whole renders, on a corpus camera photo (4032×3024, 4:2:2) and a PNG
// with alpha made from it; `go test -bench . -run '^$' ./render/...`.
// They report allocations and, besides the wall clock, the process's CPU
// time per operation (cpu-ms/op), which is steadier on a shared machine.
// Timings are never asserted.

const benchPhoto = "../../shared/corpus/photos/42_IndexError.jpg"

func benchSource(b *testing.B) []byte {
	b.Helper()
	data, err := os.ReadFile(filepath.FromSlash(benchPhoto))
	if err != nil {
		b.Skip("corpus photo not found")
	}
	return data
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// loop runs f b.N times and reports CPU time per op.
func loop(b *testing.B, f func()) {
	b.ReportAllocs()
	t0 := cpuNanos()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(cpuNanos()-t0)/float64(b.N)/1e6, "cpu-ms/op")
}

func BenchmarkDecode(b *testing.B) {
	data := benchSource(b)
	b.Run("stdlib", func(b *testing.B) {
		loop(b, func() {
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		})
	})
	// n/8 of the size: 1/8, 1/4 and 1/2 have SIMD inverse DCTs in
	// libjpeg-turbo, 5/8 (what a factor of two left for the resampler
	// would take for 1200 px) does not
	for _, n := range []int{8, 5, 4, 2} {
		b.Run("turbo-rgba-"+string(rune('0'+n))+"/8", func(b *testing.B) {
			buf := make([]byte, 4*4032*3024)
			loop(b, func() {
				if _, err := turbojpeg.DecodeRGBA(data, n, buf); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
	b.Run("turbo-planar-4/8", func(b *testing.B) {
		loop(b, func() {
			if _, err := turbojpeg.DecodePlanar(data, 4); err != nil {
				b.Fatal(err)
			}
		})
	})
	png := benchPNG(b)
	b.Run("png-fast", func(b *testing.B) {
		loop(b, func() {
			if _, err := fastpng.Decode(png); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("png-stdlib", func(b *testing.B) {
		loop(b, func() {
			if _, err := stdpng.Decode(bytes.NewReader(png)); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// benchPNG is the job (c) source made from the corpus photo: 2016
// px wide (a 1/2 decode), RGBA with a horizontal alpha ramp.
func benchPNG(b *testing.B) []byte {
	b.Helper()
	m, err := turbojpeg.DecodeRGBA(benchSource(b), 4, nil)
	if err != nil {
		b.Fatal(err)
	}
	n := &image.NRGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
	for y := range n.Rect.Dy() {
		for x := range n.Rect.Dx() {
			n.Pix[y*n.Stride+4*x+3] = uint8(255 * x / n.Rect.Dx())
		}
	}
	var buf bytes.Buffer
	if err := stdpng.Encode(&buf, n); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func BenchmarkResample(b *testing.B) {
	data := benchSource(b)
	half, err := turbojpeg.DecodePlanar(data, 4)
	if err != nil {
		b.Fatal(err)
	}
	halfRGBA, err := turbojpeg.DecodeRGBA(data, 4, nil)
	if err != nil {
		b.Fatal(err)
	}
	full := image.Rect(0, 0, 4032, 3024)
	dst := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	b.Run("ycbcr-half-to-1200", func(b *testing.B) {
		loop(b, func() { scaleInto(dst, dst.Rect, half, full, 4, lanczos3) })
	})
	b.Run("rgba-half-to-1200", func(b *testing.B) {
		loop(b, func() { scaleInto(dst, dst.Rect, halfRGBA, full, 4, lanczos3) })
	})
	b.Run("xdraw-rgba-half-to-1200", func(b *testing.B) {
		loop(b, func() { lanczos3.Scale(dst, dst.Rect, halfRGBA, halfRGBA.Rect, draw.Src, nil) })
	})
}

func benchView(b *testing.B) *image.RGBA {
	data := benchSource(b)
	half, err := turbojpeg.DecodeRGBA(data, 4, nil)
	if err != nil {
		b.Fatal(err)
	}
	view := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	scaleInto(view, view.Rect, half, image.Rect(0, 0, 4032, 3024), 4, lanczos3)
	return view
}

func BenchmarkSharpen(b *testing.B) {
	view := benchView(b)
	b.Run("op_sharpen", func(b *testing.B) { loop(b, func() { sharpen(view) }) })
	b.Run("op_usm", func(b *testing.B) {
		loop(b, func() { unsharpMask(context.Background(), view, usmSpec{amount: 1, radius: 1, threshold: 2}) })
	})
}

func BenchmarkEncode(b *testing.B) {
	view := benchView(b)
	b.Run("turbo-q85", func(b *testing.B) {
		loop(b, func() {
			if err := encodeJPEG(io.Discard, view, outputSpec{format: "jpeg"}, 85); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("stdlib-q85", func(b *testing.B) {
		loop(b, func() {
			if err := jpeg.Encode(io.Discard, view, &jpeg.Options{Quality: 85}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("png-fast", func(b *testing.B) {
		loop(b, func() {
			if err := fastpng.Encode(io.Discard, view); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("png-stdlib", func(b *testing.B) {
		loop(b, func() {
			if err := stdpng.Encode(io.Discard, view); err != nil {
				b.Fatal(err)
			}
		})
	})
	for _, f := range []string{"webp", "png"} {
		b.Run(f, func(b *testing.B) {
			r, err := Parse("fmt=" + f)
			if err != nil {
				b.Fatal(err)
			}
			loop(b, func() {
				if err := encode(io.Discard, view, r.output("jpeg"), r, color.NRGBA{255, 255, 255, 255}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkRender runs the whole pipeline on the jobs: (a) the 12
// MP photo to a 1200 px wide JPEG at q85, (b) the same to WebP q80, with
// an unsharp mask, and (c) a 2016 px PNG with alpha to 500 px PNG.
func BenchmarkRender(b *testing.B) {
	data, png := benchSource(b), benchPNG(b)
	for _, c := range []struct {
		name, mod string
		src       []byte
	}{
		{"a-jpeg", "wid=1200&qlt=85", data},
		{"b-webp", "wid=1200&fmt=webp&qlt=80", data},
		{"a-usm", "wid=1200&qlt=85&op_usm=1,1,2,0", data},
		{"c-png-alpha", "wid=500&fmt=png-alpha", png},
	} {
		r, err := Parse(c.mod)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			loop(b, func() {
				if _, err := Render(context.Background(), c.src, r, Limits{}, io.Discard); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
