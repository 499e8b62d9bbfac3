package render

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"math"
	"regexp"
)

// addMetadata adds out's print resolution, ICC profile and XMP packet to
// an encoded JPEG or PNG stream b (TIFF writes its own; GIF and WebP take
// none).
func addMetadata(b []byte, out outputSpec) ([]byte, error) {
	if out.printRes == 0 && out.icc == nil && out.xmp == nil {
		return b, nil
	}
	switch out.format {
	case "jpeg":
		return jpegMetadata(b, out), nil
	case "png":
		return pngMetadata(b, out), nil
	}
	return b, nil
}

const xmpJPEGHeader = "http://ns.adobe.com/xap/1.0/\x00"

func jpegSegment(marker byte, payload []byte) []byte {
	s := []byte{0xff, marker, 0, 0}
	binary.BigEndian.PutUint16(s[2:], uint16(len(payload)+2))
	return append(s, payload...)
}

func jpegMetadata(b []byte, out outputSpec) []byte {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return b
	}
	rest := b[2:]
	var head []byte
	// keep or write the JFIF APP0 first
	if len(rest) > 4 && rest[0] == 0xff && rest[1] == 0xe0 {
		n := int(binary.BigEndian.Uint16(rest[2:]))
		if 2+n <= len(rest) {
			head = bytes.Clone(rest[:2+n])
			rest = rest[2+n:]
		}
	}
	if out.printRes > 0 {
		d := uint16(min(out.printRes, math.MaxUint16))
		if len(head) >= 18 && string(head[4:9]) == "JFIF\x00" {
			head[11] = 1 // dots per inch
			binary.BigEndian.PutUint16(head[12:], d)
			binary.BigEndian.PutUint16(head[14:], d)
		} else {
			app0 := []byte("JFIF\x00\x01\x01\x01\x00\x00\x00\x00\x00\x00")
			binary.BigEndian.PutUint16(app0[8:], d)
			binary.BigEndian.PutUint16(app0[10:], d)
			head = append(jpegSegment(0xe0, app0), head...)
		}
	}
	if out.icc != nil {
		// ICC.1 Annex B.4: chunks of at most 65519 bytes
		const max = 65519
		n := (len(out.icc) + max - 1) / max
		for i := 0; i < n; i++ {
			chunk := out.icc[i*max : min(len(out.icc), (i+1)*max)]
			p := append([]byte("ICC_PROFILE\x00"), byte(i+1), byte(n))
			head = append(head, jpegSegment(0xe2, append(p, chunk...))...)
		}
	}
	if out.xmp != nil && len(out.xmp)+len(xmpJPEGHeader) <= 65533 {
		head = append(head, jpegSegment(0xe1, append([]byte(xmpJPEGHeader), out.xmp...))...)
	}
	res := make([]byte, 0, len(b)+len(head))
	res = append(res, 0xff, 0xd8)
	res = append(res, head...)
	return append(res, rest...)
}

func pngChunk(typ string, data []byte) []byte {
	c := make([]byte, 8, 12+len(data))
	binary.BigEndian.PutUint32(c, uint32(len(data)))
	copy(c[4:], typ)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

func pngMetadata(b []byte, out outputSpec) []byte {
	const ihdrEnd = 8 + 8 + 13 + 4
	if len(b) < ihdrEnd || string(b[12:16]) != "IHDR" {
		return b
	}
	var add []byte
	if out.printRes > 0 {
		ppm := uint32(math.Round(float64(out.printRes) / 0.0254))
		p := binary.BigEndian.AppendUint32(nil, ppm)
		p = binary.BigEndian.AppendUint32(p, ppm)
		add = append(add, pngChunk("pHYs", append(p, 1))...)
	}
	if out.icc != nil {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(out.icc)
		zw.Close()
		add = append(add, pngChunk("iCCP", append([]byte("sRGB\x00\x00"), z.Bytes()...))...)
	}
	if out.xmp != nil {
		add = append(add, pngChunk("iTXt", append([]byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00"), out.xmp...))...)
	}
	res := make([]byte, 0, len(b)+len(add))
	res = append(res, b[:ihdrEnd]...)
	res = append(res, add...)
	return append(res, b[ihdrEnd:]...)
}

// sourceXMP returns the XMP packet of src (JPEG APP1, PNG iTXt
// XML:com.adobe.xmp, WebP XMP chunk, TIFF tag 700), with any
// tiff:Orientation reset to 1 (the pixels are upright; decisions.md §7),
// or nil.
func sourceXMP(src []byte, format string) []byte {
	var x []byte
	switch format {
	case "jpeg":
		x = jpegSegments(src, 0xe1, []byte(xmpJPEGHeader))
		if x != nil {
			x = x[len(xmpJPEGHeader):]
		}
	case "png":
		const key = "XML:com.adobe.xmp\x00"
		for i := 8; i+12 <= len(src); {
			n := int(binary.BigEndian.Uint32(src[i:]))
			if n < 0 || n > len(src)-i-12 {
				break
			}
			typ, data := string(src[i+4:i+8]), src[i+8:i+8+n]
			if typ == "IDAT" || typ == "IEND" {
				break
			}
			if typ == "iTXt" && bytes.HasPrefix(data, []byte(key)) && len(data) > len(key)+2 && data[len(key)] == 0 {
				// compression flag 0, method, language\0, translated\0, text
				rest := data[len(key)+2:]
				if i := bytes.IndexByte(rest, 0); i >= 0 {
					rest = rest[i+1:]
					if i := bytes.IndexByte(rest, 0); i >= 0 {
						x = rest[i+1:]
					}
				}
				break
			}
			i += 12 + n
		}
	case "webp":
		for i := 12; i+8 <= len(src); {
			n := int(binary.LittleEndian.Uint32(src[i+4:]))
			if n < 0 || n > len(src)-i-8 {
				break
			}
			if string(src[i:i+4]) == "XMP " {
				x = src[i+8 : i+8+n]
				break
			}
			i += 8 + n + n&1
		}
	case "tiff":
		x = tiffTag(src, 700)
	}
	if len(x) == 0 {
		return nil
	}
	return xmpOrientation.ReplaceAll(bytes.Clone(x), []byte("${1}1${3}"))
}

var xmpOrientation = regexp.MustCompile(`(tiff:Orientation\s*=\s*["']|<tiff:Orientation>\s*)(\d+)(["']|\s*</tiff:Orientation>)`)

// jpegSegments returns the payload of the first marker segment of src
// whose payload starts with prefix, before the first scan, or nil.
func jpegSegments(b []byte, marker byte, prefix []byte) []byte {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return nil
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return nil
		}
		m := b[i+1]
		switch {
		case m == 0xff:
			i++
			continue
		case m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7):
			i += 2
			continue
		case m == 0xda || m == 0xd9:
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		seg := b[i+4 : i+2+n]
		if m == marker && bytes.HasPrefix(seg, prefix) {
			return seg
		}
		i += 2 + n
	}
	return nil
}

// tiffTag returns the value bytes of tag in IFD0 of the TIFF file t (any
// type; count × type size bytes), or nil.
func tiffTag(t []byte, tag uint16) []byte {
	if len(t) < 8 {
		return nil
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return nil
	}
	off := uint64(bo.Uint32(t[4:]))
	if off+2 > uint64(len(t)) {
		return nil
	}
	count := uint64(bo.Uint16(t[off:]))
	sizes := map[uint16]uint64{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
	for i := uint64(0); i < count; i++ {
		e := off + 2 + 12*i
		if e+12 > uint64(len(t)) {
			return nil
		}
		if bo.Uint16(t[e:]) != tag {
			continue
		}
		sz, ok := sizes[bo.Uint16(t[e+2:])]
		if !ok {
			return nil
		}
		n := sz * uint64(bo.Uint32(t[e+4:]))
		if n <= 4 {
			return t[e+8 : e+8+n]
		}
		p := uint64(bo.Uint32(t[e+8:]))
		if p+n > uint64(len(t)) {
			return nil
		}
		return t[p : p+n]
	}
	return nil
}
