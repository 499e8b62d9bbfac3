package watch

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Suffixes of the result stored beside a claimed request in .work/.
const (
	okSuffix     = ".ok"
	failedSuffix = ".failed"
	tmpPrefix    = ".tmp"
)

// isRequestName reports whether name, a top-level entry of the folder, may
// be a request file. Length is checked separately (see MaxNameLen).
func isRequestName(name string) bool {
	if name == "" || name[0] == '.' || name[0] == '#' || strings.HasPrefix(name, "~$") {
		return false
	}
	lower := strings.ToLower(name)
	if !strings.HasSuffix(lower, ".xml") || strings.HasSuffix(lower, ".result.xml") {
		return false
	}
	return len(name) > len(".xml")
}

// splitExt splits a request name into its stem and its ".xml" extension
// (in the case it was given).
func splitExt(name string) (stem, ext string) {
	i := len(name) - len(".xml")
	return name[:i], name[i:]
}

// pairNames returns the names of the n-th request/result pair for a request
// named stem+ext: req1.xml and req1.result.xml, then req1.2.xml and
// req1.2.result.xml, and so on.
func pairNames(stem, ext string, n int) (req, result string) {
	if n > 1 {
		stem += "." + strconv.Itoa(n)
	}
	return stem + ext, stem + ".result.xml"
}

// A tag identifies who claimed an entry in .work/ and for which attempt.
type tag struct {
	base    string // request name, or tmpPrefix for temp files
	host    string
	pid     int
	inst    string
	attempt int
}

// name returns the entry name for t with random part rnd:
// <base>.<host>.<pid>.<inst>-<rnd>-<attempt>.
func (t tag) name(rnd string) string {
	return fmt.Sprintf("%s.%s.%d.%s-%s-%d", t.base, t.host, t.pid, t.inst, rnd, t.attempt)
}

// parseTag parses an entry name made by tag.name.
func parseTag(s string) (tag, bool) {
	var t tag
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return t, false
	}
	token := strings.Split(s[i+1:], "-")
	if len(token) != 3 || token[0] == "" || !isHex(token[1]) {
		return t, false
	}
	attempt, err := strconv.Atoi(token[2])
	if err != nil || attempt < 0 {
		return t, false
	}
	s = s[:i]
	i = strings.LastIndexByte(s, '.')
	if i < 0 {
		return t, false
	}
	pid, err := strconv.Atoi(s[i+1:])
	if err != nil || pid <= 0 {
		return t, false
	}
	s = s[:i]
	i = strings.LastIndexByte(s, '.')
	if i <= 0 || i == len(s)-1 {
		return t, false
	}
	t = tag{base: s[:i], host: s[i+1:], pid: pid, inst: token[0], attempt: attempt}
	return t, true
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// randHex returns 2n random hex digits.
func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}
