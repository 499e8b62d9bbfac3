package render

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/image/draw"
)

// TestScaleIntoMatchesXImageDraw compares scaleInto (our fixed-point
// separable resampler) with golang.org/x/image/draw's Kernel.Scale, an
// independent float implementation, on RGBA, NRGBA and 4:2:0 YCbCr
// sources, whole and cropped.
func TestScaleIntoMatchesXImageDraw(t *testing.T) {
	const w, h = 150, 100
	nrgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			nrgba.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y * 2), uint8(128 + 100*math.Sin(float64(x+y)/5)), 255})
		}
	}
	ycc := image.NewYCbCr(nrgba.Rect, image.YCbCrSubsampleRatio420)
	rgba := image.NewRGBA(nrgba.Rect)
	draw.Draw(rgba, rgba.Rect, nrgba, image.Point{}, draw.Src)
	for y := range h {
		for x := range w {
			c := rgba.RGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)] = yy
			ycc.Cb[ycc.COffset(x, y)] = cb
			ycc.Cr[ycc.COffset(x, y)] = cr
		}
	}
	for name, src := range map[string]image.Image{"nrgba": nrgba, "rgba": rgba, "ycc": ycc} {
		for _, c := range []struct{ sr, dr image.Rectangle }{
			{nrgba.Rect, image.Rect(0, 0, 40, 27)},
			{image.Rect(10, 10, 60, 50), image.Rect(0, 0, 40, 27)},
			{nrgba.Rect, image.Rect(-20, -5, 40, 27)}, // partly outside dst: same mapping, clipped
		} {
			sr, dr := c.sr, c.dr
			ref := image.NewRGBA(image.Rect(0, 0, 40, 27))
			draw.CatmullRom.Scale(ref, dr, src, sr, draw.Src, nil)
			got := image.NewRGBA(ref.Rect)
			scaleInto(got, dr, src, sr, 8, draw.CatmullRom)
			var sum float64
			for i := range got.Pix {
				sum += math.Abs(float64(got.Pix[i]) - float64(ref.Pix[i]))
			}
			// YCbCr: we interpolate chroma, x/image/draw takes the nearest sample
			if d := sum / float64(len(got.Pix)); d > 1 {
				t.Errorf("%s %v: mean difference %.2f from x/image/draw", name, sr, d)
			}
		}
	}
}

// TestShrinkOnLoadMatchesImageMagick renders a JPEG small enough to be
// decoded at 1/4 (DCT scaling) and compares it with ImageMagick resizing
// the full-size decode: convert SRC -filter Lanczos -resize 150x out.png.
func TestShrinkOnLoadMatchesImageMagick(t *testing.T) {
	src, err := os.ReadFile("../../shared/corpus/photos/DSCN0010.jpg")
	if err != nil {
		t.Skip("corpus photo not found")
	}
	if _, err := os.Stat("/usr/bin/convert"); err != nil {
		t.Skip("ImageMagick not installed")
	}
	r, err := Parse("wid=150&fmt=png")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, eighths, _, err := decodeScaled(src, "jpeg", r, Limits{}); err != nil || eighths != 2 {
		t.Fatalf("decodeScaled: scale %d/8, %v; want 2/8", eighths, err)
	}
	var got bytes.Buffer
	if _, err := Render(context.Background(), src, r, Limits{}, &got); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jpg"), filepath.Join(dir, "ref.png")
	if err := os.WriteFile(in, src, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("/usr/bin/convert", in, "-filter", "Lanczos", "-resize", "150x", out).CombinedOutput(); err != nil {
		t.Fatalf("convert: %v: %s", err, b)
	}
	refData, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := png.Decode(bytes.NewReader(refData))
	if err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(&got)
	if err != nil {
		t.Fatal(err)
	}
	if m.Bounds() != ref.Bounds() {
		t.Fatalf("size %v, ImageMagick %v", m.Bounds(), ref.Bounds())
	}
	a, b := image.NewRGBA(m.Bounds()), image.NewRGBA(m.Bounds())
	draw.Draw(a, a.Rect, m, image.Point{}, draw.Src)
	draw.Draw(b, b.Rect, ref, image.Point{}, draw.Src)
	var sum float64
	for i := range a.Pix {
		sum += math.Abs(float64(a.Pix[i]) - float64(b.Pix[i]))
	}
	// vipsthumbnail -s 150x (also shrink-on-load 1/4) is 2.9 levels from
	// the same reference (compare -metric MAE); a wrong mapping is >10
	if d := sum / float64(len(a.Pix)); d > 4 {
		t.Errorf("mean difference %.2f from ImageMagick's full-size Lanczos resize", d)
	}
}
