package render

import (
	"context"
	"image"
	"math"
	"math/rand/v2"
)

// applyOps runs the composite operations of o on m (premultiplied), in
// the order doc.go gives: brightness, contrast, colorbalance, hue,
// saturation, colorize, invert, blur, grow, noise. opac is applied to the
// layer before its fills (see composite). Blur and grow, whose cost grows
// with their radius, stop with ctx's error when ctx is done.
func applyOps(ctx context.Context, m *image.RGBA, o opSpec) error {
	if lut, ok := levelLUTs(o); ok {
		pointwise(m, func(c *[3]float64) {
			for i := range 3 {
				c[i] = lut[i][clamp8(c[i])]
			}
		})
	}
	if o.hue != 0 || o.saturation != 0 {
		pointwise(m, func(c *[3]float64) { hueSaturation(c, float64(o.hue), float64(o.saturation)) })
	}
	if o.colorize.set {
		colorize(m, o.colorize)
	}
	if o.invert {
		pointwise(m, func(c *[3]float64) {
			for i := range 3 {
				c[i] = 255 - c[i]
			}
		})
	}
	if o.blur > 0 {
		if err := gaussBlurRGBA(ctx, m, o.blur); err != nil {
			return err
		}
	}
	if o.grow != 0 {
		if err := grow(ctx, m, o.grow); err != nil {
			return err
		}
	}
	if o.noise.amount > 0 {
		addNoise(m, o.noise)
	}
	return nil
}

// levelLUTs folds brightness, contrast and colorbalance into one table per
// channel. Brightness and colour balance add adj % of full scale (as
// ImageMagick's -brightness-contrast Bx0 and -evaluate add do); contrast
// is a straight line through mid-grey with slope tan(π(1+adj/100)/4), the
// slope ImageMagick's -brightness-contrast 0xC uses.
func levelLUTs(o opSpec) ([3][256]float64, bool) {
	var lut [3][256]float64
	if o.brightness == 0 && o.contrast == 0 && o.balance == [3]int{} {
		return lut, false
	}
	slope := math.Tan(math.Pi * (1 + float64(o.contrast)/100) / 4)
	for c := range 3 {
		for i := range 256 {
			v := float64(i) / 255
			v = math.Min(1, math.Max(0, v+float64(o.brightness)/100))
			if o.contrast != 0 {
				v = math.Min(1, math.Max(0, slope*(v-0.5)+0.5))
			}
			v = math.Min(1, math.Max(0, v+float64(o.balance[c])/100))
			lut[c][i] = 255 * v
		}
	}
	return lut, true
}

// pointwise applies f to the straight (not premultiplied) colour of every
// pixel of m that is not fully transparent; f works in 0..255.
func pointwise(m *image.RGBA, f func(c *[3]float64)) {
	b := m.Rect
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := m.Pix[m.PixOffset(b.Min.X, y) : m.PixOffset(b.Max.X-1, y)+4]
		for i := 0; i < len(row); i += 4 {
			a := float64(row[i+3])
			if a == 0 {
				continue
			}
			var c [3]float64
			for j := range 3 {
				c[j] = float64(row[i+j]) * 255 / a
			}
			f(&c)
			for j := range 3 {
				row[i+j] = clamp8(math.Min(255, math.Max(0, c[j])) * a / 255)
			}
		}
	}
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// hueSaturation rotates the HSL hue of c by deg and scales its HSL
// saturation by 1+sat/100 (ImageMagick's -modulate 100,S,H in its default
// HSL space).
func hueSaturation(c *[3]float64, deg, sat float64) {
	h, s, l := rgbToHSL(c[0]/255, c[1]/255, c[2]/255)
	h = math.Mod(h+deg/360+1, 1)
	s *= 1 + sat/100 // not clamped: out-of-gamut results clip in RGB, as in ImageMagick
	r, g, b := hslToRGB(h, s, l)
	c[0], c[1], c[2] = 255*r, 255*g, 255*b
}

func rgbToHSL(r, g, b float64) (h, s, l float64) {
	mx, mn := math.Max(r, math.Max(g, b)), math.Min(r, math.Min(g, b))
	l = (mx + mn) / 2
	d := mx - mn
	if d == 0 {
		return 0, 0, l
	}
	if l <= 0.5 {
		s = d / (mx + mn)
	} else {
		s = d / (2 - mx - mn)
	}
	switch mx {
	case r:
		h = (g - b) / d
		if h < 0 {
			h += 6
		}
	case g:
		h = (b-r)/d + 2
	default:
		h = (r-g)/d + 4
	}
	return h / 6, s, l
}

func hslToRGB(h, s, l float64) (r, g, b float64) {
	if s == 0 {
		return l, l, l
	}
	var q float64
	if l <= 0.5 {
		q = l * (1 + s)
	} else {
		q = l + s - l*s
	}
	p := 2*l - q
	hue := func(t float64) float64 {
		t = math.Mod(t+1, 1)
		switch {
		case t < 1.0/6:
			return p + (q-p)*6*t
		case t < 0.5:
			return q
		case t < 2.0/3:
			return p + (q-p)*(2.0/3-t)*6
		}
		return p
	}
	return hue(h + 1.0/3), hue(h), hue(h - 1.0/3)
}

// colorize replaces each pixel's colour by a tint of spec.c driven by its
// Rec. 601 luminance L: black stays black, white stays white and mid-grey
// becomes the colour (out = 2·L·C below ½, C + (2L−1)(1−C) above). With
// norm the luminance is first mapped by a gamma curve that moves the
// median luminance of the opaque pixels to ½; contrast (0..100) then
// steepens the curve about ½ by 1+contrast/100.
func colorize(m *image.RGBA, spec colorizeSpec) {
	gamma := 1.0
	if spec.norm {
		var hist [256]int
		n := 0
		pointwise(m, func(c *[3]float64) {
			hist[clamp8(lum(c))]++
			n++
		})
		med, acc := 0, 0
		for i, h := range hist {
			acc += h
			if 2*acc >= n {
				med = i
				break
			}
		}
		if med > 0 && med < 255 {
			gamma = math.Log(0.5) / math.Log(float64(med)/255)
		}
	}
	k := 1.0
	if spec.norm {
		k += spec.contrast / 100
	}
	col := [3]float64{float64(spec.c.R) / 255, float64(spec.c.G) / 255, float64(spec.c.B) / 255}
	pointwise(m, func(c *[3]float64) {
		l := math.Pow(lum(c)/255, gamma)
		l = math.Min(1, math.Max(0, (l-0.5)*k+0.5))
		for i := range 3 {
			if l < 0.5 {
				c[i] = 255 * 2 * l * col[i]
			} else {
				c[i] = 255 * (col[i] + (2*l-1)*(1-col[i]))
			}
		}
	})
}

func lum(c *[3]float64) float64 { return 0.299*c[0] + 0.587*c[1] + 0.114*c[2] }

// gaussBlurRGBA blurs all four premultiplied channels of m with a Gaussian
// of sigma = radius, edges extended.
func gaussBlurRGBA(ctx context.Context, m *image.RGBA, sigma float64) error {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	if w == 0 || h == 0 {
		return nil
	}
	if sigma >= boxGaussMin {
		bw := boxWidths(sigma)
		n := max(w, h) + 2*boxPad(bw)
		pa, pb := make([]float64, n), make([]float64, n)
		return separable(ctx, m, func(line, out []float64) {
			boxBlurLine(line, out, pa, pb, bw)
		})
	}
	r := max(1, int(math.Ceil(3*sigma)))
	k := make([]float64, 2*r+1)
	var sum float64
	for i := range k {
		x := float64(i - r)
		k[i] = math.Exp(-x * x / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return separable(ctx, m, func(line []float64, out []float64) {
		n := len(line)
		for i := range out {
			var s float64
			for j, kv := range k {
				s += kv * line[min(max(i+j-r, 0), n-1)]
			}
			out[i] = s
		}
	})
}

// grow dilates (radius > 0) or erodes (radius < 0) every premultiplied
// channel of m with a (2|radius|+1)² square, edges extended (ImageMagick's
// -morphology Dilate|Erode Square:radius).
func grow(ctx context.Context, m *image.RGBA, radius int) error {
	r := radius
	pick := math.Max
	if r < 0 {
		r, pick = -r, math.Min
	}
	return separable(ctx, m, func(line []float64, out []float64) {
		n := len(line)
		for i := range out {
			v := line[i]
			for j := max(0, i-r); j <= min(n-1, i+r); j++ {
				v = pick(v, line[j])
			}
			out[i] = v
		}
	})
}

// separable runs f over every row and then every column of each of the
// four channels of m. It gives up with ctx's error, leaving m partly done,
// when ctx is done (checked once per row and column).
func separable(ctx context.Context, m *image.RGBA, f func(line, out []float64)) error {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	buf := make([]float64, w*h)
	line, out := make([]float64, max(w, h)), make([]float64, max(w, h))
	for c := range 4 {
		for y := range h {
			if err := ctx.Err(); err != nil {
				return err
			}
			row := m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y):]
			for x := range w {
				line[x] = float64(row[4*x+c])
			}
			f(line[:w], out[:w])
			copy(buf[y*w:], out[:w])
		}
		for x := range w {
			if err := ctx.Err(); err != nil {
				return err
			}
			for y := range h {
				line[y] = buf[y*w+x]
			}
			f(line[:h], out[:h])
			for y := range h {
				buf[y*w+x] = out[y]
			}
		}
		for y := range h {
			row := m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y):]
			for x := range w {
				row[4*x+c] = clamp8(buf[y*w+x])
			}
		}
	}
	// premultiplied colour never exceeds alpha
	for i := 0; i < len(m.Pix); i += 4 {
		a := m.Pix[i+3]
		m.Pix[i], m.Pix[i+1], m.Pix[i+2] = min(m.Pix[i], a), min(m.Pix[i+1], a), min(m.Pix[i+2], a)
	}
	return nil
}

// noiseSeed makes op_noise reproducible: the same request on the same
// source gives the same bytes.
const noiseSeed = 0x1p53 - 1

// addNoise adds noise of amount % of full scale to the colour of m:
// uniform in ±A, or Gaussian with sigma A/2, where A = 255·amount/100;
// monochrome adds the same value to the three channels.
func addNoise(m *image.RGBA, n noiseSpec) {
	rng := rand.New(rand.NewPCG(uint64(noiseSeed), uint64(m.Rect.Dx())<<32|uint64(m.Rect.Dy())))
	a := 255 * float64(n.amount) / 100
	sample := func() float64 {
		if n.gaussian {
			return rng.NormFloat64() * a / 2
		}
		return (2*rng.Float64() - 1) * a
	}
	pointwise(m, func(c *[3]float64) {
		if n.mono {
			d := sample()
			for i := range 3 {
				c[i] += d
			}
			return
		}
		for i := range 3 {
			c[i] += sample()
		}
	})
}

// opacity scales the alpha (and so the premultiplied colour) of m by f.
func opacity(m *image.RGBA, f float64) {
	for i, v := range m.Pix {
		m.Pix[i] = clamp8(float64(v) * f)
	}
}
