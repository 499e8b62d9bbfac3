package render

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// meanAbsDiffPremul is meanAbsDiff on premultiplied channels, so that the
// colour under (nearly) transparent pixels does not count.
func meanAbsDiffPremul(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Size() != bb.Size() {
		return math.Inf(1)
	}
	pa, pb := image.NewRGBA(image.Rect(0, 0, ab.Dx(), ab.Dy())), image.NewRGBA(image.Rect(0, 0, ab.Dx(), ab.Dy()))
	draw.Draw(pa, pa.Rect, a, ab.Min, draw.Src)
	draw.Draw(pb, pb.Rect, b, bb.Min, draw.Src)
	var sum int64
	for i, v := range pa.Pix {
		d := int64(v) - int64(pb.Pix[i])
		sum += max(d, -d)
	}
	return float64(sum) / float64(len(pa.Pix))
}

type imCase struct {
	mod string   // rendered with &fmt=png-alpha appended unless it has fmt=
	im  []string // ImageMagick arguments between the source and the output
	tol float64  // mean abs diff of premultiplied channels, 0..255
}

// runIMCases renders each case with ipsd and with ImageMagick
// (/usr/bin/convert SRC ARGS... OUT.png) and compares sizes and pixels.
func runIMCases(t *testing.T, src image.Image, cases []imCase) {
	t.Helper()
	if _, err := os.Stat(convert); err != nil {
		t.Skip("ImageMagick not installed")
	}
	dir := t.TempDir()
	srcPath := filepath.Join(dir, "src.png")
	srcBytes := encodePNG(t, src)
	if err := os.WriteFile(srcPath, srcBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, tt := range cases {
		t.Run(tt.mod, func(t *testing.T) {
			t.Parallel()
			mod := tt.mod
			if !containsCmd(mod, "fmt") {
				mod += "&fmt=png-alpha"
			}
			out, info := render(t, srcBytes, mod)
			refPath := filepath.Join(dir, fmt.Sprintf("ref%d.png", i))
			args := append(append([]string{srcPath}, tt.im...), "PNG32:"+refPath)
			if b, err := exec.Command(convert, args...).CombinedOutput(); err != nil {
				t.Fatalf("convert %v: %v\n%s", args, err, b)
			}
			got, want := decodeAny(t, out), decodeAny(t, readFile(t, refPath))
			if got.Bounds().Size() != want.Bounds().Size() || info.Width != want.Bounds().Dx() || info.Height != want.Bounds().Dy() {
				t.Fatalf("Render(%q) is %v (info %dx%d); convert %v gives %v", mod, got.Bounds().Size(), info.Width, info.Height, tt.im, want.Bounds().Size())
			}
			if d := meanAbsDiffPremul(got, want); d > tt.tol {
				t.Errorf("Render(%q) differs from convert %v: mean abs diff %.3f; want ≤ %.1f", mod, tt.im, d, tt.tol)
			}
		})
	}
}

func containsCmd(mod, name string) bool {
	r, err := Parse(mod)
	if err != nil {
		return false
	}
	switch name {
	case "fmt":
		return r.format != ""
	}
	return false
}

// TestGeometryMatchesImageMagick pins the layer and view geometry commands
// (rotate by any angle, extend, size, scale, the seven fit modes, rect,
// rgn, dpr) to ImageMagick doing the same operation.
func TestGeometryMatchesImageMagick(t *testing.T) {
	t.Parallel()
	// 120×80: rotate=30 gives 144×129 (round half up of 143.9×129.3)
	src := testImage(120, 80)
	srt := func(deg float64, w, h int) []string {
		return []string{"-background", "none", "-virtual-pixel", "transparent", "-filter", "point", "-interpolate", "bilinear",
			"-define", fmt.Sprintf("distort:viewport=%dx%d+0+0", w, h),
			"-distort", "SRT", fmt.Sprintf("60,40 1 %g %g,%g", deg, float64(w)/2, float64(h)/2), "+repage"}
	}
	cases := []imCase{
		// rotate: any angle, clockwise, canvas grows, corners transparent
		{"rotate=30&resMode=bilin", srt(30, 144, 129), 3},
		{"rotate=-45&resMode=bilin", srt(-45, 141, 141), 3},
		{"rotate=200&resMode=bilin", srt(200, 140, 116), 3},
		// rotate, then flip on the composite (doc.go, question 3)
		{"rotate=30&flip=lr&resMode=bilin", append(srt(30, 144, 129), "-flop"), 3},
		// corners filled by bgColor, and by bgc when flattened
		{"rotate=30&bgColor=255,0,0&resMode=bilin", append(srt(30, 144, 129), "-background", "red", "-flatten"), 3},
		{"rotate=30&resMode=bilin&fmt=png&bgc=0,0,255", append(srt(30, 144, 129), "-background", "blue", "-flatten"), 3},
		// extend: margins after crop and rotate, negative ones crop
		{"extend=5,10,15,20&bgColor=255,0,0", []string{"-background", "red", "-gravity", "northwest", "-splice", "5x10",
			"-gravity", "southeast", "-splice", "15x20"}, 0},
		{"extend=5,10,15,20", []string{"-background", "none", "-gravity", "northwest", "-splice", "5x10",
			"-gravity", "southeast", "-splice", "15x20"}, 0},
		{"extend=-10,0,0,-5", []string{"-gravity", "west", "-chop", "10x0", "-gravity", "south", "-chop", "0x5"}, 0},
		{"extendN=.1,.1,.1,.1&bgColor=0,255,0", []string{"-bordercolor", "lime", "-border", "12x8"}, 0},
		{"cropN=.2,.3,.8,.9&extend=5,5,5,5&bgColor=255,0,0", []string{"-crop", "96x56+24+24", "+repage",
			"-background", "red", "-gravity", "northwest", "-extent", "96x72", "-bordercolor", "red", "-border", "5x5"}, 0},
		{"extend=10,0,0,0&flip=lr&bgColor=255,0,0", []string{"-background", "red", "-gravity", "west", "-splice", "10x0", "-flop"}, 0},
		{"rotate=90&extend=0,0,10,0", []string{"-rotate", "90", "-background", "none", "-gravity", "east", "-splice", "10x0"}, 0},
		// crop overhang is transparent, filled by color= before rotate
		{"crop=-10,-10,140,100&color=0,0,255", []string{"-background", "blue", "-gravity", "center", "-extent", "140x100"}, 0},
		{"crop=-10,-10,140,100", []string{"-background", "none", "-gravity", "center", "-extent", "140x100"}, 0},
		{"cropN=-.1,-.25,1.2,1.5", []string{"-background", "none", "-gravity", "center", "-extent", "144x120"}, 0},
		// overhang and scaling: the crop with its transparent margin, then one resampling
		{"cropN=-.1,0,1.2,1&wid=90&resMode=bilin", []string{"-background", "none", "-gravity", "center", "-extent", "144x80",
			"-filter", "Triangle", "-resize", "90x50!"}, 0.5},
		{"crop=-7,-3,127,83&wid=50&resMode=bicub", []string{"-background", "none", "-gravity", "northwest", "-splice", "7x3",
			"-extent", "127x83", "-filter", "Catrom", "-resize", "50x33!"}, 0.5},
		{"cropN=.5,.5,1,1&bgColor=255,0,0", []string{"-crop", "60x40+60+40", "+repage", "-background", "red",
			"-gravity", "northwest", "-extent", "120x80"}, 0},
		// size= and scale= scale the layer
		{"size=60,60&resMode=bicub", []string{"-filter", "Catrom", "-resize", "60x40!"}, 1.5},
		{"size=0,20&resMode=bicub", []string{"-filter", "Catrom", "-resize", "30x20!"}, 1.5},
		{"scale=.5&resMode=bicub", []string{"-filter", "Catrom", "-resize", "60x40!"}, 1.5},
		{"scale=.5&rotate=90&resMode=bicub", []string{"-filter", "Catrom", "-resize", "60x40!", "-rotate", "90"}, 1.5},
		// the fit modes
		{"wid=60&hei=60&fit=wrap&resMode=bicub", []string{"-filter", "Catrom", "-resize", "90x60!"}, 1.5},
		{"wid=50&hei=70&fit=stretch&resMode=bicub", []string{"-filter", "Catrom", "-resize", "50x70!"}, 1.5},
		{"wid=60&hei=60&fit=hfit&resMode=bicub&fmt=png", []string{"-filter", "Catrom", "-resize", "60x40!",
			"-background", "white", "-gravity", "center", "-extent", "60x60"}, 1.5},
		{"wid=60&hei=60&fit=vfit&resMode=bicub", []string{"-filter", "Catrom", "-resize", "90x60!",
			"-gravity", "center", "-extent", "60x60"}, 1.5},
		{"wid=60&hei=60&fit=vfit,0&align=1,1&resMode=bicub", []string{"-filter", "Catrom", "-resize", "90x60!",
			"-gravity", "east", "-extent", "60x60"}, 1.5},
		{"wid=240&hei=240&fit=fit&fmt=png", []string{"-background", "white", "-gravity", "center", "-extent", "240x240"}, 0},
		{"wid=240&hei=240&fit=constrain", nil, 0},
		{"wid=240&hei=240&fit=crop,1&resMode=bicub", []string{"-filter", "Catrom", "-resize", "360x240!",
			"-gravity", "center", "-extent", "240x240"}, 1.5},
		{"wid=240&hei=240&fmt=png&resMode=bicub", []string{"-filter", "Catrom", "-resize", "240x160!",
			"-background", "white", "-gravity", "center", "-extent", "240x240"}, 1.5},
		{"wid=20&hei=60&fit=stretch,0&resMode=bicub", []string{"-filter", "Catrom", "-resize", "20x60!"}, 1.5},
		// rect: a tile of the view, with an optional extra scale
		{"rect=10,20,50,30", []string{"-crop", "50x30+10+20", "+repage"}, 0},
		{"rect=100,60,40,40&fmt=png&bgc=ff0000", []string{"-crop", "20x20+100+60", "+repage",
			"-background", "red", "-gravity", "northwest", "-extent", "40x40"}, 0},
		{"rect=0,0,60,40,.5&resMode=bicub", []string{"-filter", "Catrom", "-resize", "60x40!"}, 1.5},
		{"wid=60&rect=0,0,30,40&resMode=bicub", []string{"-filter", "Catrom", "-resize", "60x40!", "-crop", "30x40+0+0", "+repage"}, 1.5},
		// rgn: region of interest before view scaling
		{"rgn=10,10,50,40", []string{"-crop", "50x40+10+10", "+repage"}, 0},
		{"rgn=10,10,50,40&wid=25&resMode=bicub", []string{"-crop", "50x40+10+10", "+repage", "-filter", "Catrom", "-resize", "25x20!"}, 1.5},
		// a view larger than the scaled region shows more of the composite
		{"rgn=10,20,50,40&wid=100&hei=100&resMode=bicub", []string{"-filter", "Catrom", "-resize", "240x160!",
			"-crop", "100x100+20+30", "+repage"}, 1.5},
		// and bgc where it runs past the composite (the region scales to 100×67, 17 rows down)
		{"rgn=0,0,60,40&wid=100&hei=100&resMode=bicub&fmt=png&bgc=ff0000", []string{"-filter", "Catrom", "-resize", "200x134!",
			"-crop", "100x83+0+0", "+repage", "-background", "red", "-gravity", "south", "-extent", "100x100"}, 1.5},
		// dpr=on,N multiplies the requested size
		{"dpr=on,2&wid=60&resMode=bicub", nil, 0},
	}
	runIMCases(t, src, cases)
}

// TestAlphaMatchesImageMagick resamples, rotates and flattens a source
// with transparent and half-transparent areas, against ImageMagick (whose
// -resize weighs colour by alpha, as premultiplied resampling does).
func TestAlphaMatchesImageMagick(t *testing.T) {
	t.Parallel()
	src := testImage(120, 80)
	for y := range 80 {
		for x := range 120 {
			switch dx, dy := x-80, y-40; {
			case dx*dx+dy*dy < 400:
				src.SetNRGBA(x, y, color.NRGBA{0, 0, 0, 0})
			case y > 60:
				c := src.NRGBAAt(x, y)
				c.A = uint8(2 * x)
				src.SetNRGBA(x, y, c)
			}
		}
	}
	srt := []string{"-background", "none", "-virtual-pixel", "transparent", "-filter", "point", "-interpolate", "bilinear",
		"-define", "distort:viewport=144x129+0+0", "-distort", "SRT", "60,40 1 30 72,64.5", "+repage"}
	runIMCases(t, src, []imCase{
		{"wid=50&resMode=bicub", []string{"-filter", "Catrom", "-resize", "50x33!"}, 1},
		{"wid=50&resMode=sharp2", []string{"-filter", "Lanczos", "-resize", "50x33!"}, 1},
		{"wid=300&resMode=bilin", []string{"-filter", "Triangle", "-resize", "300x200!"}, 1},
		{"wid=50&resMode=bicub&fmt=png&bgc=ff0000", []string{"-filter", "Catrom", "-resize", "50x33!", "-background", "red", "-flatten"}, 1},
		// color= fills the source's transparency before rotate, not the new corners
		{"rotate=30&color=0,0,255&resMode=bilin", append([]string{"-background", "blue", "-flatten"}, srt...), 3},
		{"rotate=30&bgColor=0,0,255&resMode=bilin", append(srt, "-background", "blue", "-flatten"), 3},
	})
}

// TestEffectsMatchImageMagick compares the composite colour and filter
// operations with ImageMagick computing the same thing.
func TestEffectsMatchImageMagick(t *testing.T) {
	t.Parallel()
	src := testImage(96, 64)
	cases := []imCase{
		{"op_brightness=45", []string{"-brightness-contrast", "45x0"}, 1},
		{"op_brightness=-30", []string{"-brightness-contrast", "-30x0"}, 1},
		{"op_contrast=-35", []string{"-brightness-contrast", "0x-35"}, 1},
		{"op_contrast=40", []string{"-brightness-contrast", "0x40"}, 1},
		{"op_saturation=-60&op_brightness=45&op_contrast=-35", []string{"-brightness-contrast", "45x0",
			"-brightness-contrast", "0x-35", "-modulate", "100,40,100"}, 1},
		{"op_saturation=-100", []string{"-modulate", "100,0,100"}, 1},
		{"op_saturation=50", []string{"-modulate", "100,150,100"}, 1},
		{"op_hue=60", []string{"-modulate", "100,100,133.33333"}, 1},
		{"op_hue=-120", []string{"-modulate", "100,100,33.33333"}, 1},
		{"op_colorbalance=20,-10,0", []string{"-channel", "R", "-evaluate", "add", "20%",
			"-channel", "G", "-evaluate", "subtract", "10%", "+channel"}, 1},
		{"op_invert=1", []string{"-negate"}, 0},
		{"op_blur=2", []string{"-gaussian-blur", "0x2"}, 1},
		{"op_grow=2", []string{"-morphology", "Dilate", "Square:2"}, 0},
		{"op_grow=-1", []string{"-morphology", "Erode", "Square:1"}, 0},
		{"op_colorize=ff8000,off", []string{"-fx",
			"yy=0.299*u.r+0.587*u.g+0.114*u.b; kk=channel(1.0,0.50196,0,1); yy<0.5 ? 2*yy*kk : kk+(2*yy-1)*(1-kk)"}, 1},
		{"opac=50", []string{"-alpha", "set", "-channel", "A", "-evaluate", "multiply", "0.5", "+channel"}, 1},
		{"opac=50,50&fmt=png&bgc=0,0,0", []string{"-alpha", "set", "-channel", "A", "-evaluate", "multiply", "0.25", "+channel",
			"-background", "black", "-flatten"}, 1},
		// effects run on the composite, before view scaling
		{"op_invert=1&wid=48&resMode=bicub", []string{"-negate", "-filter", "Catrom", "-resize", "48x32!"}, 1.5},
	}
	// op_colorize's norm: the gamma that takes the median Rec. 601
	// luminance to 50 %, worked out here on a darkened image; ImageMagick
	// applies it
	dark := testImage(96, 64)
	for i := range dark.Pix {
		if i%4 != 3 {
			dark.Pix[i] /= 2
		}
	}
	var hist [256]int
	for i := 0; i < len(dark.Pix); i += 4 {
		p := dark.Pix[i:]
		hist[clamp8(0.299*float64(p[0])+0.587*float64(p[1])+0.114*float64(p[2]))]++
	}
	med, acc := 0, 0
	for i, h := range hist {
		if acc += h; 2*acc >= 96*64 {
			med = i
			break
		}
	}
	gamma := math.Log(0.5) / math.Log(float64(med)/255)
	if math.Abs(gamma-1) < 0.15 {
		t.Fatalf("median luminance %d: norm would look like off on this image", med)
	}
	colorizeFx := func(k float64) []string {
		return []string{"-fx", fmt.Sprintf("yy=pow(0.299*u.r+0.587*u.g+0.114*u.b, %g); ll=min(1,max(0,(yy-0.5)*%g+0.5)); "+
			"kk=channel(0.2,0.6,1,1); ll<0.5 ? 2*ll*kk : kk+(2*ll-1)*(1-kk)", gamma, k)}
	}
	runIMCases(t, dark, []imCase{
		{"op_colorize=51,153,255", colorizeFx(1), 1},
		{"op_colorize=51,153,255,norm,60", colorizeFx(1.6), 1},
	})
	runIMCases(t, src, cases)
}

func TestNoise(t *testing.T) {
	t.Parallel()
	grey := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for i := range grey.Pix {
		grey.Pix[i] = 128
	}
	for i := 3; i < len(grey.Pix); i += 4 {
		grey.Pix[i] = 255
	}
	src := encodePNG(t, grey)
	for _, tt := range []struct {
		mod     string
		wantStd float64 // per channel, 0..255
		mono    bool
	}{
		{"op_noise=10", 255 * 0.10 / math.Sqrt(3), false}, // uniform ±A
		{"op_noise=10,gaussian", 255 * 0.10 / 2, false},   // sigma A/2
		{"op_noise=20,uniform,1", 255 * 0.20 / math.Sqrt(3), true},
	} {
		a, _ := render(t, src, tt.mod+"&fmt=png")
		b, _ := render(t, src, tt.mod+"&fmt=png")
		if string(a) != string(b) {
			t.Errorf("%s: two renders differ; noise must be reproducible", tt.mod)
		}
		m := decodeAny(t, a)
		var sum, sq float64
		n := 0
		monoOK := true
		for y := range 64 {
			for x := range 64 {
				c := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA)
				v := float64(c.R) - 128
				sum += v
				sq += v * v
				n++
				if c.R != c.G || c.G != c.B {
					monoOK = false
				}
			}
		}
		mean, std := sum/float64(n), math.Sqrt(sq/float64(n))
		if math.Abs(mean) > 1.5 || math.Abs(std-tt.wantStd)/tt.wantStd > 0.1 {
			t.Errorf("%s: noise mean %.2f, std %.2f; want 0 and %.2f", tt.mod, mean, std, tt.wantStd)
		}
		if monoOK != tt.mono {
			t.Errorf("%s: channels equal = %v; want %v", tt.mod, monoOK, tt.mono)
		}
	}
}

// TestColorizeNorm checks that norm moves the median brightness to 50 %:
// the median-luminance pixels come out as the colour itself.
func TestColorizeNorm(t *testing.T) {
	t.Parallel()
	m := image.NewGray(image.Rect(0, 0, 64, 1))
	for x := range 64 {
		m.Pix[x] = uint8(x) // dark: median 32
	}
	out, _ := render(t, encodePNG(t, m), "op_colorize=0,0,255&fmt=png")
	g := decodeAny(t, out)
	c := color.NRGBAModel.Convert(g.At(32, 0)).(color.NRGBA)
	if c.R > 3 || c.G > 3 || c.B < 250 {
		t.Errorf("median pixel colorized to %v; want the colour 0,0,255", c)
	}
	if c := color.NRGBAModel.Convert(g.At(0, 0)).(color.NRGBA); c != (color.NRGBA{0, 0, 0, 255}) {
		t.Errorf("black colorized to %v; want black", c)
	}
}

// TestOpenQuestions pins each decision doc.go takes on the open questions
// of image-serving.md §7, numbered as there.
func TestOpenQuestions(t *testing.T) {
	t.Parallel()
	src := encodePNG(t, testImage(100, 50))
	size := func(t *testing.T, src []byte, mod string, w, h int) {
		t.Helper()
		_, info := render(t, src, mod+"&fmt=tif")
		if info.Width != w || info.Height != h {
			t.Errorf("%s gives %dx%d; want %dx%d", mod, info.Width, info.Height, w, h)
		}
	}
	t.Run("1 wid and hei without fit enlarge", func(t *testing.T) {
		size(t, src, "wid=300&hei=300", 300, 300)
		size(t, src, "wid=300", 300, 150)
		size(t, src, "hei=200", 400, 200)
		// both behave as fit=fit,1: the scaled image fills the width
		a, _ := render(t, src, "wid=300&hei=300&fmt=tif")
		b, _ := render(t, src, "wid=300&hei=300&fit=fit,1&fmt=tif")
		if !bytes.Equal(a, b) {
			t.Error("wid=300&hei=300 differs from fit=fit,1")
		}
	})
	t.Run("2 fit upscale defaults to 0 for every mode", func(t *testing.T) {
		for _, tt := range []struct {
			mode       string
			w, h       int // with the default ,0
			w1, h1     int // with ,1
			unscaledAt image.Point
		}{
			{"fit", 300, 300, 300, 300, image.Pt(100, 125)}, // padded, not enlarged
			{"constrain", 100, 50, 300, 150, image.Pt(0, 0)},
			{"crop", 300, 300, 300, 300, image.Pt(100, 125)}, // even crop pads when it may not enlarge
			{"wrap", 100, 50, 600, 300, image.Pt(0, 0)},
			{"stretch", 100, 50, 300, 300, image.Pt(0, 0)}, // each axis clamped
			{"hfit", 300, 300, 300, 300, image.Pt(100, 125)},
			{"vfit", 300, 300, 300, 300, image.Pt(100, 125)},
		} {
			size(t, src, "wid=300&hei=300&fit="+tt.mode, tt.w, tt.h)
			size(t, src, "wid=300&hei=300&fit="+tt.mode+",0", tt.w, tt.h)
			size(t, src, "wid=300&hei=300&fit="+tt.mode+",1", tt.w1, tt.h1)
			// unscaled: the source's top-left pixel lands at unscaledAt
			out, _ := render(t, src, "wid=300&hei=300&fmt=tif-alpha&fit="+tt.mode)
			m := decodeAny(t, out)
			want := testImage(100, 50).NRGBAAt(0, 0)
			if got := color.NRGBAModel.Convert(m.At(tt.unscaledAt.X, tt.unscaledAt.Y)).(color.NRGBA); got != want {
				t.Errorf("fit=%s: pixel at %v is %v; want the unscaled source's %v", tt.mode, tt.unscaledAt, got, want)
			}
		}
	})
	t.Run("3 rotate before flip", func(t *testing.T) {
		// flip∘rotate(θ) = rotate(−θ)∘flip: the orders differ for 90 and 30
		for _, tt := range []struct {
			mod       string
			doc, othr []string
		}{
			{"rotate=90&flip=lr", []string{"-rotate", "90", "-flop"}, []string{"-flop", "-rotate", "90"}},
			{"flip=ud&rotate=90", []string{"-rotate", "90", "-flip"}, []string{"-flip", "-rotate", "90"}},
		} {
			out, _ := render(t, src, tt.mod+"&fmt=tif")
			got := decodeAny(t, out)
			if d := meanAbsDiffPremul(got, imRender(t, src, tt.doc...)); d != 0 {
				t.Errorf("%s differs from convert %v by %.2f", tt.mod, tt.doc, d)
			}
			if d := meanAbsDiffPremul(got, imRender(t, src, tt.othr...)); d < 10 {
				t.Errorf("%s is close to convert %v (%.2f): the test cannot tell the orders apart", tt.mod, tt.othr, d)
			}
		}
	})
	t.Run("4 canonical order of the composite operations", func(t *testing.T) {
		// brightness, then contrast, whatever the order in the string
		a, _ := render(t, src, "op_contrast=50&op_brightness=30&fmt=tif")
		b, _ := render(t, src, "op_brightness=30&op_contrast=50&fmt=tif")
		if !bytes.Equal(a, b) {
			t.Error("the order of op_ commands in the string changed the output")
		}
		got := decodeAny(t, a)
		if d := meanAbsDiffPremul(got, imRender(t, src, "-brightness-contrast", "30x0", "-brightness-contrast", "0x50")); d > 1 {
			t.Errorf("brightness then contrast: %.2f from ImageMagick", d)
		}
		if d := meanAbsDiffPremul(got, imRender(t, src, "-brightness-contrast", "0x50", "-brightness-contrast", "30x0")); d < 5 {
			t.Errorf("contrast then brightness is only %.2f away: the test cannot tell the orders apart", d)
		}
		// invert after colour ops, before blur: invert∘saturation is checked against ImageMagick
		c, _ := render(t, src, "op_invert=1&op_saturation=-100&fmt=tif")
		if d := meanAbsDiffPremul(decodeAny(t, c), imRender(t, src, "-modulate", "100,0,100", "-negate")); d > 1 {
			t.Errorf("saturation then invert: %.2f from ImageMagick", d)
		}
	})
	t.Run("5 op_usm radius in output pixels, op_usmR the same", func(t *testing.T) {
		// TestSharpenMatchesImageMagick compares both with ImageMagick after a resize
		a, _ := render(t, src, "wid=50&op_usm=1.5,2,3&fmt=tif")
		b, _ := render(t, src, "wid=50&op_usmR=1.5,2,3&fmt=tif")
		if !bytes.Equal(a, b) {
			t.Error("op_usm and op_usmR differ after view scaling")
		}
	})
	t.Run("6 round half up", func(t *testing.T) {
		size(t, src, "wid=3", 3, 2)                 // 1.5 -> 2
		size(t, src, "scl=4", 25, 13)               // 12.5 -> 13
		size(t, src, "scl=8", 13, 6)                // 12.5 -> 13, 6.25 -> 6
		size(t, src, "rotate=45", 106, 106)         // 106.07
		size(t, src, "extendN=.005,0,0,0", 101, 50) // 0.5 -> 1
		size(t, src, "cropN=0,0,.255,.5", 26, 25)   // 25.5 -> 26
	})
	t.Run("7 unknown commands and invalid values are faults", func(t *testing.T) {
		for _, mod := range []string{"foo=1", "wid=abc", "fit=banana&wid=1", "qlt=101"} {
			var ce *CommandError
			if _, err := Parse(mod); !errors.As(err, &ce) {
				t.Errorf("Parse(%q) = %v; want a *CommandError", mod, err)
			}
		}
	})
	t.Run("8 no DefaultPix, MaxPix or 16 MP render cap", func(t *testing.T) {
		wide := encodePNG(t, testImage(3200, 10))
		size(t, wide, "op_sharpen=0", 3200, 10) // DefaultPix 1280 would shrink it, MaxPix 3000 refuse it
		size(t, src, "wid=3100&hei=40", 3100, 40)
		r, _ := Parse("wid=5000&hei=4000&fit=stretch,1")
		if p, err := makePlan(100, 50, 1, r, testLimits); err != nil || p.vw*p.vh <= 16<<20 {
			t.Errorf("plan %dx%d, %v; want over 16 MP, bounded only by Limits", p.vw, p.vh, err)
		}
	})
	t.Run("9 EXIF orientation applied on load", func(t *testing.T) {
		path := filepath.Join(corpus, "orientation", "Landscape_6.jpg")
		if _, err := os.Stat(path); err != nil {
			t.Skip("corpus not available")
		}
		o := readFile(t, path)
		up := readFile(t, filepath.Join(corpus, "orientation", "Landscape_1.jpg"))
		_, info := render(t, up, "wid=300&fmt=tif")
		size(t, o, "wid=300", info.Width, info.Height) // stored as portrait, upright as landscape
		size(t, o, "crop=0,0,200,100", 200, 100)       // crops read in the upright frame
		a, _ := render(t, o, "crop=0,0,200,100&fmt=tif")
		b, _ := render(t, up, "crop=0,0,200,100&fmt=tif")
		if d := meanAbsDiffPremul(decodeAny(t, a), decodeAny(t, b)); d > 3 {
			t.Errorf("crop of Landscape_6 differs from the same crop of Landscape_1 by %.2f", d)
		}
	})
}
