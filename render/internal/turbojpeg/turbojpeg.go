// Package turbojpeg is a minimal cgo binding to libjpeg-turbo's TurboJPEG
// 2.1 API (Debian libturbojpeg0-dev): header reading, decoding at n/8 of
// the size for n = 1..8 (DCT-domain scaling) to planar YCbCr, grey or RGBA,
// and encoding from RGBA or grey.
//
// Safety: every buffer C writes into is a Go slice whose length is checked,
// before the call, against the size TurboJPEG itself computes for the
// dimensions and strides passed; dimensions come from the header and are
// bounded by MaxSide first. Every return code is checked. No Go pointer is
// stored in C memory (cgo pointer rules): the plane pointers are passed as
// separate arguments to a C helper. Each call uses its own handle, so the
// functions are safe for concurrent use.
package turbojpeg

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>

static int ipsd_decode_planes(tjhandle h, const unsigned char *jpeg, unsigned long n,
		unsigned char *y, unsigned char *cb, unsigned char *cr,
		int sy, int sc, int width, int height, int flags) {
	unsigned char *planes[3] = {y, cb, cr};
	int strides[3] = {sy, sc, sc};
	return tjDecompressToYUVPlanes(h, jpeg, n, planes, width, strides, height, flags);
}

static int ipsd_compress(tjhandle h, const unsigned char *src, int width, int pitch, int height,
		int pf, unsigned char **out, unsigned long *size, int subsamp, int quality, int flags) {
	*out = NULL;
	*size = 0;
	return tjCompress2(h, src, width, pitch, height, pf, out, size, subsamp, quality, flags);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"io"
	"unsafe"
)

// MaxSide is the largest width or height handled (the JPEG format's own
// limit is 65535).
const MaxSide = 65535

// Subsamp is a chroma subsampling (TJSAMP_*).
type Subsamp int

// The chroma subsamplings of TurboJPEG 2.1.
const (
	Samp444  Subsamp = C.TJSAMP_444
	Samp422  Subsamp = C.TJSAMP_422
	Samp420  Subsamp = C.TJSAMP_420
	SampGray Subsamp = C.TJSAMP_GRAY
	Samp440  Subsamp = C.TJSAMP_440
	Samp411  Subsamp = C.TJSAMP_411
)

// Colorspace is the colour space of a JPEG image (TJCS_*).
type Colorspace int

// The JPEG colour spaces.
const (
	RGB   Colorspace = C.TJCS_RGB
	YCbCr Colorspace = C.TJCS_YCbCr
	Gray  Colorspace = C.TJCS_GRAY
	CMYK  Colorspace = C.TJCS_CMYK
	YCCK  Colorspace = C.TJCS_YCCK
)

// Header is what DecodeHeader reads.
type Header struct {
	Width, Height int
	Subsamp       Subsamp
	Colorspace    Colorspace
}

// Error is a failure reported by TurboJPEG. Warning is set when TurboJPEG
// flagged it as non-fatal (TJERR_WARNING: the data is corrupt but decoding
// could go on).
type Error struct {
	Op      string
	Msg     string
	Warning bool
}

func (e *Error) Error() string { return e.Op + ": " + e.Msg }

func lastError(h C.tjhandle, op string) error {
	return &Error{Op: op, Msg: C.GoString(C.tjGetErrorStr2(h)), Warning: C.tjGetErrorCode(h) == C.TJERR_WARNING}
}

// DecodeHeader reads the size, subsampling and colour space of a JPEG.
func DecodeHeader(jpeg []byte) (Header, error) {
	if len(jpeg) == 0 {
		return Header{}, errors.New("reading JPEG header: empty data")
	}
	h := C.tjInitDecompress()
	if h == nil {
		return Header{}, errors.New("reading JPEG header: cannot create a decompressor")
	}
	defer C.tjDestroy(h)
	var w, ht, ss, cs C.int
	if C.tjDecompressHeader3(h, (*C.uchar)(&jpeg[0]), C.ulong(len(jpeg)), &w, &ht, &ss, &cs) != 0 {
		return Header{}, lastError(h, "reading JPEG header")
	}
	hd := Header{Width: int(w), Height: int(ht), Subsamp: Subsamp(ss), Colorspace: Colorspace(cs)}
	if hd.Width <= 0 || hd.Height <= 0 || hd.Width > MaxSide || hd.Height > MaxSide {
		return Header{}, fmt.Errorf("reading JPEG header: bad size %dx%d", hd.Width, hd.Height)
	}
	return hd, nil
}

// Scaled returns the size of a w×h JPEG decoded at eighths/8 of its size
// (TJSCALED).
func Scaled(w, h, eighths int) (int, int) {
	return (w*eighths + 7) / 8, (h*eighths + 7) / 8
}

// checkScale accepts the scaling factors n/8, n = 1..8, that libjpeg-turbo
// implements for every JPEG (a reduced n×n inverse DCT per 8×8 block).
func checkScale(eighths int) error {
	if eighths < 1 || eighths > 8 {
		return fmt.Errorf("unsupported scale %d/8", eighths)
	}
	return nil
}

var ratios = map[Subsamp]image.YCbCrSubsampleRatio{
	Samp444: image.YCbCrSubsampleRatio444,
	Samp422: image.YCbCrSubsampleRatio422,
	Samp420: image.YCbCrSubsampleRatio420,
	Samp440: image.YCbCrSubsampleRatio440,
	Samp411: image.YCbCrSubsampleRatio411,
}

// CanDecodePlanar reports whether DecodePlanar handles a JPEG with header
// hd (from DecodeHeader): YCbCr with a subsampling image.YCbCr can hold, or grey.
func CanDecodePlanar(hd Header) bool {
	if hd.Colorspace == Gray {
		return true
	}
	_, ok := ratios[hd.Subsamp]
	return hd.Colorspace == YCbCr && ok
}

// DecodePlanar decodes a JPEG at eighths/8 of its size without colour conversion: an *image.YCbCr
// (JFIF full-range YCbCr, chroma at the JPEG's own subsampling) or, for a
// grey JPEG, an *image.Gray.
func DecodePlanar(jpeg []byte, eighths int) (image.Image, error) {
	if err := checkScale(eighths); err != nil {
		return nil, err
	}
	hd, err := DecodeHeader(jpeg) // sizes come from the data TurboJPEG will decode
	if err != nil {
		return nil, err
	}
	if !CanDecodePlanar(hd) {
		return nil, errors.New("decoding JPEG: not a YCbCr or grey image")
	}
	if hd.Width <= 0 || hd.Height <= 0 || hd.Width > MaxSide || hd.Height > MaxSide || len(jpeg) == 0 {
		return nil, fmt.Errorf("decoding JPEG: bad size %dx%d", hd.Width, hd.Height)
	}
	w, ht := Scaled(hd.Width, hd.Height, eighths)
	r := image.Rect(0, 0, w, ht)

	var (
		img        image.Image
		y, cb, cr  []byte
		ys, cs     int
		subsamp    = hd.Subsamp
		components = 3
	)
	if hd.Colorspace == Gray {
		g := image.NewGray(r)
		img, y, ys, subsamp, components = g, g.Pix, g.Stride, SampGray, 1
	} else {
		m := image.NewYCbCr(r, ratios[subsamp])
		img, y, cb, cr, ys, cs = m, m.Y, m.Cb, m.Cr, m.YStride, m.CStride
	}
	// the planes must hold what TurboJPEG will write
	planes := [3][]byte{y, cb, cr}
	strides := [3]int{ys, cs, cs}
	for i := range components {
		need := C.tjPlaneSizeYUV(C.int(i), C.int(w), C.int(strides[i]), C.int(ht), C.int(subsamp))
		pw := C.tjPlaneWidth(C.int(i), C.int(w), C.int(subsamp))
		if need == C.ulong(^C.ulong(0)) || pw < 0 || int(pw) > strides[i] || uint64(need) > uint64(len(planes[i])) {
			return nil, fmt.Errorf("decoding JPEG: plane %d layout mismatch (%d bytes needed, %d)", i, uint64(need), len(planes[i]))
		}
	}

	h := C.tjInitDecompress()
	if h == nil {
		return nil, errors.New("decoding JPEG: cannot create a decompressor")
	}
	defer C.tjDestroy(h)
	var pcb, pcr *C.uchar
	if components == 3 {
		pcb, pcr = (*C.uchar)(&cb[0]), (*C.uchar)(&cr[0])
	}
	rc := C.ipsd_decode_planes(h, (*C.uchar)(&jpeg[0]), C.ulong(len(jpeg)),
		(*C.uchar)(&y[0]), pcb, pcr, C.int(ys), C.int(cs), C.int(w), C.int(ht), 0)
	if rc != 0 {
		return nil, lastError(h, "decoding JPEG")
	}
	return img, nil
}

// DecodeRGBA decodes a JPEG at eighths/8 of its size to opaque RGBA,
// converting colour in libjpeg-turbo (chroma upsampled by interpolation,
// as libjpeg gives it to ImageMagick and libvips; any colour space but
// CMYK and YCCK, which TurboJPEG cannot convert to RGB). buf is used for
// the pixels when it is large enough (buffer reuse); else a new one is
// allocated.
func DecodeRGBA(jpeg []byte, eighths int, buf []byte) (*image.RGBA, error) {
	if err := checkScale(eighths); err != nil {
		return nil, err
	}
	hd, err := DecodeHeader(jpeg)
	if err != nil {
		return nil, err
	}
	if hd.Colorspace == CMYK || hd.Colorspace == YCCK {
		return nil, errors.New("decoding JPEG: CMYK to RGB is not supported")
	}
	if hd.Width <= 0 || hd.Height <= 0 || hd.Width > MaxSide || hd.Height > MaxSide || len(jpeg) == 0 {
		return nil, fmt.Errorf("decoding JPEG: bad size %dx%d", hd.Width, hd.Height)
	}
	w, ht := Scaled(hd.Width, hd.Height, eighths)
	var m *image.RGBA
	if n := 4 * w * ht; cap(buf) >= n {
		m = &image.RGBA{Pix: buf[:n], Stride: 4 * w, Rect: image.Rect(0, 0, w, ht)}
	} else {
		m = image.NewRGBA(image.Rect(0, 0, w, ht))
	}
	if len(m.Pix) < m.Stride*ht || m.Stride < 4*w {
		return nil, errors.New("decoding JPEG: buffer too small")
	}
	h := C.tjInitDecompress()
	if h == nil {
		return nil, errors.New("decoding JPEG: cannot create a decompressor")
	}
	defer C.tjDestroy(h)
	rc := C.tjDecompress2(h, (*C.uchar)(&jpeg[0]), C.ulong(len(jpeg)), (*C.uchar)(&m.Pix[0]),
		C.int(w), C.int(m.Stride), C.int(ht), C.TJPF_RGBA, 0)
	if rc != 0 {
		return nil, lastError(h, "decoding JPEG")
	}
	return m, nil
}

// Options control Encode.
type Options struct {
	Quality     int     // 1..100
	Subsamp     Subsamp // for colour images; grey images are always SampGray
	Progressive bool    // libjpeg-turbo's default progressive scan script
}

// Encode writes m as a JPEG to w (baseline unless o.Progressive). m must be an *image.RGBA (its
// alpha is ignored: flatten first) or an *image.Gray.
func Encode(w io.Writer, m image.Image, o Options) error {
	var (
		pix           []byte
		stride, pf    int
		bpp           int
		width, height int
		subsamp       = o.Subsamp
	)
	switch m := m.(type) {
	case *image.RGBA:
		pix, stride, pf, bpp = m.Pix, m.Stride, C.TJPF_RGBX, 4
		width, height = m.Rect.Dx(), m.Rect.Dy()
	case *image.Gray:
		pix, stride, pf, bpp = m.Pix, m.Stride, C.TJPF_GRAY, 1
		width, height = m.Rect.Dx(), m.Rect.Dy()
		subsamp = SampGray
	default:
		return fmt.Errorf("encoding JPEG: unsupported image type %T", m)
	}
	if width <= 0 || height <= 0 || width > MaxSide || height > MaxSide {
		return fmt.Errorf("encoding JPEG: bad size %dx%d", width, height)
	}
	if o.Quality < 1 || o.Quality > 100 {
		return fmt.Errorf("encoding JPEG: quality %d out of 1..100", o.Quality)
	}
	if _, ok := ratios[subsamp]; !ok && subsamp != SampGray {
		return fmt.Errorf("encoding JPEG: bad subsampling %d", subsamp)
	}
	if stride < width*bpp || len(pix) < stride*(height-1)+width*bpp {
		return errors.New("encoding JPEG: pixel buffer too small")
	}
	// TurboJPEG picks the fast, less accurate forward DCT below quality
	// 96 unless told otherwise; libjpeg (cjpeg, libvips, ImageMagick)
	// uses the accurate one, which keeps noticeably closer to the pixels
	// for a few percent of the encoding time
	flags := C.TJFLAG_ACCURATEDCT
	if o.Progressive {
		flags |= C.TJFLAG_PROGRESSIVE
	}
	h := C.tjInitCompress()
	if h == nil {
		return errors.New("encoding JPEG: cannot create a compressor")
	}
	defer C.tjDestroy(h)
	var (
		out  *C.uchar
		size C.ulong
	)
	rc := C.ipsd_compress(h, (*C.uchar)(&pix[0]), C.int(width), C.int(stride), C.int(height), C.int(pf),
		&out, &size, C.int(subsamp), C.int(o.Quality), C.int(flags))
	if out != nil {
		defer C.tjFree(out)
	}
	if rc != 0 {
		return lastError(h, "encoding JPEG")
	}
	if out == nil || size == 0 {
		return errors.New("encoding JPEG: no output")
	}
	_, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(out)), int(size)))
	return err
}
