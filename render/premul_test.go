package render

import (
	"image"
	"image/draw"
	"math/rand/v2"
	"testing"
)

// TestPremultiplyMatchesDraw: the table gives exactly what image/draw
// gives for every colour at every alpha, on an offset part of an image.
func TestPremultiplyMatchesDraw(t *testing.T) {
	m := image.NewNRGBA(image.Rect(-3, 2, 256+5, 256+2))
	for y := range 256 {
		for x := range 256 {
			i := m.PixOffset(m.Rect.Min.X+x, m.Rect.Min.Y+y)
			m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = uint8(x), uint8(255-x), uint8(rand.IntN(256)), uint8(y)
		}
	}
	for _, part := range []image.Rectangle{m.Rect, image.Rect(-1, 3, 250, 257)} {
		got := premultiply(m, part)
		want := image.NewRGBA(part)
		draw.Draw(want, part, m, part.Min, draw.Src)
		if got.Rect != want.Rect {
			t.Fatalf("bounds %v; want %v", got.Rect, want.Rect)
		}
		for i := range want.Pix {
			if got.Pix[i] != want.Pix[i] {
				t.Fatalf("part %v, byte %d: %d; draw.Draw gives %d", part, i, got.Pix[i], want.Pix[i])
			}
		}
	}
}
