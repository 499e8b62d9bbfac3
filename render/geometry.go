package render

import "image"

// A dihedral is one of the eight maps of a w×h pixel grid onto a grid of
// the same or swapped size made of a transpose and flips: the EXIF
// orientations, quarter-turn rotations and flips. Applied in field order:
// transpose (swap x and y), then mirror x, then mirror y.
type dihedral struct{ transpose, flipX, flipY bool }

// byOrientation maps EXIF Orientation 1..8 to the transform that makes the
// stored image upright (Exif 2.3 §4.6.4 A, tag 0x0112).
var byOrientation = [9]dihedral{
	1: {},
	2: {flipX: true},                               // mirror horizontal
	3: {flipX: true, flipY: true},                  // rotate 180
	4: {flipY: true},                               // mirror vertical
	5: {transpose: true},                           // mirror along the main diagonal
	6: {transpose: true, flipX: true},              // rotate 90 CW
	7: {transpose: true, flipX: true, flipY: true}, // mirror along the anti-diagonal
	8: {transpose: true, flipY: true},              // rotate 90 CCW
}

// byQuarterTurns maps a clockwise rotation in quarter turns to its transform.
var byQuarterTurns = [4]dihedral{
	0: {},
	1: {transpose: true, flipX: true},
	2: {flipX: true, flipY: true},
	3: {transpose: true, flipY: true},
}

func (d dihedral) isIdentity() bool { return d == dihedral{} }

// matrix returns d as a signed permutation matrix acting on coordinates
// relative to the image centre.
func (d dihedral) matrix() [2][2]int {
	m := [2][2]int{{1, 0}, {0, 1}}
	if d.transpose {
		m = [2][2]int{{0, 1}, {1, 0}}
	}
	if d.flipX {
		m[0][0], m[0][1] = -m[0][0], -m[0][1]
	}
	if d.flipY {
		m[1][0], m[1][1] = -m[1][0], -m[1][1]
	}
	return m
}

func dihedralOf(m [2][2]int) dihedral {
	if m[0][0] == 0 {
		return dihedral{transpose: true, flipX: m[0][1] < 0, flipY: m[1][0] < 0}
	}
	return dihedral{flipX: m[0][0] < 0, flipY: m[1][1] < 0}
}

// then returns the transform that applies d first and e second.
func (d dihedral) then(e dihedral) dihedral {
	a, b := e.matrix(), d.matrix()
	var m [2][2]int
	for i := range 2 {
		for j := range 2 {
			m[i][j] = a[i][0]*b[0][j] + a[i][1]*b[1][j]
		}
	}
	return dihedralOf(m)
}

// size returns the size of the image d makes from a w×h image.
func (d dihedral) size(w, h int) (int, int) {
	if d.transpose {
		return h, w
	}
	return w, h
}

// rect maps r, a rectangle in a w×h image (it may extend beyond it), to the
// image d makes.
func (d dihedral) rect(r image.Rectangle, w, h int) image.Rectangle {
	if d.transpose {
		r = image.Rect(r.Min.Y, r.Min.X, r.Max.Y, r.Max.X)
		w, h = h, w
	}
	if d.flipX {
		r.Min.X, r.Max.X = w-r.Max.X, w-r.Min.X
	}
	if d.flipY {
		r.Min.Y, r.Max.Y = h-r.Max.Y, h-r.Min.Y
	}
	return r
}

// inverseRect maps r, a rectangle in the image d makes from a w×h image,
// back to the w×h image.
func (d dihedral) inverseRect(r image.Rectangle, w, h int) image.Rectangle {
	dw, dh := d.size(w, h)
	if d.flipX {
		r.Min.X, r.Max.X = dw-r.Max.X, dw-r.Min.X
	}
	if d.flipY {
		r.Min.Y, r.Max.Y = dh-r.Max.Y, dh-r.Min.Y
	}
	if d.transpose {
		r = image.Rect(r.Min.Y, r.Min.X, r.Max.Y, r.Max.X)
	}
	return r
}

// A plan is the geometry of one render, worked out from the source size and
// the request before any pixel is touched. Coordinates:
//   - stored: the decoded source as stored (before EXIF orientation);
//   - composite: after orientation, crop, rotate and flip;
//   - scaled: the composite after view scaling, sw×sh;
//   - view: the output, vw×vh; the scaled composite sits at off.
type plan struct {
	region   image.Rectangle // crop region in stored coordinates; may extend beyond the source
	t        dihedral        // stored -> composite orientation
	cw, ch   int             // composite size
	sw, sh   int             // scaled composite size
	vw, vh   int             // view (output) size
	off      image.Point     // scaled composite's top-left in the view
	resample bool            // sizes differ: pixels must be resampled
	full     image.Point     // source size the plan is made for (stored)
	eighths  int             // the decoded source is eighths/8 of full (JPEG DCT scaling); 0 or 8: full size
}

// maxSide bounds every computed dimension, so that products of two sides
// and a factor stay far from int64 overflow.
const maxSide = 1 << 24

func makePlan(srcW, srcH, orient int, r *Request, lim Limits) (plan, error) {
	var p plan
	o := byOrientation[orient]
	uw, uh := o.size(srcW, srcH)

	// crop in the upright frame (decisions.md §7)
	crop := image.Rect(0, 0, uw, uh)
	if r.crop.set {
		c := r.crop
		if c.normalised {
			x0, y0 := roundHalfUp(c.x*float64(uw)), roundHalfUp(c.y*float64(uh))
			x1, y1 := roundHalfUp((c.x+c.w)*float64(uw)), roundHalfUp((c.y+c.h)*float64(uh))
			x1, y1 = max(x1, x0+1), max(y1, y0+1)
			if err := checkSides("crop region", x1-x0, y1-y0, x0, y0, x1, y1); err != nil {
				return p, err
			}
			crop = image.Rect(int(x0), int(y0), int(x1), int(y1))
		} else {
			x, y, w, h := int64(c.x), int64(c.y), int64(c.w), int64(c.h)
			if err := checkSides("crop region", w, h, x, y, x+w, y+h); err != nil {
				return p, err
			}
			crop = image.Rect(int(x), int(y), int(x+w), int(y+h))
		}
	}
	p.region = o.inverseRect(crop, srcW, srcH)
	p.full = image.Pt(srcW, srcH)

	// rotate, then flip: under layer=comp flip applies to the composite
	// (image-serving.md §4.4; doc.go)
	after := byQuarterTurns[r.rotate]
	if r.flip&flipLR != 0 {
		after = after.then(dihedral{flipX: true})
	}
	if r.flip&flipUD != 0 {
		after = after.then(dihedral{flipY: true})
	}
	p.t = o.then(after)
	p.cw, p.ch = after.size(crop.Dx(), crop.Dy())

	if err := p.view(r); err != nil {
		return p, err
	}
	// the scaled composite is computed only where the view shows it, but
	// the resampler's scratch space grows with its full size
	scaled := int64(p.sw) * int64(p.sh)
	if r.widen {
		// rgn= (image-serving.md §4.1): the region sets the scale and where
		// it lands in the view; the view then shows whatever of the whole
		// composite falls in it, not only the region
		fx, fy := float64(p.sw)/float64(crop.Dx()), float64(p.sh)/float64(crop.Dy())
		sw, sh := max(1, roundHalfUp(float64(uw)*fx)), max(1, roundHalfUp(float64(uh)*fy))
		ox, oy := int64(p.off.X)-roundHalfUp(float64(crop.Min.X)*fx), int64(p.off.Y)-roundHalfUp(float64(crop.Min.Y)*fy)
		if err := checkSides("scaled image", sw, sh, ox, oy); err != nil {
			return p, err
		}
		p.sw, p.sh, p.off = int(sw), int(sh), image.Pt(int(ox), int(oy))
		p.region = o.inverseRect(image.Rect(0, 0, uw, uh), srcW, srcH)
		p.cw, p.ch = after.size(uw, uh)
	}
	bw, bh := p.t.size(p.sw, p.sh) // scaled size in stored orientation
	p.resample = bw != p.region.Dx() || bh != p.region.Dy()

	if m := lim.MaxOutputPixels; m > 0 && int64(p.vw)*int64(p.vh) > m {
		return p, &LimitError{Limit: limitOutput, What: "output image", Width: int64(p.vw), Height: int64(p.vh), Max: m}
	}
	if m := max(lim.MaxOutputPixels, int64(srcW)*int64(srcH)); lim.MaxOutputPixels > 0 && scaled > m {
		return p, &LimitError{Limit: limitOutput, What: "scaled image", Width: int64(p.sw), Height: int64(p.sh), Max: m}
	}
	return p, nil
}

// view works out the view transform (image-serving.md §4.1): the scaled
// composite size, the view size and the placement, then rect= (a tile of
// the view, optionally rescaled).
func (p *plan) view(r *Request) error {
	cw, ch := int64(p.cw), int64(p.ch)
	sw, sh := cw, ch
	vw, vh := int64(0), int64(0)
	wid, hei, scl := int64(r.wid), int64(r.hei), r.scl
	if r.dpr > 0 {
		// dpr=on,N multiplies the requested size (doc.go)
		wid, hei = roundHalfUp(float64(wid)*r.dpr), roundHalfUp(float64(hei)*r.dpr)
		if scl > 0 {
			scl /= r.dpr
		}
	}
	if err := checkSides("output image", wid, hei); err != nil {
		return err
	}
	switch {
	case scl > 0:
		fw, fh := float64(cw)/scl, float64(ch)/scl
		if fw > maxSide || fh > maxSide {
			return &LimitError{Limit: limitHard, What: "scaled image", Width: int64(fw), Height: int64(fh), Max: maxSide}
		}
		sw, sh = max(1, roundHalfUp(fw)), max(1, roundHalfUp(fh))
		vw, vh = wid, hei
	case wid > 0 && hei > 0:
		// factors as fractions: x = wid/cw, y = hei/ch
		xn, xd, yn, yd := wid, cw, hei, ch
		xSmaller := wid*ch < hei*cw
		mode := r.fit
		if mode == fitNone {
			mode = fitFit // wid and hei alone behave as fit=fit, enlarging (doc.go)
		}
		switch mode {
		case fitFit, fitConstrain:
			if xSmaller {
				yn, yd = xn, xd
			} else {
				xn, xd = yn, yd
			}
		case fitCrop, fitWrap:
			if xSmaller {
				xn, xd = yn, yd
			} else {
				yn, yd = xn, xd
			}
		case fitHfit:
			yn, yd = xn, xd
		case fitVfit:
			xn, xd = yn, yd
		}
		if r.fit != fitNone && !r.upscale {
			if xn > xd {
				xn, xd = 1, 1
			}
			if yn > yd {
				yn, yd = 1, 1
			}
		}
		sw, sh = max(1, roundDiv(cw*xn, xd)), max(1, roundDiv(ch*yn, yd))
		if mode != fitConstrain && mode != fitWrap && mode != fitStretch {
			vw, vh = wid, hei
		}
	case wid > 0 || hei > 0:
		// one side: the scaled composite, no padding (doc.go)
		num, den := wid, cw
		if wid == 0 {
			num, den = hei, ch
		}
		if r.fit != fitNone && !r.upscale && num > den {
			num, den = 1, 1
		}
		sw, sh = max(1, roundDiv(cw*num, den)), max(1, roundDiv(ch*num, den))
	}
	if vw == 0 {
		vw = sw
	}
	if vh == 0 {
		vh = sh
	}
	if err := checkSides("output image", vw, vh); err != nil {
		return err
	}
	if err := checkSides("scaled image", sw, sh); err != nil {
		return err
	}
	offX := roundHalfUp((1 + r.alignX) / 2 * float64(vw-sw))
	offY := roundHalfUp((1 + r.alignY) / 2 * float64(vh-sh))
	if rc := r.rect; rc.set {
		if s := rc.scale; s > 0 && s != 1 {
			f := func(v int64) int64 { return roundHalfUp(float64(v) * s) }
			sw, sh, offX, offY = max(1, f(sw)), max(1, f(sh)), f(offX), f(offY)
			if err := checkSides("scaled image", sw, sh, offX, offY); err != nil {
				return err
			}
		}
		offX, offY = offX-int64(rc.x), offY-int64(rc.y)
		vw, vh = int64(rc.w), int64(rc.h)
	}
	p.sw, p.sh, p.vw, p.vh = int(sw), int(sh), int(vw), int(vh)
	p.off = image.Pt(int(offX), int(offY))
	return nil
}

// roundDiv returns a/b rounded half up, for a ≥ 0 and b > 0.
func roundDiv(a, b int64) int64 { return (2*a + b) / (2 * b) }

// checkSides reports a LimitError when any value is out of ±maxSide.
func checkSides(what string, w, h int64, more ...int64) error {
	for _, v := range append([]int64{w, h}, more...) {
		if v > maxSide || v < -maxSide {
			return &LimitError{Limit: limitHard, What: what, Width: w, Height: h, Max: maxSide}
		}
	}
	return nil
}
