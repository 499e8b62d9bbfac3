package daemon

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
)

// tree lists every entry below root with its mode and size.
func tree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d\n", p[len(root):], fi.Mode(), fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var reasonRE = regexp.MustCompile(`<(?:\w+:)?reason>([^<]*)</`)

// stillServing checks that a normal call still works.
func (a *testAPI) stillServing(t *testing.T) {
	t.Helper()
	_, body := a.post(t, soapWith("", "", `<getCompanyInfoParam xmlns="`+nsDefault+`"><companyName>Acme</companyName></getCompanyInfoParam>`), nil)
	if !strings.Contains(body, "<ns1:name>Acme</ns1:name>") {
		t.Fatalf("daemon no longer answers a normal call: %s", body)
	}
}

// TestHostileInput sends each hostile or broken request of issue 5: each
// gets its documented fault, writes nothing, and the daemon keeps serving.
func TestHostileInput(t *testing.T) {
	uid := fmt.Sprint(os.Getuid())
	a := startAPI(t, []UserConfig{{Email: "me@x", Unix: []string{uid}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
	src := a.asset(t, "Acme/pics/red.png")
	otherSrc := a.asset(t, "Other/misc/grey.png")

	// symlinks that point outside root: a folder and an image
	outside := t.TempDir()
	writePNG(t, filepath.Join(outside, "secret.png"), color.Black)
	if err := os.Symlink(outside, filepath.Join(a.root, "Acme/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.png"), filepath.Join(a.root, "Acme/pics/secret.png")); err != nil {
		t.Fatal(err)
	}
	if err := a.d.store.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	// a folder symlink inside root that leads into another company
	if err := os.Symlink("../Other/misc", filepath.Join(a.root, "Acme/tootherco")); err != nil {
		t.Fatal(err)
	}
	// a source deleted a moment ago: still in the catalog, gone from disk
	gone := a.asset(t, "Acme/pics/blue.png")
	if err := os.Remove(filepath.Join(a.root, "Acme/pics/blue.png")); err != nil {
		t.Fatal(err)
	}
	// a source replaced by a symlink to a file outside root, behind the
	// catalog's back (this daemon watches nothing, so it stays catalogued)
	swapped := a.asset(t, "Acme/pics/deep/green.png")
	if err := os.Remove(filepath.Join(a.root, "Acme/pics/deep/green.png")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.png"), filepath.Join(a.root, "Acme/pics/deep/green.png")); err != nil {
		t.Fatal(err)
	}
	outsideBefore := tree(t, outside)

	cp := func(folder, name string) string { return copyParam(a.acme.Handle, src, folder, name) }
	big := strings.Repeat("x", 2<<20)
	withMod := func(body, mod string) string {
		return strings.Replace(body, "<urlModifier/>", "<urlModifier>"+mod+"</urlModifier>", 1)
	}
	chunked := func(r *http.Request) { r.ContentLength = -1 } // length not known in advance
	tests := []struct {
		name   string
		body   string
		code   string
		reason string
		set    func(*http.Request)
	}{
		{"body over max_body_bytes", cp("Acme/shelf/", "big"+big), "30003", "larger than", nil},
		{"body over max_body_bytes, chunked", cp("Acme/shelf/", "big"+big), "30003", "larger than", chunked},
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>` +
			strings.Replace(cp("Acme/shelf/", "lol"), "<urlModifier/>", "<urlModifier>&lol2;</urlModifier>", 1), "30003", "DTD", nil},
		{"entity declaration in a SOAP envelope", `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` + soapWith("", "", cp("Acme/shelf/", "xxe")), "30003", "DTD", nil},
		{"10,000-deep nesting", strings.Replace(cp("Acme/shelf/", "deep"), "<urlModifier/>", strings.Repeat("<a>", 10000)+strings.Repeat("</a>", 10000), 1), "30003", "nested deeper", nil},
		{"invalid UTF-8", cp("Acme/shelf/", "bad\xff\xfename"), "30003", "UTF-8", nil},
		{"undeclared entity", cp("Acme/shelf/", "amp&nbsp;x"), "30003", "entity", nil},
		{"NUL by character reference", cp("Acme/shelf/", "nul&#0;x"), "30003", "", nil},
		{"name with /", cp("Acme/shelf/", "a/b"), "30001", "name", nil},
		{"name with \\", cp("Acme/shelf/", `a\b`), "30001", "name", nil},
		{"name ..", cp("Acme/shelf/", ".."), "30001", "name", nil},
		{"name ../escape", cp("Acme/shelf/", "../../escape"), "30001", "name", nil},
		{"name with |", cp("Acme/shelf/", "a|b"), "30001", "name", nil},
		{"name with a control character (not even XML)", cp("Acme/shelf/", "a&#x1b;[31mb"), "30003", "illegal character", nil},
		{"name with a raw control character", cp("Acme/shelf/", "a\x1b[31mb"), "30003", "illegal character", nil},
		{"name with a tab", cp("Acme/shelf/", "a&#9;b"), "30001", "name", nil},
		{"name over 255 bytes", cp("Acme/shelf/", strings.Repeat("n", 256)), "30001", "255", nil},
		{"folder handle of another company", cp("Other/misc/", "foreign"), "30001", "folderHandle", nil},
		{"folder handle escaping root", cp("Acme/../Other/misc/", "esc"), "30001", "folderHandle", nil},
		{"absolute folder handle outside", cp("/../../etc/", "esc2"), "30001", "folderHandle", nil},
		{"source of another company", copyParam(a.acme.Handle, otherSrc, "Acme/shelf/", "foreign2"), "30001", "assetHandle", nil},
		{"folder through a symlink outside root", cp("Acme/link/", "vialink"), "30001", "folderHandle", nil},
		{"source deleted a moment ago", copyParam(a.acme.Handle, gone, "Acme/shelf/", "ghost"), "30001", "assetHandle", nil},
		{"raw NUL byte", cp("Acme/shelf/", "nul\x00x"), "30003", "illegal character", nil},
		{"name with a C1 control character", cp("Acme/shelf/", "a\u009b31mb"), "30001", "control character", nil},
		{"name with ..", cp("Acme/shelf/", "a..b"), "30001", "'..'", nil},
		{"name starting with ~$", cp("Acme/shelf/", "~$lock"), "30001", "~$", nil},
		{"name over 255 bytes with its extension", cp("Acme/shelf/", strings.Repeat("n", 252)), "30001", "255 bytes", nil},
		{"folder through a symlink into another company", cp("Acme/tootherco/", "via"), "30001", "folderHandle", nil},
		{"folder below a symlink outside root", cp("Acme/link/sub/", "vialink2"), "30001", "folderHandle", nil},
		{"source replaced by a symlink outside root", copyParam(a.acme.Handle, swapped, "Acme/shelf/", "swap"), "30001", "no longer a regular file", nil},
		{"source replaced by a symlink outside root, rendered", withMod(copyParam(a.acme.Handle, swapped, "Acme/shelf/", "swap2"), "wid=4"), "30001", "no longer a regular file", nil},
		{"a 30,000-byte unknown modifier command", withMod(cp("Acme/shelf/", "longmod"), strings.Repeat("q", 30000)+"=1"), "30001", "urlModifier", nil},
		{"a 30,000-digit modifier value", withMod(cp("Acme/shelf/", "longval"), "wid="+strings.Repeat("9", 30000)), "30001", "urlModifier", nil},
		{"a C1 control character in the modifier", withMod(cp("Acme/shelf/", "c1mod"), "bgc=\u009b31m"), "30001", "urlModifier", nil},
		{"source deleted a moment ago, rendered", withMod(copyParam(a.acme.Handle, gone, "Acme/shelf/", "ghost2"), "wid=4&amp;fmt=png"), "30001", "assetHandle", nil},
	}
	before := tree(t, a.root)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := a.post(t, tt.body, tt.set)
			if got := faultCode(body); got != tt.code || status != 500 {
				t.Errorf("HTTP %d, fault code %q; want 500, %s\n%.600s", status, got, tt.code, body)
			}
			if !strings.Contains(body, tt.reason) {
				t.Errorf("reason does not mention %q: %.600s", tt.reason, body)
			}
			m := reasonRE.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no reason in %q", body)
			}
			if i := strings.IndexFunc(m[1], unicode.IsControl); i >= 0 {
				t.Errorf("reason holds control character %U: %q", []rune(m[1][i:])[0], m[1])
			}
			if len(m[1]) > maxReason+len("...") {
				t.Errorf("reason of %d bytes; want one short line", len(m[1]))
			}
			a.stillServing(t)
		})
	}
	if after := tree(t, a.root); after != before {
		t.Errorf("hostile requests changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if after := tree(t, outside); after != outsideBefore {
		t.Errorf("hostile requests changed the directory outside root:\n%s", after)
	}

	// the longest name that fits: 251 bytes and ".png"
	long := strings.Repeat("n", 251)
	if status, body := a.post(t, cp("Acme/shelf/", long), nil); status != 200 || faultCode(body) != "" {
		t.Errorf("a 255-byte file name: HTTP %d %.300s", status, body)
	} else if _, err := os.Stat(filepath.Join(a.root, "Acme/shelf", long+".png")); err != nil {
		t.Error(err)
	}

	// the symlinked image is no asset, and the symlinked folder is no
	// folder, for reading either
	_, body := a.post(t, `<getAssetsByNameParam xmlns="`+nsDefault+`"><companyHandle>`+a.acme.Handle+`</companyHandle><nameArray><items>secret</items></nameArray></getAssetsByNameParam>`, nil)
	if strings.Contains(body, "secret") || !strings.Contains(body, "<assetArray/>") {
		t.Errorf("getAssetsByName found the symlink: %s", body)
	}
	_, body = a.post(t, `<getFoldersParam xmlns="`+nsDefault+`"><companyHandle>`+a.acme.Handle+`</companyHandle></getFoldersParam>`, nil)
	if strings.Contains(body, "link") || !strings.Contains(body, "<folderHandle>Acme/pics/</folderHandle>") {
		t.Errorf("getFolders: %s", body)
	}
	_, body = a.post(t, `<searchAssetsParam xmlns="`+nsDefault+`"><companyHandle>`+a.acme.Handle+`</companyHandle><folder>Acme/link/</folder><includeSubfolders>true</includeSubfolders></searchAssetsParam>`, nil)
	if faultCode(body) != "30001" {
		t.Errorf("searchAssets below a symlink: %s", body)
	}
}

// TestHugeTextNode sends a 50 MB text node with max_body_bytes raised so
// that the parser, not the size limit, refuses it.
func TestHugeTextNode(t *testing.T) {
	a := startAPI(t, []UserConfig{{Email: "me@x", Unix: []string{fmt.Sprint(os.Getuid())}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
	cfg := *a.d.cfg()
	cfg.API.MaxBodyBytes = 64 << 20
	a.d.cfgp.Store(&cfg)
	before := tree(t, a.root)
	body := copyParam(a.acme.Handle, a.asset(t, "Acme/pics/red.png"), "Acme/shelf/", "n") // then the modifier
	body = strings.Replace(body, "<urlModifier/>", "<urlModifier>"+strings.Repeat("x", 50<<20)+"</urlModifier>", 1)
	status, reply := a.post(t, body, nil)
	if faultCode(reply) != "30003" || status != 500 || !strings.Contains(reply, "longer than") {
		t.Errorf("HTTP %d %.500s; want 30003 naming the text limit", status, reply)
	}
	if tree(t, a.root) != before {
		t.Error("the tree changed")
	}
	a.stillServing(t)
}

// TestSlowBody: a client that sends its body too slowly gets a 30003
// fault and its connection closed; others are served meanwhile.
func TestSlowBody(t *testing.T) {
	old := bodyTimeout
	bodyTimeout = 300 * time.Millisecond
	t.Cleanup(func() { bodyTimeout = old })
	a := startAPI(t, []UserConfig{{Email: "me@x", Unix: []string{fmt.Sprint(os.Getuid())}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
	before := tree(t, a.root)

	c, err := net.Dial("unix", a.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := copyParam(a.acme.Handle, a.asset(t, "Acme/pics/red.png"), "Acme/shelf/", "slow")
	fmt.Fprintf(c, "POST /scene7/services/IpsApiService HTTP/1.1\r\nHost: ipsd\r\nContent-Length: %d\r\n\r\n", len(body))
	c.Write([]byte(body[:10])) // and then nothing more
	a.stillServing(t)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var got bytes.Buffer
	got.ReadFrom(c) // until the daemon closes the connection
	if !strings.Contains(got.String(), "HTTP/1.1 500") || faultCode(got.String()) != "30003" || !strings.Contains(got.String(), "not received within") {
		t.Errorf("slow body got %q; want HTTP 500 with a 30003 fault", got.String())
	}
	if tree(t, a.root) != before {
		t.Error("the tree changed")
	}
	a.stillServing(t)
}

// TestReplyNotRead: a client that asks for a large reply and never reads it
// is cut off after replyTimeout; the handler returns and gives back its
// share of the body budget, and others are served meanwhile.
func TestReplyNotRead(t *testing.T) {
	old := replyTimeout
	replyTimeout = 200 * time.Millisecond
	t.Cleanup(func() { replyTimeout = old })
	a := startAPI(t, []UserConfig{{Email: "me@x", Unix: []string{fmt.Sprint(os.Getuid())}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
	// enough folders for a getFolders reply larger than the socket buffers
	for i := range 8000 {
		if err := os.Mkdir(filepath.Join(a.root, "Acme", fmt.Sprintf("folder%05d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.d.store.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", a.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `<getFoldersParam xmlns="` + nsDefault + `"><companyHandle>` + a.acme.Handle + `</companyHandle></getFoldersParam>`
	fmt.Fprintf(c, "POST /scene7/services/IpsApiService HTTP/1.1\r\nHost: ipsd\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	a.stillServing(t)

	// the whole budget is free again once the handler has returned
	deadline := time.Now().Add(time.Minute)
	for !bodyBudget.TryAcquire(64 << 20) {
		if time.Now().After(deadline) {
			t.Fatal("the handler of the unread reply never returned")
		}
		time.Sleep(20 * time.Millisecond)
	}
	bodyBudget.Release(64 << 20)

	c.SetReadDeadline(time.Now().Add(time.Minute))
	var got bytes.Buffer
	got.ReadFrom(c) // what was buffered, then the daemon's close
	if got.Len() == 0 || strings.Contains(got.String(), "</ns1:getFoldersReturn>") || bytes.Contains(got.Bytes(), []byte("</getFoldersReturn>")) {
		t.Errorf("got %d bytes; want a reply cut off before its end", got.Len())
	}
	a.stillServing(t)
}

// TestHugeSparseSource: a source whose header is a small PNG but whose file
// runs on for hundreds of megabytes (sparse, so it costs no disk) is
// refused for its size before it is read into memory, with a 30000 fault
// that names the limit; nothing is written and the daemon keeps serving.
func TestHugeSparseSource(t *testing.T) {
	a := startAPI(t, []UserConfig{{Email: "me@x", Unix: []string{fmt.Sprint(os.Getuid())}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
	cfg := *a.d.cfg()
	cfg.Render.MaxSourcePixels = 1000 // so the file limit is 64 MiB and a little
	a.d.cfgp.Store(&cfg)
	huge := filepath.Join(a.root, "Acme/pics/huge.png")
	writePNG(t, huge, color.White)
	if err := os.Truncate(huge, 256<<20); err != nil {
		t.Fatal(err)
	}
	if err := a.d.store.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := tree(t, a.root)
	body := strings.Replace(copyParam(a.acme.Handle, a.asset(t, "Acme/pics/huge.png"), "Acme/shelf/", "hugecopy"),
		"<urlModifier/>", "<urlModifier>wid=4</urlModifier>", 1)
	status, reply := a.post(t, body, nil)
	if faultCode(reply) != "30000" || status != 500 || !strings.Contains(reply, "max_source_pixels") {
		t.Errorf("HTTP %d %.500s; want 30000 naming max_source_pixels", status, reply)
	}
	if tree(t, a.root) != before {
		t.Error("the tree changed")
	}
	a.stillServing(t)
}

// TestDuplicateCopyElements: a copyImageParam that names its folder, name,
// source, company or modifier twice is ambiguous (which one did the
// client mean?); it is refused with 30001 naming the element, and nothing
// is written, rather than silently taking the first.
func TestDuplicateCopyElements(t *testing.T) {
	a := startAPI(t, []UserConfig{{Email: "me@x", Unix: []string{fmt.Sprint(os.Getuid())}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
	src := a.asset(t, "Acme/pics/red.png")
	before := tree(t, a.root)
	for _, tc := range []struct{ elem, body string }{
		{"folderHandle", strings.Replace(copyParam(a.acme.Handle, src, "Acme/shelf/", "d1"), "<name>", "<folderHandle>Acme/pics/</folderHandle><name>", 1)},
		{"name", strings.Replace(copyParam(a.acme.Handle, src, "Acme/shelf/", "d2"), "<urlModifier/>", "<name>d3</name><urlModifier/>", 1)},
		{"assetHandle", strings.Replace(copyParam(a.acme.Handle, src, "Acme/shelf/", "d4"), "<name>", "<assetHandle>"+a.asset(t, "Acme/pics/blue.png")+"</assetHandle><name>", 1)},
		{"urlModifier", strings.Replace(copyParam(a.acme.Handle, src, "Acme/shelf/", "d5"), "<urlModifier/>", "<urlModifier/><urlModifier>wid=2</urlModifier>", 1)},
		{"companyHandle", strings.Replace(copyParam(a.acme.Handle, src, "Acme/shelf/", "d6"), "<assetHandle>", "<companyHandle>"+a.other.Handle+"</companyHandle><assetHandle>", 1)},
	} {
		status, reply := a.post(t, tc.body, nil)
		if faultCode(reply) != "30001" || status != 500 || !strings.Contains(reply, "'"+tc.elem+"'") {
			t.Errorf("%s twice: HTTP %d %.400s; want 30001 naming %s", tc.elem, status, reply, tc.elem)
		}
	}
	if tree(t, a.root) != before {
		t.Error("the tree changed")
	}
}
