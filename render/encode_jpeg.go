package render

import (
	"fmt"
	"image"
	"io"

	"github.com/ipsd/ipsd/render/internal/turbojpeg"
)

// encodeJPEG writes img, a flattened (opaque) *image.RGBA or an
// *image.Gray, as a JPEG of quality q through libjpeg-turbo: chroma
// subsampled 4:2:0, or not at all when qlt's chroma flag is set
// (out.chroma444); progressive for pjpeg, with libjpeg's default scan
// script (pscan= does not change it).
func encodeJPEG(w io.Writer, img image.Image, out outputSpec, q int) error {
	o := turbojpeg.Options{Quality: min(max(q, 1), 100), Subsamp: turbojpeg.Samp420, Progressive: out.progressive}
	if out.chroma444 {
		o.Subsamp = turbojpeg.Samp444
	}
	switch m := img.(type) {
	case *image.RGBA, *image.Gray:
		return turbojpeg.Encode(w, m, o)
	case *image.NRGBA: // opaque after flattening: the same bytes
		return turbojpeg.Encode(w, &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}, o)
	}
	return fmt.Errorf("unexpected image type %T", img)
}
