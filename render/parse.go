package render

import (
	"math"
	"net/url"
	"strconv"
	"strings"
)

// Parse parses an Image Serving modifier string (the urlModifier of
// copyImage; image-serving.md §1). An empty string is valid and returns a
// Request with IsEmpty true. Every error is a *CommandError.
func Parse(modifier string) (*Request, error) {
	r := &Request{}
	for _, mod := range strings.Split(modifier, "&") {
		if mod == "" {
			continue // "a=1&&b=2" and a trailing '&' carry nothing
		}
		r.nonEmpty = true
		if mod[0] == '.' {
			continue // comment (§1.1)
		}
		name, raw, hasValue := strings.Cut(mod, "=")
		if strings.HasPrefix(name, "$") {
			// macros and variables need a server-side catalog (§1.5)
			return nil, &CommandError{Command: name, Value: raw, Reason: reasonUnsupported}
		}
		value, err := url.PathUnescape(raw)
		if err != nil {
			return nil, &CommandError{Command: name, Value: raw, Reason: "bad percent-encoding"}
		}
		key := strings.ToLower(name)
		cmd, ok := commands[key]
		if !ok {
			return nil, &CommandError{Command: name, Reason: reasonUnknown}
		}
		if cmd.parse == nil {
			return nil, &CommandError{Command: name, Value: value, Reason: cmd.status}
		}
		if !hasValue && !cmd.noValue {
			return nil, &CommandError{Command: name, Value: value, Reason: "a value is required"}
		}
		if err := cmd.parse(r, value); err != nil {
			return nil, &CommandError{Command: name, Value: value, Reason: err.Error()}
		}
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

type command struct {
	// parse stores the decoded value in r; its error becomes the Reason of
	// a CommandError. nil parse means the command is refused with status.
	parse   func(r *Request, v string) error
	status  string
	noValue bool // the '=' may be missing
}

var commands map[string]command

func init() {
	commands = map[string]command{
		// view
		"wid":   {parse: parseWid},
		"hei":   {parse: parseHei},
		"scl":   {parse: parseScl},
		"fit":   {parse: parseFit},
		"align": {parse: parseAlign},
		"bgc":   {parse: parseBgc},
		"rgn":   {parse: parseRgn},
		"rect":  {parse: parseRect},
		"dpr":   {parse: parseDpr},

		// layer 0
		"crop":    {parse: parseCrop},
		"cropn":   {parse: parseCropN},
		"size":    {parse: parseSizeCmd},
		"scale":   {parse: parseScale},
		"rotate":  {parse: parseRotate},
		"flip":    {parse: parseFlip},
		"extend":  {parse: parseExtend(false)},
		"extendn": {parse: parseExtend(true)},
		"bgcolor": {parse: parseBgColor},
		"color":   {parse: parseColorCmd},

		// composite operations
		"op_brightness":   {parse: intRange(-100, 100, func(r *Request, n int) { r.ops.brightness = n })},
		"op_contrast":     {parse: intRange(-100, 100, func(r *Request, n int) { r.ops.contrast = n })},
		"op_colorbalance": {parse: parseColorBalance},
		"op_hue":          {parse: intRange(-180, 180, func(r *Request, n int) { r.ops.hue = n })},
		"op_saturation":   {parse: intRange(-100, 100, func(r *Request, n int) { r.ops.saturation = n })},
		"op_colorize":     {parse: parseColorize},
		"op_invert":       {parse: parseInvert},
		"op_blur":         {parse: parseBlur},
		"op_grow":         {parse: intRange(-100, 100, func(r *Request, n int) { r.ops.grow = n })},
		"op_noise":        {parse: parseNoise},
		"opac":            {parse: parseOpac},

		// view image and output
		"resmode":    {parse: parseResMode},
		"op_sharpen": {parse: parseSharpen},
		"op_usm":     {parse: parseUSM(false)},
		"op_usmr":    {parse: parseUSM(true)},
		"fmt":        {parse: parseFmt},
		"qlt":        {parse: parseQlt},
		"pscan":      {parse: parsePscan},
		"jpegsize":   {parse: parseJpegSize},
		"quantize":   {parse: parseQuantize},
		"printres":   {parse: parsePrintRes},
		"iccembed":   {parse: parseICCEmbed},
		"xmpembed":   {parse: parseXMPEmbed},

		// accepted, no effect on a single offline render (decisions §7,
		// image-serving.md §5)
		"id":      {parse: ignore, noValue: true},
		"cache":   {parse: ignore, noValue: true},
		"req":     {parse: parseReq},
		"layer":   {parse: parseLayer},
		"anchor":  {parse: ints(2)},
		"anchorn": {parse: reals(2)},
		"pos":     {parse: ints(2)},
		"posn":    {parse: reals(2)},
		"origin":  {parse: ints(2)},
		"originn": {parse: reals(2)},
		"bfc":     {parse: onOff},
		"network": {parse: onOff},
	}

	// known Image Serving commands that ipsd will not support offline
	// (image-serving.md §0, §5 "Reject")
	for _, n := range []string{
		"src", "mask", "maskuse", "effect", "effectmask", "blendmode", "hide",
		"perspective", "perspectiven", "clippath", "clippathe", "croppathe", "pathembed",
		"text", "textps", "textattr", "textangle", "textpath", "textflowpath",
		"textflowxpath", "pathattr", "template", "locale", "imageset", "map", "type",
		"defaultimage", "res", "icc", "op_growmask", "op_growmaskr", "sizen",
	} {
		commands[n] = command{status: reasonUnsupported}
	}
}

// validate checks the rules that tie commands together, once the whole
// modifier is parsed.
func (r *Request) validate() error {
	if r.fit != fitNone && r.wid == 0 && r.hei == 0 {
		return &CommandError{Command: "fit", Value: fitNames[r.fit], Reason: "fit needs wid or hei"}
	}
	if r.quant.palette == "mac" && formats[r.format].alpha {
		return &CommandError{Command: "quantize", Value: "mac", Reason: "the mac palette is not allowed for " + r.format}
	}
	return nil
}

// errValue is a plain reason; Parse wraps it in a CommandError.
type errValue string

func (e errValue) Error() string { return string(e) }

func ignore(*Request, string) error { return nil }

// list splits a comma-separated argument list. Empty middle arguments are
// kept as "" (fmt=tif,,lzw).
func list(v string, min, max int) ([]string, error) {
	parts := strings.Split(v, ",")
	if len(parts) < min || len(parts) > max {
		if min == max {
			return nil, errValue("want " + strconv.Itoa(min) + " comma-separated values")
		}
		return nil, errValue("want " + strconv.Itoa(min) + " to " + strconv.Itoa(max) + " comma-separated values")
	}
	return parts, nil
}

// parseInt parses a strict decimal integer (sign allowed, nothing else)
// no larger in magnitude than 2147483648 (image-serving.md §1.2).
func parseInt(s string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > 1<<31 || n < -(1<<31) {
		return 0, errValue("'" + s + "' is not an integer")
	}
	return int(n), nil
}

// parseReal parses a decimal real; leading-dot forms (.9, -.5) are allowed,
// exponents, hex, infinities and NaN are not.
func parseReal(s string) (float64, error) {
	bad := errValue("'" + s + "' is not a number")
	digits := 0
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
		case (c == '-' || c == '+') && i == 0:
		default:
			return 0, bad
		}
	}
	if digits == 0 {
		return 0, bad
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1<<31 {
		return 0, bad
	}
	return f, nil
}

// parseFlag accepts 0|1 and, as Adobe's own examples do, true|false.
func parseFlag(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, errValue("want 0 or 1")
}

func ints(n int) func(*Request, string) error {
	return func(_ *Request, v string) error {
		parts, err := list(v, n, n)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if _, err := parseInt(p); err != nil {
				return err
			}
		}
		return nil
	}
}

func reals(n int) func(*Request, string) error {
	return func(_ *Request, v string) error {
		parts, err := list(v, n, n)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if _, err := parseReal(p); err != nil {
				return err
			}
		}
		return nil
	}
}

func onOff(_ *Request, v string) error {
	switch strings.ToLower(v) {
	case "on", "off", "0", "1":
		return nil
	}
	return errValue("want on or off")
}

// parseDpr reads dpr=off|on[,N]. Offline there is no device: on,N is a
// plain multiplier of the reply size; on alone is 1.
func parseDpr(r *Request, v string) error {
	parts, err := list(v, 1, 2)
	if err != nil {
		return err
	}
	switch strings.ToLower(parts[0]) {
	case "off":
		if len(parts) > 1 {
			return errValue("dpr=off takes no ratio")
		}
		r.dpr = 0
		return nil
	case "on":
	default:
		return errValue("want off or on,ratio")
	}
	r.dpr = 0
	if len(parts) == 2 && parts[1] != "" {
		f, err := parseReal(parts[1])
		if err != nil {
			return err
		}
		if f <= 0 || f > 100 {
			return errValue("ratio must be greater than 0 and at most 100")
		}
		if f != 1 {
			r.dpr = f
		}
	}
	return nil
}

func parseReq(_ *Request, v string) error {
	if strings.EqualFold(v, "img") {
		return nil
	}
	return errValue("req=" + v + " is " + reasonUnsupported + "; a copy is req=img")
}

func parseLayer(_ *Request, v string) error {
	if strings.EqualFold(v, "comp") {
		return nil
	}
	return errValue("layer=" + v + ": layers are " + reasonUnsupported + "; only layer=comp is accepted")
}

func parseSize(v string) (int, error) {
	n, err := parseInt(v)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, errValue("must be greater than 0")
	}
	return n, nil
}

func parseWid(r *Request, v string) (err error) {
	r.wid, err = parseSize(v)
	return err
}

func parseHei(r *Request, v string) (err error) {
	r.hei, err = parseSize(v)
	return err
}

func parseScl(r *Request, v string) error {
	f, err := parseReal(v)
	if err != nil {
		return err
	}
	if f <= 0 {
		return errValue("must be greater than 0")
	}
	r.scl = f
	return nil
}

func parseFit(r *Request, v string) error {
	parts, err := list(v, 1, 2)
	if err != nil {
		return err
	}
	switch strings.ToLower(parts[0]) {
	case "fit":
		r.fit = fitFit
	case "constrain":
		r.fit = fitConstrain
	case "crop":
		r.fit = fitCrop
	case "wrap":
		r.fit = fitWrap
	case "stretch":
		r.fit = fitStretch
	case "hfit":
		r.fit = fitHfit
	case "vfit":
		r.fit = fitVfit
	default:
		return errValue("want fit, constrain, crop, wrap, stretch, hfit or vfit")
	}
	r.upscale = false // documented default fit=fit,0
	if len(parts) == 2 {
		if r.upscale, err = parseFlag(parts[1]); err != nil {
			return err
		}
	}
	return nil
}

func parseAlign(r *Request, v string) error {
	parts, err := list(v, 2, 2)
	if err != nil {
		return err
	}
	var a [2]float64
	for i, p := range parts {
		if a[i], err = parseReal(p); err != nil {
			return err
		}
		if a[i] < -1 || a[i] > 1 {
			return errValue("values must be between -1 and 1")
		}
	}
	r.alignX, r.alignY, r.alignSet = a[0], a[1], true
	return nil
}

func parseCrop(r *Request, v string) error {
	parts, err := list(v, 4, 4)
	if err != nil {
		return err
	}
	var n [4]int
	for i, p := range parts {
		if n[i], err = parseInt(p); err != nil {
			return err
		}
	}
	if n[2] <= 0 || n[3] <= 0 {
		return errValue("width and height must be greater than 0")
	}
	r.crop = cropSpec{set: true, x: float64(n[0]), y: float64(n[1]), w: float64(n[2]), h: float64(n[3])}
	return nil
}

func parseCropN(r *Request, v string) error {
	parts, err := list(v, 4, 4)
	if err != nil {
		return err
	}
	var f [4]float64
	for i, p := range parts {
		if f[i], err = parseReal(p); err != nil {
			return err
		}
	}
	if f[2] <= 0 || f[3] <= 0 {
		return errValue("width and height must be greater than 0")
	}
	r.crop = cropSpec{set: true, normalised: true, x: f[0], y: f[1], w: f[2], h: f[3]}
	return nil
}

func parseRotate(r *Request, v string) error {
	f, err := parseReal(v)
	if err != nil {
		return err
	}
	a := math.Mod(f, 360)
	if a < 0 {
		a += 360
	}
	if a == 360 || a == -0 {
		a = 0
	}
	r.angle, r.rotate = a, 0
	if q := a / 90; q == math.Trunc(q) {
		r.rotate = int(q)
	}
	return nil
}

func parseFlip(r *Request, v string) error {
	switch strings.ToLower(v) {
	case "lr":
		r.flip = flipLR
	case "ud":
		r.flip = flipUD
	case "lrud":
		r.flip = flipLRUD
	default:
		return errValue("want lr, ud or lrud")
	}
	return nil
}

// fmtInfo describes an output format that fmt= may name.
type fmtInfo struct {
	format string // Sniff/Ext name: jpeg, png, gif, tiff, webp
	alpha  bool
	gray   bool     // pixelType gray allowed
	comps  []string // allowed compression values
}

var formats = map[string]fmtInfo{
	"jpeg":       {format: "jpeg", gray: true},
	"pjpeg":      {format: "jpeg", gray: true},
	"png":        {format: "png", gray: true},
	"png-alpha":  {format: "png", alpha: true, gray: true},
	"png8":       {format: "png"},
	"png8-alpha": {format: "png", alpha: true},
	"gif":        {format: "gif", gray: true},
	"gif-alpha":  {format: "gif", alpha: true, gray: true},
	"tif":        {format: "tiff", gray: true, comps: []string{"none", "lzw", "zip", "jpeg"}},
	"tif-alpha":  {format: "tiff", alpha: true, gray: true, comps: []string{"none", "lzw", "zip"}},
	"webp":       {format: "webp", comps: []string{"lossy", "lossless"}},
	"webp-alpha": {format: "webp", alpha: true, comps: []string{"lossy", "lossless"}},
}

var fmtAliases = map[string]string{"jpg": "jpeg", "web-alpha": "webp-alpha"}

func parseFmt(r *Request, v string) error {
	parts, err := list(v, 1, 3)
	if err != nil {
		return err
	}
	name := strings.ToLower(parts[0])
	if a, ok := fmtAliases[name]; ok {
		name = a
	}
	info, ok := formats[name]
	if !ok {
		switch name {
		case "avif", "avif-alpha", "heic", "jpeg2000", "jpeg2000-alpha", "jpegxr", "jpegxr-alpha",
			"pdf", "eps", "swf", "swf-alpha", "swf3", "swf3-alpha", "f4m", "m3u8":
			return errValue("format '" + parts[0] + "' is " + reasonUnsupported)
		}
		return errValue("unknown format '" + parts[0] + "'")
	}
	gray := false
	if len(parts) > 1 {
		switch pt := strings.ToLower(parts[1]); {
		case pt == "" || pt == "rgb":
		case pt == "gray" && info.gray:
			gray = true
		case pt == "gray" || pt == "cmyk":
			return errValue("pixel type '" + parts[1] + "' is not supported for " + name)
		default:
			return errValue("unknown pixel type '" + parts[1] + "'")
		}
	}
	comp := ""
	if len(parts) > 2 && parts[2] != "" {
		comp = strings.ToLower(parts[2])
		if len(info.comps) == 0 {
			return errValue("no compression option is allowed for " + name)
		}
		if !contains(info.comps, comp) {
			if name == "tif-alpha" && comp == "jpeg" {
				return errValue("JPEG compression is not allowed for tif-alpha")
			}
			return errValue("compression for " + name + " must be one of " + strings.Join(info.comps, ", "))
		}
	}
	r.format, r.gray, r.compression = name, gray, comp
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func parseQlt(r *Request, v string) error {
	parts, err := list(v, 1, 2)
	if err != nil {
		return err
	}
	q, err := parseInt(parts[0])
	if err != nil {
		return err
	}
	if q < 1 || q > 100 {
		return errValue("quality must be between 1 and 100")
	}
	chroma := false
	if len(parts) == 2 && parts[1] != "" {
		if chroma, err = parseFlag(parts[1]); err != nil {
			return err
		}
	}
	r.qlt, r.chroma, r.qltSet = q, chroma, true
	return nil
}

func parseBgc(r *Request, v string) error {
	c, err := parseColor(v)
	if err != nil {
		return err
	}
	c.A = 255 // bgc is opaque: its alpha is ignored (image-serving.md §4.1)
	r.bgc, r.bgcSet = c, true
	return nil
}

var resModes = []string{"bilin", "bicub", "sharp2", "sharp", "bisharp", "trilin"}

func parseResMode(r *Request, v string) error {
	m := strings.ToLower(v)
	if !contains(resModes, m) {
		return errValue("want one of " + strings.Join(resModes, ", "))
	}
	r.resMode = m
	return nil
}

func parseSharpen(r *Request, v string) (err error) {
	r.sharpen, err = parseFlag(v)
	return err
}

func parseUSM(unscaled bool) func(*Request, string) error {
	return func(r *Request, v string) error {
		parts, err := list(v, 1, 4)
		if err != nil {
			return err
		}
		var u usmSpec
		if u.amount, err = parseReal(parts[0]); err != nil {
			return err
		}
		if u.amount < 0 || u.amount > 5 {
			return errValue("amount must be between 0 and 5")
		}
		if len(parts) > 1 && parts[1] != "" {
			if u.radius, err = parseReal(parts[1]); err != nil {
				return err
			}
			if u.radius < 0 || u.radius > 250 {
				return errValue("radius must be between 0 and 250")
			}
		}
		if len(parts) > 2 && parts[2] != "" {
			if u.threshold, err = parseInt(parts[2]); err != nil {
				return err
			}
			if u.threshold < 0 || u.threshold > 255 {
				return errValue("threshold must be between 0 and 255")
			}
		}
		if len(parts) > 3 && parts[3] != "" {
			if u.mono, err = parseFlag(parts[3]); err != nil {
				return err
			}
		}
		r.usm, r.usmR = u, unscaled
		return nil
	}
}

func parseICCEmbed(r *Request, v string) (err error) {
	r.iccEmbed, err = parseFlag(v)
	r.iccEmbedSet = err == nil
	return err
}

func parseXMPEmbed(r *Request, v string) (err error) {
	r.xmpEmbed, err = parseFlag(v)
	r.xmpEmbedSet = err == nil
	return err
}

func parseRectSpec(v string, withScale bool) (rectSpec, error) {
	max := 4
	if withScale {
		max = 5
	}
	parts, err := list(v, 4, max)
	if err != nil {
		return rectSpec{}, err
	}
	var n [4]int
	for i, p := range parts[:4] {
		if n[i], err = parseInt(p); err != nil {
			return rectSpec{}, err
		}
	}
	if n[2] <= 0 || n[3] <= 0 {
		return rectSpec{}, errValue("width and height must be greater than 0")
	}
	rs := rectSpec{set: true, x: n[0], y: n[1], w: n[2], h: n[3], scale: 1}
	if len(parts) == 5 && parts[4] != "" {
		if rs.scale, err = parseReal(parts[4]); err != nil {
			return rectSpec{}, err
		}
		if rs.scale <= 0 || rs.scale > 100 {
			return rectSpec{}, errValue("scale must be greater than 0 and at most 100")
		}
	}
	return rs, nil
}

func parseRgn(r *Request, v string) (err error) {
	r.rgn, err = parseRectSpec(v, false)
	r.rgn.scale = 0
	return err
}

func parseRect(r *Request, v string) (err error) {
	r.rect, err = parseRectSpec(v, true)
	return err
}

func parseSizeCmd(r *Request, v string) error {
	parts, err := list(v, 2, 2)
	if err != nil {
		return err
	}
	var n [2]int
	for i, p := range parts {
		if n[i], err = parseInt(p); err != nil {
			return err
		}
		if n[i] < 0 {
			return errValue("sizes must not be negative")
		}
	}
	r.size = n
	return nil
}

func parseScale(r *Request, v string) error {
	f, err := parseReal(v)
	if err != nil {
		return err
	}
	if f <= 0 {
		return errValue("must be greater than 0")
	}
	r.scale = f
	if f == 1 {
		r.scale = 0 // full resolution, the default
	}
	return nil
}

func parseExtend(normalised bool) func(*Request, string) error {
	return func(r *Request, v string) error {
		parts, err := list(v, 4, 4)
		if err != nil {
			return err
		}
		var f [4]float64
		for i, p := range parts {
			if normalised {
				f[i], err = parseReal(p)
			} else {
				var n int
				n, err = parseInt(p)
				f[i] = float64(n)
			}
			if err != nil {
				return err
			}
		}
		r.extend = extendSpec{set: f != [4]float64{}, normalised: normalised, l: f[0], t: f[1], r: f[2], b: f[3]}
		if !r.extend.set {
			r.extend = extendSpec{}
		}
		return nil
	}
}

func parseBgColor(r *Request, v string) error {
	c, err := parseColor(v)
	if err != nil {
		return err
	}
	r.bgColor, r.bgColSet = c, true
	return nil
}

func parseColorCmd(r *Request, v string) error {
	c, err := parseColor(v)
	if err != nil {
		return err
	}
	r.color, r.colorSet = c, true
	return nil
}

func intRange(lo, hi int, set func(*Request, int)) func(*Request, string) error {
	return func(r *Request, v string) error {
		n, err := parseInt(v)
		if err != nil {
			return err
		}
		if n < lo || n > hi {
			return errValue("must be between " + strconv.Itoa(lo) + " and " + strconv.Itoa(hi))
		}
		set(r, n)
		return nil
	}
}

func parseColorBalance(r *Request, v string) error {
	parts, err := list(v, 3, 3)
	if err != nil {
		return err
	}
	var b [3]int
	for i, p := range parts {
		if b[i], err = parseInt(p); err != nil {
			return err
		}
		if b[i] < -100 || b[i] > 100 {
			return errValue("values must be between -100 and 100")
		}
	}
	r.ops.balance = b
	return nil
}

// parseColorize reads op_colorize=color[,off|norm[,contrast]]; the colour
// must be an RGB one (image-serving.md §1.3).
func parseColorize(r *Request, v string) error {
	// the colour itself may hold commas: the mode keyword marks its end
	parts := strings.Split(v, ",")
	cEnd := len(parts)
	for i, p := range parts {
		if l := strings.ToLower(p); l == "off" || l == "norm" {
			cEnd = i
			break
		}
	}
	cs := strings.Join(parts[:cEnd], ",")
	lc := strings.TrimSuffix(strings.ToLower(cs), "s")
	if n := strings.Count(lc, ",") + 1; strings.HasSuffix(lc, "g") || strings.HasSuffix(lc, "k") ||
		(strings.Contains(lc, ",") && n < 3) || (!strings.Contains(lc, ",") && len(strings.TrimPrefix(lc, "0x")) < 6) {
		return errValue("op_colorize takes an RGB colour")
	}
	c, err := parseColor(cs)
	if err != nil {
		return err
	}
	spec := colorizeSpec{set: true, c: c, norm: true}
	rest := parts[cEnd:]
	if len(rest) > 2 {
		return errValue("want color[,off|norm[,contrast]]")
	}
	if len(rest) > 0 {
		spec.norm = strings.EqualFold(rest[0], "norm")
	}
	if len(rest) > 1 && rest[1] != "" {
		if spec.contrast, err = parseReal(rest[1]); err != nil {
			return err
		}
		if spec.contrast < 0 || spec.contrast > 100 {
			return errValue("contrast must be between 0 and 100")
		}
	}
	r.ops.colorize = spec
	return nil
}

func parseInvert(r *Request, v string) (err error) {
	r.ops.invert, err = parseFlag(v)
	return err
}

func parseBlur(r *Request, v string) error {
	f, err := parseReal(v)
	if err != nil {
		return err
	}
	if f < 0 || f > 100 {
		return errValue("radius must be between 0 and 100")
	}
	r.ops.blur = f
	return nil
}

func parseNoise(r *Request, v string) error {
	parts, err := list(v, 1, 3)
	if err != nil {
		return err
	}
	var n noiseSpec
	if n.amount, err = parseInt(parts[0]); err != nil {
		return err
	}
	if n.amount < 0 || n.amount > 100 {
		return errValue("amount must be between 0 and 100")
	}
	if len(parts) > 1 && parts[1] != "" {
		switch strings.ToLower(parts[1]) {
		case "uniform":
		case "gaussian":
			n.gaussian = true
		default:
			return errValue("distribution must be uniform or gaussian")
		}
	}
	if len(parts) > 2 && parts[2] != "" {
		if n.mono, err = parseFlag(parts[2]); err != nil {
			return err
		}
	}
	if n.amount == 0 {
		n = noiseSpec{}
	}
	r.ops.noise = n
	return nil
}

func parseOpac(r *Request, v string) error {
	parts, err := list(v, 1, 2)
	if err != nil {
		return err
	}
	o := [2]int{100, 100}
	for i, p := range parts {
		if p == "" {
			continue
		}
		if o[i], err = parseInt(p); err != nil {
			return err
		}
		if o[i] < 0 || o[i] > 100 {
			return errValue("values must be between 0 and 100")
		}
	}
	r.ops.opac, r.ops.fillOpac, r.ops.opacSet = o[0], o[1], o != [2]int{100, 100}
	if !r.ops.opacSet {
		r.ops.opac, r.ops.fillOpac = 0, 0
	}
	return nil
}

func parsePscan(r *Request, v string) error {
	if strings.EqualFold(v, "auto") {
		r.pscan = 0
		return nil
	}
	n, err := parseInt(v)
	if err != nil || n < 3 || n > 5 {
		return errValue("want auto, 3, 4 or 5")
	}
	r.pscan = n
	return nil
}

func parseJpegSize(r *Request, v string) error {
	n, err := parseInt(v)
	if err != nil {
		return err
	}
	if n < 0 {
		return errValue("must not be negative")
	}
	r.jpegSize = n
	return nil
}

func parsePrintRes(r *Request, v string) error {
	n, err := parseInt(v)
	if err != nil {
		return err
	}
	if n <= 0 || n > 1e6 {
		return errValue("must be between 1 and 1000000")
	}
	r.printRes = n
	return nil
}

// parseQuantize reads quantize=type[,dither[,numColors[,colorList]]].
func parseQuantize(r *Request, v string) error {
	parts := strings.Split(v, ",")
	q := quantSpec{set: true, palette: "adaptive", colors: 256}
	switch t := strings.ToLower(parts[0]); t {
	case "adaptive", "web", "mac":
		q.palette = t
	default:
		return errValue("type must be adaptive, web or mac")
	}
	if len(parts) > 1 && parts[1] != "" {
		switch strings.ToLower(parts[1]) {
		case "diffuse":
		case "off":
			q.noDith = true
		default:
			return errValue("dither must be diffuse or off")
		}
	}
	if len(parts) > 2 && parts[2] != "" {
		n, err := parseInt(parts[2])
		if err != nil {
			return err
		}
		if n < 2 || n > 256 {
			return errValue("numColors must be between 2 and 256")
		}
		q.colors = n
	}
	if len(parts) > 3 {
		forced := parts[3:]
		if len(forced) > q.colors {
			return errValue("more forced colours than numColors")
		}
		for i, c := range forced {
			if len(c) != 6 || !isHex(strings.ToLower(c)) {
				return errValue("forced colours must be hex RRGGBB without 0x")
			}
			forced[i] = strings.ToLower(c)
		}
		q.forced = strings.Join(forced, ",")
	}
	r.quant = q
	return nil
}
