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
	rgn      rectSpec // region of interest on the composite
	rect     rectSpec // tile of the view
	widen    bool     // crop is rgn: it sets scale and placement, the view shows the whole composite (viewOnly)
	dpr      float64  // dpr=on,N multiplier; 0 = off

	// layer 0
	crop     cropSpec
	rotate   int     // clockwise quarter turns, 0..3, when angle is a multiple of 90
	angle    float64 // rotate= in degrees, normalised to [0, 360)
	flip     flipMode
	size     [2]int  // size=w,h; 0 = computed from the other side
	scale    float64 // scale=; 0 = not given
	extend   extendSpec
	bgColor  color.NRGBA // layer background (straight alpha)
	bgColSet bool
	color    color.NRGBA // fill of transparent areas before rotate
	colorSet bool

	// composite operations (doc.go gives their order)
	ops opSpec

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
	iccEmbed    bool
	iccEmbedSet bool
	xmpEmbed    bool
	xmpEmbedSet bool
	pscan       int // pjpeg scans: 0 = auto, 3..5
	jpegSize    int // kilobytes; 0 = unconstrained
	printRes    int // dpi; 0 = the source's
	quant       quantSpec

	nonEmpty bool // at least one modifier (ignored ones included) was present
}

type fitMode uint8

const (
	fitNone fitMode = iota
	fitFit
	fitConstrain
	fitCrop
	fitWrap
	fitStretch
	fitHfit
	fitVfit
)

var fitNames = [...]string{"", "fit", "constrain", "crop", "wrap", "stretch", "hfit", "vfit"}

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

// rectSpec is rgn= or rect= (pixels; scale only for rect).
type rectSpec struct {
	set        bool
	x, y, w, h int
	scale      float64 // rect's extra scale; 0 = 1
}

// extendSpec is extend= (pixels) or extendN= (relative to the layer size):
// left, top, right, bottom; negative values crop.
type extendSpec struct {
	set        bool
	normalised bool
	l, t, r, b float64
}

// opSpec holds the composite operations; the zero value does nothing.
type opSpec struct {
	brightness, contrast int    // -100..100
	balance              [3]int // op_colorbalance r,g,b -100..100
	hue                  int    // degrees -180..180
	saturation           int    // -100..100
	colorize             colorizeSpec
	invert               bool
	blur                 float64 // radius 0..100
	grow                 int     // -100..100
	noise                noiseSpec
	opac, fillOpac       int // 0..100; both 0 = not given (100)
	opacSet              bool
}

type colorizeSpec struct {
	set      bool
	c        color.NRGBA
	norm     bool // "norm" (default) or "off"
	contrast float64
}

type noiseSpec struct {
	amount   int // 0..100 %
	gaussian bool
	mono     bool
}

// quantSpec is quantize= for gif and png8 (default adaptive,diffuse,256).
type quantSpec struct {
	set     bool
	palette string // adaptive, web, mac
	noDith  bool
	colors  int    // 2..256; 0 = 256
	forced  string // comma-separated hex6, canonical lower case
}

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
		name := "crop"
		if r.crop.normalised {
			name = "cropN"
		}
		add(name, ftoa(r.crop.x), ftoa(r.crop.y), ftoa(r.crop.w), ftoa(r.crop.h))
	}
	if r.size != [2]int{} {
		add("size", strconv.Itoa(r.size[0]), strconv.Itoa(r.size[1]))
	}
	if r.scale > 0 {
		add("scale", ftoa(r.scale))
	}
	if r.colorSet {
		add("color", colorString(r.color))
	}
	if r.angle != 0 {
		add("rotate", ftoa(r.angle))
	}
	if r.extend.set {
		name := "extend"
		if r.extend.normalised {
			name = "extendN"
		}
		e := r.extend
		add(name, ftoa(e.l), ftoa(e.t), ftoa(e.r), ftoa(e.b))
	}
	if r.bgColSet {
		add("bgColor", colorString(r.bgColor))
	}
	if r.flip != flipNone {
		add("flip", flipNames[r.flip])
	}
	o := r.ops
	if o.brightness != 0 {
		add("op_brightness", strconv.Itoa(o.brightness))
	}
	if o.contrast != 0 {
		add("op_contrast", strconv.Itoa(o.contrast))
	}
	if o.balance != [3]int{} {
		add("op_colorbalance", strconv.Itoa(o.balance[0]), strconv.Itoa(o.balance[1]), strconv.Itoa(o.balance[2]))
	}
	if o.hue != 0 {
		add("op_hue", strconv.Itoa(o.hue))
	}
	if o.saturation != 0 {
		add("op_saturation", strconv.Itoa(o.saturation))
	}
	if c := o.colorize; c.set {
		mode := "off"
		if c.norm {
			mode = "norm"
		}
		add("op_colorize", colorString(c.c), mode, ftoa(c.contrast))
	}
	if o.invert {
		add("op_invert", "1")
	}
	if o.blur != 0 {
		add("op_blur", ftoa(o.blur))
	}
	if o.grow != 0 {
		add("op_grow", strconv.Itoa(o.grow))
	}
	if n := o.noise; n.amount != 0 || n.gaussian || n.mono {
		dist := "uniform"
		if n.gaussian {
			dist = "gaussian"
		}
		add("op_noise", strconv.Itoa(n.amount), dist, btoa(n.mono))
	}
	if o.opacSet {
		add("opac", strconv.Itoa(o.opac), strconv.Itoa(o.fillOpac))
	}
	if r.rgn.set {
		add("rgn", strconv.Itoa(r.rgn.x), strconv.Itoa(r.rgn.y), strconv.Itoa(r.rgn.w), strconv.Itoa(r.rgn.h))
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
	if r.dpr > 0 {
		add("dpr", "on", ftoa(r.dpr))
	}
	if r.rect.set {
		add("rect", strconv.Itoa(r.rect.x), strconv.Itoa(r.rect.y), strconv.Itoa(r.rect.w), strconv.Itoa(r.rect.h), ftoa(r.rect.scale))
	}
	if r.bgcSet {
		add("bgc", colorString(r.bgc))
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
	if r.pscan != 0 {
		add("pscan", strconv.Itoa(r.pscan))
	}
	if r.jpegSize != 0 {
		add("jpegSize", strconv.Itoa(r.jpegSize))
	}
	if q := r.quant; q.set {
		dither := "diffuse"
		if q.noDith {
			dither = "off"
		}
		vals := []string{q.palette, dither, strconv.Itoa(q.colors)}
		if q.forced != "" {
			vals = append(vals, q.forced)
		}
		add("quantize", vals...)
	}
	if r.printRes != 0 {
		add("printRes", strconv.Itoa(r.printRes))
	}
	if r.iccEmbedSet {
		add("iccEmbed", btoa(r.iccEmbed))
	}
	if r.xmpEmbedSet {
		add("xmpEmbed", btoa(r.xmpEmbed))
	}
	return strings.Join(parts, "&")
}

// colorString returns c as hex8 (RRGGBBAA), which parseColor reads back
// exactly.
func colorString(c color.NRGBA) string {
	const hexd = "0123456789abcdef"
	b := []byte{}
	for _, v := range []uint8{c.R, c.G, c.B, c.A} {
		b = append(b, hexd[v>>4], hexd[v&15])
	}
	return string(b)
}

// ftoa formats f without an exponent, which parseReal refuses.
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func btoa(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// roundHalfUp rounds x to the nearest integer, halves away from -inf
// (image-serving.md §7.6: round half up).
func roundHalfUp(x float64) int64 { return int64(math.Floor(x + 0.5)) }
