package render

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"

	"github.com/kolesa-team/go-webp/decoder"
	"golang.org/x/image/bmp"
	"golang.org/x/image/draw"
	"golang.org/x/image/tiff"
)

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
		img, err = png.Decode(bytes.NewReader(src))
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
