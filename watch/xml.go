package watch

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Codes of the faults a Watcher writes itself (ips-api.md §2.6).
const (
	CodeException  = 30000 // IPS_API_FAULT_CODE_EXCEPTION
	CodeInvalidXML = 30003 // IPS_API_FAULT_CODE_INVALID_REQUEST_XML
)

var errNoRoot = errors.New("no root element")

// checkXML reports whether b is complete, well-formed XML: exactly one root
// element, closed, and nothing but markup, comments and white space around
// it. A UTF-8 byte order mark is allowed; declared encodings other than
// UTF-8, US-ASCII and ISO-8859-1 are not checked and report an error.
func checkXML(b []byte) error {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = charsetReader
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if roots == 0 {
				return errNoRoot
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					line, _ := d.InputPos()
					return fmt.Errorf("line %d: second root element <%s>", line, t.Name.Local)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				line, _ := d.InputPos()
				return fmt.Errorf("line %d: text outside the root element", line)
			}
		}
	}
}

// charsetReader lets the decoder read ISO-8859-1 and US-ASCII documents.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "windows-1252", "cp1252":
		// windows-1252 differs only in 0x80-0x9f, which does not matter
		// for a well-formedness check
		return &latin1Reader{r: bufio.NewReader(input)}, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}

// latin1Reader decodes ISO-8859-1 into UTF-8.
type latin1Reader struct {
	r   *bufio.Reader
	buf []byte // encoded bytes not yet returned
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	for len(l.buf) == 0 {
		c, err := l.r.ReadByte()
		if err != nil {
			return 0, err
		}
		l.buf = utf8.AppendRune(l.buf[:0], rune(c))
	}
	n := copy(p, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}

// FaultXML returns a bare ipsApiFault element (ips-api.md §2.5) with code
// and reason, as ipsd writes it into result files.
func FaultXML(code int, reason string) []byte {
	var b bytes.Buffer
	b.WriteString(`<tns:ipsApiFault xmlns:tns="http://www.scene7.com/IpsApi/xsd">`)
	fmt.Fprintf(&b, "<tns:code>%d</tns:code><tns:reason>", code)
	xml.EscapeText(&b, []byte(oneLine(reason)))
	b.WriteString("</tns:reason></tns:ipsApiFault>\n")
	return b.Bytes()
}

// oneLine joins the lines of s with spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// stamp returns body with an XML comment naming the time and attempt,
// placed after the XML declaration if there is one, else first.
func stamp(body []byte, t time.Time, attempt int) []byte {
	comment := fmt.Sprintf("<!-- ipsd: %s attempt=%d -->\n",
		t.UTC().Format(time.RFC3339), attempt)
	out := make([]byte, 0, len(body)+len(comment)+1)
	rest := body
	if bytes.HasPrefix(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), []byte("<?xml")) {
		if i := bytes.Index(body, []byte("?>")); i >= 0 {
			out = append(out, body[:i+2]...)
			out = append(out, '\n')
			rest = bytes.TrimLeft(body[i+2:], "\r\n")
		}
	}
	out = append(out, comment...)
	return append(out, rest...)
}
