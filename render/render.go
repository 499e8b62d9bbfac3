package render

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"time"

	"golang.org/x/image/draw"
)

// Limits bound the work of one Render. A zero field means no limit.
type Limits struct {
	MaxSourcePixels int64 // checked from the header before any pixel is decoded (every format, webp included)
	MaxOutputPixels int64 // checked before rendering
}

// Info describes the image Render wrote.
type Info struct {
	Format        string // output format name, as returned by Sniff
	Width, Height int

	// Time spent per stage, for metrics: Decode covers reading the pixels
	// and converting them to sRGB, Transform every geometry and filter
	// step, Encode the encoder writing to w.
	Decode, Transform, Encode time.Duration
}

// Render decodes src (a whole image file), applies r, and writes the encoded
// image to w. Errors other than *CommandError are render failures; a source
// or output over a limit gives a *LimitError. The image is written to w in
// one Write at the end, so on error nothing has been written. Render is
// safe for concurrent use. When ctx is done, Render stops with ctx's error:
// between its stages, and inside op_blur, op_grow and op_usm, whose cost
// grows with their radius.
//
// An empty request is rendered like any other (the source is decoded and
// re-encoded in its own format); copying the file unchanged is the caller's
// business.
func Render(ctx context.Context, src []byte, r *Request, lim Limits, w io.Writer) (info Info, err error) {
	defer func() {
		// the decoders are not hardened against every malformed input
		if p := recover(); p != nil {
			info, err = Info{}, fmt.Errorf("rendering: internal error: %v", p)
		}
	}()
	if r == nil {
		r = &Request{}
	}

	t0 := time.Now()
	format := Sniff(src)
	if format == "" {
		return Info{}, errors.New("decoding source: not a JPEG, PNG, GIF, TIFF, WebP or BMP file")
	}
	if format == "png" {
		src = pngSanitize(src) // for the decoder and the metadata readers alike
	}
	out := r.output(format)
	if r.xmpEmbed {
		out.xmp = sourceXMP(src, format)
	}
	// JPEG: decoded at eighths/8 of full when the output is small (decode.go)
	img, full, eighths, release, err := decodeScaled(src, format, r, lim)
	if err != nil {
		return Info{}, err
	}
	// embedded ICC profiles (and CMYK) to sRGB before any other step (icc.go)
	if img, err = toSRGB(img, src, format); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	t1 := time.Now()

	b := full
	orient := orientation(src, format)
	comp := r.needsComposite()
	if !comp {
		if p, err := makePlan(b.Dx(), b.Dy(), orient, r, lim); err == nil && overhangs(p, lim) {
			comp = true
		}
	}
	if comp {
		// layer and composite work at full resolution; the result is then
		// viewed like an upright source (composite.go)
		c, err := composite(ctx, img, orient, r, lim)
		if err != nil {
			return Info{}, err
		}
		img, b, orient, r = c, c.Bounds(), 1, r.viewOnly()
	}
	p, err := makePlan(b.Dx(), b.Dy(), orient, r, lim)
	if err != nil {
		return Info{}, err
	}
	p.eighths = eighths
	if out.format == "webp" && (p.vw > webpMaxSide || p.vh > webpMaxSide) {
		return Info{}, &LimitError{Limit: limitWebPSide, What: "output image", Width: int64(p.vw), Height: int64(p.vh), Max: webpMaxSide}
	}

	view, vis, viewBuf := transform(img, p, kernelFor(r.resMode))
	defer pixPool.Put(viewBuf) // after encoding: nothing refers to the view then
	img = nil                  // let the decoded source go before the rest of the work
	if !comp {
		release() // nothing else refers to the decoded pixels
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}

	if r.sharpen {
		sharpen(view.SubImage(vis).(*image.RGBA))
	}
	if r.usm.active() {
		if err := unsharpMask(ctx, view.SubImage(vis).(*image.RGBA), r.usm); err != nil {
			return Info{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}

	bg := r.bgc
	if !r.bgcSet {
		bg.R, bg.G, bg.B, bg.A = 255, 255, 255, 255
	}
	t2 := time.Now()
	if err := encode(w, view, out, r, bg); err != nil {
		return Info{}, fmt.Errorf("encoding %s: %w", out.format, err)
	}
	return Info{
		Format: out.format, Width: p.vw, Height: p.vh,
		Decode: t1.Sub(t0), Transform: t2.Sub(t1), Encode: time.Since(t2),
	}, nil
}

// transform applies the geometry of p to src: crop, orientation, rotate,
// flip, scale and placement in one pass over the source. It returns the
// view (transparent where the composite does not cover it), the part of
// the view the composite covers, and the view's buffer (from pixPool) to
// give back when the view is no longer used.
func transform(src image.Image, p plan, k *draw.Kernel) (*image.RGBA, image.Rectangle, *[]byte) {
	n := 4 * p.vw * p.vh
	bp := getPix(n)
	pix := (*bp)[:n]
	clear(pix)
	view := &image.RGBA{Pix: pix, Stride: 4 * p.vw, Rect: image.Rect(0, 0, p.vw, p.vh)}
	vis := image.Rect(0, 0, p.sw, p.sh).Add(p.off).Intersect(view.Rect)
	if vis.Empty() {
		return view, vis, bp
	}

	// the scaled composite in stored orientation, only where it is visible
	bw, bh := p.t.size(p.sw, p.sh)
	var buf *image.RGBA
	if p.t.isIdentity() {
		buf = view // scale straight into place
	} else {
		buf = image.NewRGBA(p.t.inverseRect(vis.Sub(p.off), bw, bh))
	}

	// the source pixels inside the crop region, and where they land
	sb := src.Bounds()
	if p.eighths > 0 && p.eighths < 8 {
		sb.Max = sb.Min.Add(p.full) // in full-size coordinates (scaleInto maps them)
	}
	in := p.region.Add(sb.Min).Intersect(sb)
	if !in.Empty() {
		rel := in.Sub(sb.Min).Sub(p.region.Min)
		rw, rh := int64(p.region.Dx()), int64(p.region.Dy())
		dr := image.Rect(
			int(roundDiv(int64(rel.Min.X)*int64(bw), rw)), int(roundDiv(int64(rel.Min.Y)*int64(bh), rh)),
			int(roundDiv(int64(rel.Max.X)*int64(bw), rw)), int(roundDiv(int64(rel.Max.Y)*int64(bh), rh)),
		)
		if buf == view {
			dr = dr.Add(p.off)
		}
		if (p.eighths == 0 || p.eighths == 8) && dr.Dx() == in.Dx() && dr.Dy() == in.Dy() {
			draw.Draw(buf, dr, src, in.Min, draw.Src)
		} else if !dr.Empty() {
			scaleInto(buf, dr, src, in.Sub(sb.Min), p.eighths, k)
		}
	}
	if buf != view {
		place(view, vis, buf, p)
	}
	return view, vis, bp
}

// place copies the visible part of the scaled composite from buf (stored
// orientation) into view, applying p.t.
func place(view *image.RGBA, vis image.Rectangle, buf *image.RGBA, p plan) {
	d := p.t
	for v := vis.Min.Y; v < vis.Max.Y; v++ {
		row := view.Pix[view.PixOffset(vis.Min.X, v):]
		for u := vis.Min.X; u < vis.Max.X; u++ {
			// composite -> stored orientation (dihedral.inverse for a point)
			x, y := u-p.off.X, v-p.off.Y
			if d.flipX {
				x = p.sw - 1 - x
			}
			if d.flipY {
				y = p.sh - 1 - y
			}
			if d.transpose {
				x, y = y, x
			}
			i := buf.PixOffset(x, y)
			copy(row[4*(u-vis.Min.X):4*(u-vis.Min.X)+4], buf.Pix[i:i+4])
		}
	}
}
