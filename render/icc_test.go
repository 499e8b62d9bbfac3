package render

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipsd/ipsd/render/internal/turbojpeg"
)

const (
	iccDir   = "/usr/share/color/icc/colord"
	gsCMYK   = "/usr/share/color/icc/ghostscript/default_cmyk.icc"
	identify = "/usr/bin/identify"
)

// srgbToLab converts 8-bit sRGB to CIE L*a*b* (D65).
func srgbToLab(r, g, b uint32) [3]float64 {
	lin := func(v uint32) float64 {
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	R, G, B := lin(r), lin(g), lin(b)
	x := (0.4124564*R + 0.3575761*G + 0.1804375*B) / 0.95047
	y := 0.2126729*R + 0.7151522*G + 0.0721750*B
	z := (0.0193339*R + 0.1191920*G + 0.9503041*B) / 1.08883
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	fx, fy, fz := f(x), f(y), f(z)
	return [3]float64{116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)}
}

// ciede2000 is the CIEDE2000 colour difference (Sharma, Wu, Dalal 2005).
func ciede2000(l1, l2 [3]float64) float64 {
	deg := math.Pi / 180
	C1, C2 := math.Hypot(l1[1], l1[2]), math.Hypot(l2[1], l2[2])
	Cm := (C1 + C2) / 2
	G := 0.5 * (1 - math.Sqrt(math.Pow(Cm, 7)/(math.Pow(Cm, 7)+math.Pow(25, 7))))
	a1, a2 := (1+G)*l1[1], (1+G)*l2[1]
	c1, c2 := math.Hypot(a1, l1[2]), math.Hypot(a2, l2[2])
	h := func(b, a float64) float64 {
		if a == 0 && b == 0 {
			return 0
		}
		v := math.Atan2(b, a) / deg
		if v < 0 {
			v += 360
		}
		return v
	}
	h1, h2 := h(l1[2], a1), h(l2[2], a2)
	dL, dC := l2[0]-l1[0], c2-c1
	var dh float64
	switch {
	case c1*c2 == 0:
	case math.Abs(h2-h1) <= 180:
		dh = h2 - h1
	case h2-h1 > 180:
		dh = h2 - h1 - 360
	default:
		dh = h2 - h1 + 360
	}
	dH := 2 * math.Sqrt(c1*c2) * math.Sin(dh/2*deg)
	Lm, cm := (l1[0]+l2[0])/2, (c1+c2)/2
	var hm float64
	switch {
	case c1*c2 == 0:
		hm = h1 + h2
	case math.Abs(h1-h2) <= 180:
		hm = (h1 + h2) / 2
	case h1+h2 < 360:
		hm = (h1 + h2 + 360) / 2
	default:
		hm = (h1 + h2 - 360) / 2
	}
	T := 1 - 0.17*math.Cos((hm-30)*deg) + 0.24*math.Cos(2*hm*deg) + 0.32*math.Cos((3*hm+6)*deg) - 0.20*math.Cos((4*hm-63)*deg)
	dTheta := 30 * math.Exp(-math.Pow((hm-275)/25, 2))
	Rc := 2 * math.Sqrt(math.Pow(cm, 7)/(math.Pow(cm, 7)+math.Pow(25, 7)))
	Sl := 1 + 0.015*math.Pow(Lm-50, 2)/math.Sqrt(20+math.Pow(Lm-50, 2))
	Sc := 1 + 0.045*cm
	Sh := 1 + 0.015*cm*T
	Rt := -math.Sin(2*dTheta*deg) * Rc
	return math.Sqrt(math.Pow(dL/Sl, 2) + math.Pow(dC/Sc, 2) + math.Pow(dH/Sh, 2) + Rt*(dC/Sc)*(dH/Sh))
}

func meanDeltaE(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Size() != bb.Size() {
		return math.Inf(1)
	}
	var sum float64
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			r1, g1, b1, _ := a.At(ab.Min.X+x, ab.Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(bb.Min.X+x, bb.Min.Y+y).RGBA()
			sum += ciede2000(srgbToLab(r1>>8, g1>>8, b1>>8), srgbToLab(r2>>8, g2>>8, b2>>8))
		}
	}
	return sum / float64(ab.Dx()*ab.Dy())
}

func runIM(t *testing.T, args ...string) {
	t.Helper()
	if b, err := exec.Command(convert, args...).CombinedOutput(); err != nil {
		t.Fatalf("convert %v: %v\n%s", args, err, b)
	}
}

// TestICCToSRGB renders JPEGs in Adobe RGB, ProPhoto RGB and CMYK (made
// here with ImageMagick from a corpus photo) and compares them with
// ImageMagick's `convert SRC -intent relative -profile sRGB.icc`: mean
// CIEDE2000 below 2. The unconverted pixels are far off, so the test
// fails without colour management.
func TestICCToSRGB(t *testing.T) {
	t.Parallel()
	photo := filepath.Join(corpus, "photos", "Canon_40D.jpg")
	for _, p := range []string{convert, vipsBin, photo, filepath.Join(iccDir, "sRGB.icc"), gsCMYK} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s not available", p)
		}
	}
	dir := t.TempDir()
	srgbICC := filepath.Join(iccDir, "sRGB.icc")
	base := filepath.Join(dir, "base.png")
	runIM(t, photo, "-resize", "160x", "-strip", base)

	cases := []struct {
		name   string
		make   []string // convert arguments after base, before the output
		refPre []string // convert arguments before the conversion to sRGB (assign a profile)
		minRaw float64  // ΔE of the unconverted pixels, to prove the test has teeth
	}{
		{"adobergb.jpg", []string{"-profile", srgbICC, "-profile", filepath.Join(iccDir, "AdobeRGB1998.icc"), "-quality", "95"}, nil, 2},
		{"prophoto.jpg", []string{"-profile", srgbICC, "-profile", filepath.Join(iccDir, "ProPhotoRGB.icc"), "-quality", "95"}, nil, 2},
		// plain CMYK (Adobe APP14 transform 0): ImageMagick writes a CMYK
		// TIFF, `vips copy X.tif X.jpg[Q=95]` the JPEG (ImageMagick's own
		// CMYK JPEGs are YCCK)
		{"cmyk.jpg", []string{"-profile", srgbICC, "-profile", gsCMYK}, nil, 2},
		{"cmyk-noprofile.jpg", []string{"-profile", srgbICC, "-profile", gsCMYK}, []string{"-profile", gsCMYK}, 2},
		// YCCK: libjpeg's colour transform of CMYK (Adobe APP14 transform 2)
		{"ycck.jpg", []string{"-profile", srgbICC, "-profile", gsCMYK, "-quality", "95"}, nil, 2},
		{"ycck-noprofile.jpg", []string{"-profile", srgbICC, "-profile", gsCMYK, "-quality", "95", "-strip"},
			[]string{"-profile", gsCMYK}, 2},
		// the Go toolchain's Adobe CMYK JPEG (APP14 transform 0), no profile
		{"video-001.cmyk.jpeg", nil, []string{"-profile", gsCMYK}, 2},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			switch {
			case tt.make == nil:
				path = filepath.Join(testdataDir(t, "GOROOT", "src/image/testdata"), tt.name)
			case strings.HasPrefix(tt.name, "cmyk"):
				runIM(t, append(append([]string{base}, tt.make...), path+".tif")...)
				opts := "[Q=95]"
				if tt.refPre != nil {
					opts = "[Q=95,strip]"
				}
				if b, err := exec.Command(vipsBin, "copy", path+".tif", path+opts).CombinedOutput(); err != nil {
					t.Fatalf("vips copy: %v\n%s", err, b)
				}
			default:
				runIM(t, append(append([]string{base}, tt.make...), path)...)
			}
			if (tt.refPre == nil) != (sourceICC(readFile(t, path), "jpeg") != nil) {
				t.Fatalf("%s: embedded profile present = %v; the case needs the opposite", tt.name, tt.refPre != nil)
			}
			wantSpace := map[string]turbojpeg.Colorspace{"cmyk": turbojpeg.CMYK, "ycck": turbojpeg.YCCK}
			for prefix, cs := range wantSpace {
				if strings.HasPrefix(tt.name, prefix) || strings.Contains(tt.name, "."+prefix) {
					if hd, err := turbojpeg.DecodeHeader(readFile(t, path)); err != nil || hd.Colorspace != cs {
						t.Fatalf("%s: colour space %v, %v; the test needs %v", tt.name, hd.Colorspace, err, cs)
					}
				}
			}
			ref := filepath.Join(dir, tt.name+".ref.png")
			args := append([]string{path}, tt.refPre...)
			runIM(t, append(args, "-intent", "relative", "-profile", srgbICC, "-strip", ref)...)
			src := readFile(t, path)
			out, _ := render(t, src, "fmt=png")
			got, want := decodeAny(t, out), decodeAny(t, readFile(t, ref))
			if d := meanDeltaE(got, want); d > 2 {
				t.Errorf("%s: mean CIEDE2000 %.2f against ImageMagick's sRGB conversion; want < 2", tt.name, d)
			}
			if raw, err := decodeRaw(src); err == nil && tt.minRaw > 0 {
				if d := meanDeltaE(raw, want); d < tt.minRaw {
					t.Errorf("%s: unconverted pixels are only ΔE %.2f from the reference; the test would not notice a missing conversion", tt.name, d)
				}
			}
		})
	}
}

// decodeRaw decodes a JPEG without colour management.
func decodeRaw(b []byte) (image.Image, error) {
	return jpeg.Decode(bytes.NewReader(b))
}
