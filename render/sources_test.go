package render

import (
	"bytes"
	"compress/bzip2"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const vipsBin = "/usr/bin/vips"

// vipsRef runs `vips ARGS...` with the word OUT replaced by a temporary
// PNG path (written uncompressed: cheap) and returns that image: libvips (libjpeg-turbo, libpng, libwebp,
// libtiff, giflib, Little CMS) as the independent reference decoder.
func vipsRef(t *testing.T, args ...string) image.Image {
	t.Helper()
	if _, err := os.Stat(vipsBin); err != nil {
		t.Skip("libvips-tools not installed")
	}
	out := filepath.Join(t.TempDir(), "ref.png")
	a := make([]string, len(args))
	for i, s := range args {
		a[i] = strings.ReplaceAll(s, "OUT", out+"[compression=0]")
	}
	if b, err := exec.Command(vipsBin, a...).CombinedOutput(); err != nil {
		t.Fatalf("vips %v: %v\n%s", a, err, b)
	}
	m, err := png.Decode(bytes.NewReader(readFile(t, out)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// vipsDecode is libvips's full-size decode of path (first page or frame),
// converted to sRGB with its embedded profile, relative colorimetric, when
// it has one (decisions.md §7), and left as it is otherwise.
func vipsDecode(t *testing.T, path string) image.Image {
	t.Helper()
	src := readFile(t, path)
	if sourceICC(src, Sniff(src)) != nil {
		return vipsRef(t, "icc_transform", path, "OUT", "srgb", "--embedded", "--intent", "relative")
	}
	return vipsRef(t, "copy", path, "OUT")
}

// checkSource renders path at full size into an alpha-keeping format and
// compares it, premultiplied, with want.
func checkSource(t *testing.T, path string, want image.Image, tol float64) {
	t.Helper()
	out, info := render(t, readFile(t, path), "fmt=tif-alpha") // uncompressed: cheap under -race
	got := decodeAny(t, out)
	if got.Bounds().Size() != want.Bounds().Size() || info.Width != want.Bounds().Dx() {
		t.Fatalf("%s: rendered %v (info %dx%d); reference is %v", filepath.Base(path), got.Bounds().Size(), info.Width, info.Height, want.Bounds().Size())
	}
	if d := meanAbsDiffPremul(got, want); d > tol {
		t.Errorf("%s: mean abs diff %.3f from the reference decode; want ≤ %.1f", filepath.Base(path), d, tol)
	}
}

var goEnvOnce = sync.OnceValues(func() (map[string]string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return nil, err
	}
	dirs := map[string]string{"GOROOT": strings.TrimSpace(string(out))}
	for _, mod := range []string{"golang.org/x/image", "github.com/kolesa-team/go-webp"} {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod).Output()
		if err != nil {
			return nil, err
		}
		dirs[mod] = strings.TrimSpace(string(out))
	}
	return dirs, nil
})

// testdataDir returns a test data directory of the Go toolchain ("GOROOT")
// or of a module the project uses, joined with sub.
func testdataDir(t *testing.T, root, sub string) string {
	t.Helper()
	dirs, err := goEnvOnce()
	if err != nil || dirs[root] == "" {
		t.Skipf("cannot locate %s: %v", root, err)
	}
	d := filepath.Join(dirs[root], sub)
	if _, err := os.Stat(d); err != nil {
		t.Skipf("%s not available", d)
	}
	return d
}

// TestPngSuite renders every PngSuite file except the corrupt x*.png at
// full size (every colour type, bit depths 1–16, Adam7, tRNS, gamma,
// iCCP) and compares it with libvips's decode.
func TestPngSuite(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(corpus, "png", "*.png"))
	if len(files) == 0 {
		t.Skip("corpus not available")
	}
	n := 0
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "x") {
			continue
		}
		n++
		checkSource(t, f, vipsDecode(t, f), 1)
	}
	// PngSuite has 162 good files: a shrunken corpus must not pass quietly
	if n < 150 {
		t.Errorf("only %d PngSuite files found", n)
	}
}

// TestJPEGSources renders the Go toolchain's JPEG test files (baseline,
// progressive, truncated progressive, restart markers, grey, Adobe RGB
// transform, every chroma subsampling 4:4:4 4:4:0 4:2:2 4:2:0 4:1:1 4:1:0)
// and compares them with libvips's decode. CMYK and YCCK are in
// TestICCToSRGB (they need the CMYK profile).
func TestJPEGSources(t *testing.T) {
	t.Parallel()
	dir := testdataDir(t, "GOROOT", "src/image/testdata")
	want := []string{
		"video-001.jpeg", "video-001.progressive.jpeg", "video-001.progressive.truncated.jpeg",
		"video-001.restart2.jpeg", "video-001.rgb.jpeg", "video-001.221212.jpeg",
		"video-001.separate.dc.progression.jpeg", "video-001.separate.dc.progression.progressive.jpeg",
		"video-005.gray.jpeg", "video-005.gray.q50.jpeg", "video-005.gray.q50.2x2.jpeg",
		"video-005.gray.q50.progressive.jpeg", "video-005.gray.q50.2x2.progressive.jpeg",
	}
	for _, s := range []string{"444", "440", "422", "420", "411", "410"} {
		want = append(want, "video-001.q50."+s+".jpeg", "video-001.q50."+s+".progressive.jpeg")
	}
	for _, name := range want {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		// libvips upsamples chroma with libjpeg's "fancy" filter, ipsd with
		// its resampler; a wrong subsampling or colour transform is >10
		checkSource(t, path, vipsDecode(t, path), 1.5)
	}
}

// TestOtherSources renders GIF (first frame), TIFF, WebP (lossy, lossless,
// alpha) and BMP test files of the Go toolchain, golang.org/x/image,
// go-webp and the corpus, and compares them with libvips, or for BMP with
// the PNG that x/image ships beside each file (libvips reads the spare
// byte of a 32-bit BITMAPINFOHEADER BMP as alpha; it is not).
func TestOtherSources(t *testing.T) {
	t.Parallel()
	goroot := testdataDir(t, "GOROOT", "src/image/testdata")
	ximage := testdataDir(t, "golang.org/x/image", "testdata")
	gowebp := testdataDir(t, "github.com/kolesa-team/go-webp", "test_data/images")
	var files []string
	for _, g := range []string{
		filepath.Join(goroot, "*.gif"),
		filepath.Join(ximage, "*.tiff"), filepath.Join(ximage, "*.webp"),
		filepath.Join(gowebp, "*.webp"),
		filepath.Join(corpus, "tiff", "*.tiff"),
	} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	faults := map[string]bool{ // broken by design
		"invalid-palette-ref.tiff": true, // palette index out of range
		"invalid.webp":             true,
	}
	kinds := map[string]int{}
	for _, f := range files {
		base := filepath.Base(f)
		if faults[base] {
			r, _ := Parse("fmt=png")
			var out bytes.Buffer
			if _, err := Render(t.Context(), readFile(t, f), r, testLimits, &out); err == nil || out.Len() != 0 {
				t.Errorf("%s: rendered (%d bytes, %v); want a fault and no output", base, out.Len(), err)
			}
			continue
		}
		kinds[Sniff(readFile(t, f))]++
		if strings.HasPrefix(base, "webp-logo") {
			// 3000×2000: a decoded crop is enough, and cheap under -race
			out, _ := render(t, readFile(t, f), "crop=1200,700,600,400&fmt=tif-alpha")
			want := vipsRef(t, "crop", f, "OUT", "1200", "700", "600", "400")
			if d := meanAbsDiffPremul(decodeAny(t, out), want); d > 1 {
				t.Errorf("%s: mean abs diff %.3f from libvips's decode; want ≤ 1", base, d)
			}
			continue
		}
		checkSource(t, f, vipsDecode(t, f), 1)
	}
	bmps, _ := filepath.Glob(filepath.Join(ximage, "*.bmp"))
	for _, f := range bmps {
		ref, err := png.Decode(bytes.NewReader(readFile(t, strings.TrimSuffix(f, ".bmp")+".png")))
		if err != nil {
			t.Fatal(err)
		}
		kinds["bmp"]++
		checkSource(t, f, ref, 0.5) // alpha BMPs: 8-bit premultiplied rounding
	}
	for k, min := range map[string]int{"gif": 4, "tiff": 20, "webp": 20, "bmp": 6} {
		if kinds[k] < min {
			t.Errorf("only %d %s files checked; want at least %d", kinds[k], k, min)
		}
	}
}

// TestPhotos renders the corpus photos at 256 pixels wide and compares
// them with `vips thumbnail PHOTO OUT 256`, which also applies the EXIF
// orientation and converts embedded profiles to sRGB (shrink-on-load
// both; vipsthumbnail and ImageMagick differ by about 3 levels).
func TestPhotos(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(corpus, "photos", "*.jpg"))
	if len(files) == 0 {
		t.Skip("corpus not available")
	}
	for _, f := range files {
		out, _ := render(t, readFile(t, f), "wid=256&fmt=png")
		got := decodeAny(t, out)
		want := vipsRef(t, "thumbnail", f, "OUT", "256")
		if got.Bounds().Size() != want.Bounds().Size() {
			// vips fits 256 in the longer side: compare portrait photos by height
			out, _ = render(t, readFile(t, f), "hei=256&fmt=png")
			got = decodeAny(t, out)
		}
		if got.Bounds().Size() != want.Bounds().Size() {
			t.Errorf("%s: %v; vips %v", filepath.Base(f), got.Bounds().Size(), want.Bounds().Size())
			continue
		}
		if d := meanAbsDiffPremul(got, want); d > 5 {
			t.Errorf("%s: mean abs diff %.2f from vips thumbnail; want ≤ 5", filepath.Base(f), d)
		}
	}
}

// TestGIFFirstFrame renders an animated GIF whose first frame is smaller
// than the logical screen: the output is the screen with that frame at its
// offset and the rest transparent, as libvips (page 0) reads it; later
// frames do not show. The same animation as WebP (gif2webp) is refused.
func TestGIFFirstFrame(t *testing.T) {
	t.Parallel()
	pal := color.Palette{color.NRGBA{}, color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 0, 255, 255}}
	f1 := image.NewPaletted(image.Rect(10, 5, 40, 25), pal)
	for i := range f1.Pix {
		f1.Pix[i] = 1
	}
	f2 := image.NewPaletted(image.Rect(0, 0, 60, 40), pal)
	for i := range f2.Pix {
		f2.Pix[i] = 2
	}
	var b bytes.Buffer
	err := gif.EncodeAll(&b, &gif.GIF{
		Image: []*image.Paletted{f1, f2}, Delay: []int{10, 10}, Disposal: []byte{gif.DisposalNone, gif.DisposalNone},
		Config: image.Config{ColorModel: pal, Width: 60, Height: 40},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "anim.gif")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	checkSource(t, path, vipsDecode(t, path), 0)
	out, _ := render(t, b.Bytes(), "fmt=png-alpha")
	m := decodeAny(t, out)
	if c := color.NRGBAModel.Convert(m.At(20, 10)).(color.NRGBA); c != (color.NRGBA{255, 0, 0, 255}) {
		t.Errorf("inside the first frame: %v; want its red", c)
	}
	if _, _, _, a := m.At(50, 35).RGBA(); a != 0 {
		t.Errorf("outside the first frame: alpha %d; want transparent (not the second frame)", a>>8)
	}

	if _, err := os.Stat("/usr/bin/gif2webp"); err != nil {
		t.Skip("webp tools not installed")
	}
	wp := filepath.Join(t.TempDir(), "anim.webp")
	if b, err := exec.Command("/usr/bin/gif2webp", "-quiet", path, "-o", wp).CombinedOutput(); err != nil {
		t.Fatalf("gif2webp: %v\n%s", err, b)
	}
	r, _ := Parse("fmt=png")
	var o bytes.Buffer
	if _, err := Render(t.Context(), readFile(t, wp), r, testLimits, &o); err == nil || !strings.Contains(err.Error(), "animated WebP") || o.Len() != 0 {
		t.Errorf("animated WebP: %v (%d bytes); want a fault naming it", err, o.Len())
	}
}

// TestCompressedTestdata renders x/image's two bzip2-packed test files: a
// lossless WebP with a large Huffman index, compared with libwebp's own
// `dwebp` (this libvips refuses it), and a TIFF whose LZW codes overflow
// the table, which libtiff refuses and x/image reads by design: it must
// render at its declared 256×256.
func TestCompressedTestdata(t *testing.T) {
	t.Parallel()
	dir := testdataDir(t, "golang.org/x/image", "testdata")
	unpack := func(name string) (string, []byte) {
		raw, err := io.ReadAll(bzip2.NewReader(bytes.NewReader(readFile(t, filepath.Join(dir, name)))))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".bz2"))
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		return path, raw
	}
	path, _ := unpack("large-huffman-index.lossless.webp.bz2")
	if _, err := os.Stat("/usr/bin/dwebp"); err == nil {
		ref := filepath.Join(t.TempDir(), "ref.png")
		if b, err := exec.Command("/usr/bin/dwebp", "-quiet", path, "-o", ref).CombinedOutput(); err != nil {
			t.Fatalf("dwebp: %v\n%s", err, b)
		}
		want, err := png.Decode(bytes.NewReader(readFile(t, ref)))
		if err != nil {
			t.Fatal(err)
		}
		checkSource(t, path, want, 0.5)
	}
	_, raw := unpack("lzw-hi-overflow.tiff.bz2")
	_, info := render(t, raw, "fmt=tif")
	if info.Width != 256 || info.Height != 256 {
		t.Errorf("lzw-hi-overflow.tiff: %dx%d; want 256x256", info.Width, info.Height)
	}
}
