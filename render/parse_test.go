package render

import (
	"bytes"
	"errors"
	"image/color"
	"strings"
	"testing"
)

// realWorld are the modifier strings of image-serving.md §6 that ipsd
// accepts as they are.
var realWorld = []string{
	"fmt=jpg&qlt=85,0&resMode=sharp2&op_usm=1.75,0.3,2,0",
	"wid=350&hei=350&fmt=jpeg&qlt=85,0&resMode=sharp2&op_usm=0.9,1.0,8,0",
	"wid=400&hei=400&fmt=jpeg&qlt=75,0&op_sharpen=0&resMode=bicub&op_usm=0.0,0.0,0,0&iccEmbed=0",
	"wid=547&hei=547&fmt=jpeg&qlt=90%2C0&resMode=trilin&op_usm=0.8%2C1.0%2C6%2C0&iccEmbed=0&op_sharpen=1",
	"op_sharpen=1&wid=1230&hei=1500&fit=fit,1",
	"wid=250&fmt=jpeg&qlt=80,0&resMode=sharp&op_usm=1.1,0.5,1,0",
	"fit=constrain,1&wid=800&hei=800&fmt=jpg&qlt=85,0&resMode=sharp2&op_usm=1.75,0.3,2,0",
	"wid=218&hei=326&fmt=jpeg&qlt=90%2c0&op_sharpen=1&resMode=trilin&op_usm=0.8%2c1.0%2c6%2c0&iccEmbed=0&cropN=0.165,0,0.67,1",
	"qlt=95&fit=constrain,1&hei=3470&wid=5000&fmt=jpg",
	"fmt=jpeg,gray&qlt=60&wid=200",
	"wid=300&fmt=webp-alpha,,lossless",
	"wid=200&hei=200&align=-1,-1",
	"qlt=90,1&op_sharpen=1&wid=500",
	"wid=240&fmt=jpeg&qlt=85&op_usm=5,2&bgc=200,200,200&align=-1,-1",
	"fmt=tif,,jpeg&qlt=95&wid=300",
	"fmt=gif-alpha&wid=100&quantize=adaptive,off,2,000000,ffffff",
	"fmt=tif-alpha,,lzw&resMode=sharp2&wid=1800",
	"cropN=.2,.3,.8,.9&extend=5,5,5,5&bgColor=255,0,0",
	"op_saturation=-60&op_brightness=45&op_contrast=-35",
}

// realWorldRefused are the §6 strings ipsd refuses, with the command the
// error must name.
var realWorldRefused = []struct{ mod, cmd, reason string }{
	{"defaultImage=travisperkins/missing-product&id=JRvSP0&fmt=jpg&fit=constrain,1&wid=700&hei=700", "defaultImage", reasonUnsupported},
	{"scl=1&op_usm=.9,2&bgc=ffffff&fmt=tif&icc=WebCoated", "icc", reasonUnsupported},
}

func TestParseRealWorld(t *testing.T) {
	for _, mod := range realWorld {
		r, err := Parse(mod)
		if err != nil {
			t.Errorf("Parse(%q) = %v; want success", mod, err)
			continue
		}
		if r.IsEmpty() {
			t.Errorf("Parse(%q).IsEmpty() = true", mod)
		}
	}
	for _, tt := range realWorldRefused {
		_, err := Parse(tt.mod)
		var ce *CommandError
		if !errors.As(err, &ce) {
			t.Errorf("Parse(%q) error = %v; want *CommandError", tt.mod, err)
			continue
		}
		if ce.Command != tt.cmd || !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), tt.cmd) {
			t.Errorf("Parse(%q) = %q (command %q); want command %q, reason containing %q", tt.mod, err, ce.Command, tt.cmd, tt.reason)
		}
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		mod   string
		check func(r *Request) bool
	}{
		{"", func(r *Request) bool { return r.IsEmpty() && r.String() == "" }},
		{"id=1&.ts=123&cache=off&req=img&layer=comp&anchor=1,2&anchorN=.1,-.2&bfc=on&network=off",
			func(r *Request) bool { return !r.IsEmpty() && r.String() == "" }},
		{"WID=100&Hei=50", func(r *Request) bool { return r.wid == 100 && r.hei == 50 }},
		{"wid=100&wid=200", func(r *Request) bool { return r.wid == 200 }},
		{"qlt=90%2C1", func(r *Request) bool { return r.qlt == 90 && r.chroma }},
		{"qlt=90%2c0", func(r *Request) bool { return r.qlt == 90 && !r.chroma }},
		{"op_usm=.9,2", func(r *Request) bool { return r.usm.amount == 0.9 && r.usm.radius == 2 }},
		{"op_USM=1,2,3,1", func(r *Request) bool { return r.usm == usmSpec{1, 2, 3, true} }},
		{"cropN=.2,.3,.5,.6", func(r *Request) bool { return r.crop == cropSpec{true, true, .2, .3, .5, .6} }},
		{"crop=-5,10,20,30&cropN=0,0,1,1", func(r *Request) bool { return r.crop.normalised }},
		{"cropN=0,0,1,1&crop=-5,10,20,30", func(r *Request) bool { return r.crop == cropSpec{true, false, -5, 10, 20, 30} }},
		{"rotate=-90", func(r *Request) bool { return r.rotate == 3 }},
		{"rotate=450", func(r *Request) bool { return r.rotate == 1 }},
		{"flip=LRUD", func(r *Request) bool { return r.flip == flipLRUD }},
		{"fit=Crop&wid=1", func(r *Request) bool { return r.fit == fitCrop && !r.upscale }},
		{"fit=fit,true&hei=1", func(r *Request) bool { return r.fit == fitFit && r.upscale }},
		{"fit=wrap&wid=1", func(r *Request) bool { return r.fit == fitWrap }},
		{"fit=STRETCH,1&wid=1", func(r *Request) bool { return r.fit == fitStretch && r.upscale }},
		{"fit=hfit&wid=1", func(r *Request) bool { return r.fit == fitHfit }},
		{"fit=vfit&wid=1", func(r *Request) bool { return r.fit == fitVfit }},
		{"rotate=45", func(r *Request) bool { return r.angle == 45 && r.rotate == 0 && r.needsComposite() }},
		{"rotate=-30.5", func(r *Request) bool { return r.angle == 329.5 }},
		{"rotate=-90", func(r *Request) bool { return r.angle == 270 && !r.needsComposite() }},
		{"size=100,0", func(r *Request) bool { return r.size == [2]int{100, 0} }},
		{"scale=.5", func(r *Request) bool { return r.scale == .5 }},
		{"extend=5,5,5,5", func(r *Request) bool { return r.extend == extendSpec{true, false, 5, 5, 5, 5} }},
		{"extendN=.1,0,.1,0", func(r *Request) bool { return r.extend.normalised && r.extend.l == .1 }},
		{"bgColor=255,0,0", func(r *Request) bool { return r.bgColor == color.NRGBA{255, 0, 0, 255} && r.bgColSet }},
		{"color=0,0,0,0", func(r *Request) bool { return r.color == color.NRGBA{} && r.colorSet }},
		{"rgn=1,2,3,4", func(r *Request) bool { return r.rgn == rectSpec{true, 1, 2, 3, 4, 0} }},
		{"rect=1,2,3,4", func(r *Request) bool { return r.rect == rectSpec{true, 1, 2, 3, 4, 1} }},
		{"rect=1,2,3,4,.5", func(r *Request) bool { return r.rect.scale == .5 }},
		{"dpr=on,2", func(r *Request) bool { return r.dpr == 2 }},
		{"dpr=off", func(r *Request) bool { return r.dpr == 0 && !r.IsEmpty() }},
		{"op_brightness=45&op_contrast=-35&op_saturation=-60", func(r *Request) bool {
			return r.ops.brightness == 45 && r.ops.contrast == -35 && r.ops.saturation == -60
		}},
		{"op_colorbalance=1,-2,3&op_hue=-180", func(r *Request) bool { return r.ops.balance == [3]int{1, -2, 3} && r.ops.hue == -180 }},
		{"op_colorize=ff0000", func(r *Request) bool { return r.ops.colorize.set && r.ops.colorize.norm && r.ops.colorize.c.R == 255 }},
		{"op_colorize=10,20,30,off", func(r *Request) bool { return !r.ops.colorize.norm && r.ops.colorize.c == color.NRGBA{10, 20, 30, 255} }},
		{"op_colorize=10,20,30,norm,50", func(r *Request) bool { return r.ops.colorize.contrast == 50 }},
		{"op_invert=1&op_blur=.5&op_grow=-3", func(r *Request) bool { return r.ops.invert && r.ops.blur == .5 && r.ops.grow == -3 }},
		{"op_noise=10,gaussian,1", func(r *Request) bool { return r.ops.noise == noiseSpec{10, true, true} }},
		{"opac=50,50", func(r *Request) bool { return r.ops.opacSet && r.ops.opac == 50 && r.ops.fillOpac == 50 }},
		{"opac=100", func(r *Request) bool { return !r.ops.opacSet }},
		{"fmt=pjpeg&pscan=4", func(r *Request) bool { return r.output("png").progressive && r.pscan == 4 }},
		{"fmt=png8-alpha", func(r *Request) bool { return r.output("png").palette8 && r.output("png").alpha }},
		{"fmt=tif,,lzw", func(r *Request) bool { return r.compression == "lzw" }},
		{"fmt=tif,,JPEG", func(r *Request) bool { return r.compression == "jpeg" }},
		{"jpegSize=20&printRes=300", func(r *Request) bool { return r.jpegSize == 20 && r.printRes == 300 }},
		{"quantize=web,off", func(r *Request) bool { return r.quant == quantSpec{true, "web", true, 256, ""} }},
		{"quantize=adaptive,diffuse,8,FF0000,00ff00", func(r *Request) bool { return r.quant.forced == "ff0000,00ff00" && r.quant.colors == 8 }},
		{"iccEmbed=1&xmpEmbed=true", func(r *Request) bool { return r.iccEmbed && r.xmpEmbed }},
		{"fmt=JPG", func(r *Request) bool { return r.format == "jpeg" && r.OutputFormat("png") == "jpeg" }},
		{"fmt=tif,,zip", func(r *Request) bool { return r.OutputFormat("jpeg") == "tiff" && r.compression == "zip" }},
		{"fmt=web-alpha", func(r *Request) bool { return r.format == "webp-alpha" }},
		{"wid=10", func(r *Request) bool { return r.OutputFormat("gif") == "gif" }},
		{"align=-1,.5", func(r *Request) bool { return r.alignX == -1 && r.alignY == .5 }},
		{"scl=.5", func(r *Request) bool { return r.scl == .5 }},
		{"resmode=BISHARP", func(r *Request) bool { return r.resMode == "bisharp" }},
		{"iccEmbed=false", func(r *Request) bool { return r.iccEmbedSet }},
		{"wid=1&&hei=2&", func(r *Request) bool { return r.wid == 1 && r.hei == 2 }},
		{"bgc=ff0000", func(r *Request) bool { return r.bgc == color.NRGBA{255, 0, 0, 255} && r.bgcSet }},
	}
	for _, tt := range tests {
		r, err := Parse(tt.mod)
		if err != nil {
			t.Errorf("Parse(%q) = %v", tt.mod, err)
			continue
		}
		if !tt.check(r) {
			t.Errorf("Parse(%q) = %+v; check failed", tt.mod, *r)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ mod, want string }{
		{"foo=1", "unknown command 'foo'"},
		{"wid=100&Colorize=1", "unknown command 'Colorize'"},
		{"wid=abc", "invalid value 'abc' for command 'wid': 'abc' is not an integer"},
		{"wid=0", "invalid value '0' for command 'wid': must be greater than 0"},
		{"wid=-5", "invalid value '-5' for command 'wid'"},
		{"wid=1e3", "invalid value '1e3' for command 'wid'"},
		{"wid=99999999999", "invalid value '99999999999' for command 'wid'"},
		{"wid", "invalid value '' for command 'wid': a value is required"},
		{"hei=%zz", "invalid value '%zz' for command 'hei': bad percent-encoding"},
		{"scl=0", "invalid value '0' for command 'scl'"},
		{"scl=NaN", "invalid value 'NaN' for command 'scl'"},
		{"scl=inf", "invalid value 'inf' for command 'scl'"},
		{"text=hello", "command 'text' is not supported by ipsd"},
		{"src=foo", "command 'src' is not supported by ipsd"},
		{"op_blur=101", "invalid value '101' for command 'op_blur'"},
		{"op_brightness=101", "invalid value '101' for command 'op_brightness'"},
		{"op_hue=181", "invalid value '181' for command 'op_hue'"},
		{"op_colorize=50g", "invalid value '50g' for command 'op_colorize': op_colorize takes an RGB colour"},
		{"op_colorize=0,0,0,10k", "invalid value '0,0,0,10k' for command 'op_colorize'"},
		{"op_noise=5,pink", "invalid value '5,pink' for command 'op_noise'"},
		{"opac=101", "invalid value '101' for command 'opac'"},
		{"extend=1,2,3", "invalid value '1,2,3' for command 'extend'"},
		{"size=-1,0", "invalid value '-1,0' for command 'size'"},
		{"scale=0", "invalid value '0' for command 'scale'"},
		{"rect=0,0,0,1", "invalid value '0,0,0,1' for command 'rect'"},
		{"rgn=0,0,1", "invalid value '0,0,1' for command 'rgn'"},
		{"dpr=on,0", "invalid value 'on,0' for command 'dpr'"},
		{"pscan=2", "invalid value '2' for command 'pscan'"},
		{"jpegSize=-1", "invalid value '-1' for command 'jpegSize'"},
		{"quantize=adaptive,off,1", "invalid value 'adaptive,off,1' for command 'quantize'"},
		{"quantize=adaptive,off,2,0xff0000", "invalid value 'adaptive,off,2,0xff0000' for command 'quantize'"},
		{"fmt=gif-alpha&quantize=mac", "invalid value 'mac' for command 'quantize'"},
		{"fmt=tif-alpha,,jpeg", "invalid value 'tif-alpha,,jpeg' for command 'fmt'"},
		{"fit=crop", "invalid value 'crop' for command 'fit': fit needs wid or hei"},
		{"res=100", "command 'res' is not supported by ipsd"},
		{"layer=1", "invalid value '1' for command 'layer'"},
		{"req=props", "invalid value 'props' for command 'req'"},
		{"$preset$", "command '$preset$' is not supported by ipsd"},
		{"fit=banana", "invalid value 'banana' for command 'fit'"},
		{"fit=fit,2&wid=1", "invalid value 'fit,2' for command 'fit': want 0 or 1"},
		{"align=2,0", "invalid value '2,0' for command 'align'"},
		{"align=0", "invalid value '0' for command 'align'"},
		{"crop=0,0,0,10", "invalid value '0,0,0,10' for command 'crop'"},
		{"crop=0,0,10", "invalid value '0,0,10' for command 'crop'"},
		{"rotate=x", "invalid value 'x' for command 'rotate'"},
		{"flip=none", "invalid value 'none' for command 'flip'"},
		{"fmt=pdf", "invalid value 'pdf' for command 'fmt': format 'pdf' is not supported by ipsd"},
		{"fmt=bmp", "invalid value 'bmp' for command 'fmt': unknown format 'bmp'"},
		{"fmt=jpeg,,lzw", "invalid value 'jpeg,,lzw' for command 'fmt': no compression option is allowed for jpeg"},
		{"fmt=webp,gray", "invalid value 'webp,gray' for command 'fmt'"},
		{"fmt=jpeg,cmyk", "invalid value 'jpeg,cmyk' for command 'fmt'"},
		{"qlt=0", "invalid value '0' for command 'qlt'"},
		{"qlt=101", "invalid value '101' for command 'qlt'"},
		{"qlt=80,2", "invalid value '80,2' for command 'qlt'"},
		{"bgc=zzz", "invalid value 'zzz' for command 'bgc': not a colour"},
		{"resMode=nearest", "invalid value 'nearest' for command 'resMode'"},
		{"op_usm=6", "invalid value '6' for command 'op_usm'"},
		{"op_usm=1,300", "invalid value '1,300' for command 'op_usm'"},
		{"iccEmbed=2", "invalid value '2' for command 'iccEmbed'"},
		{"anchor=1,x", "invalid value '1,x' for command 'anchor'"},
		{"anchor=3000000000,0", "invalid value '3000000000,0' for command 'anchor'"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.mod)
		var ce *CommandError
		if !errors.As(err, &ce) {
			t.Errorf("Parse(%q) error = %v; want *CommandError", tt.mod, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %q; want prefix %q", tt.mod, err, tt.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) error has more than one line", tt.mod)
		}
	}
}

func TestParseColor(t *testing.T) {
	tests := []struct {
		in   string
		want color.NRGBA
	}{
		{"0,100,200", color.NRGBA{0, 100, 200, 255}},
		{"a0b1c2d3R", color.NRGBA{0xa0, 0xb1, 0xc2, 0xd3}},
		{"50,75g", color.NRGBA{128, 128, 128, 191}},
		{"0X70G", color.NRGBA{0x70, 0x70, 0x70, 255}},
		{"ffffff", color.NRGBA{255, 255, 255, 255}},
		{"0xFF000080", color.NRGBA{255, 0, 0, 0x80}},
		{"100", color.NRGBA{255, 255, 255, 255}},
		{"0", color.NRGBA{0, 0, 0, 255}},
		{"0,0,0,100k", color.NRGBA{0, 0, 0, 255}},
		{"0,0,0,0k", color.NRGBA{255, 255, 255, 255}},
		{"00000000k", color.NRGBA{255, 255, 255, 255}},
		{"10,20,30,40", color.NRGBA{10, 20, 30, 40}},
		{"ffffffs", color.NRGBA{255, 255, 255, 255}},
	}
	for _, tt := range tests {
		got, err := parseColor(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseColor(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	// the remaining forms of image-serving.md §1.3
	c, m, y, k := uint8((94*255+50)/100), uint8((11*255+50)/100), uint8((50*255+50)/100), uint8((33*255+50)/100)
	r, g, b := color.CMYKToRGB(c, m, y, k)
	for _, tt := range []struct {
		in   string
		want color.NRGBA
	}{
		{"0,100,200r", color.NRGBA{0, 100, 200, 255}},        // red,green,blue with r
		{"10,20,30,40R", color.NRGBA{10, 20, 30, 40}},        // with rgbAlpha
		{"50g", color.NRGBA{128, 128, 128, 255}},             // gray % with g
		{"50,75", color.NRGBA{128, 128, 128, 191}},           // gray,alpha without g
		{"0x70", color.NRGBA{0x70, 0x70, 0x70, 255}},         // 0x hex2
		{"0x7080", color.NRGBA{0x70, 0x70, 0x70, 0x80}},      // 0x hex4
		{"0x7080g", color.NRGBA{0x70, 0x70, 0x70, 0x80}},     // 0x hex4 with g
		{"0xa0b1c2", color.NRGBA{0xa0, 0xb1, 0xc2, 255}},     // 0x hex6
		{"0xA0B1C2D3r", color.NRGBA{0xa0, 0xb1, 0xc2, 0xd3}}, // 0x hex8 with r
		{"94,11,50,33k", color.NRGBA{r, g, b, 255}},          // CMYK %
		{"0,0,0,0,50K", color.NRGBA{255, 255, 255, 128}},     // CMYK + alpha %
		{"ff000000k", color.NRGBA{0, 255, 255, 255}},         // hex8 k: CCMMYYKK
		{"0x00000000ffk", color.NRGBA{255, 255, 255, 255}},   // hex10 k with 0x
		{"000000ff80k", color.NRGBA{0, 0, 0, 0x80}},          // hex10 k: CMYK + alpha
		{"a0b1c2d3rs", color.NRGBA{0xa0, 0xb1, 0xc2, 0xd3}},  // s after the type suffix
		{"94,11,50,33kS", color.NRGBA{r, g, b, 255}},         // s after k
		{"255,0,0,128", color.NRGBA{255, 0, 0, 128}},         // 4 decimals without k: RGBA
	} {
		got, err := parseColor(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseColor(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	// bgc ignores alpha; bgColor keeps it
	if r, err := Parse("bgc=ff000080&bgColor=ff000080"); err != nil || r.bgc.A != 255 || r.bgColor.A != 0x80 {
		t.Errorf("bgc/bgColor alpha: %v", err)
	}
	for _, bad := range []string{"", "fff", "0xf", "256,0,0", "101", "1,2,3,4,5", "gg0000", "1,2,3g", "1,2k", "ffffffk", "0xffk",
		"7080", "0,0,0,0,101k", "1,,3", "-1,0,0", "0x", "ffffffg", "1.5,2,3"} {
		if c, err := parseColor(bad); err == nil {
			t.Errorf("parseColor(%q) = %v; want error", bad, c)
		}
	}
}

func TestStringRoundTrip(t *testing.T) {
	mods := append([]string{
		"crop=1,2,3,4&rotate=270&flip=ud&scl=2.5&wid=7&hei=9&fit=crop,1&align=.5,-1&bgc=010203&fmt=tif-alpha,gray,zip&qlt=9,1&op_usmR=1,2,3,1",
		"cropN=.1,.2,.3,.4&size=10,0&color=10,20,30,40&rotate=33.5&extendN=.1,.2,.3,-.1&bgColor=ff000080&flip=lr" +
			"&op_brightness=1&op_contrast=2&op_colorbalance=3,4,5&op_hue=6&op_saturation=7&op_colorize=102030,off,3" +
			"&op_invert=1&op_blur=1.5&op_grow=-2&op_noise=5,gaussian,1&opac=50,60&rgn=1,2,3,4&wid=5&fit=hfit&dpr=on,1.5" +
			"&rect=1,2,3,4,.5&fmt=pjpeg&pscan=3&jpegSize=10&printRes=72&iccEmbed=1&xmpEmbed=0",
		"scale=.25&extend=1,2,3,4&fmt=gif-alpha&quantize=web,off&wid=9&hei=9&fit=vfit,0",
		"fmt=png8&quantize=adaptive,diffuse,16,ff0000,00ff00",
	}, realWorld...)
	for _, mod := range mods {
		r, err := Parse(mod)
		if err != nil {
			t.Fatalf("Parse(%q) = %v", mod, err)
		}
		s := r.String()
		r2, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%q) (canonical form of %q) = %v", s, mod, err)
			continue
		}
		if *r2 != *r {
			t.Errorf("Parse(String(Parse(%q))) = %+v; want %+v", mod, *r2, *r)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range realWorld {
		f.Add(s)
	}
	for _, s := range realWorldRefused {
		f.Add(s.mod)
	}
	f.Add("bgc=a0b1c2d3R&crop=-1,-1,5,5&rotate=-270")
	f.Fuzz(func(t *testing.T, mod string) {
		r, err := Parse(mod)
		if err != nil {
			var ce *CommandError
			if !errors.As(err, &ce) {
				t.Fatalf("Parse(%q) error %T is not a *CommandError", mod, err)
			}
			return
		}
		r2, err := Parse(r.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", r.String(), mod, err)
		}
		if r2.String() != r.String() {
			t.Fatalf("canonical form not stable: %q -> %q", r.String(), r2.String())
		}
	})
}

// TestParseRejects pins image-serving.md §5 "Reject": every command there
// is a *CommandError (fault 30001 in the daemon) that says ipsd does not
// support it, and names the command.
func TestParseRejects(t *testing.T) {
	for _, mod := range []string{
		// layering and compositing
		"layer=1", "layer=2&src=x", "layer=logo", "layer=0",
		"src=is{Company/img?wid=100&hei=100}", "src=ir{Company/vignette?wid=10}", "src=fxg{Company/doc}",
		"src={http://example.com/a.jpg}", "mask=is{Company/mask}", "maskUse=invert", "effect=-1",
		"effectMask=0", "blendMode=mult", "hide=1", "perspective=0,0,1,0,1,1,0,1", "perspectiveN=0,0,1,0,1,1,0,1",
		"clipPath=M0,0L1,1", "clipPathE=p1", "cropPathE=p1", "pathEmbed=1",
		// text
		"text={\\rtf1 hi}", "textPs={\\rtf1 hi}", "textAttr=1", "textAngle=5", "textPath=p", "textFlowPath=p",
		"textFlowXPath=p", "pathAttr=1",
		// templates, catalogs, localisation
		"template=t", "$preset$", "$var=5", "$var=5&wid=$var$", "locale=de", "imageSet=a,b", "map=m", "type=swatch",
		"defaultImage=travisperkins/missing-product", "res=72",
		// other request types
		"req=props", "req=imageprops", "req=xmp", "req=set", "req=saveToFile", "req=mask", "req=tmb",
		// output formats without an encoder
		"fmt=eps", "fmt=pdf", "fmt=swf", "fmt=swf-alpha", "fmt=swf3", "fmt=swf3-alpha", "fmt=f4m", "fmt=m3u8",
		"fmt=jpeg2000", "fmt=jpeg2000-alpha", "fmt=jpegxr", "fmt=jpegxr-alpha", "fmt=avif", "fmt=heic",
		// an output profile (image-serving.md §0: not in AEM modifiers either)
		"icc=WebCoated",
	} {
		_, err := Parse(mod)
		var ce *CommandError
		if !errors.As(err, &ce) {
			t.Errorf("Parse(%q) = %v; want a *CommandError", mod, err)
			continue
		}
		name, _, _ := strings.Cut(mod, "=")
		if !strings.Contains(err.Error(), "not supported by ipsd") || !strings.EqualFold(ce.Command, name) {
			t.Errorf("Parse(%q) = %q (command %q); want 'not supported by ipsd' for %s", mod, err, ce.Command, name)
		}
	}
	// strict mode: an unknown name is a fault that names it
	for _, mod := range []string{"foo=1", "colorize=ff0000", "maxsize=100", "op_inflate=1", "wid=10&Qlty=5"} {
		_, err := Parse(mod)
		var ce *CommandError
		if !errors.As(err, &ce) || ce.Reason != reasonUnknown || !strings.HasPrefix(err.Error(), "unknown command '") {
			t.Errorf("Parse(%q) = %v; want an unknown-command fault", mod, err)
		}
	}
}

// TestAcceptedNoEffect renders with and without the commands that are
// accepted and ignored (decisions.md §7, image-serving.md §5) and expects
// the same bytes.
func TestAcceptedNoEffect(t *testing.T) {
	src := encodePNG(t, testImage(80, 60))
	want, _ := render(t, src, "wid=50&fmt=png")
	for _, extra := range []string{
		"id=JRvSP0", "id", ".ts=12345", ".a comment", "cache=off", "cache=on,validate", "req=img", "REQ=IMG",
		"layer=comp", "anchor=10,-10", "anchorN=-.5,.5", "bfc=on", "bfc=off", "network=on", "network=off",
		"pos=5,5", "posN=.1,.2", "origin=1,2", "originN=0,0", "dpr=off",
	} {
		for _, mod := range []string{extra + "&wid=50&fmt=png", "wid=50&" + extra + "&fmt=png"} {
			got, _ := render(t, src, mod)
			if !bytes.Equal(got, want) {
				t.Errorf("%s changed the output", mod)
			}
		}
	}
}

// TestSyntaxRules pins image-serving.md §1: case-insensitive names and
// keywords, values percent-decoded before parsing, the last duplicate
// winning, and reals with a leading dot.
func TestSyntaxRules(t *testing.T) {
	same := [][2]string{
		// names and keyword values ignore case
		{"WID=100&HeI=50&FMT=JPG&ResMode=BiCub&FIT=Crop,1&Flip=Lr", "wid=100&hei=50&fmt=jpeg&resMode=bicub&fit=crop,1&flip=lr"},
		{"OP_USM=1,2&op_SHARPEN=1&QUANTIZE=Web,Off&fmt=GIF", "op_usm=1,2&op_sharpen=1&quantize=web,off&fmt=gif"},
		// percent-decoded values, %2C and %2c alike
		{"qlt=90%2C0", "qlt=90,0"},
		{"qlt=90%2c1", "qlt=90,1"},
		{"bgc=255%2C0%2c0&fmt=tif%2C%2Clzw", "bgc=255,0,0&fmt=tif,,lzw"},
		{"cropN=0.165%2C0%2C0.67%2C1&wid=%32%30%30", "cropN=0.165,0,0.67,1&wid=200"},
		// the last duplicate wins; crop/cropN and extend/extendN are one command each
		{"wid=100&wid=200", "wid=200"},
		{"fmt=png&qlt=50&fmt=jpeg&qlt=90,1", "fmt=jpeg&qlt=90,1"},
		{"crop=0,0,10,10&cropN=.1,.1,.5,.5", "cropN=.1,.1,.5,.5"},
		{"cropN=.1,.1,.5,.5&crop=0,0,10,10", "crop=0,0,10,10"},
		{"extend=1,1,1,1&extendN=.1,0,0,0", "extendN=.1,0,0,0"},
		{"op_usm=1,2&op_usmR=3,4", "op_usmR=3,4"},
		{"bgc=ff0000&bgc=00ff00", "bgc=00ff00"},
		// reals with a leading dot, signed too
		{"op_usm=.9,2", "op_usm=0.9,2"},
		{"align=-.5,.25&wid=9&hei=9", "align=-0.5,0.25&wid=9&hei=9"},
		{"rotate=.5&scl=.5", "rotate=0.5&scl=0.5"},
		{"cropN=.2,.3,.8,.9", "cropN=0.2,0.3,0.8,0.9"},
		// comments and empty modifiers carry nothing
		{".ts=12345&wid=10&&.x", "wid=10"},
	}
	for _, tt := range same {
		a, err := Parse(tt[0])
		if err != nil {
			t.Errorf("Parse(%q) = %v", tt[0], err)
			continue
		}
		b, err := Parse(tt[1])
		if err != nil {
			t.Fatalf("Parse(%q) = %v", tt[1], err)
		}
		if a.String() != b.String() {
			t.Errorf("Parse(%q) = %q; want the same as %q: %q", tt[0], a.String(), tt[1], b.String())
		}
	}
	// an encoded '&' or '=' stays inside the value
	if _, err := Parse("wid=1%262"); err == nil || !strings.Contains(err.Error(), "'1&2'") {
		t.Errorf("Parse(wid=1%%262) = %v; want the decoded value '1&2' refused", err)
	}
}
