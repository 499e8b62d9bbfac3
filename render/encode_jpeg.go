package render

import (
	"bytes"
	"fmt"
	"image"
	"io"

	"github.com/ipsd/ipsd/render/internal/jpegscan"
	"github.com/ipsd/ipsd/render/internal/turbojpeg"
)

// encodeJPEG writes img, a flattened (opaque) *image.RGBA or an
// *image.Gray, as a JPEG of quality q through libjpeg-turbo: chroma
// subsampled 4:2:0, or not at all when qlt's chroma flag is set
// (out.chroma444). pjpeg is progressive: with pscan=auto libjpeg's
// default scan script, with pscan=3|4|5 that many refinement passes
// (jpegscan.Script), made by rewriting the baseline encoding's
// coefficients, so the pixels are the same as fmt=jpeg's.
func encodeJPEG(w io.Writer, img image.Image, out outputSpec, q int) error {
	o := turbojpeg.Options{Quality: min(max(q, 1), 100), Subsamp: turbojpeg.Samp420, Progressive: out.progressive && out.pscan == 0}
	if out.chroma444 {
		o.Subsamp = turbojpeg.Samp444
	}
	ncomps := 3
	switch m := img.(type) {
	case *image.Gray:
		ncomps = 1
	case *image.RGBA:
	case *image.NRGBA: // opaque after flattening: the same bytes
		img = &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
	default:
		return fmt.Errorf("unexpected image type %T", img)
	}
	if !out.progressive || out.pscan == 0 {
		return turbojpeg.Encode(w, img, o)
	}
	var base bytes.Buffer
	if err := turbojpeg.Encode(&base, img, o); err != nil {
		return err
	}
	b, err := jpegscan.Progressive(base.Bytes(), ncomps, out.pscan)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
