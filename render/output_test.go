package render

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ipsd/ipsd/render/internal/turbojpeg"
)

// imDecode decodes b with ImageMagick (convert B PNG32:-), an independent
// reader for the TIFF compressions x/image/tiff cannot read.
func imDecode(t *testing.T, b []byte) image.Image {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(convert, path, "PNG32:-").Output()
	if err != nil {
		t.Fatalf("convert could not read the output: %v", err)
	}
	m, err := png.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func imIdentify(t *testing.T, b []byte, format string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(identify, "-format", format, path).Output()
	if err != nil {
		t.Fatalf("identify: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestOutputFormats reads every output format back with ImageMagick and
// compares it with the source.
func TestOutputFormats(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(convert); err != nil {
		t.Skip("ImageMagick not installed")
	}
	base := testImage(64, 48)
	for y := 16; y < 32; y++ {
		for x := 24; x < 40; x++ {
			base.SetNRGBA(x, y, color.NRGBA{0, 0, 255, 0}) // transparent hole
		}
	}
	src := encodePNG(t, base)
	tests := []struct {
		mod, format, compression string
		alpha                    bool
		tol                      float64
	}{
		{"fmt=tif", "TIFF", "None", false, 0},
		{"fmt=tif,,none", "TIFF", "None", false, 0},
		{"fmt=tif-alpha,,none", "TIFF", "None", true, 0},
		{"fmt=tif,gray,zip", "TIFF", "Zip", false, 1},
		{"fmt=tif,,lzw", "TIFF", "LZW", false, 0},
		{"fmt=tif-alpha,,lzw", "TIFF", "LZW", true, 0},
		{"fmt=tif-alpha,,zip", "TIFF", "Zip", true, 0},
		{"fmt=tif,gray,lzw", "TIFF", "LZW", false, 1},
		{"fmt=tif,,jpeg&qlt=95", "TIFF", "JPEG", false, 4},
		{"fmt=tif,gray,jpeg", "TIFF", "JPEG", false, 4},
		{"fmt=tif,,jpeg&qlt=95,1", "TIFF", "JPEG", false, 3},
		{"fmt=png8", "PNG", "", false, 8},
		{"fmt=png8-alpha", "PNG", "", true, 8},
		{"fmt=gif&quantize=adaptive,off,64", "GIF", "", false, 8},
		{"fmt=pjpeg&pscan=3", "JPEG", "", false, 6},
	}
	for _, tt := range tests {
		out, _ := render(t, src, tt.mod)
		if got := imIdentify(t, out, "%m"); got != tt.format {
			t.Errorf("%s: ImageMagick reads %q; want %s", tt.mod, got, tt.format)
			continue
		}
		if tt.compression != "" {
			if got := imIdentify(t, out, "%C"); got != tt.compression {
				t.Errorf("%s: compression %q; want %s", tt.mod, got, tt.compression)
			}
		}
		want := image.Image(base)
		if !tt.alpha {
			want = flattenNRGBA(base, color.NRGBA{255, 255, 255, 255})
		}
		if strings.Contains(tt.mod, "gray") {
			g := image.NewGray(want.Bounds())
			draw.Draw(g, g.Rect, want, image.Point{}, draw.Src)
			want = g
		}
		if d := meanAbsDiffPremul(imDecode(t, out), want); d > tt.tol {
			t.Errorf("%s: mean abs diff %.2f from the source; want ≤ %.0f", tt.mod, d, tt.tol)
		}
	}
	// TIFF JPEG honours the chroma flag: YCbCrSubSampling says what the strip holds
	for _, tt := range []struct {
		mod  string
		want []byte
		samp turbojpeg.Subsamp
	}{
		{"fmt=tif,,jpeg&qlt=90", []byte{2, 0, 2, 0}, turbojpeg.Samp420},
		{"fmt=tif,,jpeg&qlt=90,1", []byte{1, 0, 1, 0}, turbojpeg.Samp444},
	} {
		out, _ := render(t, src, tt.mod)
		if got := tiffTag(out, 530); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: YCbCrSubSampling % x; want % x", tt.mod, got, tt.want)
		}
		off, n := binary.LittleEndian.Uint32(tiffTag(out, 273)), binary.LittleEndian.Uint32(tiffTag(out, 279))
		if hd, err := turbojpeg.DecodeHeader(out[off : off+n]); err != nil || hd.Subsamp != tt.samp {
			t.Errorf("%s: the JPEG strip has subsampling %v (%v); want %v", tt.mod, hd.Subsamp, err, tt.samp)
		}
	}

	// a big, noisy image through LZW: the code width reaches 12 bits and
	// the table is cleared
	noisy := image.NewNRGBA(image.Rect(0, 0, 300, 200))
	seed := uint32(1)
	for i := range noisy.Pix {
		seed = seed*1664525 + 1013904223
		noisy.Pix[i] = uint8(seed>>24) & 0xf0
		if i%4 == 3 {
			noisy.Pix[i] = 255 // opaque: premultiplied storage would round low-alpha colours
		}
	}
	out, _ := render(t, encodePNG(t, noisy), "fmt=tif-alpha,,lzw")
	if d := meanAbsDiffPremul(imDecode(t, out), noisy); d != 0 {
		t.Errorf("noisy LZW TIFF: mean abs diff %.3f; want lossless", d)
	}
	if d := meanAbsDiffPremul(decodeAny(t, out), noisy); d != 0 {
		t.Errorf("noisy LZW TIFF through x/image/tiff: mean abs diff %.3f; want lossless", d)
	}
}

func flattenNRGBA(m *image.NRGBA, bg color.NRGBA) *image.NRGBA {
	out := image.NewNRGBA(m.Rect)
	for i := 0; i < len(m.Pix); i += 4 {
		a := uint32(m.Pix[i+3])
		for j, b := range []uint8{bg.R, bg.G, bg.B} {
			out.Pix[i+j] = uint8((uint32(m.Pix[i+j])*a + uint32(b)*(255-a) + 127) / 255)
		}
		out.Pix[i+3] = 255
	}
	return out
}

func TestQuantize(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, testImage(64, 48))
	out, _ := render(t, src, "fmt=gif-alpha&wid=100&quantize=adaptive,off,2,000000,ffffff")
	g := decodeAny(t, out).(*image.Paletted)
	for _, c := range g.Palette {
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		if n != (color.NRGBA{}) && n != (color.NRGBA{0, 0, 0, 255}) && n != (color.NRGBA{255, 255, 255, 255}) {
			t.Errorf("quantize=adaptive,off,2,000000,ffffff: palette holds %v", n)
		}
	}
	out, _ = render(t, src, "fmt=gif&quantize=web")
	web := map[color.NRGBA]bool{}
	for _, c := range webPalette() {
		web[color.NRGBAModel.Convert(c).(color.NRGBA)] = true
	}
	m := decodeAny(t, out)
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			if c := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA); !web[c] {
				t.Fatalf("quantize=web: pixel %v is not web-safe", c)
			}
		}
	}
	out, _ = render(t, src, "fmt=png8&quantize=adaptive,diffuse,16")
	if p, ok := decodeAny(t, out).(*image.Paletted); !ok || len(p.Palette) > 16 {
		t.Errorf("fmt=png8 with 16 colours: %T", decodeAny(t, out))
	}
}

// TestMetadata checks printRes, iccEmbed and xmpEmbed with ImageMagick.
func TestMetadata(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(identify); err != nil {
		t.Skip("ImageMagick not installed")
	}
	// a PNG source carrying XMP with a stale orientation
	var b bytes.Buffer
	if err := png.Encode(&b, testImage(40, 30)); err != nil {
		t.Fatal(err)
	}
	xmp := `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">` +
		`<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6" xmlns:dc="http://purl.org/dc/elements/1.1/">` +
		`<dc:creator>ipsd-test</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>`
	src := pngMetadata(b.Bytes(), outputSpec{xmp: []byte(xmp)})
	if got := sourceXMP(src, "png"); !bytes.Contains(got, []byte(`tiff:Orientation="1"`)) {
		t.Fatalf("sourceXMP = %q; want the orientation reset to 1", got)
	}
	for _, f := range []string{"jpeg", "png", "tif"} {
		out, _ := render(t, src, "fmt="+f+"&printRes=300&iccEmbed=1&xmpEmbed=1")
		// ImageMagick reports PNG's pHYs in pixels per centimetre
		if got := imIdentify(t, out, "%x %U"); got != "300 PixelsPerInch" && !strings.HasPrefix(got, "118.1") {
			t.Errorf("fmt=%s&printRes=300: resolution %q", f, got)
		}
		if got := imIdentify(t, out, "%[profile:icc]"); !strings.Contains(strings.ToLower(got), "srgb") {
			t.Errorf("fmt=%s&iccEmbed=1: profile description %q; want sRGB", f, got)
		}
		path := filepath.Join(t.TempDir(), "out")
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		x, err := exec.Command(convert, path, "XMP:-").Output()
		if f == "png" {
			// ImageMagick 6 does not read PNG iTXt XMP: read it ourselves
			x, err = sourceXMP(out, "png"), nil
		}
		if err != nil || !bytes.Contains(x, []byte("ipsd-test")) || bytes.Contains(x, []byte(`Orientation="6"`)) {
			t.Errorf("fmt=%s&xmpEmbed=1: XMP %q (%v); want the source's, orientation reset", f, x, err)
		}
		// without the flags, none of it
		out, _ = render(t, src, "fmt="+f)
		if got := imIdentify(t, out, "%[profile:icc]"); got != "" {
			t.Errorf("fmt=%s: unexpected profile %q", f, got)
		}
	}
}

func TestJpegSize(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, testImage(300, 200))
	big, _ := render(t, src, "fmt=jpeg&qlt=100")
	limit := len(big) / 3 / 1024
	out, _ := render(t, src, "fmt=jpeg&qlt=100&jpegSize="+strconv.Itoa(limit))
	if len(out) > limit*1024 {
		t.Errorf("jpegSize=%d: %d bytes", limit, len(out))
	}
	if len(out) < limit*1024/3 {
		t.Errorf("jpegSize=%d: %d bytes; quality lowered far more than needed", limit, len(out))
	}
	r, _ := Parse("fmt=jpeg&jpegSize=1")
	if _, err := Render(t.Context(), src, r, testLimits, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "jpegSize") {
		t.Errorf("jpegSize=1 on a 300×200 image: %v; want an error naming jpegSize", err)
	}
}

// jpegScans counts the SOS markers of a JPEG and reports whether its
// frame is progressive (SOF2), walking the marker segments (ITU T.81
// B.1.1) and stepping over entropy-coded data.
func jpegScans(t *testing.T, b []byte) (scans int, progressive bool) {
	t.Helper()
	for i := 2; i+2 <= len(b); {
		if b[i] != 0xff {
			i++
			continue
		}
		m := b[i+1]
		switch {
		case m == 0x00 || m == 0xff || (m >= 0xd0 && m <= 0xd7):
			i += 2
			continue
		case m == 0xd9:
			return scans, progressive
		case i+4 > len(b):
			t.Fatal("truncated JPEG marker segment")
		}
		switch m {
		case 0xda:
			scans++
		case 0xc2:
			progressive = true
		}
		i += 2 + (int(b[i+2])<<8 | int(b[i+3]))
	}
	t.Fatal("JPEG without EOI")
	return
}

// TestJPEGOptions checks qlt (quality and the chroma flag), pjpeg and
// pscan with ImageMagick's identify and by counting scans.
func TestJPEGOptions(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(identify); err != nil {
		t.Skip("ImageMagick not installed")
	}
	src := encodePNG(t, testImage(96, 64))
	for _, tt := range []struct {
		mod, want string // identify -format '%[jpeg:sampling-factor] %Q %[interlace]'
	}{
		{"fmt=jpeg", "2x2,1x1,1x1 80 None"}, // decisions.md §3: quality 80, 4:2:0
		{"fmt=jpg&qlt=60", "2x2,1x1,1x1 60 None"},
		{"fmt=jpeg&qlt=90,0", "2x2,1x1,1x1 90 None"},
		{"fmt=jpeg&qlt=90,1", "1x1,1x1,1x1 90 None"}, // 1 disables chroma subsampling
		{"fmt=jpeg&qlt=90%2C1", "1x1,1x1,1x1 90 None"},
		{"fmt=pjpeg&qlt=70", "2x2,1x1,1x1 70 JPEG"},
		{"fmt=pjpeg&pscan=4&qlt=70,1", "1x1,1x1,1x1 70 JPEG"},
		{"fmt=jpeg&pscan=3", "2x2,1x1,1x1 80 None"}, // pscan is for pjpeg only
	} {
		out, _ := render(t, src, tt.mod)
		if got := imIdentify(t, out, "%[jpeg:sampling-factor] %Q %[interlace]"); got != tt.want {
			t.Errorf("%s: identify says %q; want %q", tt.mod, got, tt.want)
		}
	}

	// pscan=N: N refinement passes, the same pixels as the baseline
	baseline, _ := render(t, src, "fmt=jpeg&qlt=75")
	want := decodeAny(t, baseline)
	if n, prog := jpegScans(t, baseline); n != 1 || prog {
		t.Errorf("fmt=jpeg: %d scans, progressive %v; want one baseline scan", n, prog)
	}
	auto, _ := render(t, src, "fmt=pjpeg&qlt=75")
	if n, prog := jpegScans(t, auto); !prog || n != 10 {
		t.Errorf("fmt=pjpeg: %d scans, progressive %v; want libjpeg's 10-scan script", n, prog)
	}
	for _, tt := range []struct {
		mod   string
		scans int
	}{
		{"fmt=pjpeg&qlt=75&pscan=3", 5}, // DC, 2 luma bands, 2 chroma AC scans
		{"fmt=pjpeg&qlt=75&pscan=4", 6},
		{"fmt=pjpeg&qlt=75&pscan=5", 7},
		{"fmt=pjpeg,gray&qlt=75&pscan=3", 3},
		{"fmt=pjpeg,gray&qlt=75&pscan=5", 5},
	} {
		out, _ := render(t, src, tt.mod)
		if n, prog := jpegScans(t, out); !prog || n != tt.scans {
			t.Errorf("%s: %d scans, progressive %v; want %d progressive scans", tt.mod, n, prog, tt.scans)
		}
		ref := want
		if strings.Contains(tt.mod, "gray") {
			g, _ := render(t, src, "fmt=jpeg,gray&qlt=75")
			ref = decodeAny(t, g)
		}
		if d := meanAbsDiff(decodeAny(t, out), ref); d != 0 {
			t.Errorf("%s: mean abs diff %.3f from the baseline JPEG; want the same coefficients", tt.mod, d)
		}
	}
}

// TestWebPOptions checks lossy and lossless WebP by their chunks, and qlt.
func TestWebPOptions(t *testing.T) {
	t.Parallel()
	m := testImage(96, 64)
	m.SetNRGBA(5, 5, color.NRGBA{1, 2, 3, 0})
	src := encodePNG(t, m)
	for _, tt := range []struct{ mod, chunk, sub string }{
		{"fmt=webp", "VP8 ", ""},
		{"fmt=webp,,lossy&qlt=50", "VP8 ", ""},
		{"fmt=webp,,lossless", "VP8L", ""},
		{"fmt=webp-alpha", "VP8X", "ALPH"},
		{"fmt=webp-alpha,,lossless", "VP8L", ""},
	} {
		out, _ := render(t, src, tt.mod)
		if got := string(out[12:16]); got != tt.chunk {
			t.Errorf("%s: first chunk %q; want %q", tt.mod, got, tt.chunk)
		}
		if tt.sub != "" && !bytes.Contains(out, []byte(tt.sub)) {
			t.Errorf("%s: no %s chunk", tt.mod, tt.sub)
		}
	}
	lo, _ := render(t, src, "fmt=webp&qlt=10")
	hi, _ := render(t, src, "fmt=webp&qlt=95")
	if len(lo) >= len(hi) {
		t.Errorf("fmt=webp: qlt=10 gives %d bytes, qlt=95 %d; want smaller at lower quality", len(lo), len(hi))
	}
	a, _ := render(t, src, "fmt=webp,,lossless&qlt=10")
	b, _ := render(t, src, "fmt=webp,,lossless&qlt=95")
	if !bytes.Equal(a, b) {
		t.Errorf("fmt=webp,,lossless: qlt changed the output; it is ignored for lossless")
	}
}

// TestPixelTypes checks fmt=…,gray and the PNG colour types written.
func TestPixelTypes(t *testing.T) {
	t.Parallel()
	m := testImage(40, 30)
	m.SetNRGBA(0, 0, color.NRGBA{0, 0, 0, 0})
	src := encodePNG(t, m)
	for _, tt := range []struct {
		mod   string
		ctype byte // PNG IHDR colour type
	}{
		// image/png writes no grey+alpha type: png-alpha,gray is RGBA with grey pixels
		{"fmt=png", 2}, {"fmt=png-alpha", 6}, {"fmt=png,gray", 0}, {"fmt=png-alpha,gray", 6},
		{"fmt=png8", 3}, {"fmt=png8-alpha", 3},
	} {
		out, _ := render(t, src, tt.mod)
		if got := out[25]; got != tt.ctype {
			t.Errorf("%s: PNG colour type %d; want %d", tt.mod, got, tt.ctype)
		}
	}
	for _, mod := range []string{"fmt=png,gray", "fmt=png-alpha,gray", "fmt=gif,gray", "fmt=tif,gray", "fmt=jpeg,gray"} {
		out, _ := render(t, src, mod)
		g := decodeAny(t, out)
		want := image.NewGray(m.Rect)
		draw.Draw(want, want.Rect, flattenNRGBA(m, color.NRGBA{255, 255, 255, 255}), image.Point{}, draw.Src)
		if strings.Contains(mod, "alpha") {
			g = flattenNRGBA(toNRGBAImage(g), color.NRGBA{255, 255, 255, 255})
			if _, _, _, a := decodeAny(t, out).At(0, 0).RGBA(); a != 0 {
				t.Errorf("%s: the transparent pixel has alpha %d", mod, a>>8)
			}
		}
		tol := 0.6
		if strings.Contains(mod, "jpeg") || strings.Contains(mod, "gif") {
			tol = 3
		}
		for i := 0; i < 40*30; i++ {
			c := color.NRGBAModel.Convert(g.At(i%40, i/40)).(color.NRGBA)
			if c.R != c.G || c.G != c.B {
				t.Fatalf("%s: pixel %d is %v; want grey", mod, i, c)
			}
		}
		if d := meanAbsDiff(g, want); d > tol {
			t.Errorf("%s: mean abs diff %.2f from the Rec. 601 luma of the source; want ≤ %.1f", mod, d, tol)
		}
	}
}

func toNRGBAImage(m image.Image) *image.NRGBA {
	n := image.NewNRGBA(m.Bounds())
	draw.Draw(n, n.Rect, m, m.Bounds().Min, draw.Src)
	return n
}
