package fastpng

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

const corpus = "../../../../shared/corpus"

func corpusPNGs(t testing.TB) map[string][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(corpus, "png", "*.png"))
	if len(files) == 0 {
		t.Skip("corpus not found")
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// samePixels reports whether a and b have the same bounds, type and pixels.
func samePixels(a, b image.Image) bool {
	switch a := a.(type) {
	case *image.RGBA:
		b, ok := b.(*image.RGBA)
		return ok && a.Rect == b.Rect && samePix(a.Pix, a.Stride, b.Pix, b.Stride, 4*a.Rect.Dx(), a.Rect.Dy())
	case *image.NRGBA:
		b, ok := b.(*image.NRGBA)
		return ok && a.Rect == b.Rect && samePix(a.Pix, a.Stride, b.Pix, b.Stride, 4*a.Rect.Dx(), a.Rect.Dy())
	case *image.Gray:
		b, ok := b.(*image.Gray)
		return ok && a.Rect == b.Rect && samePix(a.Pix, a.Stride, b.Pix, b.Stride, a.Rect.Dx(), a.Rect.Dy())
	}
	return false
}

func samePix(a []byte, as int, b []byte, bs, n, h int) bool {
	for y := range h {
		if !bytes.Equal(a[y*as:y*as+n], b[y*bs:y*bs+n]) {
			return false
		}
	}
	return true
}

// TestDecodeMatchesImagePNG decodes every PngSuite file: those Decode
// takes (8-bit RGB and RGBA, each filter type) must give image/png's
// pixels and image type, the rest ErrUnsupported, the corrupt ones
// (x*.png) never an image image/png refuses.
func TestDecodeMatchesImagePNG(t *testing.T) {
	taken := 0
	for name, data := range corpusPNGs(t) {
		ref, refErr := png.Decode(bytes.NewReader(data))
		got, err := Decode(data)
		switch {
		case err == nil && refErr != nil:
			t.Errorf("%s: decoded, but image/png says %v", name, refErr)
		case err == nil && !samePixels(got, ref):
			t.Errorf("%s: %T %v differs from image/png's %T %v", name, got, got.Bounds(), ref, ref.Bounds())
		case err == nil:
			taken++
		case !errors.Is(err, ErrUnsupported):
			t.Errorf("%s: %v", name, err)
		}
	}
	if taken < 10 {
		t.Errorf("only %d PngSuite files decoded; want the 8-bit RGB and RGBA ones", taken)
	}
	for _, name := range []string{"f00n2c08.png", "f01n2c08.png", "f02n2c08.png", "f03n2c08.png", "f04n2c08.png", "basn6a08.png"} {
		data := corpusPNGs(t)[name]
		if _, err := Decode(data); err != nil {
			t.Errorf("%s: %v; want it decoded", name, err)
		}
	}
}

func testImages() []image.Image {
	const w, h = 97, 61
	rgba, nrgba, opaque, gray := image.NewRGBA(image.Rect(0, 0, w, h)), image.NewNRGBA(image.Rect(0, 0, w, h)),
		image.NewNRGBA(image.Rect(0, 0, w, h)), image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(x * 7), uint8(y * 11), uint8(x * y), uint8(x + 3*y)}
			nrgba.SetNRGBA(x, y, c)
			c.A = 255
			opaque.SetNRGBA(x, y, c)
			rgba.SetRGBA(x, y, color.RGBA{c.R, c.G, c.B, 255})
			gray.SetGray(x, y, color.Gray{uint8(x ^ y)})
		}
	}
	return []image.Image{rgba, nrgba, opaque, gray, nrgba.SubImage(image.Rect(3, 5, 60, 50))}
}

// TestEncode encodes each kind of image Encode takes; image/png must read
// back the same pixels, and the colour type must be the one image/png
// itself writes for that image.
func TestEncode(t *testing.T) {
	for i, m := range testImages() {
		var ours, theirs bytes.Buffer
		if err := Encode(&ours, m); err != nil {
			t.Fatalf("image %d (%T): %v", i, m, err)
		}
		if err := png.Encode(&theirs, m); err != nil {
			t.Fatal(err)
		}
		if ours.Bytes()[25] != theirs.Bytes()[25] {
			t.Errorf("image %d (%T): colour type %d, image/png writes %d", i, m, ours.Bytes()[25], theirs.Bytes()[25])
		}
		got, err := png.Decode(&ours)
		if err != nil {
			t.Fatalf("image %d: image/png cannot read Encode's output: %v", i, err)
		}
		want, _ := png.Decode(&theirs)
		if !samePixels(got, want) {
			t.Errorf("image %d (%T): pixels differ from image/png's encoding", i, m)
		}
		if back, err := Decode(ours.Bytes()); err == nil && !samePixels(back, want) {
			t.Errorf("image %d: Decode of Encode's output differs", i)
		}
	}
	if err := Encode(new(bytes.Buffer), image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black})); !errors.Is(err, ErrUnsupported) {
		t.Errorf("paletted image: %v; want ErrUnsupported", err)
	}
	translucent := image.NewRGBA(image.Rect(0, 0, 4, 4))
	if err := Encode(new(bytes.Buffer), translucent); !errors.Is(err, ErrUnsupported) {
		t.Errorf("non-opaque RGBA: %v; want ErrUnsupported", err)
	}
}

// TestDecodeCorrupt damages an encoded file (checksums, lengths, the
// stream); whatever Decode accepts, image/png must decode identically.
func TestDecodeCorrupt(t *testing.T) {
	var b bytes.Buffer
	m := testImages()[1]
	if err := Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	for i := 8; i < len(good); i += 7 {
		for _, f := range []func([]byte){
			func(d []byte) { d[i] ^= 0x10 },
			func(d []byte) { d[i] = 0 },
		} {
			d := bytes.Clone(good)
			f(d)
			checkAgainstImagePNG(t, d)
			checkAgainstImagePNG(t, d[:i])
		}
	}
}

func checkAgainstImagePNG(t *testing.T, data []byte) {
	t.Helper()
	got, err := Decode(data)
	if err != nil {
		return
	}
	ref, refErr := png.Decode(bytes.NewReader(data))
	if refErr != nil || !samePixels(got, ref) {
		t.Fatalf("Decode accepted a file image/png reads as %v (or with other pixels)", refErr)
	}
}

// FuzzDecode: any file Decode accepts, image/png decodes to the same image.
func FuzzDecode(f *testing.F) {
	for name, data := range corpusPNGs(f) {
		if name[0] != 'x' {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		if cfg, err := png.DecodeConfig(bytes.NewReader(data)); err != nil || cfg.Width*cfg.Height > 1<<22 {
			return
		}
		checkAgainstImagePNG(t, data)
	})
}

func BenchmarkDecode(b *testing.B) {
	var buf bytes.Buffer
	src := image.NewNRGBA(image.Rect(0, 0, 1000, 750))
	draw.Draw(src, src.Rect, image.NewUniform(color.NRGBA{10, 20, 30, 40}), image.Point{}, draw.Src)
	if err := Encode(&buf, src); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
