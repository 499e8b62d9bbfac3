// Package lcms is a minimal cgo binding of Little CMS 2 (liblcms2): open
// ICC profiles from memory, build the built-in sRGB profile, and run 8-bit
// colour transforms. Every call checks its result; buffers passed to C are
// sized and checked on the Go side first.
package lcms

/*
#cgo LDFLAGS: -llcms2
#include <stdlib.h>
#include <lcms2.h>

enum {
	fmtRGB8 = TYPE_RGB_8,
	fmtRGBA8 = TYPE_RGBA_8,
	fmtGray8 = TYPE_GRAY_8,
	fmtCMYK8 = TYPE_CMYK_8,
	flagCopyAlpha = cmsFLAGS_COPY_ALPHA,
	intentRelative = INTENT_RELATIVE_COLORIMETRIC,
};
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// A Space is the colour space of a profile's device side.
type Space int

// The colour spaces this package transforms from.
const (
	Other Space = iota
	RGB
	Gray
	CMYK
)

// A Format is the pixel layout of a transform's input or output buffer.
type Format struct {
	c     C.cmsUInt32Number
	bytes int // per pixel
}

// Pixel layouts, 8 bits per sample, interleaved.
var (
	RGB8  = Format{C.fmtRGB8, 3}
	RGBA8 = Format{C.fmtRGBA8, 4} // alpha is copied through
	Gray8 = Format{C.fmtGray8, 1}
	CMYK8 = Format{C.fmtCMYK8, 4} // 0 = no ink
)

// A Profile is an open ICC profile. Close it when done; a finalizer closes
// it otherwise.
type Profile struct{ h C.cmsHPROFILE }

func newProfile(h C.cmsHPROFILE) *Profile {
	p := &Profile{h}
	runtime.SetFinalizer(p, (*Profile).Close)
	return p
}

// Open parses an ICC profile. Little CMS copies the data.
func Open(icc []byte) (*Profile, error) {
	if len(icc) < 132 || len(icc) > 1<<28 {
		return nil, fmt.Errorf("opening ICC profile: %d bytes is not a plausible profile size", len(icc))
	}
	h := C.cmsOpenProfileFromMem(unsafe.Pointer(&icc[0]), C.cmsUInt32Number(len(icc)))
	if h == nil {
		return nil, errors.New("opening ICC profile: not a valid profile")
	}
	return newProfile(h), nil
}

// SRGB returns Little CMS's built-in sRGB (IEC 61966-2.1) profile.
func SRGB() (*Profile, error) {
	h := C.cmsCreate_sRGBProfile()
	if h == nil {
		return nil, errors.New("creating the sRGB profile failed")
	}
	return newProfile(h), nil
}

// Close releases the profile.
func (p *Profile) Close() error {
	if p.h == nil {
		return nil
	}
	ok := C.cmsCloseProfile(p.h)
	p.h = nil
	runtime.SetFinalizer(p, nil)
	if ok == 0 {
		return errors.New("closing ICC profile failed")
	}
	return nil
}

// Space reports the colour space of the profile's device side.
func (p *Profile) Space() Space {
	defer runtime.KeepAlive(p)
	switch C.cmsGetColorSpace(p.h) {
	case C.cmsSigRgbData:
		return RGB
	case C.cmsSigGrayData:
		return Gray
	case C.cmsSigCmykData:
		return CMYK
	}
	return Other
}

// Description returns the profile's description (English), or "".
func (p *Profile) Description() string {
	defer runtime.KeepAlive(p)
	lang, country := C.CString("en"), C.CString("US")
	defer C.free(unsafe.Pointer(lang))
	defer C.free(unsafe.Pointer(country))
	n := C.cmsGetProfileInfoASCII(p.h, C.cmsInfoDescription, lang, country, nil, 0)
	if n == 0 || n > 1<<16 {
		return ""
	}
	buf := make([]byte, int(n))
	if C.cmsGetProfileInfoASCII(p.h, C.cmsInfoDescription, lang, country, (*C.char)(unsafe.Pointer(&buf[0])), n) == 0 {
		return ""
	}
	for i, c := range buf {
		if c == 0 {
			buf = buf[:i]
			break
		}
	}
	return string(buf)
}

// Bytes serialises the profile.
func (p *Profile) Bytes() ([]byte, error) {
	defer runtime.KeepAlive(p)
	var n C.cmsUInt32Number
	if C.cmsSaveProfileToMem(p.h, nil, &n) == 0 || n == 0 || n > 1<<28 {
		return nil, errors.New("serialising ICC profile failed")
	}
	buf := make([]byte, int(n))
	if C.cmsSaveProfileToMem(p.h, unsafe.Pointer(&buf[0]), &n) == 0 || int(n) > len(buf) {
		return nil, errors.New("serialising ICC profile failed")
	}
	return buf[:n], nil
}

// A Transform converts pixels between two profiles. It is safe for
// concurrent use.
type Transform struct {
	h       C.cmsHTRANSFORM
	in, out Format
}

// NewTransform builds a transform from src (pixels in layout in) to dst
// (layout out) with the relative colorimetric intent and no black point
// compensation. Alpha is copied when both layouts have it.
func NewTransform(src *Profile, in Format, dst *Profile, out Format) (*Transform, error) {
	flags := C.cmsUInt32Number(0)
	if in == RGBA8 && out == RGBA8 {
		flags |= C.flagCopyAlpha
	}
	h := C.cmsCreateTransform(src.h, in.c, dst.h, out.c, C.intentRelative, flags)
	runtime.KeepAlive(src)
	runtime.KeepAlive(dst)
	if h == nil {
		return nil, errors.New("creating colour transform failed (profile and pixel layout do not match?)")
	}
	t := &Transform{h: h, in: in, out: out}
	runtime.SetFinalizer(t, (*Transform).Close)
	return t, nil
}

// Do transforms n pixels from in to out. Both buffers must hold n pixels
// of their layouts.
func (t *Transform) Do(in, out []byte, n int) error {
	if n <= 0 {
		return nil
	}
	if len(in) < n*t.in.bytes || len(out) < n*t.out.bytes {
		return fmt.Errorf("colour transform: buffers of %d and %d bytes are too small for %d pixels", len(in), len(out), n)
	}
	C.cmsDoTransform(t.h, unsafe.Pointer(&in[0]), unsafe.Pointer(&out[0]), C.cmsUInt32Number(n))
	runtime.KeepAlive(t)
	return nil
}

// Close releases the transform.
func (t *Transform) Close() error {
	if t.h != nil {
		C.cmsDeleteTransform(t.h)
		t.h = nil
		runtime.SetFinalizer(t, nil)
	}
	return nil
}
