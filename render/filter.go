package render

import (
	"image"
	"math"

	"golang.org/x/image/draw"
)

// lanczos3 is the Lanczos window of support 3, used for sharp2 (Adobe's
// "modified Lanczos") and the legacy sharp.
var lanczos3 = &draw.Kernel{Support: 3, At: func(t float64) float64 {
	if t == 0 {
		return 1
	}
	x := math.Pi * t
	return 3 * math.Sin(x) * math.Sin(x/3) / (x * x)
}}

// kernelFor maps resMode (image-serving.md §4.3) to a resampling kernel.
// x/image/draw widens every kernel by the reduction factor when it
// shrinks, so bilin is a proper triangle filter and trilin, whose pyramid
// blend it approximates, maps to it too.
func kernelFor(resMode string) *draw.Kernel {
	switch resMode {
	case "bilin", "trilin":
		return draw.BiLinear
	case "bicub", "bisharp":
		return draw.CatmullRom
	default: // sharp2, sharp, and the default (Adobe's default for new accounts is sharp2)
		return lanczos3
	}
}

// planes splits the colour channels of m (premultiplied RGBA) into float
// planes, one per channel, row-major over m.Rect.
func planes(m *image.RGBA) [3][]float32 {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	var p [3][]float32
	for c := range p {
		p[c] = make([]float32, w*h)
	}
	for y := 0; y < h; y++ {
		row := m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y):]
		for x := 0; x < w; x++ {
			for c := range 3 {
				p[c][y*w+x] = float32(row[4*x+c])
			}
		}
	}
	return p
}

// sharpen applies op_sharpen: a light 3×3 sharpen (unit gain: each pixel
// moves away from the mean of its four neighbours by its difference to it).
func sharpen(m *image.RGBA) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	if w < 2 && h < 2 {
		return
	}
	p := planes(m)
	at := func(pl []float32, x, y int) float32 {
		return pl[min(max(y, 0), h-1)*w+min(max(x, 0), w-1)]
	}
	for y := 0; y < h; y++ {
		row := m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y):]
		for x := 0; x < w; x++ {
			a := float32(row[4*x+3])
			for c := range 3 {
				pl := p[c]
				mean := (at(pl, x-1, y) + at(pl, x+1, y) + at(pl, x, y-1) + at(pl, x, y+1)) / 4
				v := pl[y*w+x]
				row[4*x+c] = clampTo(v+(v-mean), a)
			}
		}
	}
}

// unsharpMask applies op_usm / op_usmR to m: a Gaussian of sigma = radius
// (in output pixels; doc.go), amount times the difference added back where
// the difference reaches threshold (in 0..255 levels). Monochrome works on
// luminance only.
func unsharpMask(m *image.RGBA, u usmSpec) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	if w == 0 || h == 0 {
		return
	}
	p := planes(m)
	var orig [3][]float32
	n := 3
	if u.mono {
		n = 1
		y := make([]float32, w*h)
		for i := range y {
			y[i] = 0.299*p[0][i] + 0.587*p[1][i] + 0.114*p[2][i]
		}
		orig[0] = y
	} else {
		orig = p
	}
	k := gaussian(u.radius)
	amount, thr := float32(u.amount), float32(u.threshold)
	for c := 0; c < n; c++ {
		blur := blur(orig[c], w, h, k)
		for i, v := range orig[c] {
			d := v - blur[i]
			if d < thr && -d < thr {
				d = 0
			}
			blur[i] = amount * d // reuse as the delta
		}
		if u.mono {
			for c := range 3 {
				for i := range p[c] {
					p[c][i] += blur[i]
				}
			}
		} else {
			for i := range p[c] {
				p[c][i] += blur[i]
			}
		}
	}
	for y := 0; y < h; y++ {
		row := m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y):]
		for x := 0; x < w; x++ {
			a := float32(row[4*x+3])
			for c := range 3 {
				row[4*x+c] = clampTo(p[c][y*w+x], a)
			}
		}
	}
}

// gaussian returns a normalised 1-D Gaussian kernel of the given sigma,
// centre at index len/2.
func gaussian(sigma float64) []float32 {
	r := max(1, int(math.Ceil(3*sigma)))
	k := make([]float32, 2*r+1)
	var sum float64
	for i := range k {
		x := float64(i - r)
		v := math.Exp(-x * x / (2 * sigma * sigma))
		k[i] = float32(v)
		sum += v
	}
	for i := range k {
		k[i] /= float32(sum)
	}
	return k
}

// blur convolves a w×h plane with k horizontally and vertically, clamping
// at the edges.
func blur(src []float32, w, h int, k []float32) []float32 {
	r := len(k) / 2
	tmp := make([]float32, len(src))
	for y := 0; y < h; y++ {
		row := src[y*w : (y+1)*w]
		for x := 0; x < w; x++ {
			var s float32
			for i, kv := range k {
				s += kv * row[min(max(x+i-r, 0), w-1)]
			}
			tmp[y*w+x] = s
		}
	}
	out := make([]float32, len(src))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var s float32
			for i, kv := range k {
				s += kv * tmp[min(max(y+i-r, 0), h-1)*w+x]
			}
			out[y*w+x] = s
		}
	}
	return out
}

// clampTo rounds v to a byte in [0, hi] (a premultiplied colour never
// exceeds its alpha).
func clampTo(v, hi float32) uint8 {
	if v <= 0 {
		return 0
	}
	if v >= hi {
		return uint8(hi)
	}
	return uint8(v + 0.5)
}
