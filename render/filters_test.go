package render

import (
	"image"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// imRender runs `convert SRC ARGS... PNG32:OUT` on the PNG src and returns
// the result.
func imRender(t *testing.T, src []byte, args ...string) image.Image {
	t.Helper()
	if _, err := os.Stat(convert); err != nil {
		t.Skip("ImageMagick not installed")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.png"), filepath.Join(dir, "out.png")
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	a := append(append([]string{in}, args...), "PNG32:"+out)
	if b, err := exec.Command(convert, a...).CombinedOutput(); err != nil {
		t.Fatalf("convert %v: %v\n%s", a, err, b)
	}
	return decodeAny(t, readFile(t, out))
}

// edgy is a test image with hard edges and fine detail, where resampling
// kernels differ visibly.
func edgy(w, h int) *image.NRGBA {
	m := testImage(w, h)
	for y := range h {
		for x := range w {
			if (x/3+y/5)%2 == 0 && x > w/2 {
				m.SetNRGBA(x, y, color.NRGBA{20, 30, 200, 255})
			}
		}
	}
	return m
}

// TestResModeMapping pins the resMode → kernel mapping doc.go settles:
// bilin and trilin are ImageMagick's Triangle, bicub and bisharp Catrom,
// sharp2, sharp and the default Lanczos (3 lobes), each compared with
// `convert SRC -filter F -resize WxH! OUT` for a reduction and an
// enlargement. The kernels differ from each other by more than twice the
// tolerance, so a wrong mapping fails.
func TestResModeMapping(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, edgy(240, 160))
	filters := map[string]string{
		"bilin": "Triangle", "trilin": "Triangle", "bicub": "Catrom", "bisharp": "Catrom",
		"sharp2": "Lanczos", "sharp": "Lanczos", "": "Lanczos",
	}
	// ipsd's fixed-point resampler is within about 0.1 of ImageMagick
	const tol = 0.4
	for _, size := range [][2]int{{77, 51}, {400, 267}} {
		refs := map[string]image.Image{}
		for _, f := range []string{"Triangle", "Catrom", "Lanczos"} {
			refs[f] = imRender(t, src, "-filter", f, "-resize", itoa(size[0])+"x"+itoa(size[1])+"!")
		}
		for a, ra := range refs {
			for b, rb := range refs {
				if d := meanAbsDiffPremul(ra, rb); a < b && d < 2*tol {
					t.Fatalf("%v: ImageMagick's %s and %s differ by only %.2f: the test image cannot tell them apart", size, a, b, d)
				}
			}
		}
		for mode, f := range filters {
			mod := "wid=" + itoa(size[0]) + "&fmt=png"
			if mode != "" {
				mod += "&resMode=" + mode
			}
			out, _ := render(t, src, mod)
			if d := meanAbsDiffPremul(decodeAny(t, out), refs[f]); d > tol {
				t.Errorf("%s: mean abs diff %.2f from ImageMagick's -filter %s; want ≤ %.1f", mod, d, f, tol)
			}
		}
	}
}

func itoa(n int) string { return ftoa(float64(n)) }

// TestSharpenMatchesImageMagick compares op_sharpen, op_usm and op_usmR
// with ImageMagick computing the same thing, before and after view
// scaling (open question 5: radii are in output pixels).
func TestSharpenMatchesImageMagick(t *testing.T) {
	t.Parallel()
	src, smooth := encodePNG(t, edgy(120, 80)), encodePNG(t, testImage(120, 80))
	// op_sharpen: each pixel pushed away from the mean of its four neighbours
	sharpenKernel := []string{"-define", "convolve:scale=1", "-morphology", "Convolve", "3x3: 0,-0.25,0 -0.25,2,-0.25 0,-0.25,0"}
	for _, tt := range []struct {
		mod string
		im  []string
		tol float64
	}{
		{"op_sharpen=1", sharpenKernel, 0.6},
		// ImageMagick's threshold is a fraction of the range compared with
		// twice the difference: ipsd's 10 levels are 20/255
		{"op_usm=1.5,2", []string{"-unsharp", "0x2+1.5+0"}, 1},
		{"op_usm=.9,1", []string{"-unsharp", "0x1+0.9+0"}, 1},
		{"op_usm=3,1.5,10", []string{"-unsharp", "0x1.5+3+0.0784314"}, 0.5},
		{"op_usmR=1.5,2", []string{"-unsharp", "0x2+1.5+0"}, 1},
		// luminance only: the Y of Rec. 601 YCbCr, the same delta on R, G, B
		// (on the smooth image: ImageMagick clamps Y before going back to RGB)
		{"op_usm=2,1.5,0,1", []string{"-colorspace", "YCbCr", "-channel", "R", "-unsharp", "0x1.5+2+0", "+channel", "-colorspace", "sRGB"}, 0.5},
		// after view scaling, radius in output pixels, for both commands
		{"wid=60&resMode=bicub&op_usm=1.5,2", []string{"-filter", "Catrom", "-resize", "60x40!", "-unsharp", "0x2+1.5+0"}, 1},
		{"wid=60&resMode=bicub&op_usmR=1.5,2", []string{"-filter", "Catrom", "-resize", "60x40!", "-unsharp", "0x2+1.5+0"}, 1},
		{"wid=60&resMode=bicub&op_sharpen=1", append([]string{"-filter", "Catrom", "-resize", "60x40!"}, sharpenKernel...), 1},
	} {
		src := src
		if strings.HasSuffix(tt.mod, ",1") {
			src = smooth
		}
		out, _ := render(t, src, tt.mod+"&fmt=png")
		want := imRender(t, src, tt.im...)
		if d := meanAbsDiffPremul(decodeAny(t, out), want); d > tt.tol {
			t.Errorf("%s: mean abs diff %.2f from convert %v; want ≤ %.1f", tt.mod, d, tt.im, tt.tol)
		}
	}
}
