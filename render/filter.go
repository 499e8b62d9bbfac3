package render

import (
	"context"
	"image"
	"math"
	"slices"

	"github.com/ipsd/ipsd/render/internal/resample"
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
// luminance only. It gives up with ctx's error when ctx is done.
func unsharpMask(ctx context.Context, m *image.RGBA, u usmSpec) error {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	if w == 0 || h == 0 {
		return nil
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
	amount, thr := float32(u.amount), float32(u.threshold)
	for c := 0; c < n; c++ {
		blur, err := blur(ctx, orig[c], w, h, u.radius)
		if err != nil {
			return err
		}
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
	return nil
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

// blur blurs a w×h plane with a Gaussian of sigma horizontally and
// vertically, clamping at the edges: by convolution below boxGaussMin, by
// three box filters above it (see boxWidths). It gives up with ctx's error
// when ctx is done (checked once per row or column of each pass).
func blur(ctx context.Context, src []float32, w, h int, sigma float64) ([]float32, error) {
	if sigma >= boxGaussMin {
		out := slices.Clone(src)
		bw := boxWidths(sigma)
		n := max(w, h)
		line, res := make([]float32, n), make([]float32, n)
		pa, pb := make([]float32, n+2*boxPad(bw)), make([]float32, n+2*boxPad(bw))
		for y := 0; y < h; y++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			row := out[y*w : (y+1)*w]
			boxBlurLine(row, res[:w], pa, pb, bw)
			copy(row, res[:w])
		}
		for x := 0; x < w; x++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			for y := 0; y < h; y++ {
				line[y] = out[y*w+x]
			}
			boxBlurLine(line[:h], res[:h], pa, pb, bw)
			for y := 0; y < h; y++ {
				out[y*w+x] = res[y]
			}
		}
		return out, nil
	}
	k := gaussian(sigma)
	r := len(k) / 2
	tmp := make([]float32, len(src))
	for y := 0; y < h; y++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
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
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for x := 0; x < w; x++ {
			var s float32
			for i, kv := range k {
				s += kv * tmp[min(max(y+i-r, 0), h-1)*w+x]
			}
			out[y*w+x] = s
		}
	}
	return out, nil
}

// boxGaussMin is the sigma from which a Gaussian blur is done as three
// successive box filters, whose cost per pixel does not grow with the
// radius, instead of a convolution with 6·sigma+1 taps. From sigma 8 the
// boxes' step response is within 1 % of full scale of the Gaussian's and
// their variance is the Gaussian's (TestBoxGaussKernel); op_blur=250 on a
// camera photo takes seconds instead of hours.
const boxGaussMin = 8.0

// An xbox is a box filter of radius r extended by a weight alpha in [0, 1)
// at distance r+1 on both sides (Gwosdek et al., "Theoretical foundations
// of Gaussian convolution by extended box filtering", 2011): unlike plain
// boxes of odd widths, its variance can be set exactly.
type xbox struct {
	r     int
	alpha float64
}

// boxWidths returns three equal extended boxes that, run one after the
// other, have the variance sigma² of the Gaussian: each has sigma²/3. A
// box of radius r has variance r(r+1)/3; r is the largest that does not
// exceed it, and alpha makes up the rest.
func boxWidths(sigma float64) [3]xbox {
	v := sigma * sigma / 3
	r := int(math.Floor((math.Sqrt(1+12*v) - 1) / 2))
	for float64((r+1)*(r+2))/3 <= v {
		r++
	}
	fr := float64(r)
	alpha := (v*(2*fr+1) - fr*(fr+1)*(2*fr+1)/3) / (2*(fr+1)*(fr+1) - 2*v)
	b := xbox{r, alpha}
	return [3]xbox{b, b, b}
}

// boxPad is how far the boxes bw reach from a sample, all three passes
// together: the padding boxBlurLine puts on each side of a line.
func boxPad(bw [3]xbox) int { return bw[0].r + bw[1].r + bw[2].r + 3 }

// boxBlurLine runs the three boxes bw over line into out, edges extended,
// with a running sum: a constant number of operations per sample whatever
// the radius. pa and pb are scratch of at least len(line)+2·boxPad(bw).
// The line is padded with its end values once, so that the result is the
// blur of the extended line, as the convolution's is, not the blur of each
// pass's extended result.
func boxBlurLine[T float32 | float64](line, out, pa, pb []T, bw [3]xbox) {
	n, p := len(line), boxPad(bw)
	pa, pb = pa[:n+2*p], pb[:n+2*p]
	for i := range p {
		pa[i], pa[n+p+i] = line[0], line[n-1]
	}
	copy(pa[p:], line)
	box(pa, pb, bw[0])
	box(pb, pa, bw[1])
	box(pa, pb, bw[2])
	copy(out, pb[p:p+n])
}

// box writes to out in filtered by the extended box b, samples beyond the
// ends repeating the end ones.
func box[T float32 | float64](in, out []T, b xbox) {
	n := len(in)
	if n == 0 {
		return
	}
	at := func(i int) T { return in[min(max(i, 0), n-1)] }
	r, alpha := b.r, T(b.alpha)
	var s T
	for j := -r; j <= r; j++ {
		s += at(j)
	}
	inv := 1 / (T(2*r+1) + 2*alpha)
	for i := range n {
		out[i] = (s + alpha*(at(i-r-1)+at(i+r+1))) * inv
		s += at(i+r+1) - at(i-r)
	}
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

// scaleInto resamples the part sr of src into dr of dst with kernel k
// (Src semantics: dr is overwritten). sr is in the coordinates of the
// full-size source, relative to src.Bounds().Min; src itself may have been
// decoded at eighths/8 of that size (decodeScaled; 0 or 8: full size). Crop and scale are one
// pass: taps at the edges of sr read the edge pixels of sr. YCbCr sources
// are resampled plane by plane (chroma from its own subsampled grid) and
// converted to RGB at the output size; others as premultiplied RGBA.
func scaleInto(dst *image.RGBA, dr image.Rectangle, src image.Image, sr image.Rectangle, eighths int, k *draw.Kernel) {
	vis := dr.Intersect(dst.Rect) // sr maps onto all of dr; only vis is computed
	if vis.Empty() || sr.Empty() {
		return
	}
	if eighths <= 0 || eighths > 8 {
		eighths = 8
	}
	f := resample.Filter{Support: k.Support, At: k.At}
	sb := src.Bounds()
	// the span of sr in the decoded image, per axis, and the pixels it touches
	span := func(lo, hi, size int, ratio float64) (x0, x1 float64, a, b int) {
		x0, x1 = float64(lo)*ratio, float64(hi)*ratio
		a = min(max(int(math.Floor(x0)), 0), size-1)
		b = min(max(int(math.Ceil(x1)), a+1), size)
		return x0, x1, a, b
	}
	axes := func(w, h int, rx, ry float64) (*resample.Axis, *resample.Axis) {
		x0, x1, a, b := span(sr.Min.X, sr.Max.X, w, rx)
		y0, y1, c, d := span(sr.Min.Y, sr.Max.Y, h, ry)
		ax := resample.NewAxis(f, x0, x1, dr.Dx(), a, b).Slice(vis.Min.X-dr.Min.X, vis.Max.X-dr.Min.X)
		ay := resample.NewAxis(f, y0, y1, dr.Dy(), c, d).Slice(vis.Min.Y-dr.Min.Y, vis.Max.Y-dr.Min.Y)
		return ax, ay
	}
	inv := float64(eighths) / 8 // decoded pixels per source pixel
	out := resample.Plane{
		Pix: dst.Pix[dst.PixOffset(vis.Min.X, vis.Min.Y):], Stride: dst.Stride,
		W: vis.Dx(), H: vis.Dy(), Ch: 4, Premultiply: true,
	}

	switch m := src.(type) {
	case *image.YCbCr:
		if m.Rect.Min != (image.Point{}) {
			scaleInto(dst, dr, image.Image(&rgbaOf{m}), sr, eighths, k)
			return
		}
		ax, ay := axes(sb.Dx(), sb.Dy(), inv, inv)
		n := vis.Dx() * vis.Dy()
		planes := make([]byte, 3*n)
		y, cb, cr := planes[:n], planes[n:2*n], planes[2*n:]
		plane := func(p []byte) resample.Plane {
			return resample.Plane{Pix: p, Stride: vis.Dx(), W: vis.Dx(), H: vis.Dy(), Ch: 1}
		}
		resample.Resize(plane(y), resample.Plane{Pix: m.Y, Stride: m.YStride, W: sb.Dx(), H: sb.Dy(), Ch: 1}, ax, ay)
		cw, ch := chromaSize(m)
		cx, cy := chromaRatio(m.SubsampleRatio)
		cax, cay := axes(cw, ch, inv*cx, inv*cy)
		resample.Resize(plane(cb), resample.Plane{Pix: m.Cb, Stride: m.CStride, W: cw, H: ch, Ch: 1}, cax, cay)
		resample.Resize(plane(cr), resample.Plane{Pix: m.Cr, Stride: m.CStride, W: cw, H: ch, Ch: 1}, cax, cay)
		ycbcrToRGBA(out, y, cb, cr)
	case *image.Gray:
		ax, ay := axes(sb.Dx(), sb.Dy(), inv, inv)
		g := make([]byte, vis.Dx()*vis.Dy())
		resample.Resize(resample.Plane{Pix: g, Stride: vis.Dx(), W: vis.Dx(), H: vis.Dy(), Ch: 1},
			resample.Plane{Pix: m.Pix, Stride: m.Stride, W: sb.Dx(), H: sb.Dy(), Ch: 1}, ax, ay)
		for j := range vis.Dy() {
			row := out.Pix[j*out.Stride : j*out.Stride+4*out.W]
			for i, v := range g[j*vis.Dx() : (j+1)*vis.Dx()] {
				row[4*i], row[4*i+1], row[4*i+2], row[4*i+3] = v, v, v, 255
			}
		}
	case *image.RGBA:
		ax, ay := axes(sb.Dx(), sb.Dy(), inv, inv)
		resample.Resize(out, resample.Plane{Pix: m.Pix, Stride: m.Stride, W: sb.Dx(), H: sb.Dy(), Ch: 4}, ax, ay)
	case *image.NRGBA:
		// a PNG with alpha: premultiplied by table, as draw.Draw would
		// (the same values), at a third of its cost
		_, _, a, b := span(sr.Min.X, sr.Max.X, sb.Dx(), inv)
		_, _, c, d := span(sr.Min.Y, sr.Max.Y, sb.Dy(), inv)
		part := image.Rect(a, c, b, d).Add(sb.Min)
		rgba := premultiply(m, part)
		ax, ay := axes(sb.Dx(), sb.Dy(), inv, inv)
		for i := range ax.Start {
			ax.Start[i] -= a
		}
		for i := range ay.Start {
			ay.Start[i] -= c
		}
		resample.Resize(out, resample.Plane{Pix: rgba.Pix, Stride: rgba.Stride, W: part.Dx(), H: part.Dy(), Ch: 4}, ax, ay)
	default:
		// premultiplied RGBA of just the pixels sr reads (NRGBA, CMYK,
		// paletted, 16-bit ...), then as above
		_, _, a, b := span(sr.Min.X, sr.Max.X, sb.Dx(), inv)
		_, _, c, d := span(sr.Min.Y, sr.Max.Y, sb.Dy(), inv)
		part := image.Rect(a, c, b, d).Add(sb.Min)
		rgba := image.NewRGBA(part)
		draw.Draw(rgba, part, src, part.Min, draw.Src)
		ax, ay := axes(sb.Dx(), sb.Dy(), inv, inv)
		// the converted part starts at (a, c): shift the axes
		for i := range ax.Start {
			ax.Start[i] -= a
		}
		for i := range ay.Start {
			ay.Start[i] -= c
		}
		resample.Resize(out, resample.Plane{Pix: rgba.Pix, Stride: rgba.Stride, W: part.Dx(), H: part.Dy(), Ch: 4}, ax, ay)
	}
}

// chromaSize returns the size of m's chroma planes.
func chromaSize(m *image.YCbCr) (int, int) {
	r := m.Rect
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		return (r.Max.X+1)/2 - r.Min.X/2, r.Dy()
	case image.YCbCrSubsampleRatio420:
		return (r.Max.X+1)/2 - r.Min.X/2, (r.Max.Y+1)/2 - r.Min.Y/2
	case image.YCbCrSubsampleRatio440:
		return r.Dx(), (r.Max.Y+1)/2 - r.Min.Y/2
	case image.YCbCrSubsampleRatio411:
		return (r.Max.X+3)/4 - r.Min.X/4, r.Dy()
	case image.YCbCrSubsampleRatio410:
		return (r.Max.X+3)/4 - r.Min.X/4, (r.Max.Y+1)/2 - r.Min.Y/2
	}
	return r.Dx(), r.Dy()
}

// chromaRatio returns the chroma sampling rate relative to luma, per axis
// (chroma samples are centred on the luma pixels they cover, as in JFIF).
func chromaRatio(s image.YCbCrSubsampleRatio) (float64, float64) {
	switch s {
	case image.YCbCrSubsampleRatio422:
		return 0.5, 1
	case image.YCbCrSubsampleRatio420:
		return 0.5, 0.5
	case image.YCbCrSubsampleRatio440:
		return 1, 0.5
	case image.YCbCrSubsampleRatio411:
		return 0.25, 1
	case image.YCbCrSubsampleRatio410:
		return 0.25, 0.5
	}
	return 1, 1
}

// ycbcrToRGBA converts full-range (JFIF) YCbCr planes of out's size into
// out, opaque; the arithmetic is image/color.YCbCrToRGB's.
func ycbcrToRGBA(out resample.Plane, y, cb, cr []byte) {
	w := out.W
	for j := range out.H {
		row := out.Pix[j*out.Stride : j*out.Stride+4*w]
		ys, cbs, crs := y[j*w:(j+1)*w], cb[j*w:(j+1)*w], cr[j*w:(j+1)*w]
		for i := range ys {
			yy := int32(ys[i]) * 0x10101
			b1, r1 := int32(cbs[i])-128, int32(crs[i])-128
			r := yy + 91881*r1
			g := yy - 22554*b1 - 46802*r1
			b := yy + 116130*b1
			o := row[4*i : 4*i+4]
			o[0], o[1], o[2], o[3] = clip16(r), clip16(g), clip16(b), 255
		}
	}
}

// clip16 turns a 16.16 fixed-point colour into a byte.
func clip16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// rgbaOf hides the concrete type of an image, for the generic path.
type rgbaOf struct{ image.Image }

// premulTable[a][c] is colour c at alpha a premultiplied, rounded as
// image/draw rounds it: (c·a·0x101/0xff) >> 8.
var premulTable = func() *[256][256]uint8 {
	var t [256][256]uint8
	for a := range 256 {
		for c := range 256 {
			t[a][c] = uint8((uint32(c) * uint32(a) * 0x101 / 0xff) >> 8)
		}
	}
	return &t
}()

// premultiply returns the part r of m as premultiplied RGBA.
func premultiply(m *image.NRGBA, r image.Rectangle) *image.RGBA {
	out := image.NewRGBA(r)
	w := r.Dx()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		src := m.Pix[m.PixOffset(r.Min.X, y):][:4*w]
		dst := out.Pix[out.PixOffset(r.Min.X, y):][:4*w]
		for i := 0; i < len(src); i += 4 {
			s := src[i : i+4 : i+4]
			t := &premulTable[s[3]]
			d := dst[i : i+4 : i+4]
			d[0], d[1], d[2], d[3] = t[s[0]], t[s[1]], t[s[2]], s[3]
		}
	}
	return out
}
