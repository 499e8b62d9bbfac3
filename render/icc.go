package render

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/ipsd/ipsd/render/internal/lcms"
)

// maxICC bounds an embedded profile (real ones are at most a few MB).
const maxICC = 16 << 20

// sourceICC returns the ICC profile embedded in src (JPEG APP2
// ICC_PROFILE, PNG iCCP, WebP ICCP, TIFF tag 34675), or nil.
func sourceICC(src []byte, format string) []byte {
	switch format {
	case "jpeg":
		return jpegICC(src)
	case "png":
		for i := 8; i+12 <= len(src); {
			n := int(binary.BigEndian.Uint32(src[i:]))
			if n < 0 || n > len(src)-i-12 {
				return nil
			}
			typ, data := string(src[i+4:i+8]), src[i+8:i+8+n]
			switch typ {
			case "PLTE", "IDAT", "IEND":
				return nil // iCCP comes before them (PNG §5.6); libpng ignores a late one
			case "iCCP":
				// name\0, method 0, zlib data
				z := bytes.IndexByte(data, 0)
				if z < 0 || z+2 > len(data) || data[z+1] != 0 {
					return nil
				}
				zr, err := zlib.NewReader(bytes.NewReader(data[z+2:]))
				if err != nil {
					return nil
				}
				b, err := io.ReadAll(io.LimitReader(zr, maxICC+1))
				if err != nil || len(b) > maxICC {
					return nil
				}
				return b
			}
			i += 12 + n
		}
	case "webp":
		for i := 12; i+8 <= len(src); {
			n := int(binary.LittleEndian.Uint32(src[i+4:]))
			if n < 0 || n > len(src)-i-8 {
				return nil
			}
			if string(src[i:i+4]) == "ICCP" {
				return src[i+8 : i+8+n]
			}
			i += 8 + n + n&1
		}
	case "tiff":
		return tiffTag(src, 34675)
	}
	return nil
}

// jpegICC reassembles the ICC_PROFILE APP2 chunks of a JPEG (ICC.1 Annex
// B.4), or returns nil when they are missing or inconsistent.
func jpegICC(b []byte) []byte {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return nil
	}
	var chunks [][]byte
	total := 0
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			break
		}
		m := b[i+1]
		if m == 0xff {
			i++
			continue
		}
		if m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7) {
			i += 2
			continue
		}
		if m == 0xda || m == 0xd9 {
			break
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			break
		}
		seg := b[i+4 : i+2+n]
		if m == 0xe2 && len(seg) > 14 && string(seg[:12]) == "ICC_PROFILE\x00" {
			seq, cnt := int(seg[12]), int(seg[13])
			if cnt == 0 || seq == 0 || seq > cnt {
				return nil
			}
			if chunks == nil {
				chunks = make([][]byte, cnt)
			}
			if len(chunks) != cnt || chunks[seq-1] != nil {
				return nil
			}
			chunks[seq-1] = seg[14:]
			total += len(seg) - 14
		}
		i += 2 + n
	}
	if chunks == nil || total > maxICC {
		return nil
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		if c == nil {
			return nil
		}
		out = append(out, c...)
	}
	return out
}

var (
	srgbOnce  sync.Once
	srgbLCMS  *lcms.Profile
	srgbBytes []byte
	srgbErr   error

	cmykOnce    sync.Once
	cmykDefault []byte
)

func srgb() (*lcms.Profile, error) {
	srgbOnce.Do(func() {
		if srgbLCMS, srgbErr = lcms.SRGB(); srgbErr == nil {
			srgbBytes, srgbErr = srgbLCMS.Bytes()
		}
	})
	return srgbLCMS, srgbErr
}

// srgbProfile returns the sRGB profile ipsd embeds for iccEmbed=1 (Little
// CMS's built-in sRGB), or nil if it cannot be made.
func srgbProfile() []byte {
	if _, err := srgb(); err != nil {
		return nil
	}
	return srgbBytes
}

// cmykProfilePaths are where a standard CMYK profile is looked for, for
// CMYK and YCCK JPEGs without one (decisions.md §7): ghostscript's default
// CMYK profile (Debian libgs-common).
var cmykProfilePaths = []string{
	"/usr/share/color/icc/ghostscript/default_cmyk.icc",
	"/usr/share/ghostscript/iccprofiles/default_cmyk.icc",
}

func defaultCMYK() []byte {
	cmykOnce.Do(func() {
		for _, p := range cmykProfilePaths {
			if b, err := os.ReadFile(p); err == nil && len(b) <= maxICC {
				cmykDefault = b
				return
			}
		}
	})
	return cmykDefault
}

// toSRGB converts img to sRGB with the profile embedded in src (relative
// colorimetric, no black point compensation; decisions.md §7). A CMYK
// image without a profile uses the standard CMYK profile when the system
// has one, and is converted naïvely otherwise. Images without a profile,
// and those whose profile is sRGB or does not match their colour model,
// are returned unchanged. The result is *image.NRGBA when converted.
func toSRGB(img image.Image, src []byte, format string) (image.Image, error) {
	icc := sourceICC(src, format)
	_, isCMYK := img.(*image.CMYK)
	if icc == nil && isCMYK {
		icc = defaultCMYK()
	}
	if icc == nil {
		return img, nil
	}
	prof, err := lcms.Open(icc)
	if err != nil {
		return img, nil // a broken profile: render unmanaged, as browsers do
	}
	defer prof.Close()
	space := prof.Space()
	if space == lcms.RGB && strings.Contains(strings.ToLower(prof.Description()), "srgb") {
		return img, nil
	}
	dst, err := srgb()
	if err != nil {
		return nil, fmt.Errorf("converting to sRGB: %w", err)
	}

	b := img.Bounds()
	out := image.NewNRGBA(b)
	w := b.Dx()
	var (
		in  lcms.Format
		row func(y int) []byte
	)
	switch m := img.(type) {
	case *image.CMYK:
		if space != lcms.CMYK {
			return img, nil
		}
		in = lcms.CMYK8
		row = func(y int) []byte { return m.Pix[m.PixOffset(b.Min.X, y):][:4*w] }
	case *image.Gray:
		if space != lcms.Gray {
			return img, nil
		}
		in = lcms.Gray8
		row = func(y int) []byte { return m.Pix[m.PixOffset(b.Min.X, y):][:w] }
	case *image.Paletted:
		if space != lcms.RGB {
			return img, nil
		}
		// convert the palette only
		pal := make(color.Palette, len(m.Palette))
		buf := make([]byte, 4*len(pal))
		for i, c := range m.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			copy(buf[4*i:], []byte{n.R, n.G, n.B, n.A})
		}
		t, err := lcms.NewTransform(prof, lcms.RGBA8, dst, lcms.RGBA8)
		if err != nil {
			return img, nil
		}
		defer t.Close()
		if err := t.Do(buf, buf, len(pal)); err != nil {
			return nil, fmt.Errorf("converting to sRGB: %w", err)
		}
		for i := range pal {
			pal[i] = color.NRGBA{buf[4*i], buf[4*i+1], buf[4*i+2], buf[4*i+3]}
		}
		return &image.Paletted{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect, Palette: pal}, nil
	default:
		if space == lcms.Gray {
			return grayToSRGB(img, prof, dst)
		}
		if space != lcms.RGB {
			return img, nil
		}
		// straight 8-bit RGBA, converted in place
		draw.Draw(out, b, img, b.Min, draw.Src)
		in = lcms.RGBA8
		row = func(y int) []byte { return out.Pix[out.PixOffset(b.Min.X, y):][:4*w] }
	}
	outFmt := lcms.RGBA8
	if in != lcms.RGBA8 {
		outFmt = lcms.RGB8
	}
	t, err := lcms.NewTransform(prof, in, dst, outFmt)
	if err != nil {
		return img, nil // profile unusable for this image: unmanaged
	}
	defer t.Close()
	tmp := make([]byte, 3*w)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		o := out.Pix[out.PixOffset(b.Min.X, y):][:4*w]
		if in == lcms.RGBA8 {
			if err := t.Do(o, o, w); err != nil {
				return nil, fmt.Errorf("converting to sRGB: %w", err)
			}
			continue
		}
		if err := t.Do(row(y), tmp, w); err != nil {
			return nil, fmt.Errorf("converting to sRGB: %w", err)
		}
		for x := range w {
			o[4*x], o[4*x+1], o[4*x+2], o[4*x+3] = tmp[3*x], tmp[3*x+1], tmp[3*x+2], 255
		}
	}
	return out, nil
}

// grayToSRGB converts an image with a grey profile that Go does not decode
// to *image.Gray (grey with alpha, 16-bit grey) to sRGB, keeping its
// alpha. An image whose pixels are not all grey does not match the profile
// and is returned unchanged.
func grayToSRGB(img image.Image, prof, dst *lcms.Profile) (image.Image, error) {
	b := img.Bounds()
	out := image.NewNRGBA(b)
	draw.Draw(out, b, img, b.Min, draw.Src)
	for i := 0; i < len(out.Pix); i += 4 {
		if p := out.Pix[i : i+3 : i+3]; p[0] != p[1] || p[1] != p[2] {
			return img, nil
		}
	}
	t, err := lcms.NewTransform(prof, lcms.Gray8, dst, lcms.RGB8)
	if err != nil {
		return img, nil // profile unusable for this image: unmanaged
	}
	defer t.Close()
	w := b.Dx()
	g, rgb := make([]byte, w), make([]byte, 3*w)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := out.Pix[out.PixOffset(b.Min.X, y):][:4*w]
		for x := range w {
			g[x] = row[4*x]
		}
		if err := t.Do(g, rgb, w); err != nil {
			return nil, fmt.Errorf("converting to sRGB: %w", err)
		}
		for x := range w {
			row[4*x], row[4*x+1], row[4*x+2] = rgb[3*x], rgb[3*x+1], rgb[3*x+2]
		}
	}
	return out, nil
}
