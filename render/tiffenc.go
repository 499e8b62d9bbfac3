package render

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"image"
	"io"

	"github.com/ipsd/ipsd/render/internal/turbojpeg"
)

// tiffOptions describe a TIFF file to write (TIFF 6.0).
type tiffOptions struct {
	compression string // "", "none", "lzw", "zip", "jpeg"
	quality     int    // jpeg compression
	chroma444   bool   // jpeg compression without chroma subsampling (qlt=…,1)
	dpi         int    // 0 = no resolution tags
	icc         []byte // tag 34675
	xmp         []byte // tag 700
}

// TIFF tag numbers and types used by writeTIFF.
const (
	tShort    = 3
	tLong     = 4
	tRational = 5
	tUndef    = 7
	tByte     = 1
)

// writeTIFF writes m, an *image.NRGBA (RGB or RGBA), or *image.Gray, as a
// little-endian, strip-based TIFF with 8 bits per sample. Alpha, when
// kept, is unassociated (ExtraSamples = 2). lzw and zip use the
// horizontal-differencing predictor; jpeg stores one strip holding a
// complete baseline JPEG stream (TIFF Technical Note 2, YCbCr 4:2:0, or
// 4:4:4 with chroma444, or grey) made by libjpeg-turbo.
func writeTIFF(w io.Writer, m image.Image, alpha bool, o tiffOptions) error {
	var (
		spp   int
		pix   func(y int) []byte // one row of samples
		gray  bool
		width = m.Bounds().Dx()
		h     = m.Bounds().Dy()
	)
	switch im := m.(type) {
	case *image.Gray:
		gray, spp = true, 1
		pix = func(y int) []byte { return im.Pix[y*im.Stride : y*im.Stride+width] }
	case *image.NRGBA:
		spp = 3
		if alpha {
			spp = 4
		}
		row := make([]byte, width*spp)
		pix = func(y int) []byte {
			src := im.Pix[y*im.Stride:]
			if alpha {
				return src[:4*width]
			}
			for x := range width {
				copy(row[3*x:3*x+3], src[4*x:4*x+3])
			}
			return row
		}
	default:
		return errors.New("tiff: unsupported image type")
	}
	rowBytes := width * spp

	// strips
	var strips [][]byte
	rowsPerStrip := max(1, min(h, (64<<10)/max(1, rowBytes)))
	comp := uint32(1)
	predictor := false
	switch o.compression {
	case "lzw":
		comp, predictor = 5, true
	case "zip":
		comp, predictor = 8, true
	case "jpeg":
		comp, rowsPerStrip = 7, h
		var b bytes.Buffer
		q := o.quality
		if q == 0 {
			q = defaultQuality
		}
		jm := m
		if n, ok := m.(*image.NRGBA); ok { // opaque: flattened by the caller
			jm = &image.RGBA{Pix: n.Pix, Stride: n.Stride, Rect: n.Rect}
		}
		opt := turbojpeg.Options{Quality: min(max(q, 1), 100), Subsamp: turbojpeg.Samp420}
		if o.chroma444 {
			opt.Subsamp = turbojpeg.Samp444
		}
		if err := turbojpeg.Encode(&b, jm, opt); err != nil {
			return err
		}
		strips = append(strips, b.Bytes())
	}
	if comp != 7 {
		buf := make([]byte, 0, rowsPerStrip*rowBytes)
		for y0 := 0; y0 < h; y0 += rowsPerStrip {
			buf = buf[:0]
			for y := y0; y < min(h, y0+rowsPerStrip); y++ {
				row := pix(y)
				n := len(buf)
				buf = append(buf, row...)
				if predictor {
					r := buf[n:]
					for i := len(r) - 1; i >= spp; i-- {
						r[i] -= r[i-spp]
					}
				}
			}
			var s []byte
			switch comp {
			case 1:
				s = bytes.Clone(buf)
			case 5:
				s = lzwTIFF(buf)
			case 8:
				var b bytes.Buffer
				zw := zlib.NewWriter(&b)
				zw.Write(buf)
				if err := zw.Close(); err != nil {
					return err
				}
				s = b.Bytes()
			}
			strips = append(strips, s)
		}
	}

	// layout: header, strips, then the IFD and its out-of-line values
	type entry struct {
		tag, typ uint16
		count    uint32
		data     []byte // the value bytes
	}
	le := binary.LittleEndian
	shorts := func(v ...int) []byte {
		b := make([]byte, 2*len(v))
		for i, x := range v {
			le.PutUint16(b[2*i:], uint16(x))
		}
		return b
	}
	longs := func(v ...uint32) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			le.PutUint32(b[4*i:], x)
		}
		return b
	}
	off := uint32(8)
	offsets := make([]uint32, len(strips))
	counts := make([]uint32, len(strips))
	for i, s := range strips {
		offsets[i], counts[i] = off, uint32(len(s))
		off += uint32(len(s))
		off += off & 1
	}
	bps := make([]int, spp)
	for i := range bps {
		bps[i] = 8
	}
	photometric := 2
	if gray {
		photometric = 1
	}
	if comp == 7 && !gray {
		photometric = 6 // YCbCr
	}
	entries := []entry{
		{256, tLong, 1, longs(uint32(width))},
		{257, tLong, 1, longs(uint32(h))},
		{258, tShort, uint32(spp), shorts(bps...)},
		{259, tShort, 1, shorts(int(comp))},
		{262, tShort, 1, shorts(photometric)},
		{273, tLong, uint32(len(strips)), longs(offsets...)},
		{277, tShort, 1, shorts(spp)},
		{278, tLong, 1, longs(uint32(rowsPerStrip))},
		{279, tLong, uint32(len(strips)), longs(counts...)},
	}
	if o.dpi > 0 {
		entries = append(entries,
			entry{282, tRational, 1, longs(uint32(o.dpi), 1)},
			entry{283, tRational, 1, longs(uint32(o.dpi), 1)})
	}
	entries = append(entries, entry{284, tShort, 1, shorts(1)})
	if o.dpi > 0 {
		entries = append(entries, entry{296, tShort, 1, shorts(2)})
	}
	if predictor {
		entries = append(entries, entry{317, tShort, 1, shorts(2)})
	}
	if alpha && spp == 4 {
		entries = append(entries, entry{338, tShort, 1, shorts(2)})
	}
	if comp == 7 && !gray {
		if o.chroma444 {
			entries = append(entries, entry{530, tShort, 2, shorts(1, 1)})
		} else {
			entries = append(entries, entry{530, tShort, 2, shorts(2, 2)})
		}
	}
	if len(o.xmp) > 0 {
		entries = append(entries, entry{700, tByte, uint32(len(o.xmp)), o.xmp})
	}
	if len(o.icc) > 0 {
		entries = append(entries, entry{34675, tUndef, uint32(len(o.icc)), o.icc})
	}

	ifdOff := off
	extra := ifdOff + 2 + 12*uint32(len(entries)) + 4
	var ifd, ext bytes.Buffer
	ifd.Write(shorts(len(entries)))
	for _, e := range entries {
		ifd.Write(shorts(int(e.tag), int(e.typ)))
		ifd.Write(longs(e.count))
		if len(e.data) <= 4 {
			v := make([]byte, 4)
			copy(v, e.data)
			ifd.Write(v)
			continue
		}
		ifd.Write(longs(extra + uint32(ext.Len())))
		ext.Write(e.data)
		if ext.Len()&1 == 1 {
			ext.WriteByte(0)
		}
	}
	ifd.Write(longs(0))

	hdr := append([]byte("II*\x00"), longs(ifdOff)...)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, s := range strips {
		if _, err := w.Write(s); err != nil {
			return err
		}
		if len(s)&1 == 1 {
			if _, err := w.Write([]byte{0}); err != nil {
				return err
			}
		}
	}
	if _, err := w.Write(ifd.Bytes()); err != nil {
		return err
	}
	_, err := w.Write(ext.Bytes())
	return err
}

// lzwTIFF compresses b with TIFF's LZW (TIFF 6.0 §13): MSB-first codes of
// 9 to 12 bits, Clear = 256, EOI = 257, and the code width grows one code
// early ("early change").
func lzwTIFF(b []byte) []byte {
	const (
		clearCode = 256
		eoi       = 257
	)
	var (
		out   []byte
		acc   uint32
		nbits uint
		width uint = 9
	)
	emit := func(code int) {
		acc = acc<<width | uint32(code)
		nbits += width
		for nbits >= 8 {
			out = append(out, byte(acc>>(nbits-8)))
			nbits -= 8
		}
		acc &= 1<<nbits - 1
	}
	table := make(map[uint32]int, 4096) // prefix code<<8 | byte -> code
	next := 258
	reset := func() {
		clear(table)
		next, width = 258, 9
	}
	emit(clearCode)
	if len(b) == 0 {
		emit(eoi)
		if nbits > 0 {
			out = append(out, byte(acc<<(8-nbits)))
		}
		return out
	}
	prefix := int(b[0])
	for _, c := range b[1:] {
		key := uint32(prefix)<<8 | uint32(c)
		if code, ok := table[key]; ok {
			prefix = code
			continue
		}
		emit(prefix)
		table[key] = next
		next++
		if next+1 > 1<<width && width < 12 { // early change
			width++
		}
		if next >= 4094 {
			emit(clearCode)
			reset()
		}
		prefix = int(c)
	}
	emit(prefix)
	// the decoder adds one more entry after the last code
	if next++; next >= 4094 {
		emit(clearCode)
		width = 9
	} else if next+1 > 1<<width && width < 12 {
		width++
	}
	emit(eoi)
	if nbits > 0 {
		out = append(out, byte(acc<<(8-nbits)))
	}
	return out
}
