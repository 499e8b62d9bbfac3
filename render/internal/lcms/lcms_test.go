package lcms

import (
	"os"
	"testing"
)

func TestSRGBRoundTrip(t *testing.T) {
	p, err := SRGB()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Space() != RGB {
		t.Errorf("sRGB space %v; want RGB", p.Space())
	}
	b, err := p.Bytes()
	if err != nil || len(b) < 128 || string(b[36:40]) != "acsp" {
		t.Fatalf("sRGB profile bytes: %d, %v; want an ICC profile", len(b), err)
	}
	q, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	tr, err := NewTransform(p, RGBA8, q, RGBA8)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	in := []byte{0, 0, 0, 255, 255, 255, 255, 128, 200, 30, 90, 7}
	out := make([]byte, len(in))
	if err := tr.Do(in, out, 3); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if d := int(in[i]) - int(out[i]); d > 1 || d < -1 {
			t.Fatalf("sRGB to sRGB: % x; want % x (alpha copied)", out, in)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("not a profile"), make([]byte, 200)} {
		if p, err := Open(b); err == nil {
			p.Close()
			t.Errorf("Open(%d bytes) succeeded", len(b))
		}
	}
}

// TestCMYK converts ink to sRGB with ghostscript's CMYK profile: no ink
// is white-ish paper, full black ink is dark.
func TestCMYK(t *testing.T) {
	b, err := os.ReadFile("/usr/share/color/icc/ghostscript/default_cmyk.icc")
	if err != nil {
		t.Skip("libgs-common not installed")
	}
	p, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Space() != CMYK {
		t.Fatalf("space %v; want CMYK", p.Space())
	}
	s, _ := SRGB()
	defer s.Close()
	tr, err := NewTransform(p, CMYK8, s, RGB8)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	out := make([]byte, 6)
	if err := tr.Do([]byte{0, 0, 0, 0, 0, 0, 0, 255}, out, 2); err != nil {
		t.Fatal(err)
	}
	if out[0] < 230 || out[1] < 230 || out[2] < 230 || out[3] > 70 || out[4] > 70 || out[5] > 70 {
		t.Errorf("paper %v, black %v; want near white and dark", out[:3], out[3:])
	}
}
