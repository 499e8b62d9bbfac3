package render

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kolesa-team/go-webp/decoder"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

const (
	corpus    = "../../shared/corpus"
	convert   = "/usr/bin/convert"
	testLimit = 100e6
)

var testLimits = Limits{MaxSourcePixels: testLimit, MaxOutputPixels: 25e6}

// testImage returns a w×h image with smooth gradients, a hard-edged
// rectangle and a different colour in each corner, so that any wrong
// orientation, offset or scale shows.
func testImage(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(255 * x / w), uint8(255 * y / h), uint8(128 + 100*math.Sin(float64(x+y)/9)), 255}
			if x > w/5 && x < 2*w/5 && y > h/6 && y < h/2 {
				c = color.NRGBA{250, 250, 20, 255}
			}
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func render(t testing.TB, src []byte, mod string) ([]byte, Info) {
	t.Helper()
	r, err := Parse(mod)
	if err != nil {
		t.Fatalf("Parse(%q) = %v", mod, err)
	}
	var out bytes.Buffer
	info, err := Render(context.Background(), src, r, testLimits, &out)
	if err != nil {
		t.Fatalf("Render(%q) = %v", mod, err)
	}
	return out.Bytes(), info
}

// decodeAny decodes an output with an independent decoder per format.
func decodeAny(t testing.TB, b []byte) image.Image {
	t.Helper()
	var (
		m   image.Image
		err error
	)
	switch f := Sniff(b); f {
	case "jpeg":
		m, err = jpeg.Decode(bytes.NewReader(b))
	case "png":
		m, err = png.Decode(bytes.NewReader(b))
	case "gif":
		m, err = gif.Decode(bytes.NewReader(b))
	case "tiff":
		m, err = tiff.Decode(bytes.NewReader(b))
	case "bmp":
		m, err = bmp.Decode(bytes.NewReader(b))
	case "webp":
		var d *decoder.Decoder
		if d, err = decoder.NewDecoder(bytes.NewReader(b), nil); err == nil {
			m, err = d.Decode()
		}
	default:
		t.Fatalf("output format %q not recognised", f)
	}
	if err != nil {
		t.Fatalf("decoding output: %v", err)
	}
	return m
}

// meanAbsDiff returns the mean absolute difference of two images' straight
// 8-bit RGBA channels, in 0..255, or +Inf when the sizes differ.
func meanAbsDiff(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Size() != bb.Size() {
		return math.Inf(1)
	}
	var sum float64
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			ca := color.NRGBAModel.Convert(a.At(ab.Min.X+x, ab.Min.Y+y)).(color.NRGBA)
			cb := color.NRGBAModel.Convert(b.At(bb.Min.X+x, bb.Min.Y+y)).(color.NRGBA)
			sum += math.Abs(float64(ca.R)-float64(cb.R)) + math.Abs(float64(ca.G)-float64(cb.G)) +
				math.Abs(float64(ca.B)-float64(cb.B)) + math.Abs(float64(ca.A)-float64(cb.A))
		}
	}
	return sum / float64(4*ab.Dx()*ab.Dy())
}

func TestRenderSizes(t *testing.T) {
	src := encodePNG(t, testImage(200, 100))
	tests := []struct {
		mod  string
		w, h int
	}{
		{"wid=50", 50, 25},
		{"hei=50", 100, 50},
		{"wid=400", 400, 200},
		{"scl=4", 50, 25},
		{"wid=60&hei=60", 60, 60},
		{"wid=60&hei=60&fit=constrain", 60, 30},
		{"wid=60&hei=60&fit=crop", 60, 60},
		{"crop=10,10,30,40", 30, 40},
		{"cropN=0,0,.5,.5", 100, 50},
		{"rotate=90", 100, 200},
		{"rotate=-90&wid=20", 20, 40},
		{"flip=lr", 200, 100},
		{"crop=-10,-10,220,120&fmt=png-alpha", 220, 120},
	}
	for _, tt := range tests {
		out, info := render(t, src, tt.mod)
		m := decodeAny(t, out)
		if b := m.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h || info.Width != tt.w || info.Height != tt.h {
			t.Errorf("Render(%q) = %v, info %d×%d; want %d×%d", tt.mod, b.Size(), info.Width, info.Height, tt.w, tt.h)
		}
		if info.Format != "png" {
			t.Errorf("Render(%q) format %q; want png (kept from the source)", tt.mod, info.Format)
		}
	}
}

// TestRenderMatchesImageMagick renders the same operations with ImageMagick
// and compares pixels.
func TestRenderMatchesImageMagick(t *testing.T) {
	if _, err := os.Stat(convert); err != nil {
		t.Skip("ImageMagick not installed")
	}
	dir := t.TempDir()
	srcPath := filepath.Join(dir, "src.png")
	src := encodePNG(t, testImage(240, 160))
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mod string
		im  []string
		tol float64 // mean abs diff, 0..255
	}{
		{"crop=30,20,100,80", []string{"-crop", "100x80+30+20", "+repage"}, 0},
		{"rotate=90", []string{"-rotate", "90"}, 0},
		{"rotate=180", []string{"-rotate", "180"}, 0},
		{"rotate=270", []string{"-rotate", "270"}, 0},
		{"flip=lr", []string{"-flop"}, 0},
		{"flip=ud", []string{"-flip"}, 0},
		{"flip=lrud", []string{"-flip", "-flop"}, 0},
		{"rotate=90&flip=lr", []string{"-rotate", "90", "-flop"}, 0},
		{"crop=30,20,100,80&rotate=270&flip=ud", []string{"-crop", "100x80+30+20", "+repage", "-rotate", "270", "-flip"}, 0},
		{"wid=120&resMode=bicub", []string{"-filter", "Catrom", "-resize", "120x80!"}, 1.5},
		{"wid=120&resMode=bilin", []string{"-filter", "Triangle", "-resize", "120x80!"}, 1.5},
		{"wid=120", []string{"-filter", "Lanczos", "-resize", "120x80!"}, 1.5},
		{"wid=77&resMode=sharp2", []string{"-filter", "Lanczos", "-resize", "77x51!"}, 1.5},
		{"wid=480&resMode=bicub", []string{"-filter", "Catrom", "-resize", "480x320!"}, 1.5},
		{"crop=30,20,100,80&rotate=90&wid=40&resMode=bicub",
			[]string{"-crop", "100x80+30+20", "+repage", "-rotate", "90", "-filter", "Catrom", "-resize", "40x50!"}, 1.5},
		{"wid=100&hei=100&bgc=ff0000&resMode=bicub",
			[]string{"-filter", "Catrom", "-resize", "100x67!", "-background", "red", "-gravity", "center", "-extent", "100x100"}, 1.5},
		{"wid=100&hei=100&fit=crop&align=-1,-1&resMode=bicub",
			[]string{"-filter", "Catrom", "-resize", "150x100!", "-gravity", "northwest", "-extent", "100x100"}, 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.mod, func(t *testing.T) {
			out, _ := render(t, src, tt.mod+"&fmt=png")
			refPath := filepath.Join(dir, "ref.png")
			args := append(append([]string{srcPath}, tt.im...), refPath)
			if b, err := exec.Command(convert, args...).CombinedOutput(); err != nil {
				t.Fatalf("convert %v: %v\n%s", args, err, b)
			}
			ref, err := os.ReadFile(refPath)
			if err != nil {
				t.Fatal(err)
			}
			got, want := decodeAny(t, out), decodeAny(t, ref)
			if d := meanAbsDiff(got, want); d > tt.tol {
				t.Errorf("Render(%q) differs from convert %v: mean abs diff %.3f (size %v vs %v); want ≤ %.1f",
					tt.mod, tt.im, d, got.Bounds().Size(), want.Bounds().Size(), tt.tol)
			}
		})
	}
}

// orientMod keeps the orientation test cheap under -race: a bilinear
// reduction and an uncompressed output.
const orientMod = "wid=300&fmt=tif&resMode=bilin"

func TestRenderOrientation(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(corpus, "orientation")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("corpus not available")
	}
	for _, kind := range []string{"Landscape", "Portrait"} {
		ref := readFile(t, filepath.Join(dir, kind+"_1.jpg"))
		refOut, refInfo := render(t, ref, orientMod)
		want := decodeAny(t, refOut)
		for n := 0; n <= 8; n++ {
			name := kind + "_" + string(rune('0'+n)) + ".jpg"
			out, info := render(t, readFile(t, filepath.Join(dir, name)), orientMod)
			if info.Format != refInfo.Format || info.Width != refInfo.Width || info.Height != refInfo.Height {
				t.Errorf("%s: %s %dx%d; want %s %dx%d like %s_1.jpg", name, info.Format, info.Width, info.Height,
					refInfo.Format, refInfo.Width, refInfo.Height, kind)
				continue
			}
			if d := meanAbsDiff(decodeAny(t, out), want); d > 3 {
				t.Errorf("%s rendered with %s differs from %s_1.jpg: mean abs diff %.2f", name, orientMod, kind, d)
			}
		}
	}
}

func TestOrientationNotCarried(t *testing.T) {
	path := filepath.Join(corpus, "orientation", "Landscape_6.jpg")
	if _, err := os.Stat(path); err != nil {
		t.Skip("corpus not available")
	}
	src := readFile(t, path)
	if o := orientation(src, "jpeg"); o != 6 {
		t.Fatalf("orientation(Landscape_6.jpg) = %d; want 6", o)
	}
	out, _ := render(t, src, "wid=100")
	if o := orientation(out, "jpeg"); o != 1 {
		t.Errorf("output carries orientation %d", o)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFormatsRoundTrip(t *testing.T) {
	base := testImage(64, 48)
	// a transparent hole in the middle
	for y := 16; y < 32; y++ {
		for x := 24; x < 40; x++ {
			base.SetNRGBA(x, y, color.NRGBA{})
		}
	}
	sources := map[string][]byte{"png": encodePNG(t, base)}
	for _, f := range []string{"jpeg", "gif-alpha", "tif-alpha", "webp-alpha,,lossless"} {
		out, _ := render(t, sources["png"], "fmt="+f)
		sources[Sniff(out)] = out
	}
	var bmpBuf bytes.Buffer
	if err := bmp.Encode(&bmpBuf, base); err != nil {
		t.Fatal(err)
	}
	sources["bmp"] = bmpBuf.Bytes()
	if len(sources) != 6 {
		t.Fatalf("got sources %d; want 6 formats", len(sources))
	}

	tests := []struct {
		fmt, format string
		alpha       bool
		tol         float64
	}{
		{"jpeg", "jpeg", false, 6},
		{"png", "png", false, 0},
		{"png-alpha", "png", true, 0},
		{"gif", "gif", false, 12},
		{"gif-alpha", "gif", true, 12},
		{"tif", "tiff", false, 0},
		{"tif-alpha,,zip", "tiff", true, 0},
		{"webp", "webp", false, 6},
		{"webp-alpha", "webp", true, 6},
		{"webp-alpha,,lossless", "webp", true, 0},
		{"jpeg,gray", "jpeg", false, 40},
	}
	for srcFormat, src := range sources {
		for _, tt := range tests {
			out, info := render(t, src, "fmt="+tt.fmt)
			if got := Sniff(out); got != tt.format || info.Format != tt.format {
				t.Errorf("%s → fmt=%s: wrote %q (info %q); want %q", srcFormat, tt.fmt, got, info.Format, tt.format)
				continue
			}
			m := decodeAny(t, out)
			if m.Bounds().Size() != image.Pt(64, 48) {
				t.Errorf("%s → fmt=%s: size %v", srcFormat, tt.fmt, m.Bounds().Size())
				continue
			}
			// the hole: transparent, or flattened onto white
			_, _, _, a := m.At(32, 24).RGBA()
			r, g, b, _ := color.NRGBAModel.Convert(m.At(32, 24)).RGBA()
			srcAlpha := srcFormat != "jpeg" && srcFormat != "bmp" // x/image/bmp reads no alpha
			switch {
			case !srcAlpha:
			case tt.alpha && a != 0:
				t.Errorf("%s → fmt=%s: hole alpha %d; want transparent", srcFormat, tt.fmt, a>>8)
			case !tt.alpha && (a != 0xffff || r>>8 < 240 || g>>8 < 240 || b>>8 < 240):
				t.Errorf("%s → fmt=%s: hole is %d,%d,%d,%d; want opaque white", srcFormat, tt.fmt, r>>8, g>>8, b>>8, a>>8)
			}
			// a known opaque point: the yellow rectangle
			c := color.NRGBAModel.Convert(m.At(16, 14)).(color.NRGBA)
			if tt.fmt != "jpeg,gray" && (c.R < 220 || c.G < 220 || c.B > 60) {
				t.Errorf("%s → fmt=%s: (16,14) = %v; want yellow", srcFormat, tt.fmt, c)
			}
		}
		// no fmt: the source's own format, with its transparency
		out, info := render(t, src, "wid=64")
		if Sniff(out) != srcFormat || info.Format != srcFormat {
			t.Errorf("%s with no fmt wrote %q", srcFormat, Sniff(out))
		}
	}
}

func TestAlphaFlattenOntoBgc(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 8, 8)) // fully transparent
	for x := range 8 {
		m.SetNRGBA(x, 0, color.NRGBA{0, 0, 255, 128}) // half-transparent blue row
	}
	out, _ := render(t, encodePNG(t, m), "fmt=png&bgc=255,0,0")
	got := decodeAny(t, out)
	if c := color.NRGBAModel.Convert(got.At(4, 4)).(color.NRGBA); c != (color.NRGBA{255, 0, 0, 255}) {
		t.Errorf("transparent pixel over bgc red = %v; want red", c)
	}
	c := color.NRGBAModel.Convert(got.At(4, 0)).(color.NRGBA)
	if c.A != 255 || math.Abs(float64(c.R)-127) > 2 || c.G != 0 || math.Abs(float64(c.B)-128) > 2 {
		t.Errorf("half-transparent blue over red = %v; want about 127,0,128", c)
	}
	// resampling is premultiplied: a transparent black border must not
	// darken the opaque white it is averaged with
	w := image.NewNRGBA(image.Rect(0, 0, 40, 40))
	for y := range 40 {
		for x := range 40 {
			if (x/4+y/4)%2 == 0 {
				w.SetNRGBA(x, y, color.NRGBA{255, 255, 255, 255})
			}
		}
	}
	out, _ = render(t, encodePNG(t, w), "wid=10&fmt=png-alpha&resMode=bilin")
	n := decodeAny(t, out)
	for y := 1; y < 9; y++ {
		for x := 1; x < 9; x++ {
			c := color.NRGBAModel.Convert(n.At(x, y)).(color.NRGBA)
			if c.A > 16 && (c.R < 250 || c.G < 250 || c.B < 250) {
				t.Fatalf("pixel (%d,%d) = %v; premultiplied resampling keeps it white", x, y, c)
			}
		}
	}
}

func TestSharpen(t *testing.T) {
	// a vertical step edge: sharpening must overshoot on both sides and
	// keep flat areas unchanged
	m := image.NewGray(image.Rect(0, 0, 40, 20))
	for y := range 20 {
		for x := range 40 {
			if x >= 20 {
				m.SetGray(x, y, color.Gray{200})
			} else {
				m.SetGray(x, y, color.Gray{50})
			}
		}
	}
	src := encodePNG(t, m)
	for _, mod := range []string{"op_sharpen=1", "op_usm=2,1,0,0", "op_usm=2,1,0,1", "op_usmR=1,2"} {
		out, _ := render(t, src, mod+"&fmt=png")
		g := decodeAny(t, out)
		at := func(x int) uint8 { return color.GrayModel.Convert(g.At(x, 10)).(color.Gray).Y }
		if at(19) >= 50 || at(20) <= 200 {
			t.Errorf("%s: edge %d|%d; want undershoot below 50 and overshoot above 200", mod, at(19), at(20))
		}
		if at(2) != 50 || at(37) != 200 {
			t.Errorf("%s: flat areas %d, %d; want 50, 200", mod, at(2), at(37))
		}
	}
	// threshold above the step: no change
	out, _ := render(t, src, "op_usm=2,1,255&fmt=png")
	if d := meanAbsDiff(decodeAny(t, out), m); d != 0 {
		t.Errorf("op_usm with threshold 255 changed the image (diff %.2f)", d)
	}
}

func TestWebPSideLimit(t *testing.T) {
	src := encodePNG(t, image.NewGray(image.Rect(0, 0, 100, 1)))
	r, _ := Parse("wid=16384&fmt=webp")
	_, err := Render(context.Background(), src, r, testLimits, &bytes.Buffer{})
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != limitWebPSide || !strings.Contains(err.Error(), "16383") {
		t.Errorf("Render(wid=16384&fmt=webp) = %v; want a LimitError naming the WebP side limit", err)
	}
	r, _ = Parse("wid=16383&fmt=webp")
	if _, err := Render(context.Background(), src, r, testLimits, &bytes.Buffer{}); err != nil {
		t.Errorf("Render(wid=16383&fmt=webp) = %v", err)
	}
}

// bombs are tiny files whose headers claim 65535×65535 pixels.
func bombs(t *testing.T) map[string][]byte {
	// PNG: signature + IHDR only; the decoder would allocate 16 GiB
	var p bytes.Buffer
	p.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := []byte{0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 8, 6, 0, 0, 0}
	p.Write(ihdr)
	p.Write(crc32IEEE(ihdr[4:]))
	p.Write([]byte{0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82})

	// GIF: logical screen and first frame of 65535×65535 (golang/go#79063)
	g := []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00" +
		",\x00\x00\x00\x00\xff\xff\xff\xff\x00\x02\x02\x44\x01\x00;")

	// WebP: a real lossy file whose VP8 frame header (RFC 6386 §9.1)
	// is patched to 16383×16383
	wp, _ := render(t, encodePNG(t, testImage(16, 16)), "fmt=webp")
	if string(wp[12:16]) != "VP8 " || string(wp[23:26]) != "\x9d\x01\x2a" {
		t.Fatalf("unexpected WebP layout % x", wp[:30])
	}
	wp[26], wp[27], wp[28], wp[29] = 0xff, 0x3f, 0xff, 0x3f

	// lossless WebP: the VP8L header's 14-bit sides (WebP lossless
	// bitstream §3) set to 16384×16384, alpha and version kept
	wl, _ := render(t, encodePNG(t, testImage(16, 16)), "fmt=webp,,lossless")
	if string(wl[12:16]) != "VP8L" || wl[20] != 0x2f {
		t.Fatalf("unexpected lossless WebP layout % x", wl[:25])
	}
	hdr := binary.LittleEndian.Uint32(wl[21:])
	binary.LittleEndian.PutUint32(wl[21:], hdr&^(1<<28-1)|(1<<28-1))

	// JPEG: the SOF0 frame header's sides (T.81 B.2.2) set to 65535, for
	// a YCbCr file (TurboJPEG's header path) and a CMYK one (image/jpeg's)
	sof := func(b []byte) []byte {
		b = bytes.Clone(b)
		for _, m := range []string{"\xff\xc0", "\xff\xc2"} {
			if i := bytes.Index(b, []byte(m)); i > 0 {
				copy(b[i+5:], []byte{0xff, 0xff, 0xff, 0xff})
				return b
			}
		}
		t.Fatal("no SOF marker")
		return nil
	}
	jp, _ := render(t, encodePNG(t, testImage(16, 16)), "fmt=jpeg")
	cmyk := sof(readFile(t, filepath.Join(testdataDir(t, "GOROOT", "src/image/testdata"), "video-001.cmyk.jpeg")))

	// TIFF: ImageWidth and ImageLength (tags 256, 257) of IFD0 set to
	// 60000 (TIFF 6.0 §8)
	tf, _ := render(t, encodePNG(t, testImage(16, 16)), "fmt=tif")
	bo := binary.ByteOrder(binary.LittleEndian)
	if string(tf[:2]) == "MM" {
		bo = binary.BigEndian
	}
	ifd := int(bo.Uint32(tf[4:]))
	for i := range int(bo.Uint16(tf[ifd:])) {
		e := tf[ifd+2+12*i:]
		if tag := bo.Uint16(e); tag == 256 || tag == 257 {
			switch bo.Uint16(e[2:]) {
			case 3:
				bo.PutUint16(e[8:], 60000)
			case 4:
				bo.PutUint32(e[8:], 60000)
			}
		}
	}

	// BMP: the BITMAPINFOHEADER's width and height set to 30000
	var bm bytes.Buffer
	if err := bmp.Encode(&bm, testImage(16, 16)); err != nil {
		t.Fatal(err)
	}
	bb := bm.Bytes()
	binary.LittleEndian.PutUint32(bb[18:], 30000)
	binary.LittleEndian.PutUint32(bb[22:], 30000)

	return map[string][]byte{
		"png": p.Bytes(), "gif": g, "webp": wp, "webp lossless": wl,
		"jpeg": sof(jp), "cmyk jpeg": cmyk, "tiff": tf, "bmp": bb,
	}
}

func TestSourceLimit(t *testing.T) {
	for name, src := range bombs(t) {
		if f := Sniff(src); f == "" || !strings.Contains(name, f) {
			t.Fatalf("%s bomb sniffed as %q", name, f)
		}
		var m runtimeMem
		m.start()
		_, err := Render(context.Background(), src, &Request{nonEmpty: true}, Limits{MaxSourcePixels: 100e6, MaxOutputPixels: 25e6}, &bytes.Buffer{})
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != limitSource {
			t.Errorf("%s bomb: Render = %v; want a LimitError for %s", name, err, limitSource)
			continue
		}
		if !strings.Contains(err.Error(), "max_source_pixels") || !strings.Contains(err.Error(), "100000000") {
			t.Errorf("%s bomb: error %q does not name the limit and its value", name, err)
		}
		if grew := m.grown(); grew > 64<<20 {
			t.Errorf("%s bomb: %d MiB allocated before the limit check", name, grew>>20)
		}
	}
}

func TestOutputLimit(t *testing.T) {
	src := encodePNG(t, testImage(20, 20))
	r, _ := Parse("wid=6000&hei=6000")
	_, err := Render(context.Background(), src, r, testLimits, &bytes.Buffer{})
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != limitOutput || !strings.Contains(err.Error(), "6000x6000") {
		t.Errorf("Render(wid=6000&hei=6000) = %v; want a LimitError naming %s and the size", err, limitOutput)
	}
}

// TestPngSuiteCorrupt checks that PngSuite's corrupt x*.png files (the
// good ones are TestPngSuite) each give a one-line fault and no output.
func TestPngSuiteCorrupt(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(corpus, "png", "x*.png"))
	if len(files) == 0 {
		t.Skip("corpus not available")
	}
	r, _ := Parse("fmt=png")
	for _, f := range files {
		var out bytes.Buffer
		_, err := Render(context.Background(), readFile(t, f), r, testLimits, &out)
		switch {
		case err == nil:
			t.Errorf("%s: rendered a corrupt PngSuite file", filepath.Base(f))
		case strings.Contains(err.Error(), "internal error") || strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: %q", filepath.Base(f), err)
		case out.Len() != 0:
			t.Errorf("%s: %v, yet %d bytes written", filepath.Base(f), err, out.Len())
		}
	}
}

// TestRenderReportsStageTimes checks the per-stage times Render reports for
// metrics: each stage of a real render takes some time, and together they
// fit inside the wall time of the call.
func TestRenderReportsStageTimes(t *testing.T) {
	src := readFile(t, filepath.Join(corpus, "photos", "DSCN0010.jpg"))
	start := time.Now()
	_, info := render(t, src, "wid=200&op_usm=1,1,0&fmt=png")
	wall := time.Since(start)
	if info.Decode <= 0 || info.Transform <= 0 || info.Encode <= 0 {
		t.Errorf("stage times decode %v, transform %v, encode %v; want all positive", info.Decode, info.Transform, info.Encode)
	}
	if sum := info.Decode + info.Transform + info.Encode; sum > wall {
		t.Errorf("stage times add up to %v, more than the %v the call took", sum, wall)
	}
}
