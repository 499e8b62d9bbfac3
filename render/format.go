package render

import "bytes"

// Sniff reports the image format of a file from its first bytes: "jpeg",
// "png", "gif", "tiff", "webp", "bmp", or "" when it is none of them. 16
// bytes are enough.
func Sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "gif"
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "tiff"
	case len(head) >= 16 && string(head[:4]) == "RIFF" && string(head[8:15]) == "WEBPVP8":
		return "webp"
	case bytes.HasPrefix(head, []byte("BM")) && len(head) >= 14:
		return "bmp"
	}
	return ""
}

// Ext returns the canonical file name extension for a format name as
// returned by Sniff or OutputFormat, or "" for an unknown name.
func Ext(format string) string {
	switch format {
	case "jpeg":
		return ".jpg"
	case "png":
		return ".png"
	case "gif":
		return ".gif"
	case "webp":
		return ".webp"
	case "tiff":
		return ".tif"
	case "bmp":
		return ".bmp"
	}
	return ""
}

// OutputFormat returns the format Render writes for a source of format src
// (a Sniff name): the format named by fmt= when given, else src itself
// (decisions.md §3).
func (r *Request) OutputFormat(src string) string {
	if r != nil && r.format != "" {
		return formats[r.format].format
	}
	return src
}

// outputSpec is the resolved output of a render.
type outputSpec struct {
	format      string // Sniff name
	alpha       bool   // keep transparency; else flatten onto bgc
	gray        bool
	lossless    bool   // webp
	compression string // tiff: "", "none", "lzw", "zip", "jpeg"
	palette8    bool   // png8, png8-alpha
	progressive bool   // pjpeg
	pscan       int    // pjpeg scans; 0 = auto
	chroma444   bool   // qlt=…,1: no chroma subsampling (JPEG)
	printRes    int    // dpi to record; 0 = none
	icc         []byte // profile to embed (iccEmbed=1)
	xmp         []byte // XMP packet to embed (xmpEmbed=1)
}

// output resolves the output format for a source of format src. Without
// fmt= the source's format is kept, and so is its transparency where the
// format can hold it (a copy of a transparent PNG stays transparent).
func (r *Request) output(src string) outputSpec {
	o := outputSpec{format: src, alpha: src != "jpeg"}
	if r.format != "" {
		info := formats[r.format]
		o = outputSpec{
			format:      info.format,
			alpha:       info.alpha,
			gray:        r.gray,
			lossless:    r.compression == "lossless",
			compression: r.compression,
			palette8:    r.format == "png8" || r.format == "png8-alpha",
			progressive: r.format == "pjpeg",
			pscan:       r.pscan,
		}
	}
	o.chroma444 = r.chroma
	o.printRes = r.printRes
	if r.iccEmbed && o.format != "gif" && o.format != "webp" && o.format != "bmp" {
		o.icc = srgbProfile()
	}
	return o
}
