package render

import (
	"image/color"
	"math"
	"strconv"
	"strings"
)

// A Request is a parsed Image Serving modifier string. The zero value (and
// the result of Parse("")) is the empty request. A Request is immutable once
// parsed and safe for concurrent use.
type Request struct {
	// view
	wid, hei int     // 0 = not given
	scl      float64 // inverse scale factor; 0 = not given
	fit      fitMode // fitNone = not given
	upscale  bool    // fit's upscale flag
	alignX   float64 // -1..1; 0 = centre
	alignY   float64
	alignSet bool
	bgc      color.NRGBA
	bgcSet   bool

	// layer 0
	crop   cropSpec
	rotate int // clockwise quarter turns, 0..3
	flip   flipMode

	// output
	format      string // IS format name after aliasing ("jpeg", "png-alpha", ...); "" = source format
	gray        bool   // pixelType gray
	compression string // "", "none", "zip", "lossy", "lossless"
	qlt         int    // 0 = default
	chroma      bool   // qlt chroma flag: 1 disables chroma subsampling
	qltSet      bool
	resMode     string // "" = default (sharp2)
	sharpen     bool
	usm         usmSpec
	usmR        bool // the unsharp mask came from op_usmR
	iccEmbedSet bool // iccEmbed=0 given (iccEmbed=1 is rejected)

	nonEmpty bool // at least one modifier (ignored ones included) was present
}

type fitMode uint8

const (
	fitNone fitMode = iota
	fitFit
	fitConstrain
	fitCrop
)

var fitNames = [...]string{"", "fit", "constrain", "crop"}

type flipMode uint8

const (
	flipNone flipMode = 0
	flipLR   flipMode = 1
	flipUD   flipMode = 2
	flipLRUD flipMode = flipLR | flipUD
)

var flipNames = [...]string{"", "lr", "ud", "lrud"}

// cropSpec is crop= (pixels) or cropN= (normalised), whichever came last.
type cropSpec struct {
	set        bool
	normalised bool
	x, y, w, h float64 // ints when !normalised
}

// usmSpec holds op_usm / op_usmR: amount 0..5, radius 0..250 px,
// threshold 0..255, monochrome (luminance only).
type usmSpec struct {
	amount, radius float64
	threshold      int
	mono           bool
}

func (u usmSpec) active() bool { return u.amount > 0 && u.radius > 0 }

// IsEmpty reports whether r holds no modifier at all (the modifier string
// was empty). Such a copy is byte-identical to its source.
func (r *Request) IsEmpty() bool { return r == nil || !r.nonEmpty }

// String returns r in canonical form: only commands with an effect, in a
// fixed order, with canonical names and values. Parse(r.String()) yields an
// equivalent Request. Ignored commands (id, comments, cache, ...) are left out.
func (r *Request) String() string {
	if r == nil {
		return ""
	}
	var parts []string
	add := func(name string, vals ...string) {
		parts = append(parts, name+"="+strings.Join(vals, ","))
	}
	if r.crop.set {
		if r.crop.normalised {
			add("cropN", ftoa(r.crop.x), ftoa(r.crop.y), ftoa(r.crop.w), ftoa(r.crop.h))
		} else {
			add("crop", ftoa(r.crop.x), ftoa(r.crop.y), ftoa(r.crop.w), ftoa(r.crop.h))
		}
	}
	if r.rotate != 0 {
		add("rotate", strconv.Itoa(r.rotate*90))
	}
	if r.flip != flipNone {
		add("flip", flipNames[r.flip])
	}
	if r.wid > 0 {
		add("wid", strconv.Itoa(r.wid))
	}
	if r.hei > 0 {
		add("hei", strconv.Itoa(r.hei))
	}
	if r.scl > 0 {
		add("scl", ftoa(r.scl))
	}
	if r.fit != fitNone {
		add("fit", fitNames[r.fit], btoa(r.upscale))
	}
	if r.alignSet {
		add("align", ftoa(r.alignX), ftoa(r.alignY))
	}
	if r.bgcSet {
		c := r.bgc
		add("bgc", strings.ToLower(strconv.FormatUint(uint64(c.R)<<16|uint64(c.G)<<8|uint64(c.B)|1<<24, 16)[1:]))
	}
	if r.resMode != "" {
		add("resMode", r.resMode)
	}
	if r.sharpen {
		add("op_sharpen", "1")
	}
	if r.usm.active() || r.usm != (usmSpec{}) {
		name := "op_usm"
		if r.usmR {
			name = "op_usmR"
		}
		add(name, ftoa(r.usm.amount), ftoa(r.usm.radius), strconv.Itoa(r.usm.threshold), btoa(r.usm.mono))
	}
	if r.format != "" {
		vals := []string{r.format}
		if r.gray || r.compression != "" {
			pt := ""
			if r.gray {
				pt = "gray"
			}
			vals = append(vals, pt)
		}
		if r.compression != "" {
			vals = append(vals, r.compression)
		}
		add("fmt", vals...)
	}
	if r.qltSet {
		add("qlt", strconv.Itoa(r.qlt), btoa(r.chroma))
	}
	if r.iccEmbedSet {
		add("iccEmbed", "0")
	}
	return strings.Join(parts, "&")
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func btoa(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// roundHalfUp rounds x to the nearest integer, halves away from -inf
// (image-serving.md §7.6: round half up).
func roundHalfUp(x float64) int64 { return int64(math.Floor(x + 0.5)) }
