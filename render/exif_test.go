package render

import (
	"bytes"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestOrientationCorpus(t *testing.T) {
	dir := filepath.Join(corpus, "orientation")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("corpus not available")
	}
	for n := 0; n <= 8; n++ {
		name := "Portrait_" + string(rune('0'+n)) + ".jpg"
		want := max(n, 1) // 0 is not a valid value: treated as none
		if got := orientation(readFile(t, filepath.Join(dir, name)), "jpeg"); got != want {
			t.Errorf("orientation(%s) = %d; want %d", name, got, want)
		}
	}
}

func TestTIFFOrientation(t *testing.T) {
	// big- and little-endian IFD0 with an Orientation SHORT among others
	be := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x02" +
		"\x01\x00\x00\x03\x00\x00\x00\x01\x00\x10\x00\x00" +
		"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x08\x00\x00")
	le := []byte("II\x2a\x00\x08\x00\x00\x00\x01\x00" +
		"\x12\x01\x03\x00\x01\x00\x00\x00\x05\x00\x00\x00")
	if got := tiffOrientation(be); got != 8 {
		t.Errorf("big-endian: %d; want 8", got)
	}
	if got := tiffOrientation(le); got != 5 {
		t.Errorf("little-endian: %d; want 5", got)
	}
	for i := range le { // every truncation is safe and finds nothing
		if got := tiffOrientation(le[:i]); got != 0 {
			t.Errorf("truncated to %d bytes: %d; want 0", i, got)
		}
	}
}

func FuzzOrientation(f *testing.F) {
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x1cExif\x00\x00II\x2a\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0eeXIfMM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPEXIF\x08\x00\x00\x00II\x2a\x00\x08\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, format := range []string{"jpeg", "png", "webp", "tiff"} {
			if o := orientation(b, format); o < 1 || o > 8 {
				t.Fatalf("orientation(%q) = %d", format, o)
			}
		}
	})
}

// TestOrientationCarriers stores the same upright image rotated, with
// EXIF Orientation 6 in each carrier ipsd reads (PNG eXIf, WebP EXIF via
// webpmux, TIFF IFD0 via ImageMagick's -orient), and expects the upright
// render.
func TestOrientationCarriers(t *testing.T) {
	t.Parallel()
	up := testImage(60, 40)
	want := encodePNG(t, up)
	ref, _ := render(t, want, "fmt=png")
	// stored = upright turned 90° counter-clockwise; orientation 6 turns it back
	stored := image.NewNRGBA(image.Rect(0, 0, 40, 60))
	for y := range 40 {
		for x := range 60 {
			stored.SetNRGBA(y, 59-x, up.NRGBAAt(x, y))
		}
	}
	raw := encodePNG(t, stored)
	exif := []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00")

	// PNG: eXIf before IDAT
	i := bytes.Index(raw, []byte("IDAT")) - 4
	pngSrc := append(append(append([]byte{}, raw[:i]...), pngChunk("eXIf", exif)...), raw[i:]...)
	sources := map[string][]byte{"png eXIf": pngSrc}

	dir := t.TempDir()
	rawPath := filepath.Join(dir, "raw.png")
	if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/usr/bin/webpmux"); err == nil {
		exifPath, lossless, tagged := filepath.Join(dir, "exif.bin"), filepath.Join(dir, "l.webp"), filepath.Join(dir, "t.webp")
		if err := os.WriteFile(exifPath, exif, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, c := range [][]string{
			{"/usr/bin/cwebp", "-quiet", "-lossless", rawPath, "-o", lossless},
			{"/usr/bin/webpmux", "-set", "exif", exifPath, lossless, "-o", tagged},
		} {
			if b, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", c, err, b)
			}
		}
		sources["webp EXIF"] = readFile(t, tagged)
	}
	if _, err := os.Stat(convert); err == nil {
		tif := filepath.Join(dir, "o.tif")
		if b, err := exec.Command(convert, rawPath, "-orient", "RightTop", "-compress", "none", tif).CombinedOutput(); err != nil {
			t.Fatalf("convert: %v\n%s", err, b)
		}
		sources["tiff IFD0"] = readFile(t, tif)
	}
	for name, src := range sources {
		if o := orientation(src, Sniff(src)); o != 6 {
			t.Errorf("%s: orientation %d; want 6", name, o)
			continue
		}
		out, info := render(t, src, "fmt=png")
		if info.Width != 60 || info.Height != 40 {
			t.Errorf("%s: %dx%d; want upright 60x40", name, info.Width, info.Height)
			continue
		}
		if d := meanAbsDiff(decodeAny(t, out), decodeAny(t, ref)); d != 0 {
			t.Errorf("%s: mean abs diff %.2f from the upright image", name, d)
		}
	}
}
