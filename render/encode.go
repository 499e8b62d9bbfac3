package render

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/ipsd/ipsd/render/internal/fastpng"
	"github.com/kolesa-team/go-webp/encoder"
	"github.com/kolesa-team/go-webp/webp"
	"golang.org/x/image/bmp"
	"golang.org/x/image/draw"
)

const defaultQuality = 80 // JPEG and WebP (decisions.md §3)

// encode writes view (premultiplied) as out. Formats without alpha, or
// requests for one, get the image flattened onto bg first. Metadata
// (printRes, iccEmbed, xmpEmbed) is added to the encoded stream; jpegSize
// lowers the JPEG quality until the file fits.
func encode(w io.Writer, view *image.RGBA, out outputSpec, r *Request, bg color.NRGBA) error {
	q := defaultQuality
	if r.qltSet {
		q = r.qlt
	}
	var buf bytes.Buffer
	if err := encodePixels(&buf, view, out, r, bg, q); err != nil {
		return err
	}
	if out.format == "jpeg" && r.jpegSize > 0 && buf.Len() > r.jpegSize<<10 {
		// binary search for the highest quality below q that fits
		lo, hi, best := 1, q-1, []byte(nil)
		for lo <= hi {
			mid := (lo + hi) / 2
			var b bytes.Buffer
			if err := encodePixels(&b, view, out, r, bg, mid); err != nil {
				return err
			}
			if b.Len() <= r.jpegSize<<10 {
				best, lo = b.Bytes(), mid+1
			} else {
				hi = mid - 1
			}
		}
		if best == nil {
			return fmt.Errorf("jpegSize=%d: the image does not fit in %d KB even at quality 1", r.jpegSize, r.jpegSize)
		}
		buf.Reset()
		buf.Write(best)
	}
	b, err := addMetadata(buf.Bytes(), out)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// encodePixels encodes view as out at quality q, without metadata.
func encodePixels(w io.Writer, view *image.RGBA, out outputSpec, r *Request, bg color.NRGBA, q int) error {
	var img image.Image
	switch {
	case out.gray && out.alpha:
		img = toNRGBA(view, true)
	case out.gray:
		img = toGray(view, bg)
	case out.alpha:
		img = toNRGBA(view, false)
	default:
		img = flatten(view, bg)
	}

	switch out.format {
	case "jpeg":
		return encodeJPEG(w, img, out, q) // encode_jpeg.go
	case "png":
		enc := png.Encoder{CompressionLevel: png.DefaultCompression}
		if out.palette8 {
			return enc.Encode(w, quantize(img, out.alpha, r.quant))
		}
		// libdeflate: the same colour type and pixels as image/png's
		if err := fastpng.Encode(w, img); !errors.Is(err, fastpng.ErrUnsupported) {
			return err
		}
		return enc.Encode(w, img)
	case "gif":
		return gif.Encode(w, quantize(img, out.alpha, r.quant), nil)
	case "tiff":
		var tm image.Image
		switch m := img.(type) {
		case *image.Gray, *image.NRGBA:
			tm = m
		case *image.RGBA: // flattened: opaque, so straight alpha is the same
			tm = &image.NRGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
		default:
			return fmt.Errorf("unexpected image type %T", img)
		}
		return writeTIFF(w, tm, out.alpha, tiffOptions{
			compression: out.compression, quality: q, chroma444: out.chroma444, dpi: out.printRes, icc: out.icc, xmp: out.xmp,
		})
	case "bmp":
		return bmp.Encode(w, img)
	case "webp":
		var (
			opt *encoder.Options
			err error
		)
		if out.lossless {
			opt, err = encoder.NewLosslessEncoderOptions(encoder.PresetDefault, 6)
		} else {
			opt, err = encoder.NewLossyEncoderOptions(encoder.PresetDefault, float32(q))
		}
		if err != nil {
			return err
		}
		return webp.Encode(w, img, opt)
	}
	return nil
}

// toNRGBA converts premultiplied m to straight alpha, optionally to gray.
func toNRGBA(m *image.RGBA, gray bool) *image.NRGBA {
	n := image.NewNRGBA(m.Rect)
	for i := 0; i < len(m.Pix); i += 4 {
		a := uint32(m.Pix[i+3])
		if a == 0 {
			continue
		}
		var c [3]uint8
		for j := range 3 {
			c[j] = uint8(min(a, uint32(m.Pix[i+j])) * 255 / a) // see golang/go#26395: RGBA is premultiplied
		}
		if gray {
			y := luma(c[0], c[1], c[2])
			c = [3]uint8{y, y, y}
		}
		n.Pix[i], n.Pix[i+1], n.Pix[i+2], n.Pix[i+3] = c[0], c[1], c[2], uint8(a)
	}
	return n
}

// flatten composites m over the opaque colour bg, in place, and returns it.
func flatten(m *image.RGBA, bg color.NRGBA) *image.RGBA {
	b := [3]uint32{uint32(bg.R), uint32(bg.G), uint32(bg.B)}
	for i := 0; i < len(m.Pix); i += 4 {
		a := uint32(m.Pix[i+3])
		if a == 255 {
			continue
		}
		for j := range 3 {
			c := min(a, uint32(m.Pix[i+j]))
			m.Pix[i+j] = uint8(c + (b[j]*(255-a)+127)/255)
		}
		m.Pix[i+3] = 255
	}
	return m
}

func toGray(m *image.RGBA, bg color.NRGBA) *image.Gray {
	flatten(m, bg)
	g := image.NewGray(m.Rect)
	for i, j := 0, 0; i < len(m.Pix); i, j = i+4, j+1 {
		g.Pix[j] = luma(m.Pix[i], m.Pix[i+1], m.Pix[i+2])
	}
	return g
}

// luma is Rec. 601 luma, as image/color.GrayModel computes it.
func luma(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// quantize reduces img to a palette as quantize= says (image-serving.md
// §4.6; default adaptive,diffuse,256): adaptive is a median-cut palette of
// numColors (forced colours first), web the 216 web-safe colours, mac the
// Mac OS system palette; diffuse is Floyd–Steinberg dithering, off maps
// each pixel to its nearest entry. With alpha one entry is transparent and
// pixels less than half opaque use it.
func quantize(img image.Image, alpha bool, q quantSpec) *image.Paletted {
	b := img.Bounds()
	src := image.NewRGBA(b)
	draw.Draw(src, b, img, b.Min, draw.Src)

	n := 256
	if q.set && q.colors > 0 {
		n = q.colors
	}
	var pal color.Palette
	if alpha {
		n--
		pal = append(pal, color.RGBA{})
		// threshold alpha: one transparent index, no partial alpha
		for i := 0; i < len(src.Pix); i += 4 {
			a := uint32(src.Pix[i+3])
			switch {
			case a < 128:
				src.Pix[i], src.Pix[i+1], src.Pix[i+2], src.Pix[i+3] = 0, 0, 0, 0
			case a < 255:
				for j := range 3 {
					src.Pix[i+j] = uint8(min(a, uint32(src.Pix[i+j])) * 255 / a)
				}
				src.Pix[i+3] = 255
			}
		}
	}
	switch q.palette {
	case "web":
		pal = append(pal, webPalette()...)
	case "mac":
		pal = append(pal, macPalette()...)
	default:
		var forced color.Palette
		if q.forced != "" {
			for _, h := range strings.Split(q.forced, ",") {
				v, _ := strconv.ParseUint(h, 16, 32)
				forced = append(forced, color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255})
			}
		}
		pal = append(pal, forced...)
		if rest := n - len(forced); rest > 0 {
			pal = append(pal, medianCut(src, rest)...)
		}
	}
	dst := image.NewPaletted(b, pal)
	if q.noDith {
		draw.Draw(dst, b, src, b.Min, draw.Src)
	} else {
		draw.FloydSteinberg.Draw(dst, b, src, b.Min)
	}
	return dst
}

// webPalette is the 6×6×6 colour cube of web-safe colours.
func webPalette() color.Palette {
	p := make(color.Palette, 0, 216)
	for r := 0; r < 6; r++ {
		for g := 0; g < 6; g++ {
			for b := 0; b < 6; b++ {
				p = append(p, color.RGBA{uint8(51 * r), uint8(51 * g), uint8(51 * b), 255})
			}
		}
	}
	return p
}

// macPalette is the Mac OS 8-bit system palette: the web-safe cube plus
// ten-step ramps of red, green, blue and grey.
func macPalette() color.Palette {
	p := webPalette()
	for _, v := range []uint8{0xee, 0xdd, 0xbb, 0xaa, 0x88, 0x77, 0x55, 0x44, 0x22, 0x11} {
		p = append(p, color.RGBA{v, 0, 0, 255}, color.RGBA{0, v, 0, 255}, color.RGBA{0, 0, v, 255}, color.RGBA{v, v, v, 255})
	}
	return p
}

// medianCut builds a palette of at most n colours for the opaque pixels of
// m from a 5-bit-per-channel histogram (Heckbert 1982).
func medianCut(m *image.RGBA, n int) color.Palette {
	const bits = 5
	var hist [1 << (3 * bits)]uint32
	for i := 0; i < len(m.Pix); i += 4 {
		if m.Pix[i+3] == 0 {
			continue
		}
		hist[int(m.Pix[i]>>(8-bits))<<(2*bits)|int(m.Pix[i+1]>>(8-bits))<<bits|int(m.Pix[i+2]>>(8-bits))]++
	}
	type entry struct {
		c     [3]uint8
		count uint32
	}
	var all []entry
	for k, cnt := range hist {
		if cnt > 0 {
			all = append(all, entry{[3]uint8{uint8(k >> (2 * bits)), uint8(k >> bits & 31), uint8(k & 31)}, cnt})
		}
	}
	if len(all) == 0 {
		return color.Palette{color.RGBA{0, 0, 0, 255}}
	}

	type box struct{ e []entry }
	spread := func(bx box) (int, uint8) {
		lo, hi := [3]uint8{255, 255, 255}, [3]uint8{}
		for _, e := range bx.e {
			for j := range 3 {
				lo[j], hi[j] = min(lo[j], e.c[j]), max(hi[j], e.c[j])
			}
		}
		best, ch := uint8(0), 0
		for j := range 3 {
			if hi[j]-lo[j] > best {
				best, ch = hi[j]-lo[j], j
			}
		}
		return ch, best
	}
	boxes := []box{{all}}
	for len(boxes) < n {
		// split the box with the widest spread weighted by its pixels
		bi, bestScore := -1, uint64(0)
		for i, bx := range boxes {
			if len(bx.e) < 2 {
				continue
			}
			_, s := spread(bx)
			var cnt uint64
			for _, e := range bx.e {
				cnt += uint64(e.count)
			}
			if score := uint64(s) * cnt; score > bestScore || bi < 0 {
				bi, bestScore = i, score
			}
		}
		if bi < 0 {
			break
		}
		bx := boxes[bi]
		ch, _ := spread(bx)
		sortEntries(bx.e, func(a, b entry) bool { return a.c[ch] < b.c[ch] })
		var total, acc uint64
		for _, e := range bx.e {
			total += uint64(e.count)
		}
		cut := 1
		for i, e := range bx.e[:len(bx.e)-1] {
			acc += uint64(e.count)
			cut = i + 1
			if 2*acc >= total {
				break
			}
		}
		boxes[bi] = box{bx.e[:cut]}
		boxes = append(boxes, box{bx.e[cut:]})
	}

	pal := make(color.Palette, 0, len(boxes))
	for _, bx := range boxes {
		var s [3]uint64
		var cnt uint64
		for _, e := range bx.e {
			for j := range 3 {
				// bin centre in 8 bits
				s[j] += uint64(e.count) * (uint64(e.c[j])<<(8-bits) | 1<<(7-bits))
			}
			cnt += uint64(e.count)
		}
		pal = append(pal, color.RGBA{uint8(s[0] / cnt), uint8(s[1] / cnt), uint8(s[2] / cnt), 255})
	}
	return pal
}

func sortEntries[E any](s []E, less func(a, b E) bool) {
	slices.SortFunc(s, func(a, b E) int {
		switch {
		case less(a, b):
			return -1
		case less(b, a):
			return 1
		}
		return 0
	})
}
