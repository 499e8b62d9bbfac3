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
		// implemented
		"wid":        {parse: parseWid},
		"hei":        {parse: parseHei},
		"scl":        {parse: parseScl},
		"fit":        {parse: parseFit},
		"align":      {parse: parseAlign},
		"crop":       {parse: parseCrop},
		"cropn":      {parse: parseCropN},
		"rotate":     {parse: parseRotate},
		"flip":       {parse: parseFlip},
		"fmt":        {parse: parseFmt},
		"qlt":        {parse: parseQlt},
		"bgc":        {parse: parseBgc},
		"resmode":    {parse: parseResMode},
		"op_sharpen": {parse: parseSharpen},
		"op_usm":     {parse: parseUSM(false)},
		"op_usmr":    {parse: parseUSM(true)},
		"iccembed":   {parse: parseICCEmbed},

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
		"dpr":     {parse: parseDpr},
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
	// known Image Serving commands not implemented yet
	for _, n := range []string{
		"size", "scale", "extend", "extendn", "bgcolor", "color", "rgn", "rect",
		"op_blur", "op_brightness", "op_contrast", "op_colorbalance", "op_hue",
		"op_saturation", "op_colorize", "op_invert", "op_noise", "op_grow", "opac",
		"xmpembed", "jpegsize", "quantize", "pscan", "printres",
	} {
		commands[n] = command{status: reasonNotYet}
	}
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

func parseDpr(_ *Request, v string) error {
	if strings.EqualFold(v, "off") {
		return nil
	}
	return errValue("only dpr=off is supported by ipsd yet")
}

func parseReq(_ *Request, v string) error {
	if strings.EqualFold(v, "img") {
		return nil
	}
	return errValue("only req=img is supported by ipsd")
}

func parseLayer(_ *Request, v string) error {
	if strings.EqualFold(v, "comp") {
		return nil
	}
	return errValue("layers are not supported by ipsd; only layer=comp is accepted")
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
	case "wrap", "stretch", "hfit", "vfit":
		return errValue("fit mode '" + parts[0] + "' is " + reasonNotYet)
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
	q := f / 90
	if q != math.Trunc(q) {
		return errValue("only multiples of 90 degrees are supported by ipsd yet")
	}
	r.rotate = int(((int64(q) % 4) + 4) % 4)
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
	"png":        {format: "png", gray: true},
	"png-alpha":  {format: "png", alpha: true, gray: true},
	"gif":        {format: "gif", gray: true},
	"gif-alpha":  {format: "gif", alpha: true, gray: true},
	"tif":        {format: "tiff", gray: true, comps: []string{"none", "zip"}},
	"tif-alpha":  {format: "tiff", alpha: true, gray: true, comps: []string{"none", "zip"}},
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
		case "pjpeg", "png8", "png8-alpha":
			return errValue("format '" + parts[0] + "' is " + reasonNotYet)
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
			if name[:3] == "tif" && (comp == "lzw" || comp == "jpeg") {
				return errValue("TIFF compression '" + comp + "' is " + reasonNotYet)
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

func parseICCEmbed(r *Request, v string) error {
	on, err := parseFlag(v)
	if err != nil {
		return err
	}
	if on {
		return errValue("embedding an ICC profile is " + reasonNotYet)
	}
	r.iccEmbedSet = true
	return nil
}
