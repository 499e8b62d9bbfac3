package jpegscan

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// markers counts the SOS markers of a JPEG and reports whether its frame
// is progressive (SOF2), walking the marker segments and skipping
// entropy-coded data (T.81 B.1.1).
func markers(t *testing.T, b []byte) (sos int, progressive bool) {
	t.Helper()
	for i := 2; i+2 <= len(b); {
		if b[i] != 0xff {
			i++ // inside entropy-coded data
			continue
		}
		m := b[i+1]
		switch {
		case m == 0x00 || m == 0xff || (m >= 0xd0 && m <= 0xd7):
			i += 2
			continue
		case m == 0xd9:
			return sos, progressive
		case i+4 > len(b):
			t.Fatal("truncated marker segment")
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		switch m {
		case 0xda:
			sos++
		case 0xc2:
			progressive = true
		}
		i += 2 + n
	}
	t.Fatal("no EOI marker")
	return
}

func testJPEG(t *testing.T, gray bool) []byte {
	var m image.Image
	const w, h = 67, 45
	if gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = uint8(i * 7)
		}
		m = g
	} else {
		c := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				c.Set(x, y, color.RGBA{uint8(x * 3), uint8(y * 5), uint8(x * y), 255})
			}
		}
		m = c
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestProgressive(t *testing.T) {
	for _, gray := range []bool{true, false} {
		src := testJPEG(t, gray)
		want, err := jpeg.Decode(bytes.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		ncomps, extra := 3, 2
		if gray {
			ncomps, extra = 1, 0
		}
		for _, passes := range []int{3, 4, 5} {
			out, err := Progressive(src, ncomps, passes)
			if err != nil {
				t.Fatalf("gray=%v passes=%d: %v", gray, passes, err)
			}
			sos, prog := markers(t, out)
			if !prog || sos != passes+extra {
				t.Errorf("gray=%v passes=%d: progressive=%v with %d scans; want progressive with %d", gray, passes, prog, sos, passes+extra)
			}
			// same coefficients: image/jpeg decodes the same pixels
			got, err := jpeg.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("gray=%v passes=%d: image/jpeg cannot read the output: %v", gray, passes, err)
			}
			b := want.Bounds()
			if got.Bounds() != b {
				t.Fatalf("bounds %v; want %v", got.Bounds(), b)
			}
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					if got.At(x, y) != want.At(x, y) {
						t.Fatalf("gray=%v passes=%d: pixel (%d,%d) = %v; the baseline decodes to %v", gray, passes, x, y, got.At(x, y), want.At(x, y))
					}
				}
			}
		}
	}
}

func TestProgressiveErrors(t *testing.T) {
	src := testJPEG(t, false)
	for _, tt := range []struct {
		in             []byte
		ncomps, passes int
	}{
		{src, 3, 2},
		{src, 3, 6},
		{src, 1, 3},              // wrong component count
		{src[:len(src)/2], 3, 3}, // truncated
		{[]byte("not a jpeg"), 3, 3},
		{nil, 3, 3},
	} {
		if out, err := Progressive(tt.in, tt.ncomps, tt.passes); err == nil {
			t.Errorf("Progressive(%d bytes, %d, %d) = %d bytes; want an error", len(tt.in), tt.ncomps, tt.passes, len(out))
		}
	}
}
