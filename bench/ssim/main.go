// Command ssim prints the SSIM of two images of the same size (any format
// image.Decode reads, WebP through libwebp), computed on Rec. 601 luma with
// the Gaussian window of Wang et al. 2004 (11×11, σ = 1.5, K1 = 0.01,
// K2 = 0.03), for the benchmark harness (bench/run.sh).
package main

import (
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"math"
	"os"

	_ "github.com/kolesa-team/go-webp/webp"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: ssim A B")
		os.Exit(2)
	}
	a, err := luma(os.Args[1])
	if err == nil {
		var b [][]float64
		if b, err = luma(os.Args[2]); err == nil {
			if len(a) != len(b) || len(a[0]) != len(b[0]) {
				err = fmt.Errorf("sizes differ: %dx%d and %dx%d", len(a[0]), len(a), len(b[0]), len(b))
			} else {
				fmt.Printf("%.6f\n", ssim(a, b))
				return
			}
		}
	}
	fmt.Fprintln(os.Stderr, "ssim:", err)
	os.Exit(1)
}

func luma(path string) ([][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	r := m.Bounds()
	out := make([][]float64, r.Dy())
	for y := range out {
		out[y] = make([]float64, r.Dx())
		for x := range out[y] {
			cr, cg, cb, _ := m.At(r.Min.X+x, r.Min.Y+y).RGBA()
			out[y][x] = (0.299*float64(cr) + 0.587*float64(cg) + 0.114*float64(cb)) / 257
		}
	}
	return out, nil
}

func ssim(a, b [][]float64) float64 {
	const rad, sigma = 5, 1.5
	var g [2*rad + 1]float64
	var gs float64
	for i := range g {
		d := float64(i - rad)
		g[i] = math.Exp(-d * d / (2 * sigma * sigma))
		gs += g[i]
	}
	for i := range g {
		g[i] /= gs
	}
	c1, c2 := math.Pow(0.01*255, 2), math.Pow(0.03*255, 2)
	h, w := len(a), len(a[0])
	var sum float64
	var n int
	for y := rad; y < h-rad; y++ {
		for x := rad; x < w-rad; x++ {
			var ma, mb, saa, sbb, sab float64
			for j := -rad; j <= rad; j++ {
				for i := -rad; i <= rad; i++ {
					wt := g[j+rad] * g[i+rad]
					va, vb := a[y+j][x+i], b[y+j][x+i]
					ma += wt * va
					mb += wt * vb
					saa += wt * va * va
					sbb += wt * vb * vb
					sab += wt * va * vb
				}
			}
			va, vb, cov := saa-ma*ma, sbb-mb*mb, sab-ma*mb
			sum += (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			n++
		}
	}
	return sum / float64(n)
}
