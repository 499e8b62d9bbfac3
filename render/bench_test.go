package render

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ipsd/ipsd/render/internal/turbojpeg"
	"golang.org/x/image/draw"
)

// Benchmarks per render stage on a corpus camera photo (4032×3024, 4:2:2).
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
	for _, d := range []int{1, 2, 4} {
		b.Run("turbo-planar-1/"+string(rune('0'+d)), func(b *testing.B) {
			loop(b, func() {
				if _, err := turbojpeg.DecodePlanar(data, d); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
	b.Run("turbo-rgba-1/2", func(b *testing.B) {
		loop(b, func() {
			if _, err := turbojpeg.DecodeRGBA(data, 2); err != nil {
				b.Fatal(err)
			}
		})
	})
}

func BenchmarkResample(b *testing.B) {
	data := benchSource(b)
	half, err := turbojpeg.DecodePlanar(data, 2)
	if err != nil {
		b.Fatal(err)
	}
	full := image.Rect(0, 0, 4032, 3024)
	dst := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	b.Run("ycbcr-half-to-1200", func(b *testing.B) {
		loop(b, func() { scaleInto(dst, dst.Rect, half, full, 2, lanczos3) })
	})
	rgba := image.NewRGBA(half.Bounds())
	draw.Draw(rgba, rgba.Rect, half, image.Point{}, draw.Src)
	b.Run("rgba-half-to-1200", func(b *testing.B) {
		loop(b, func() { scaleInto(dst, dst.Rect, rgba, full, 2, lanczos3) })
	})
	b.Run("xdraw-rgba-half-to-1200", func(b *testing.B) {
		loop(b, func() { lanczos3.Scale(dst, dst.Rect, rgba, rgba.Rect, draw.Src, nil) })
	})
}

func benchView(b *testing.B) *image.RGBA {
	data := benchSource(b)
	half, err := turbojpeg.DecodePlanar(data, 2)
	if err != nil {
		b.Fatal(err)
	}
	view := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	scaleInto(view, view.Rect, half, image.Rect(0, 0, 4032, 3024), 2, lanczos3)
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

// BenchmarkRender is the job (a): the whole pipeline, 12 MP JPEG to
// a 1200 px wide JPEG at q85, and the same to WebP.
func BenchmarkRender(b *testing.B) {
	data := benchSource(b)
	for _, mod := range []string{"wid=1200&qlt=85", "wid=1200&fmt=webp&qlt=80", "wid=1200&qlt=85&op_usm=1,1,2,0"} {
		r, err := Parse(mod)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(mod, func(b *testing.B) {
			loop(b, func() {
				if _, err := Render(context.Background(), data, r, Limits{}, io.Discard); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
