package turbojpeg

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const corpus = "../../../../shared/corpus"

func corpusJPEGs(t testing.TB) map[string][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(corpus, "photos", "*.jpg"))
	more, _ := filepath.Glob(filepath.Join(corpus, "orientation", "*.jpg"))
	files = append(files, more...)
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

// meanDiff is the mean absolute RGB difference of a and b, which must have
// the same bounds.
func meanDiff(a, b image.Image) float64 {
	r := a.Bounds()
	ra, rb := image.NewRGBA(r), image.NewRGBA(r)
	draw.Draw(ra, r, a, r.Min, draw.Src)
	draw.Draw(rb, r, b, b.Bounds().Min, draw.Src)
	var sum float64
	for i := range ra.Pix {
		if i%4 != 3 {
			sum += math.Abs(float64(ra.Pix[i]) - float64(rb.Pix[i]))
		}
	}
	return sum / float64(3*r.Dx()*r.Dy())
}

// TestDecodeMatchesStdlib decodes small corpus photos at full size with
// TurboJPEG, planar and RGBA, and compares them with image/jpeg (an
// independent decoder; both use the same IDCT precision class, so they
// agree within a level or two).
func TestDecodeMatchesStdlib(t *testing.T) {
	for name, data := range corpusJPEGs(t) {
		if len(data) > 200<<10 {
			continue // keep the test quick
		}
		ref, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: stdlib: %v", name, err)
		}
		hd, err := DecodeHeader(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if hd.Width != ref.Bounds().Dx() || hd.Height != ref.Bounds().Dy() {
			t.Fatalf("%s: header %dx%d, stdlib %v", name, hd.Width, hd.Height, ref.Bounds())
		}
		if CanDecodePlanar(hd) {
			m, err := DecodePlanar(data, 8)
			if err != nil {
				t.Fatalf("%s: planar: %v", name, err)
			}
			if d := meanDiff(m, ref); d > 2 {
				t.Errorf("%s: planar decode differs from image/jpeg by %.2f levels on average", name, d)
			}
		}
		m, err := DecodeRGBA(data, 8, nil)
		if err != nil {
			t.Fatalf("%s: rgba: %v", name, err)
		}
		if d := meanDiff(m, ref); d > 2 {
			t.Errorf("%s: RGBA decode differs from image/jpeg by %.2f levels on average", name, d)
		}
	}
}

// TestDecodeScaled checks the sizes of DCT-scaled decodes, and that a 1/2,
// 1/4 or 1/8 decode is close to a box average of the full decode.
func TestDecodeScaled(t *testing.T) {
	data := corpusJPEGs(t)["DSCN0010.jpg"]
	if data == nil {
		t.Skip("DSCN0010.jpg not in corpus")
	}
	hd, err := DecodeHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	full, err := DecodeRGBA(data, 8, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []int{2, 4, 8} {
		m, err := DecodePlanar(data, 8/d)
		if err != nil {
			t.Fatal(err)
		}
		w, h := Scaled(hd.Width, hd.Height, 8/d)
		if m.Bounds() != image.Rect(0, 0, w, h) {
			t.Fatalf("1/%d: bounds %v, want %dx%d", d, m.Bounds(), w, h)
		}
		// box-average the full decode
		box := image.NewRGBA(m.Bounds())
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var s [3]int
				for j := 0; j < d; j++ {
					for i := 0; i < d; i++ {
						c := full.RGBAAt(x*d+i, y*d+j)
						s[0], s[1], s[2] = s[0]+int(c.R), s[1]+int(c.G), s[2]+int(c.B)
					}
				}
				n := d * d
				box.SetRGBA(x, y, color.RGBA{uint8(s[0] / n), uint8(s[1] / n), uint8(s[2] / n), 255})
			}
		}
		if diff := meanDiff(m, box); diff > 4 {
			t.Errorf("1/%d decode differs from a box average by %.2f levels on average", d, diff)
		}
	}
	for _, e := range []int{3, 5, 6, 7} {
		m, err := DecodeRGBA(data, e, nil)
		if err != nil {
			t.Fatal(err)
		}
		if w, h := Scaled(hd.Width, hd.Height, e); m.Bounds() != image.Rect(0, 0, w, h) || w != (hd.Width*e+7)/8 {
			t.Errorf("%d/8: bounds %v, want %dx%d", e, m.Bounds(), w, h)
		}
	}
	for _, e := range []int{0, 9, 16} {
		if _, err := DecodePlanar(data, e); err == nil {
			t.Errorf("scale %d/8 accepted", e)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 67, 45))
	for y := 0; y < 45; y++ {
		for x := 0; x < 67; x++ {
			src.SetRGBA(x, y, color.RGBA{uint8(x * 3), uint8(y * 5), 128, 255})
		}
	}
	for _, ss := range []Subsamp{Samp420, Samp444} {
		var buf bytes.Buffer
		if err := Encode(&buf, src, Options{Quality: 90, Subsamp: ss}); err != nil {
			t.Fatal(err)
		}
		hd, err := DecodeHeader(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if hd.Subsamp != ss || hd.Width != 67 || hd.Height != 45 {
			t.Errorf("header %+v, want 67x45 subsamp %d", hd, ss)
		}
		back, err := jpeg.Decode(&buf) // an independent decoder
		if err != nil {
			t.Fatal(err)
		}
		if d := meanDiff(back, src); d > 2 {
			t.Errorf("subsamp %d: round trip differs by %.2f levels", ss, d)
		}
	}
	g := image.NewGray(image.Rect(0, 0, 10, 10))
	var buf bytes.Buffer
	if err := Encode(&buf, g, Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	if hd, err := DecodeHeader(buf.Bytes()); err != nil || hd.Colorspace != Gray {
		t.Errorf("grey encode: %+v, %v", hd, err)
	}
	if err := Encode(&buf, g, Options{Quality: 0}); err == nil {
		t.Error("quality 0 accepted")
	}
	if err := Encode(&buf, image.NewRGBA(image.Rect(0, 0, 0, 0)), Options{Quality: 80}); err == nil {
		t.Error("empty image accepted")
	}
}

func TestDecodeErrors(t *testing.T) {
	data := corpusJPEGs(t)["DSCN0010.jpg"]
	if data == nil {
		t.Skip("DSCN0010.jpg not in corpus")
	}
	if _, err := DecodeHeader(nil); err == nil {
		t.Error("empty data accepted")
	}
	if _, err := DecodeHeader([]byte("not a jpeg at all")); err == nil {
		t.Error("garbage accepted")
	}
	if _, err := DecodeRGBA(data[:len(data)/2], 8, nil); err == nil {
		t.Error("truncated JPEG decoded without error")
	}
}

// FuzzTurboDecode feeds mutated corpus JPEGs through the binding: it must
// never crash, and what it decodes has the size the header promised.
func FuzzTurboDecode(f *testing.F) {
	for name, data := range corpusJPEGs(f) {
		if len(data) < 256<<10 || name == "DSCN0010.jpg" {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hd, err := DecodeHeader(data)
		if err != nil {
			return
		}
		if int64(hd.Width)*int64(hd.Height) > 4<<20 {
			return // bound the work per input
		}
		for _, d := range []int{1, 8} {
			w, h := Scaled(hd.Width, hd.Height, d)
			if CanDecodePlanar(hd) {
				if m, err := DecodePlanar(data, d); err == nil && m.Bounds() != image.Rect(0, 0, w, h) {
					t.Fatalf("planar %d/8: %v, want %dx%d", d, m.Bounds(), w, h)
				}
			}
			if m, err := DecodeRGBA(data, d, nil); err == nil && m.Bounds() != image.Rect(0, 0, w, h) {
				t.Fatalf("rgba %d/8: %v, want %dx%d", d, m.Bounds(), w, h)
			}
		}
	})
}

// TestEncodeMatchesLibjpeg encodes a photo with Encode and with libvips
// (libjpeg's defaults: the accurate integer DCT) at the same quality and
// subsampling; the decoded pixels must be the same, not merely close.
func TestEncodeMatchesLibjpeg(t *testing.T) {
	vips, err := exec.LookPath("vips")
	if err != nil {
		t.Skip("vips not installed (libvips-tools)")
	}
	data, err := os.ReadFile(filepath.Join(corpus, "photos", "DSCN0010.jpg"))
	if err != nil {
		t.Skip("corpus not found")
	}
	src, err := DecodeRGBA(data, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, ref := filepath.Join(dir, "in.png"), filepath.Join(dir, "ref.jpg")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, src); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, err := exec.Command(vips, "copy", in, ref+"[Q=85,strip]").CombinedOutput(); err != nil {
		t.Fatalf("vips copy: %v\n%s", err, b)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, src, Options{Quality: 85, Subsamp: Samp420}); err != nil {
		t.Fatal(err)
	}
	refData, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	want, err := jpeg.Decode(bytes.NewReader(refData))
	if err != nil {
		t.Fatal(err)
	}
	got, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if d := meanDiff(got, want); d != 0 {
		t.Errorf("Encode at q85 differs from libjpeg's encoding of the same pixels by %.4f levels on average; want 0", d)
	}
}
