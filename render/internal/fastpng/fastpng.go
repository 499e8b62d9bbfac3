// Package fastpng reads and writes the common kinds of PNG faster than
// image/png: zlib through libdeflate (Debian libdeflate-dev), whole-buffer,
// and the row filters in C. It handles 8-bit RGB and RGBA, non-interlaced,
// without tRNS or PLTE; Decode returns ErrUnsupported for anything else,
// and for anything image/png might judge differently (a bad checksum, a
// short or long stream, a chunk it does not know), so that the caller
// decodes the file with image/png instead and gets its verdict. The pixels
// are the same as image/png's; Encode's bytes are not (a different
// compressor), but decode to the same pixels.
package fastpng

/*
#cgo LDFLAGS: -ldeflate
#include <stdlib.h>
#include <libdeflate.h>
#include "filter.h"
*/
import "C"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"io"
	"unsafe"
)

// ErrUnsupported says the file is not one Decode handles; image/png is to
// decode it.
var ErrUnsupported = errors.New("fastpng: not handled")

// MaxPixels bounds the images Decode takes (the caller checks its own
// limits from the header first).
const MaxPixels = 1 << 28

const signature = "\x89PNG\r\n\x1a\n"

// Decode decodes an 8-bit RGB PNG to an *image.RGBA and an 8-bit RGBA one
// to an *image.NRGBA, as image/png does.
func Decode(data []byte) (image.Image, error) {
	if len(data) < len(signature)+25 || string(data[:len(signature)]) != signature {
		return nil, ErrUnsupported
	}
	var (
		w, h   int
		ctype  byte
		zdata  []byte
		nIDAT  int
		ended  bool
		at     = len(signature)
		inIDAT bool
	)
	for at+12 <= len(data) {
		n := int(binary.BigEndian.Uint32(data[at:]))
		if n < 0 || n > len(data)-at-12 {
			return nil, ErrUnsupported
		}
		typ := string(data[at+4 : at+8])
		body := data[at+8 : at+8+n]
		if crc32.ChecksumIEEE(data[at+4:at+8+n]) != binary.BigEndian.Uint32(data[at+8+n:]) {
			return nil, ErrUnsupported
		}
		if typ != "IDAT" && inIDAT {
			inIDAT = false
		}
		switch {
		case typ == "IHDR":
			if at != len(signature) || n != 13 { // first, and only once
				return nil, ErrUnsupported
			}
			w, h = int(binary.BigEndian.Uint32(body)), int(binary.BigEndian.Uint32(body[4:]))
			depth, compression, filter, interlace := body[8], body[10], body[11], body[12]
			ctype = body[9]
			if w <= 0 || h <= 0 || int64(w)*int64(h) > MaxPixels || depth != 8 || (ctype != 2 && ctype != 6) ||
				compression != 0 || filter != 0 || interlace != 0 {
				return nil, ErrUnsupported
			}
		case typ == "IDAT":
			if w == 0 || (nIDAT > 0 && !inIDAT) {
				return nil, ErrUnsupported // IDAT chunks must follow each other
			}
			if nIDAT == 0 {
				zdata = body
			} else {
				if nIDAT == 1 {
					// the IDATs cannot be longer than the rest of the
					// file: one allocation instead of growing by doubling
					zdata = append(make([]byte, 0, len(data)-at), zdata...)
				}
				zdata = append(zdata, body...)
			}
			nIDAT++
			inIDAT = true
		case typ == "IEND":
			ended = true
		case typ == "tRNS" || typ == "PLTE" || typ[0]&0x20 == 0:
			return nil, ErrUnsupported // transparency, palettes and unknown critical chunks: image/png's business
		}
		at += 12 + n
		if ended {
			break
		}
	}
	if !ended || nIDAT == 0 || w == 0 {
		return nil, ErrUnsupported
	}

	bpp := 3
	if ctype == 6 {
		bpp = 4
	}
	rowLen := w * bpp
	raw := make([]byte, h*(rowLen+1))
	if err := inflate(raw, zdata); err != nil {
		return nil, err
	}
	if C.ipsd_png_unfilter((*C.uint8_t)(unsafe.Pointer(&raw[0])), C.long(h), C.long(rowLen), C.int(bpp)) != 0 {
		return nil, ErrUnsupported
	}
	r := image.Rect(0, 0, w, h)
	if ctype == 6 {
		m := image.NewNRGBA(r)
		for y := range h {
			copy(m.Pix[y*m.Stride:y*m.Stride+rowLen], raw[y*(rowLen+1)+1:])
		}
		return m, nil
	}
	m := image.NewRGBA(r)
	for y := range h {
		src := raw[y*(rowLen+1)+1 : (y+1)*(rowLen+1)]
		dst := m.Pix[y*m.Stride : y*m.Stride+4*w]
		for x := range w {
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = src[3*x], src[3*x+1], src[3*x+2], 0xff
		}
	}
	return m, nil
}

// inflate decompresses the zlib stream z into out, which it must fill
// exactly (libdeflate checks the Adler-32 and that the stream ends there).
func inflate(out, z []byte) error {
	if len(z) == 0 || len(out) == 0 {
		return ErrUnsupported
	}
	d := C.libdeflate_alloc_decompressor()
	if d == nil {
		return errors.New("fastpng: cannot allocate a decompressor")
	}
	defer C.libdeflate_free_decompressor(d)
	var used C.size_t
	rc := C.libdeflate_zlib_decompress_ex(d, unsafe.Pointer(&z[0]), C.size_t(len(z)),
		unsafe.Pointer(&out[0]), C.size_t(len(out)), &used, nil)
	if rc != C.LIBDEFLATE_SUCCESS || int(used) != len(z) {
		return ErrUnsupported
	}
	return nil
}

// Level is the compression level Encode uses (libdeflate's 1..12; 6 is
// its default, close to zlib's 6 in size).
const Level = 6

// Encode writes m as a PNG: an *image.Gray as 8-bit grey, an *image.RGBA
// that is opaque as 8-bit RGB, an *image.NRGBA as RGB when opaque and RGBA
// otherwise (the colour types image/png picks for them). Other images, and
// a non-opaque *image.RGBA, give ErrUnsupported.
func Encode(w io.Writer, m image.Image) error {
	var (
		pix           []byte
		stride        int
		ctype         byte
		bpp           int
		width, height int
	)
	switch m := m.(type) {
	case *image.Gray:
		pix, stride, ctype, bpp = m.Pix, m.Stride, 0, 1
		width, height = m.Rect.Dx(), m.Rect.Dy()
	case *image.RGBA:
		if !m.Opaque() {
			return ErrUnsupported
		}
		pix, stride, ctype, bpp = m.Pix, m.Stride, 2, 4
		width, height = m.Rect.Dx(), m.Rect.Dy()
	case *image.NRGBA:
		pix, stride, ctype, bpp = m.Pix, m.Stride, 6, 4
		if m.Opaque() {
			ctype = 2
		}
		width, height = m.Rect.Dx(), m.Rect.Dy()
	default:
		return ErrUnsupported
	}
	if width <= 0 || height <= 0 || int64(width)*int64(height) > MaxPixels {
		return fmt.Errorf("fastpng: bad size %dx%d", width, height)
	}
	if len(pix) < (height-1)*stride+width*bpp {
		return errors.New("fastpng: pixel buffer too small")
	}
	if ctype == 2 {
		// RGB from RGBA: drop the alpha bytes
		rgb := make([]byte, width*height*3)
		for y := range height {
			src := pix[y*stride : y*stride+4*width]
			dst := rgb[y*3*width : (y+1)*3*width]
			for x := range width {
				dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
			}
		}
		pix, stride, bpp = rgb, 3*width, 3
	}
	rowLen := width * bpp
	filtered := make([]byte, height*(rowLen+1))
	scratch := make([]byte, rowLen)
	C.ipsd_png_filter((*C.uint8_t)(unsafe.Pointer(&filtered[0])), (*C.uint8_t)(unsafe.Pointer(&pix[0])),
		C.long(stride), C.long(height), C.long(rowLen), C.int(bpp), (*C.uint8_t)(unsafe.Pointer(&scratch[0])))

	c := C.libdeflate_alloc_compressor(Level)
	if c == nil {
		return errors.New("fastpng: cannot allocate a compressor")
	}
	defer C.libdeflate_free_compressor(c)
	z := make([]byte, int(C.libdeflate_zlib_compress_bound(c, C.size_t(len(filtered)))))
	zn := int(C.libdeflate_zlib_compress(c, unsafe.Pointer(&filtered[0]), C.size_t(len(filtered)), unsafe.Pointer(&z[0]), C.size_t(len(z))))
	if zn == 0 {
		return errors.New("fastpng: compression failed")
	}

	var b bytes.Buffer
	b.Grow(len(signature) + 25 + zn + 12*(zn>>20+1) + 12)
	b.WriteString(signature)
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(height))
	ihdr[8], ihdr[9] = 8, ctype
	chunk(&b, "IHDR", ihdr[:])
	for data := z[:zn]; len(data) > 0; {
		n := min(len(data), 1<<20)
		chunk(&b, "IDAT", data[:n])
		data = data[n:]
	}
	chunk(&b, "IEND", nil)
	_, err := w.Write(b.Bytes())
	return err
}

func chunk(b *bytes.Buffer, typ string, data []byte) {
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(data)))
	copy(hdr[4:], typ)
	b.Write(hdr[:])
	b.Write(data)
	crc := crc32.NewIEEE()
	crc.Write(hdr[4:])
	crc.Write(data)
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc.Sum32())
	b.Write(sum[:])
}
