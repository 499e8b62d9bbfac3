package render

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"sync"

	"github.com/ipsd/ipsd/render/internal/fastpng"
	"github.com/ipsd/ipsd/render/internal/turbojpeg"
	"github.com/kolesa-team/go-webp/decoder"
	"golang.org/x/image/bmp"
	"golang.org/x/image/draw"
	"golang.org/x/image/tiff"
)

// decodeScaled decodes src like decode, but a JPEG is decoded by
// libjpeg-turbo, at n/8 of its size (DCT-domain scaling, shrink-on-load)
// when the output is small enough: YCbCr to RGBA, with libjpeg's chroma
// interpolation and colour conversion (what ImageMagick and libvips
// resample), grey to Gray. It returns the image, the bounds of the
// full-size source, n (8: full size; img is full×n/8, rounded up; see
// shrinkFor), and a func that gives the pixel buffer back for reuse once
// nothing refers to img any more. Requests that build a composite at full
// resolution, and JPEGs TurboJPEG cannot read, take the plain path.
func decodeScaled(src []byte, format string, r *Request, lim Limits) (img image.Image, full image.Rectangle, eighths int, release func(), err error) {
	release = func() {}
	if format != "jpeg" {
		img, err = decode(src, format, lim)
		if err != nil {
			return nil, image.Rectangle{}, 0, release, err
		}
		return img, img.Bounds(), 8, release, nil
	}
	if n := countJPEGScans(src, maxJPEGScans); n > maxJPEGScans {
		return nil, image.Rectangle{}, 0, release, fmt.Errorf("decoding source: the JPEG has more than %d scans", maxJPEGScans)
	}
	hd, herr := turbojpeg.DecodeHeader(src)
	if herr != nil || hd.Colorspace == turbojpeg.CMYK || hd.Colorspace == turbojpeg.YCCK {
		// image/jpeg gives the errors, and CMYK for the ICC step
		img, err = decode(src, format, lim)
		if err != nil {
			return nil, image.Rectangle{}, 0, release, err
		}
		return img, img.Bounds(), 8, release, nil
	}
	if m := lim.MaxSourcePixels; m > 0 && int64(hd.Width)*int64(hd.Height) > m {
		return nil, image.Rectangle{}, 0, release, &LimitError{Limit: limitSource, What: "source image", Width: int64(hd.Width), Height: int64(hd.Height), Max: m}
	}
	full = image.Rect(0, 0, hd.Width, hd.Height)
	eighths = 8
	if !r.needsComposite() {
		if p, perr := makePlan(hd.Width, hd.Height, orientation(src, format), r, lim); perr == nil && !overhangs(p, lim) {
			eighths = shrinkFor(p)
		}
	}
	if hd.Colorspace == turbojpeg.Gray {
		img, err = turbojpeg.DecodePlanar(src, eighths)
	} else {
		w, h := turbojpeg.Scaled(hd.Width, hd.Height, eighths)
		bp := getPix(4 * w * h)
		var m *image.RGBA
		if m, err = turbojpeg.DecodeRGBA(src, eighths, *bp); err == nil {
			img = m // in *bp's memory
			release = func() { pixPool.Put(bp) }
		}
	}
	if err != nil {
		// a file libjpeg-turbo refuses (or only warns about) gets image/jpeg's verdict
		img, err = decode(src, format, lim)
		if err != nil {
			return nil, image.Rectangle{}, 0, func() {}, err
		}
		return img, img.Bounds(), 8, func() {}, nil
	}
	return img, full, eighths, release, nil
}

// pixPool holds decoded-image buffers (*[]byte) for reuse, so that a
// steady stream of renders does not allocate and clear a full decode each.
var pixPool sync.Pool

// getPix returns a pooled buffer of at least n bytes, or a new one.
func getPix(n int) *[]byte {
	if bp, _ := pixPool.Get().(*[]byte); bp != nil && cap(*bp) >= n {
		return bp
	}
	b := make([]byte, 0, n)
	return &b
}

// shrinkFor returns the DCT scaling for plan p, in eighths: 1, 2 or 4 (a
// decode at 1/8, 1/4 or 1/2, the reductions libjpeg-turbo has SIMD code
// for), the smallest that keeps the source region at least as large as the
// scaled composite (in stored orientation) in both directions, else 8.
//
// Measured on a 12 MP camera photo to 1200 px at q85 (bench/run.sh, job
// a): 1/2 takes 38 ms to decode and 14 to resample; 5/8, the smallest n/8
// that leaves the resampler a factor of two (libvips' margin), uses
// libjpeg's scalar 5×5 inverse DCT and takes 62 + 22 ms, more than a
// full-size decode (50 + 33). SSIM of the JPEG against ImageMagick's
// full-size Lanczos resize: 0.977533 at 1/2, 0.977780 at 5/8, 0.977793 at
// 6/8, 0.977813 at full size; vipsthumbnail (full size) 0.977785.
func shrinkFor(p plan) int {
	if !p.resample {
		return 8
	}
	bw, bh := p.t.size(p.sw, p.sh)
	rw, rh := p.region.Dx(), p.region.Dy()
	for _, d := range []int{8, 4, 2} {
		if rw >= d*bw && rh >= d*bh {
			return 8 / d
		}
	}
	return 8
}

// decode decodes src, a file of the given format (a Sniff name). The size
// from the header is checked against lim.MaxSourcePixels before any pixel
// buffer is allocated (golang/go#5050 and friends). GIF gives its first
// frame on its logical screen.
func decode(src []byte, format string, lim Limits) (image.Image, error) {
	var (
		cfg  image.Config
		err  error
		webp *decoder.Decoder
	)
	switch format {
	case "jpeg":
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(src))
	case "png":
		cfg, err = png.DecodeConfig(bytes.NewReader(src))
	case "gif":
		cfg, err = gif.DecodeConfig(bytes.NewReader(src))
	case "tiff":
		cfg, err = tiff.DecodeConfig(bytes.NewReader(src))
	case "bmp":
		cfg, err = bmp.DecodeConfig(bytes.NewReader(src))
	case "webp":
		// go-webp allocates w×h×4 from the header in Decode; NewDecoder
		// only reads the header (WebPGetFeatures)
		webp, err = decoder.NewDecoder(bytes.NewReader(src), &decoder.Options{})
		if err == nil {
			f := webp.GetFeatures()
			cfg.Width, cfg.Height = f.Width, f.Height
			if f.HasAnimation {
				err = errors.New("animated WebP is not supported")
			}
		}
	default:
		err = fmt.Errorf("unsupported format %q", format)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding source header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("decoding source header: image is %dx%d", cfg.Width, cfg.Height)
	}
	if m := lim.MaxSourcePixels; m > 0 && int64(cfg.Width)*int64(cfg.Height) > m {
		return nil, &LimitError{Limit: limitSource, What: "source image", Width: int64(cfg.Width), Height: int64(cfg.Height), Max: m}
	}

	var img image.Image
	switch format {
	case "jpeg":
		img, err = jpeg.Decode(bytes.NewReader(src))
	case "png":
		// 8-bit RGB and RGBA through libdeflate; the rest, and anything
		// fastpng is not sure of, through image/png
		if img, err = fastpng.Decode(src); err != nil {
			img, err = png.Decode(bytes.NewReader(src))
		}
	case "gif":
		img, err = gif.Decode(bytes.NewReader(src))
		if err == nil && img.Bounds() != image.Rect(0, 0, cfg.Width, cfg.Height) {
			// a first frame smaller than the screen: the rest is transparent
			canvas := image.NewRGBA(image.Rect(0, 0, cfg.Width, cfg.Height))
			draw.Draw(canvas, img.Bounds(), img, img.Bounds().Min, draw.Src)
			img = canvas
		}
	case "tiff":
		img, err = tiff.Decode(bytes.NewReader(src))
	case "bmp":
		img, err = bmp.Decode(bytes.NewReader(src))
	case "webp":
		img, err = webp.Decode()
	}
	if err != nil {
		return nil, fmt.Errorf("decoding source: %w", err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("decoding source: image is %dx%d, header says %dx%d", b.Dx(), b.Dy(), cfg.Width, cfg.Height)
	}
	return img, nil
}

// pngSanitize returns src without the chunks libpng skips as benign
// errors where image/png would refuse the file or honour them: ancillary
// chunks whose CRC is wrong, and tRNS chunks whose length the colour type
// does not allow (more entries than the palette, not one sample per
// channel, or any for a type with alpha), a second tRNS, or one after the
// image data. Else it returns src itself.
func pngSanitize(src []byte) []byte {
	const sig = 8
	if len(src) < sig+8+13 || string(src[sig+4:sig+8]) != "IHDR" {
		return src
	}
	ctype := src[sig+8+9]
	palette, seen, idat := -1, false, false
	var drop [][2]int // chunk spans to leave out
	for i := sig; i+12 <= len(src); {
		n := int(binary.BigEndian.Uint32(src[i:]))
		if n < 0 || n > len(src)-i-12 {
			break
		}
		typ := string(src[i+4 : i+8])
		if typ[0]&0x20 != 0 && crc32.ChecksumIEEE(src[i+4:i+8+n]) != binary.BigEndian.Uint32(src[i+8+n:]) {
			drop = append(drop, [2]int{i, i + 12 + n}) // ancillary (lower-case first letter), corrupt
			i += 12 + n
			continue
		}
		switch typ {
		case "PLTE":
			palette = n / 3
		case "IDAT":
			idat = true
		case "tRNS":
			ok := false
			switch ctype {
			case 0:
				ok = n == 2
			case 2:
				ok = n == 6
			case 3:
				ok = palette >= 0 && n >= 1 && n <= palette
			}
			if !ok || seen || idat {
				drop = append(drop, [2]int{i, i + 12 + n})
			}
			seen = true
		}
		if typ == "IEND" {
			break
		}
		i += 12 + n
	}
	if drop == nil {
		return src
	}
	out := make([]byte, 0, len(src))
	at := 0
	for _, d := range drop {
		out = append(out, src[at:d[0]]...)
		at = d[1]
	}
	return append(out, src[at:]...)
}

// maxJPEGScans bounds the scans of a JPEG source. libjpeg and image/jpeg
// decode a progressive JPEG scan by scan, each scan a pass over every
// block, so a small file that repeats a scan thousands of times costs
// minutes of CPU; real progressive JPEGs have about ten scans, and
// libjpeg-turbo's documentation suggests refusing more than 500.
const maxJPEGScans = 500

// countJPEGScans counts the scans (SOS markers) of the JPEG b, walking its
// marker segments and skipping entropy-coded data (T.81 B.1.1); it stops
// counting past limit. Stray bytes between segments are skipped, as
// libjpeg skips them; a truncated or malformed file gives the scans seen
// so far, and the decoder reports what is wrong with it.
func countJPEGScans(b []byte, limit int) int {
	n := 0
	for i := 2; i+1 < len(b) && n <= limit; {
		if b[i] != 0xff {
			i++ // stray bytes between segments, which libjpeg skips too
			continue
		}
		m := b[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case m == 0xd9: // EOI
			return n
		case m == 0x01 || m >= 0xd0 && m <= 0xd8: // TEM, RSTn, SOI: no length
			i += 2
			continue
		}
		if i+4 > len(b) {
			return n
		}
		j := i + 2 + (int(b[i+2])<<8 | int(b[i+3]))
		if m == 0xda {
			n++
			// entropy-coded data runs to the next marker other than a
			// stuffed 0xff00 or a restart marker
			for j+1 < len(b) && (b[j] != 0xff || b[j+1] == 0 || b[j+1] >= 0xd0 && b[j+1] <= 0xd7) {
				j++
			}
		}
		i = j
	}
	return n
}
