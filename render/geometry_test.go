package render

import (
	"image"
	"strings"
	"testing"
)

// apply applies d to a w×h grid of distinct values, the obvious way.
func applyPoint(d dihedral, x, y, w, h int) (int, int) {
	if d.transpose {
		x, y, w, h = y, x, h, w
	}
	if d.flipX {
		x = w - 1 - x
	}
	if d.flipY {
		y = h - 1 - y
	}
	return x, y
}

func TestDihedralThen(t *testing.T) {
	all := []dihedral{}
	for i := range 8 {
		all = append(all, dihedral{i&4 != 0, i&2 != 0, i&1 != 0})
	}
	const w, h = 3, 5
	for _, a := range all {
		for _, b := range all {
			ab := a.then(b)
			aw, ah := a.size(w, h)
			for y := range h {
				for x := range w {
					x1, y1 := applyPoint(a, x, y, w, h)
					x2, y2 := applyPoint(b, x1, y1, aw, ah)
					x3, y3 := applyPoint(ab, x, y, w, h)
					if x2 != x3 || y2 != y3 {
						t.Fatalf("%+v.then(%+v) maps (%d,%d) to (%d,%d); applying both gives (%d,%d)", a, b, x, y, x3, y3, x2, y2)
					}
				}
			}
			// rect and inverseRect agree with the point map
			r := image.Rect(1, 2, 2, 4)
			fr := a.rect(r, w, h)
			px, py := applyPoint(a, 1, 2, w, h)
			if !image.Pt(px, py).In(fr) || fr.Dx()*fr.Dy() != 2 {
				t.Errorf("%+v.rect(%v) = %v; does not hold the mapped pixel (%d,%d)", a, r, fr, px, py)
			}
			if back := a.inverseRect(fr, w, h); back != r {
				t.Errorf("%+v.inverseRect(rect(%v)) = %v", a, r, back)
			}
		}
	}
	// quarter turns compose like rotations
	if got := byQuarterTurns[1].then(byQuarterTurns[1]); got != byQuarterTurns[2] {
		t.Errorf("90 then 90 = %+v; want 180", got)
	}
	if got := byQuarterTurns[1].then(byQuarterTurns[3]); !got.isIdentity() {
		t.Errorf("90 then 270 = %+v; want identity", got)
	}
}

func TestPlanSizes(t *testing.T) {
	tests := []struct {
		mod            string
		w, h, orient   int
		sw, sh, vw, vh int
		off            image.Point
	}{
		{"wid=100", 400, 300, 1, 100, 75, 100, 75, image.Pt(0, 0)},
		{"hei=100", 400, 300, 1, 133, 100, 133, 100, image.Pt(0, 0)},
		{"wid=800", 400, 300, 1, 800, 600, 800, 600, image.Pt(0, 0)},         // no fit=: enlarges
		{"wid=800&fit=fit", 400, 300, 1, 400, 300, 400, 300, image.Pt(0, 0)}, // fit=fit,0: not
		{"wid=100&hei=100", 400, 300, 1, 100, 75, 100, 100, image.Pt(0, 13)}, // 12.5 rounds up
		{"wid=100&hei=100&align=-1,-1", 400, 300, 1, 100, 75, 100, 100, image.Pt(0, 0)},
		{"wid=100&hei=100&align=1,1", 400, 300, 1, 100, 75, 100, 100, image.Pt(0, 25)},
		{"wid=100&hei=100&fit=constrain", 400, 300, 1, 100, 75, 100, 75, image.Pt(0, 0)},
		{"wid=100&hei=100&fit=crop", 400, 300, 1, 133, 100, 100, 100, image.Pt(-16, 0)}, // -16.5 rounds up
		{"wid=1000&hei=1000&fit=crop", 400, 300, 1, 400, 300, 1000, 1000, image.Pt(300, 350)},
		{"wid=1000&hei=1000&fit=crop,1", 400, 300, 1, 1333, 1000, 1000, 1000, image.Pt(-166, 0)},
		{"wid=1000&hei=1000&fit=fit,1", 400, 300, 1, 1000, 750, 1000, 1000, image.Pt(0, 125)},
		{"scl=2", 401, 300, 1, 201, 150, 201, 150, image.Pt(0, 0)},
		{"scl=2&wid=100&hei=300", 400, 300, 1, 200, 150, 100, 300, image.Pt(-50, 75)},
		{"scl=.5", 400, 300, 1, 800, 600, 800, 600, image.Pt(0, 0)},
		{"rotate=90", 400, 300, 1, 300, 400, 300, 400, image.Pt(0, 0)},
		{"rotate=90&wid=30", 400, 300, 1, 30, 40, 30, 40, image.Pt(0, 0)},
		{"", 400, 300, 6, 300, 400, 300, 400, image.Pt(0, 0)}, // EXIF rotate 90
		{"crop=10,10,50,20", 400, 300, 1, 50, 20, 50, 20, image.Pt(0, 0)},
		{"crop=10,10,50,20", 400, 300, 6, 50, 20, 50, 20, image.Pt(0, 0)},
		{"crop=-10,-10,1000,20", 400, 300, 1, 1000, 20, 1000, 20, image.Pt(0, 0)},
		{"cropN=.25,0,.5,1", 400, 300, 1, 200, 300, 200, 300, image.Pt(0, 0)},
		{"cropN=0.165,0,0.67,1&wid=218&hei=326", 1000, 1000, 1, 218, 325, 218, 326, image.Pt(0, 1)},
		{"wid=1&hei=1", 4000, 10, 1, 1, 1, 1, 1, image.Pt(0, 0)},
	}
	for _, tt := range tests {
		r, err := Parse(tt.mod)
		if err != nil {
			t.Fatal(err)
		}
		p, err := makePlan(tt.w, tt.h, tt.orient, r, Limits{})
		if err != nil {
			t.Errorf("makePlan(%d×%d, %q) = %v", tt.w, tt.h, tt.mod, err)
			continue
		}
		if p.sw != tt.sw || p.sh != tt.sh || p.vw != tt.vw || p.vh != tt.vh || p.off != tt.off {
			t.Errorf("makePlan(%d×%d o%d, %q): scaled %d×%d view %d×%d at %v; want %d×%d, %d×%d at %v",
				tt.w, tt.h, tt.orient, tt.mod, p.sw, p.sh, p.vw, p.vh, p.off, tt.sw, tt.sh, tt.vw, tt.vh, tt.off)
		}
	}
}

func TestPlanCropOrientation(t *testing.T) {
	// a 400×300 stored image with orientation 6 is 300×400 upright:
	// rotating 90° CW maps stored (x,y) to upright (299-y, x), so the
	// upright crop x 0..100, y 0..50 is stored x 0..50, y 200..300
	r, _ := Parse("crop=0,0,100,50")
	p, err := makePlan(400, 300, 6, r, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := image.Rect(0, 200, 50, 300); p.region != want {
		t.Errorf("region = %v; want %v", p.region, want)
	}
}

func TestPlanLimits(t *testing.T) {
	tests := []struct {
		mod   string
		limit string
	}{
		{"wid=6000&hei=6000", limitOutput},
		{"scl=.0001&wid=10&hei=10", limitOutput},
		{"crop=0,0,2000000000,10", limitHard},
		{"scl=.000000001", limitHard},
	}
	for _, tt := range tests {
		r, err := Parse(tt.mod)
		if err != nil {
			t.Fatal(err)
		}
		_, err = makePlan(400, 300, 1, r, Limits{MaxSourcePixels: 100e6, MaxOutputPixels: 25e6})
		le, ok := err.(*LimitError)
		if !ok || le.Limit != tt.limit {
			t.Errorf("makePlan(%q) = %v; want a LimitError for %s", tt.mod, err, tt.limit)
		}
	}
}

// TestHardLimitReason: a side or an offset beyond the internal limit is
// reported as that, not as a pixel count over a limit the count is far
// below ("crop region 10x10 (100 pixels) exceeds the internal image size
// limit 281474976710656" told the caller nothing).
func TestHardLimitReason(t *testing.T) {
	for _, mod := range []string{"crop=-2147483648,-2147483648,10,10", "wid=2147483647", "crop=0,0,2000000000,10"} {
		r, err := Parse(mod)
		if err != nil {
			t.Fatal(err)
		}
		_, err = makePlan(400, 300, 1, r, Limits{MaxSourcePixels: 100e6, MaxOutputPixels: 25e6})
		le, ok := err.(*LimitError)
		if !ok || le.Limit != limitHard {
			t.Fatalf("makePlan(%q) = %v; want a LimitError for %s", mod, err, limitHard)
		}
		if msg := le.Error(); strings.Contains(msg, "pixels) exceeds") || !strings.Contains(msg, "16777216") {
			t.Errorf("makePlan(%q): reason %q; want one naming the limit of 16777216 pixels for a side or an offset", mod, msg)
		}
	}
}
