package watch

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func TestIsRequestName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"req1.xml", true},
		{"REQ1.XML", true},
		{"a b.xml", true},
		{".xml", false},
		{".hidden.xml", false},
		{"req1.xml.tmp", false},
		{"req1.tmp", false},
		{"req1.part", false},
		{"req1.xml.partial", false},
		{"req1.crdownload", false},
		{"req1.xml.download", false},
		{"~$req1.xml", false},
		{".req1.xml.swp", false},
		{"req1.xml~", false},
		{"#req1.xml#", false},
		{"#req1.xml", false},
		{"req1.result.xml", false},
		{"req1.RESULT.XML", false},
		{"req1.txt", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isRequestName(tt.name); got != tt.want {
			t.Errorf("isRequestName(%q) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestTagRoundTrip(t *testing.T) {
	tests := []tag{
		{base: "req1.xml", host: "box-1", pid: 42, inst: "0a1b2c3d", attempt: 1},
		{base: "a.b.c.xml", host: "h", pid: 1, inst: "ff", attempt: 17},
		{base: tmpPrefix, host: "h_example_com", pid: 99999, inst: "00", attempt: 0},
	}
	for _, want := range tests {
		s := want.name("deadbeef01")
		got, ok := parseTag(s)
		if !ok || got != want {
			t.Errorf("parseTag(%q) = %+v, %v; want %+v, true", s, got, ok, want)
		}
	}
	for _, bad := range []string{
		"req1.xml", "req1.xml.host.12", "req1.xml.host.x.inst-ab-1", "req1.xml.host.12.inst-zz-1",
		"req1.xml.host.12.inst-ab", "host.12.inst-ab-1", "req1.xml.host.12.inst-ab-1.ok",
	} {
		if got, ok := parseTag(bad); ok {
			t.Errorf("parseTag(%q) = %+v, true; want false", bad, got)
		}
	}
}

func TestPairNames(t *testing.T) {
	tests := []struct {
		name       string
		n          int
		req, reslt string
	}{
		{"req1.xml", 1, "req1.xml", "req1.result.xml"},
		{"req1.xml", 2, "req1.2.xml", "req1.2.result.xml"},
		{"a.b.XML", 3, "a.b.3.XML", "a.b.3.result.xml"},
	}
	for _, tt := range tests {
		stem, ext := splitExt(tt.name)
		q, r := pairNames(stem, ext, tt.n)
		if q != tt.req || r != tt.reslt {
			t.Errorf("pairNames(%q, %d) = %q, %q; want %q, %q", tt.name, tt.n, q, r, tt.req, tt.reslt)
		}
	}
}

func TestCheckXML(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		ok   bool
	}{
		{"bare", `<copyImageParam><a>1</a></copyImageParam>`, true},
		{"decl", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a/>\n", true},
		{"bom", "\xef\xbb\xbf<?xml version=\"1.0\"?><a/>", true},
		{"latin1", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf\xe9</a>", true},
		{"soap", `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">` +
			`<soapenv:Body><x/></soapenv:Body></soapenv:Envelope>`, true},
		{"comment after", "<a/>\n<!-- done -->\n", true},
		{"empty", "", false},
		{"blank", "  \n", false},
		{"truncated", "<a><b>text</b>", false},
		{"truncated tag", "<a><b", false},
		{"truncated decl", "<?xml vers", false},
		{"mismatched", "<a></b>", false},
		{"two roots", "<a/><b/>", false},
		{"text after root", "<a/>junk", false},
		{"nul bytes", "<a>\x00\x00</a>", false},
		{"bad utf8", "<a>\xff</a>", false},
		{"unknown encoding", "<?xml version=\"1.0\" encoding=\"EBCDIC\"?><a/>", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkXML([]byte(tt.doc))
			if (err == nil) != tt.ok {
				t.Errorf("checkXML(%q) = %v; want ok=%v", tt.doc, err, tt.ok)
			}
		})
	}
}

func TestStamp(t *testing.T) {
	at := time.Date(2026, 12, 3, 19, 40, 0, 0, time.UTC)
	const comment = "<!-- ipsd: 2026-12-03T19:40:00Z attempt=2 -->"
	tests := []struct {
		body, want string
	}{
		{"<a/>", comment + "\n<a/>"},
		{"<?xml version=\"1.0\"?>\n<a/>", "<?xml version=\"1.0\"?>\n" + comment + "\n<a/>"},
		{"", comment + "\n"},
	}
	for _, tt := range tests {
		got := string(stamp([]byte(tt.body), at, 2))
		if got != tt.want {
			t.Errorf("stamp(%q) = %q; want %q", tt.body, got, tt.want)
		}
		if tt.body != "" {
			if err := checkXML([]byte(got)); err != nil {
				t.Errorf("stamp(%q) is not well-formed: %v", tt.body, err)
			}
		}
	}
}

func TestFaultXML(t *testing.T) {
	b := FaultXML(30003, "bad <thing> & \"more\"\nsecond line")
	var f struct {
		XMLName xml.Name
		Code    int    `xml:"code"`
		Reason  string `xml:"reason"`
	}
	if err := xml.Unmarshal(b, &f); err != nil {
		t.Fatalf("FaultXML output does not parse: %v\n%s", err, b)
	}
	if f.XMLName.Local != "ipsApiFault" || f.XMLName.Space != "http://www.scene7.com/IpsApi/xsd" {
		t.Errorf("root = %v; want ipsApiFault in the common namespace", f.XMLName)
	}
	if f.Code != 30003 || f.Reason != `bad <thing> & "more" second line` {
		t.Errorf("code, reason = %d, %q", f.Code, f.Reason)
	}
}

func TestLatin1Reader(t *testing.T) {
	r, err := charsetReader("ISO-8859-1", strings.NewReader("a\xe9\xffz"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "aéÿz" {
		t.Errorf("latin1 read = %q, %v; want %q", got, err, "aéÿz")
	}
}

// fakeInfo is an fs.FileInfo with a given size and mtime.
type fakeInfo struct {
	size  int64
	mtime time.Time
}

func (f fakeInfo) Name() string       { return "f.xml" }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return 0o644 }
func (f fakeInfo) ModTime() time.Time { return f.mtime }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

func TestJudge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := time.Second
	pol := policy{settle: s, window: 250 * time.Millisecond, incomplete: time.Minute,
		maxBytes: 1000, trustMtime: true}
	errBad := errors.New("unexpected EOF")

	type step struct {
		at    time.Duration // since t0
		stat  *fakeInfo     // observed stat, if any
		op    string        // "create", "write" or ""
		parse error         // result of the parse when asked (nil = ok)
		want  verdict
	}
	fresh := &fakeInfo{size: 10, mtime: t0}
	grown := &fakeInfo{size: 20, mtime: t0.Add(500 * time.Millisecond)}
	old := &fakeInfo{size: 10, mtime: t0.Add(-time.Hour)}
	huge := &fakeInfo{size: 5000, mtime: t0}
	tests := []struct {
		name  string
		pol   policy
		steps []step
	}{
		{"settles after quiet period", pol, []step{
			{at: 0, stat: fresh, want: wait},
			{at: 900 * time.Millisecond, stat: fresh, want: wait},
			{at: s, stat: fresh, want: ready},
		}},
		{"change restarts the wait", pol, []step{
			{at: 0, stat: fresh, want: wait},
			{at: 600 * time.Millisecond, stat: grown, want: wait},
			{at: 1500 * time.Millisecond, stat: grown, want: wait},
			{at: 1600 * time.Millisecond, stat: grown, want: ready},
		}},
		{"write event restarts the wait without a stat change", pol, []step{
			{at: 0, stat: fresh, want: wait},
			{at: 900 * time.Millisecond, op: "write", want: wait},
			{at: 1800 * time.Millisecond, stat: fresh, want: wait},
			{at: 1900 * time.Millisecond, stat: fresh, want: ready},
		}},
		{"rename in is taken after the window", pol, []step{
			{at: 0, stat: fresh, op: "create", want: wait},
			{at: 100 * time.Millisecond, stat: fresh, want: wait},
			{at: 250 * time.Millisecond, stat: fresh, want: ready},
		}},
		{"create then write is not a rename", pol, []step{
			{at: 0, stat: fresh, op: "create", want: wait},
			{at: 10 * time.Millisecond, op: "write", want: wait},
			{at: 300 * time.Millisecond, stat: fresh, want: wait},
			{at: 1010 * time.Millisecond, stat: fresh, want: ready},
		}},
		{"old file found by a scan is taken at once", pol, []step{
			{at: 0, stat: old, want: ready},
		}},
		{"old mtime not trusted when polling", policy{settle: s, window: 0, incomplete: time.Minute,
			maxBytes: 1000}, []step{
			{at: 0, stat: old, want: wait},
			{at: s, stat: old, want: ready},
		}},
		{"old file that changes waits", pol, []step{
			{at: 0, stat: old, want: ready},
			{at: 100 * time.Millisecond, stat: grown, want: wait},
		}},
		{"unparsable waits, then fails", pol, []step{
			{at: 0, stat: fresh, want: wait},
			{at: s, stat: fresh, parse: errBad, want: wait},
			{at: 30 * s, stat: fresh, want: wait},
			{at: 60 * s, stat: fresh, want: failIncomplete},
		}},
		{"unparsable that grows and parses", pol, []step{
			{at: 0, stat: fresh, want: wait},
			{at: s, stat: fresh, parse: errBad, want: wait},
			{at: 50 * s, stat: grown, want: wait},
			{at: 51 * s, stat: grown, want: ready},
		}},
		{"too big", pol, []step{
			{at: 0, stat: huge, want: wait},
			{at: s, stat: huge, want: failTooBig},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cand{}
			for i, st := range tt.steps {
				now := t0.Add(st.at)
				if st.stat != nil {
					c.observe(now, st.stat)
				}
				switch st.op {
				case "create":
					c.created = now
				case "write":
					c.touch(now)
				}
				v := tt.pol.judge(c, now)
				if v == needParse {
					c.parsed, c.parseErr = true, st.parse
					v = tt.pol.judge(c, now)
				}
				if v != st.want {
					t.Fatalf("step %d (t0+%v): judge = %v; want %v", i, st.at, v, st.want)
				}
			}
		})
	}
}

func TestJudgeHold(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	pol := policy{settle: time.Second, window: time.Second, incomplete: time.Minute, maxBytes: 100}
	c := &cand{}
	c.observe(t0, fakeInfo{size: 1, mtime: t0})
	c.parsed = true
	c.hold = t0.Add(time.Minute)
	if v := pol.judge(c, t0.Add(30*time.Second)); v != wait {
		t.Errorf("judge during hold = %v; want wait", v)
	}
	if v := pol.judge(c, t0.Add(time.Minute)); v != ready {
		t.Errorf("judge after hold = %v; want ready", v)
	}
}

func TestBackoff(t *testing.T) {
	w := &Watcher{cfg: Config{RetryBackoff: time.Second}}
	want := map[int]time.Duration{2: time.Second, 3: 2 * time.Second, 4: 4 * time.Second, 20: maxBackoff}
	for attempt, d := range want {
		if got := w.backoff(attempt); got != d {
			t.Errorf("backoff(%d) = %v; want %v", attempt, got, d)
		}
	}
}

func TestNewValidates(t *testing.T) {
	h := func(context.Context, Request) Result { return Result{} }
	_, err := New(Config{Settle: -1, Workers: -2}, h, nil)
	if err == nil {
		t.Fatal("New with bad config succeeded")
	}
	for _, key := range []string{"dir", "settle", "workers"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("New error %q does not name %q", err, key)
		}
	}
	if _, err := New(Config{Dir: "/x"}, nil, nil); err == nil {
		t.Error("New with nil handler succeeded")
	}
	w, err := New(Config{Dir: "rel/dir"}, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.Dir(), "/") || w.cfg.Settle != DefaultSettle || w.cfg.Workers != 1 ||
		w.cfg.Incomplete != DefaultIncomplete || w.cfg.Rescan != DefaultRescan {
		t.Errorf("defaults not applied: dir %q, cfg %+v", w.Dir(), w.cfg)
	}
}
