package daemon

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ipsd/ipsd/metrics"
)

// Namespaces of the IPS wire format (ips-api.md §2).
const (
	nsSOAP    = "http://schemas.xmlsoap.org/soap/envelope/"
	nsCommon  = "http://www.scene7.com/IpsApi/xsd"
	nsDefault = "http://www.scene7.com/IpsApi/xsd/2008-01-15"
	nsLegacy  = "http://www.scene7.com/IpsApi"
)

// Bounds on a request document. Real requests are at most 6 deep, hold a
// few thousand elements (1000 handles in a getAssets) and short texts; the
// body size is bounded separately by [api] max_body_bytes.
const (
	maxDepth    = 32
	maxElements = 20000
	maxText     = 64 << 10 // bytes of character data in one element
)

// A Fault is an IPS fault (decisions.md §4): authenticationFault,
// authorizationFault or ipsApiFault, with its code and one-line reason.
type Fault struct {
	Kind   string // element name: authenticationFault, authorizationFault, ipsApiFault
	Code   int
	Reason string
	Status int // HTTP status; 0 means 500

	// Transient marks a failure that may pass on its own (a busy catalog,
	// EAGAIN, EIO, a full disk): a watch-folder request is tried again
	// after a backoff instead of being failed at once.
	Transient bool
}

func (f *Fault) Error() string { return fmt.Sprintf("%s %d: %s", f.Kind, f.Code, f.Reason) }

// Family is the metrics result label of the fault.
func (f *Fault) Family() string {
	switch {
	case f.Status == 503:
		return metrics.ResultBusy
	case f.Kind == "authenticationFault":
		return metrics.ResultAuthentication
	case f.Kind == "authorizationFault":
		return metrics.ResultAuthorization
	case f.Code == 30001:
		return metrics.ResultInvalid
	case f.Code == 30002:
		return metrics.ResultMissing
	case f.Code == 30003:
		return metrics.ResultBadXML
	}
	return metrics.ResultFailed
}

func authFault(code int, reason string) *Fault {
	return &Fault{Kind: "authenticationFault", Code: code, Reason: oneLine(reason)}
}

func authzFault(code int, reason string) *Fault {
	return &Fault{Kind: "authorizationFault", Code: code, Reason: oneLine(reason)}
}

func apiFault(code int, format string, a ...any) *Fault {
	return &Fault{Kind: "ipsApiFault", Code: code, Reason: oneLine(fmt.Sprintf(format, a...))}
}

// maxReason bounds a fault reason: values quoted from a request (a 60 KiB
// modifier command, say) are cut rather than sent back and logged whole.
const maxReason = 300

// oneLine makes r a reason: one line, control characters shown as '?', at
// most maxReason bytes.
func oneLine(r string) string {
	r = strings.Join(strings.Fields(r), " ")
	r = strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return '?'
		}
		return c
	}, r)
	if len(r) > maxReason {
		i := maxReason
		for i > 0 && !utf8.RuneStart(r[i]) {
			i--
		}
		r = r[:i] + "..."
	}
	return r
}

func busyFault() *Fault {
	return &Fault{Kind: "ipsApiFault", Code: 30000, Reason: "Server busy, retry later.", Status: 503}
}

// node is a parsed XML element. Only element structure and character data
// are kept; comments and processing instructions are dropped.
type node struct {
	Space, Local string
	Text         string
	Kids         []*node

	text strings.Builder // accumulates Text while parsing
}

// child returns the first child with the given local name, in any namespace.
func (n *node) child(local string) *node {
	for _, k := range n.Kids {
		if k.Local == local {
			return k
		}
	}
	return nil
}

// parseXML reads a whole request document. It refuses DTDs and entity
// declarations, deep nesting and invalid UTF-8, so that what follows never
// sees a hostile document; the body size is bounded by the caller.
func parseXML(data []byte) (*node, error) {
	// a UTF-8 byte order mark, as .NET writers put it, is not text
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	enc := declaredEncoding(data)
	if !isLatin1(enc) && !utf8.Valid(data) {
		return nil, errors.New("request is not valid UTF-8")
	}
	if err := checkRuns(data); err != nil {
		return nil, err
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = charsetReader
	var stack []*node
	var root *node
	elements := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, errors.New("DTDs and entity declarations are not allowed")
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, fmt.Errorf("processing instruction %q is not allowed", t.Target)
			}
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, errors.New("more than one root element")
			}
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("elements nested deeper than %d", maxDepth)
			}
			if elements++; elements > maxElements {
				return nil, fmt.Errorf("more than %d elements", maxElements)
			}
			n := &node{Local: t.Name.Local, Space: t.Name.Space}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.Kids = append(p.Kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, errors.New("unbalanced end element")
			}
			n := stack[len(stack)-1]
			n.Text = n.text.String()
			n.text = strings.Builder{}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				n := stack[len(stack)-1]
				if n.text.Len()+len(t) > maxText {
					return nil, fmt.Errorf("text of element %s longer than %d bytes", n.Local, maxText)
				}
				n.text.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text outside the root element")
			}
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	if len(stack) > 0 {
		return nil, errors.New("unexpected end of document")
	}
	return root, nil
}

// xmlDeclRE finds the encoding named in an XML declaration.
var xmlDeclRE = regexp.MustCompile(`^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']`)

// declaredEncoding returns the lower-cased encoding of data's XML
// declaration, or "" when it names none.
func declaredEncoding(data []byte) string {
	m := xmlDeclRE.FindSubmatch(data[:min(len(data), 256)])
	if m == nil {
		return ""
	}
	return strings.ToLower(string(m[1]))
}

func isLatin1(enc string) bool {
	switch enc {
	case "iso-8859-1", "iso_8859-1", "latin1", "latin-1", "l1":
		return true
	}
	return false
}

// charsetReader lets the decoder read the encodings besides UTF-8 that SOAP
// stacks declare: US-ASCII, and ISO-8859-1 decoded into UTF-8. Others are
// refused (30003) rather than misread.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch enc := strings.ToLower(label); {
	case enc == "utf-8" || enc == "utf8":
		return input, nil
	case enc == "us-ascii" || enc == "ascii":
		return asciiReader{input}, nil
	case isLatin1(enc):
		return &latin1Reader{r: input}, nil
	}
	return nil, fmt.Errorf("encoding %q is not supported: send UTF-8", label)
}

// asciiReader passes US-ASCII through and fails on any other byte.
type asciiReader struct{ r io.Reader }

func (a asciiReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	for _, c := range p[:n] {
		if c >= 0x80 {
			return 0, errors.New("a byte over 0x7f in a US-ASCII document")
		}
	}
	return n, err
}

// latin1Reader decodes ISO-8859-1 into UTF-8.
type latin1Reader struct {
	r   io.Reader
	in  [512]byte
	out []byte // decoded from in
	off int    // of out already returned
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	for l.off == len(l.out) {
		n, err := l.r.Read(l.in[:])
		l.out, l.off = l.out[:0], 0
		for _, c := range l.in[:n] {
			l.out = utf8.AppendRune(l.out, rune(c))
		}
		if n == 0 && err != nil {
			return 0, err
		}
	}
	n := copy(p, l.out[l.off:])
	l.off += n
	return n, nil
}

// checkRuns refuses a document with a run of more than maxText bytes
// between markup delimiters (a huge text node, comment or tag) before the
// decoder spends time on it. The scan is a cheap byte search; the parser
// checks the decoded text again.
func checkRuns(data []byte) error {
	delim := byte('<')
	for len(data) > 0 {
		i := bytes.IndexByte(data, delim)
		if i < 0 {
			i = len(data)
		}
		if i > maxText {
			return fmt.Errorf("text of an element longer than %d bytes", maxText)
		}
		data = data[min(i+1, len(data)):]
		if delim == '<' {
			delim = '>'
		} else {
			delim = '<'
		}
	}
	return nil
}

// xmlErrorText is err's message without the request text some decoder
// errors quote: an undeclared entity is named by what follows the '&',
// which may be part of a password a client forgot to escape.
func xmlErrorText(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "invalid character entity "); i >= 0 {
		msg = msg[:i] + "an '&' that starts no known entity (escape it as &amp;)"
	}
	return msg
}

// isIpsNS reports whether ns is the IPS common namespace or a versioned one.
func isIpsNS(ns string) bool {
	return ns == nsCommon || strings.HasPrefix(ns, nsCommon+"/") || ns == nsLegacy
}

// A call is a decoded API request: the operation element, its namespace,
// the credentials and reply options from authHeader, and whether it came in
// a SOAP envelope.
type call struct {
	Op         string // operation, e.g. "copyImage" (from copyImageParam)
	NS         string // namespace of the operation element; replies use it
	Param      *node  // the xxxParam element
	SOAP       bool
	Cred       Credentials
	FaultCode  int  // authHeader faultHttpStatusCode, 0 if absent
	Gzip       bool // authHeader gzipResponse
	GzipSet    bool
	AppName    string
	AppVersion string
}

// decodeCall parses a request body: a SOAP 1.1 envelope, or a bare
// xxxParam element.
func decodeCall(body []byte) (*call, *Fault) {
	root, err := parseXML(body)
	if err != nil {
		return nil, apiFault(30003, "Invalid request XML: %s", xmlErrorText(err))
	}
	c := &call{}
	param := root
	if root.Local == "Envelope" {
		if root.Space != nsSOAP {
			return nil, apiFault(30003, "Invalid request XML: envelope namespace %q is not SOAP 1.1", root.Space)
		}
		c.SOAP = true
		param = nil
		seen := map[string]bool{}
		for _, k := range root.Kids {
			if k.Space == nsSOAP && (k.Local == "Header" || k.Local == "Body") {
				if seen[k.Local] {
					return nil, apiFault(30003, "Invalid request XML: more than one SOAP %s", k.Local)
				}
				seen[k.Local] = true
			}
			switch {
			case k.Local == "Header" && k.Space == nsSOAP:
				if f := c.readHeader(k); f != nil {
					return nil, f
				}
			case k.Local == "Body" && k.Space == nsSOAP:
				if len(k.Kids) != 1 {
					return nil, apiFault(30003, "Invalid request XML: SOAP Body must hold exactly one element")
				}
				param = k.Kids[0]
			}
		}
		if param == nil {
			return nil, apiFault(30003, "Invalid request XML: SOAP envelope has no Body")
		}
	}
	op, ok := strings.CutSuffix(param.Local, "Param")
	if !ok || op == "" || !isIpsNS(param.Space) {
		return nil, apiFault(30003, "Invalid request XML: unexpected element {%s}%s; want an operation element such as copyImageParam in the namespace http://www.scene7.com/IpsApi/xsd/<date> (e.g. 2008-01-15)", printable(param.Space), printable(param.Local))
	}
	c.Op, c.NS, c.Param = op, param.Space, param
	if c.NS == nsLegacy {
		// the legacy namespace only ever held the AuthUser headers
		c.NS = nsDefault
	}
	// credentials count when something was filled in: generated clients
	// send an authHeader with only appName, or with empty elements
	c.Cred.Present = c.Cred.User != "" || c.Cred.Password != "" || c.Cred.Unusable != ""
	return c, nil
}

// readHeader reads authHeader (common or any versioned namespace, any child
// order) and the legacy AuthUser/AuthPassword headers.
func (c *call) readHeader(h *node) *Fault {
	for _, k := range h.Kids {
		if !isIpsNS(k.Space) {
			continue
		}
		switch k.Local {
		case "authHeader":
			for _, f := range k.Kids {
				v := strings.TrimSpace(f.Text)
				if v == "" && (f.Local == "gzipResponse" || f.Local == "faultHttpStatusCode") {
					continue // empty or xsi:nil: as if absent
				}
				switch f.Local {
				case "user":
					c.Cred.User = v
				case "password":
					c.Cred.Password = f.Text
				case "appName":
					c.AppName = v
				case "appVersion":
					c.AppVersion = v
				case "gzipResponse":
					c.GzipSet = true
					switch v {
					case "true", "1":
						c.Gzip = true
					case "false", "0":
						c.Gzip = false
					default:
						return apiFault(30001, "Invalid gzipResponse '%s'", printable(v))
					}
				case "faultHttpStatusCode":
					// a fault needs a final status that carries a body: no
					// 1xx (net/http would send it as an interim reply), no
					// 204 or 304
					n, err := strconv.Atoi(v)
					if err != nil || n < 200 || n > 599 || n == 204 || n == 304 {
						return apiFault(30001, "Invalid faultHttpStatusCode '%s': want an HTTP status from 200 to 599 that carries a body.", printable(v))
					}
					c.FaultCode = n
				case "accessToken", "samlResponse":
					if v != "" {
						c.Cred.Unusable = f.Local + " is not supported; send user and password"
					}
				}
			}
		case "AuthUser":
			c.Cred.User = strings.TrimSpace(k.Text)
		case "AuthPassword":
			c.Cred.Password = k.Text
		}
	}
	return nil
}

// textEscaper escapes character data minimally, so that reasons keep their
// quotes as written: some clients search the raw reply for Adobe's texts.
var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#xD;")

// xmlChars returns s with every byte that is not UTF-8, and every
// character XML 1.0 cannot carry (C0 controls other than tab, newline and
// carriage return; U+FFFE, U+FFFF), replaced by U+FFFD. Reply texts quote
// names from the tree, and file names are any bytes but '/' and NUL: one
// such name must not make a whole reply unreadable.
func xmlChars(s string) string {
	ok := func(r rune) bool {
		return r >= 0x20 && r <= 0xd7ff || r == '\t' || r == '\n' || r == '\r' ||
			r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= utf8.MaxRune
	}
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !ok(r) }) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // an invalid byte comes as RuneError, which is ok
		if !ok(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// elem is an element of a reply, written in the reply namespace.
type elem struct {
	Name string
	Text string
	Kids []elem
}

func writeElem(b *bytes.Buffer, prefix string, e elem) {
	b.WriteString("<" + prefix + e.Name)
	if len(e.Kids) == 0 && e.Text == "" {
		b.WriteString("/>")
		return
	}
	b.WriteString(">")
	textEscaper.WriteString(b, xmlChars(e.Text))
	for _, k := range e.Kids {
		writeElem(b, prefix, k)
	}
	b.WriteString("</" + prefix + e.Name + ">")
}

// encodeReply writes the operation's return element, in the request's
// namespace: inside a soapenv envelope for SOAP requests, alone otherwise.
func encodeReply(soap bool, ns string, ret elem) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if soap {
		b.WriteString(`<soapenv:Envelope xmlns:soapenv="` + nsSOAP + `"><soapenv:Header/><soapenv:Body>`)
		writeRoot(&b, "ns1:", ns, ret)
		b.WriteString(`</soapenv:Body></soapenv:Envelope>`)
	} else {
		writeRoot(&b, "", ns, ret)
	}
	b.WriteString("\n")
	return b.Bytes()
}

func writeRoot(b *bytes.Buffer, prefix, ns string, e elem) {
	attr := "xmlns"
	if prefix != "" {
		attr += ":" + strings.TrimSuffix(prefix, ":")
	}
	var inner bytes.Buffer
	writeElem(&inner, prefix, e)
	s := inner.String()
	// insert the namespace declaration into the root start tag
	i := len(prefix) + len(e.Name) + 1
	b.WriteString(s[:i] + ` ` + attr + `="`)
	xml.EscapeText(b, []byte(ns))
	b.WriteString(`"` + s[i:])
}

// encodeFault writes f as a SOAP fault, or as the fault element alone.
func encodeFault(soap bool, f *Fault) []byte {
	detail := elem{Name: f.Kind, Kids: []elem{
		{Name: "code", Text: fmt.Sprint(f.Code)},
		{Name: "reason", Text: f.Reason},
	}}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if !soap {
		writeRoot(&b, "", nsCommon, detail)
		b.WriteString("\n")
		return b.Bytes()
	}
	code, str := "soapenv:Server", f.Kind
	switch {
	case f.Kind == "authenticationFault":
		code, str = "soapenv:Client", "AuthenticationException"
	case f.Kind == "authorizationFault":
		code, str = "soapenv:Client", "AuthorizationException"
	case f.Code != 30000:
		code = "soapenv:Client"
	}
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="` + nsSOAP + `"><soapenv:Body><soapenv:Fault>`)
	b.WriteString(`<faultcode>` + code + `</faultcode><faultstring>` + str + `</faultstring><detail>`)
	writeRoot(&b, "ns1:", nsCommon, detail)
	b.WriteString(`</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>` + "\n")
	return b.Bytes()
}

// text returns the trimmed text of param's child, and whether it exists.
func (c *call) text(local string) (string, bool) {
	n := c.Param.child(local)
	if n == nil {
		return "", false
	}
	return strings.TrimSpace(n.Text), true
}
