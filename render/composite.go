package render

import (
	"context"
	"image"
	"image/color"
	"math"

	"golang.org/x/image/draw"
	"golang.org/x/image/math/f64"
)

// needsComposite reports whether r has layer or composite work that the
// one-pass transform (crop, quarter turns, flip and view scaling) cannot
// do: these requests build the composite at full resolution first.
func (r *Request) needsComposite() bool {
	return r.size != [2]int{} || r.scale > 0 || (r.angle != 0 && r.rotate == 0) ||
		r.extend.set || r.bgColSet || r.colorSet || r.ops != (opSpec{}) || r.rgn.set
}

// overhangs reports whether the one-pass plan p scales a crop region that
// reaches outside the source. The one pass resamples only the part inside
// and places it at whole output pixels: up to half a pixel off, and
// hard-edged against the transparent overhang. Such requests build the
// composite instead (the crop with its margin, then one scaling), unless
// that would be over the limits.
func overhangs(p plan, lim Limits) bool {
	src := image.Rect(0, 0, p.full.X, p.full.Y)
	if !p.resample || p.region.In(src) {
		return false
	}
	bound := compositeBound(int64(p.full.X)*int64(p.full.Y), lim)
	return checkComposite(int64(p.region.Dx()), int64(p.region.Dy()), bound) == nil
}

// viewOnly returns a copy of r without the layer and composite commands,
// for the view transform of a composite built by composite. rgn becomes
// a crop that sets the view's scale and placement, after which the view
// shows the whole composite (widen; makePlan).
func (r *Request) viewOnly() *Request {
	v := *r
	v.crop, v.rotate, v.angle, v.flip = cropSpec{}, 0, 0, flipNone
	v.size, v.scale, v.extend = [2]int{}, 0, extendSpec{}
	v.bgColSet, v.colorSet, v.ops = false, false, opSpec{}
	v.rgn = rectSpec{}
	if r.rgn.set {
		v.crop = cropSpec{set: true, x: float64(r.rgn.x), y: float64(r.rgn.y), w: float64(r.rgn.w), h: float64(r.rgn.h)}
		v.widen = true
	}
	return &v
}

// composite builds the composite image of r from the decoded source img
// (stored orientation orient), following image-serving.md §3 steps 3 and
// 4 as doc.go settles them: orientation and crop, size or scale, opac,
// color fill, rotate, extend, bgColor fill, flip, then the colour and
// filter operations. The result is premultiplied RGBA.
func composite(ctx context.Context, img image.Image, orient int, r *Request, lim Limits) (*image.RGBA, error) {
	k := kernelFor(r.resMode)
	b := img.Bounds()
	bound := compositeBound(int64(b.Dx())*int64(b.Dy()), lim)

	// orientation and crop, no scaling
	p, err := makePlan(b.Dx(), b.Dy(), orient, &Request{crop: r.crop}, Limits{})
	if err != nil {
		return nil, err
	}
	if err := checkComposite(int64(p.cw), int64(p.ch), bound); err != nil {
		return nil, err
	}
	// every size on the way, and the output's, before any pixel is touched
	if err := predictComposite(int64(p.cw), int64(p.ch), r, bound, lim); err != nil {
		return nil, err
	}
	layer, _, _ := transform(img, p, k) // the layer stays in use: its buffer is not given back
	img = nil
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// size= or scale=
	w, h := int64(layer.Rect.Dx()), int64(layer.Rect.Dy())
	nw, nh, err := layerScale(w, h, r)
	if err != nil {
		return nil, err
	}
	if nw != w || nh != h {
		scaled := image.NewRGBA(image.Rect(0, 0, int(nw), int(nh)))
		k.Scale(scaled, scaled.Rect, layer, layer.Rect, draw.Src, nil)
		layer = scaled
	}

	// opac acts on the layer's own pixels, never on its fills
	if o := r.ops; o.opacSet {
		opacity(layer, float64(o.opac)*float64(o.fillOpac)/10000)
	}
	if r.colorSet {
		fill(layer, r.color)
	}

	if r.angle != 0 {
		if layer, err = rotate(layer, r.angle, r.rotate, k, bound); err != nil {
			return nil, err
		}
	}
	if r.extend.set {
		if layer, err = extend(layer, r.extend, bound); err != nil {
			return nil, err
		}
	}
	if r.bgColSet {
		fill(layer, r.bgColor)
	}
	if r.flip != flipNone {
		d := dihedral{flipX: r.flip&flipLR != 0, flipY: r.flip&flipUD != 0}
		layer = applyDihedral(layer, d)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := applyOps(ctx, layer, r.ops); err != nil {
		return nil, err
	}
	return layer, nil
}

// layerScale returns the layer size after size= (fit inside, aspect
// kept) or else scale=.
func layerScale(w, h int64, r *Request) (int64, int64, error) {
	nw, nh := w, h
	switch {
	case r.size != [2]int{}:
		sw, sh := int64(r.size[0]), int64(r.size[1])
		if sw == 0 || (sh > 0 && sh*w < sw*h) {
			nw, nh = roundDiv(w*sh, h), sh
		} else {
			nw, nh = sw, roundDiv(h*sw, w)
		}
	case r.scale > 0:
		fw, fh := float64(w)*r.scale, float64(h)*r.scale
		if fw > maxSide || fh > maxSide {
			return 0, 0, &LimitError{Limit: limitHard, What: "scaled layer", Width: int64(fw), Height: int64(fh), Max: maxSide}
		}
		nw, nh = roundHalfUp(fw), roundHalfUp(fh)
	}
	return max(nw, 1), max(nh, 1), nil
}

// extendMargins returns extend='s margins for a w×h layer, in pixels.
func extendMargins(w, h int64, e extendSpec) (l, t, r, b int64) {
	fl, ft, fr, fb := e.l, e.t, e.r, e.b
	if e.normalised {
		fl, ft, fr, fb = fl*float64(w), ft*float64(h), fr*float64(w), fb*float64(h)
	}
	return roundHalfUp(fl), roundHalfUp(ft), roundHalfUp(fr), roundHalfUp(fb)
}

// predictComposite works out every intermediate size of composite for a
// cropped layer of cw×ch, and the view of the result, and checks them
// against the limits.
func predictComposite(cw, ch int64, r *Request, bound int64, lim Limits) error {
	w, h, err := layerScale(cw, ch, r)
	if err != nil {
		return err
	}
	if err := checkComposite(w, h, bound); err != nil {
		return err
	}
	switch {
	case r.rotate%2 == 1:
		w, h = h, w
	case r.angle != 0 && r.rotate == 0:
		w, h = rotationSize(int(w), int(h), r.angle)
		if err := checkComposite(w, h, bound); err != nil {
			return err
		}
	}
	if r.extend.set {
		l, t, rr, b := extendMargins(w, h, r.extend)
		w, h = w+l+rr, h+t+b
		if w < 1 || h < 1 {
			return &CommandError{Command: "extend", Reason: "the margins leave nothing of the image"}
		}
		if err := checkComposite(w, h, bound); err != nil {
			return err
		}
	}
	_, err = makePlan(int(w), int(h), 1, r.viewOnly(), lim)
	return err
}

// compositeBound is the largest composite allowed: the output limit, or
// the source's own size when that is larger (a plain full-size copy of an
// allowed source must work).
func compositeBound(srcPixels int64, lim Limits) int64 {
	if lim.MaxOutputPixels <= 0 {
		return 0
	}
	return max(lim.MaxOutputPixels, srcPixels)
}

func checkComposite(w, h, bound int64) error {
	if err := checkSides("composite image", w, h); err != nil {
		return err
	}
	if bound > 0 && w*h > bound {
		return &LimitError{Limit: limitOutput, What: "composite image", Width: w, Height: h, Max: bound}
	}
	return nil
}

// fill composites m over the colour c (straight alpha), in place: it fills
// transparent and semi-transparent areas (color=, bgColor=).
func fill(m *image.RGBA, c color.NRGBA) {
	ca := uint32(c.A)
	pc := [4]uint32{uint32(c.R) * ca / 255, uint32(c.G) * ca / 255, uint32(c.B) * ca / 255, ca}
	for i := 0; i < len(m.Pix); i += 4 {
		a := uint32(m.Pix[i+3])
		if a == 255 {
			continue
		}
		for j := range 4 {
			m.Pix[i+j] = uint8(uint32(m.Pix[i+j]) + (pc[j]*(255-a)+127)/255)
		}
	}
}

// rotationSize is the bounding box of a w×h image rotated by deg degrees,
// rounded half up (doc.go).
func rotationSize(w, h int, deg float64) (int64, int64) {
	s, c := math.Sincos(deg * math.Pi / 180)
	s, c = math.Abs(s), math.Abs(c)
	// sin and cos of multiples of 90 are not exact in floating point
	const eps = 1e-9
	rw := float64(w)*c + float64(h)*s
	rh := float64(w)*s + float64(h)*c
	return max(1, roundHalfUp(rw-eps)), max(1, roundHalfUp(rh-eps))
}

// rotate turns m clockwise by deg degrees about its centre onto a canvas
// that holds all of it; new corners are transparent.
func rotate(m *image.RGBA, deg float64, quarter int, k *draw.Kernel, bound int64) (*image.RGBA, error) {
	if quarter != 0 {
		return applyDihedral(m, byQuarterTurns[quarter]), nil
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	nw, nh := rotationSize(w, h, deg)
	if err := checkComposite(nw, nh, bound); err != nil {
		return nil, err
	}
	out := image.NewRGBA(image.Rect(0, 0, int(nw), int(nh)))
	s, c := math.Sincos(deg * math.Pi / 180)
	cx, cy := float64(w)/2, float64(h)/2
	ox, oy := float64(nw)/2, float64(nh)/2
	// dst = R·(src − centre) + new centre, y pointing down: clockwise
	s2d := f64.Aff3{
		c, -s, ox - c*cx + s*cy,
		s, c, oy - s*cx - c*cy,
	}
	k.Transform(out, s2d, m, m.Rect, draw.Src, nil)
	return out, nil
}

// extend adds margins to m (negative ones crop), transparent.
func extend(m *image.RGBA, e extendSpec, bound int64) (*image.RGBA, error) {
	w, h := int64(m.Rect.Dx()), int64(m.Rect.Dy())
	li, ti, ri, bi := extendMargins(w, h, e)
	nw, nh := w+li+ri, h+ti+bi
	if nw < 1 || nh < 1 {
		return nil, &CommandError{Command: "extend", Reason: "the margins leave nothing of the image"}
	}
	if err := checkComposite(nw, nh, bound); err != nil {
		return nil, err
	}
	if err := checkSides("composite image", li, ti); err != nil {
		return nil, err
	}
	out := image.NewRGBA(image.Rect(0, 0, int(nw), int(nh)))
	draw.Draw(out, m.Rect.Add(image.Pt(int(li), int(ti))), m, m.Rect.Min, draw.Src)
	return out, nil
}

// applyDihedral returns m transformed by d.
func applyDihedral(m *image.RGBA, d dihedral) *image.RGBA {
	if d.isIdentity() {
		return m
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	nw, nh := d.size(w, h)
	out := image.NewRGBA(image.Rect(0, 0, nw, nh))
	for y := range h {
		row := m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y):]
		for x := range w {
			u, v := x, y
			if d.transpose {
				u, v = v, u
			}
			if d.flipX {
				u = nw - 1 - u
			}
			if d.flipY {
				v = nh - 1 - v
			}
			copy(out.Pix[out.PixOffset(u, v):out.PixOffset(u, v)+4], row[4*x:4*x+4])
		}
	}
	return out
}
