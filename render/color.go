package render

import (
	"image/color"
	"strconv"
	"strings"
)

// parseColor parses an Image Serving colour value (image-serving.md §1.3):
//
//	gray[,alpha][g] | red,green,blue[,alpha][r] | c,m,y,k[,alpha]k |
//	0x{hex2|hex4}[g] | [0x]{hex6|hex8}[r] | [0x]{hex8|hex10}k, then [s]
//
// Decimal RGB is 0..255; decimal gray, CMYK and the alpha of gray and CMYK
// are percentages. CMYK is converted naïvely to RGB. The result is straight
// (not premultiplied) alpha.
func parseColor(v string) (color.NRGBA, error) {
	bad := errValue("not a colour")
	s := strings.ToLower(v)
	s = strings.TrimSuffix(s, "s") // source colour space: ignored by bgc
	suffix := byte(0)
	if n := len(s); n > 0 && (s[n-1] == 'r' || s[n-1] == 'g' || s[n-1] == 'k') {
		suffix = s[n-1]
		s = s[:n-1]
	}
	if s == "" {
		return color.NRGBA{}, bad
	}

	hex, prefixed := strings.CutPrefix(s, "0x")
	if isHex(hex) && !strings.Contains(s, ",") &&
		(prefixed || len(hex) == 6 || len(hex) == 8 || len(hex) == 10) {
		return parseHexColor(hex, prefixed, suffix)
	}

	parts := strings.Split(s, ",")
	n := make([]int, len(parts))
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return color.NRGBA{}, bad
		}
		n[i] = x
	}
	pct := func(x int) (uint8, bool) { return uint8((x*255 + 50) / 100), x <= 100 }
	byteVal := func(x int) (uint8, bool) { return uint8(x), x <= 255 }

	switch {
	case suffix == 'k':
		if len(n) != 4 && len(n) != 5 {
			return color.NRGBA{}, bad
		}
		var c [5]uint8
		c[4] = 255
		for i, x := range n {
			var ok bool
			if c[i], ok = pct(x); !ok {
				return color.NRGBA{}, errValue("CMYK components are percentages 0..100")
			}
		}
		return cmykToNRGBA(c[0], c[1], c[2], c[3], c[4]), nil
	case (len(n) == 1 || len(n) == 2) && suffix != 'r':
		g, ok := pct(n[0])
		a := uint8(255)
		if len(n) == 2 {
			a, ok = pct(n[1])
			ok = ok && n[0] <= 100
		}
		if !ok {
			return color.NRGBA{}, errValue("gray components are percentages 0..100")
		}
		return color.NRGBA{g, g, g, a}, nil
	case (len(n) == 3 || len(n) == 4) && suffix != 'g':
		var c [4]uint8
		c[3] = 255
		for i, x := range n {
			var ok bool
			if c[i], ok = byteVal(x); !ok {
				return color.NRGBA{}, errValue("RGB components are 0..255")
			}
		}
		return color.NRGBA{c[0], c[1], c[2], c[3]}, nil
	}
	return color.NRGBA{}, bad
}

func parseHexColor(hex string, prefixed bool, suffix byte) (color.NRGBA, error) {
	b := make([]uint8, len(hex)/2)
	if len(hex)%2 != 0 {
		return color.NRGBA{}, errValue("odd number of hex digits")
	}
	for i := range b {
		x, _ := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		b[i] = uint8(x)
	}
	switch {
	case suffix == 'k' && (len(b) == 4 || len(b) == 5):
		a := uint8(255)
		if len(b) == 5 {
			a = b[4]
		}
		return cmykToNRGBA(b[0], b[1], b[2], b[3], a), nil
	case suffix != 'k' && suffix != 'g' && (len(b) == 3 || len(b) == 4):
		a := uint8(255)
		if len(b) == 4 {
			a = b[3]
		}
		return color.NRGBA{b[0], b[1], b[2], a}, nil
	case suffix != 'k' && suffix != 'r' && prefixed && (len(b) == 1 || len(b) == 2):
		a := uint8(255)
		if len(b) == 2 {
			a = b[1]
		}
		return color.NRGBA{b[0], b[0], b[0], a}, nil
	}
	return color.NRGBA{}, errValue("not a colour")
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func cmykToNRGBA(c, m, y, k, a uint8) color.NRGBA {
	r, g, b := color.CMYKToRGB(c, m, y, k)
	return color.NRGBA{r, g, b, a}
}
