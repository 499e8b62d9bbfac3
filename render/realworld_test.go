package render

import (
	"bytes"
	"errors"
	"image"
	"os"
	"path/filepath"
	"testing"
)

// TestRealWorldModifiers renders the real modifier strings of
// image-serving.md §6 on a corpus photo (640×480 JPEG) and checks the
// documented outcome: the size and format written, or a 30001-class
// *CommandError naming the command.
func TestRealWorldModifiers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(corpus, "photos", "DSCN0010.jpg")
	if _, err := os.Stat(path); err != nil {
		t.Skip("corpus not available")
	}
	src := readFile(t, path)
	tests := []struct {
		mod    string
		w, h   int
		format string
		fault  string // the command a *CommandError must name
		gray   bool
	}{
		{mod: "fmt=jpg&qlt=85,0&resMode=sharp2&op_usm=1.75,0.3,2,0", w: 640, h: 480, format: "jpeg"},
		{mod: "wid=350&hei=350&fmt=jpeg&qlt=85,0&resMode=sharp2&op_usm=0.9,1.0,8,0", w: 350, h: 350, format: "jpeg"},
		{mod: "wid=400&hei=400&fmt=jpeg&qlt=75,0&op_sharpen=0&resMode=bicub&op_usm=0.0,0.0,0,0&iccEmbed=0", w: 400, h: 400, format: "jpeg"},
		{mod: "wid=547&hei=547&fmt=jpeg&qlt=90%2C0&resMode=trilin&op_usm=0.8%2C1.0%2C6%2C0&iccEmbed=0&op_sharpen=1", w: 547, h: 547, format: "jpeg"},
		{mod: "op_sharpen=1&wid=1230&hei=1500&fit=fit,1", w: 1230, h: 1500, format: "jpeg"},
		{mod: "wid=250&fmt=jpeg&qlt=80,0&resMode=sharp&op_usm=1.1,0.5,1,0", w: 250, h: 188, format: "jpeg"},
		{mod: "fit=constrain,1&wid=800&hei=800&fmt=jpg&qlt=85,0&resMode=sharp2&op_usm=1.75,0.3,2,0", w: 800, h: 600, format: "jpeg"},
		{mod: "wid=218&hei=326&fmt=jpeg&qlt=90%2c0&op_sharpen=1&resMode=trilin&op_usm=0.8%2c1.0%2c6%2c0&iccEmbed=0&cropN=0.165,0,0.67,1", w: 218, h: 326, format: "jpeg"},
		{mod: "defaultImage=travisperkins/missing-product&id=JRvSP0&fmt=jpg&fit=constrain,1&wid=700&hei=700", fault: "defaultImage"},
		{mod: "fmt=jpeg,gray&qlt=60&wid=200", w: 200, h: 150, format: "jpeg", gray: true},
		{mod: "fmt=tif,,jpeg&qlt=95&wid=300", w: 300, h: 225, format: "tiff"},
		{mod: "fmt=gif-alpha&wid=100&quantize=adaptive,off,2,000000,ffffff", w: 100, h: 75, format: "gif"},
		{mod: "wid=300&fmt=webp-alpha,,lossless", w: 300, h: 225, format: "webp"},
		{mod: "fmt=tif-alpha,,lzw&resMode=sharp2&wid=1800", w: 1800, h: 1350, format: "tiff"},
		{mod: "wid=200&hei=200&align=-1,-1", w: 200, h: 200, format: "jpeg"},
		{mod: "scl=1&op_usm=.9,2&bgc=ffffff&fmt=tif&icc=WebCoated", fault: "icc"},
		{mod: "cropN=.2,.3,.8,.9&extend=5,5,5,5&bgColor=255,0,0", w: 522, h: 442, format: "jpeg"},
		{mod: "op_saturation=-60&op_brightness=45&op_contrast=-35", w: 640, h: 480, format: "jpeg"},
		{mod: "qlt=90,1&op_sharpen=1&wid=500", w: 500, h: 375, format: "jpeg"},
		{mod: "wid=240&fmt=jpeg&qlt=85&op_usm=5,2&bgc=200,200,200&align=-1,-1", w: 240, h: 180, format: "jpeg"},
		// no MaxPix for copies (decisions.md §3): 16 MP, under the 25 MP default
		{mod: "qlt=95&fit=constrain,1&hei=3470&wid=5000&fmt=jpg", w: 4627, h: 3470, format: "jpeg"},
	}
	for _, tt := range tests {
		t.Run(tt.mod, func(t *testing.T) {
			t.Parallel()
			r, err := Parse(tt.mod)
			if tt.fault != "" {
				var ce *CommandError
				if !errors.As(err, &ce) || ce.Command != tt.fault {
					t.Errorf("Parse(%q) = %v; want a CommandError naming %s", tt.mod, err, tt.fault)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.mod, err)
			}
			var out bytes.Buffer
			info, err := Render(t.Context(), src, r, testLimits, &out)
			if err != nil {
				t.Fatalf("Render(%q) = %v", tt.mod, err)
			}
			var m image.Image
			if tt.format == "tiff" {
				m = imDecode(t, out.Bytes())
			} else {
				m = decodeAny(t, out.Bytes())
			}
			if got := Sniff(out.Bytes()); got != tt.format || info.Format != tt.format {
				t.Errorf("Render(%q) wrote %s (info %s); want %s", tt.mod, got, info.Format, tt.format)
			}
			if m.Bounds().Dx() != tt.w || m.Bounds().Dy() != tt.h || info.Width != tt.w || info.Height != tt.h {
				t.Errorf("Render(%q) is %v (info %dx%d); want %dx%d", tt.mod, m.Bounds().Size(), info.Width, info.Height, tt.w, tt.h)
			}
			if _, isGray := m.(*image.Gray); isGray != tt.gray {
				t.Errorf("Render(%q) decodes as %T; gray = %v wanted", tt.mod, m, tt.gray)
			}
		})
	}
}
