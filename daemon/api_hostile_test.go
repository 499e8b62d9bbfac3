package daemon

import (
	"bytes"
	"context"
	"fmt"
	"image/color"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	// a source deleted a moment ago: still in the catalog, gone from disk
	gone := a.asset(t, "Acme/pics/blue.png")
	if err := os.Remove(filepath.Join(a.root, "Acme/pics/blue.png")); err != nil {
		t.Fatal(err)
	}
	outsideBefore := tree(t, outside)

	cp := func(folder, name string) string { return copyParam(a.acme.Handle, src, folder, name) }
	big := strings.Repeat("x", 2<<20)
	tests := []struct {
		name   string
		body   string
		code   string
		reason string
	}{
		{"body over max_body_bytes", cp("Acme/shelf/", "big"+big), "30003", "larger than"},
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>` +
			strings.Replace(cp("Acme/shelf/", "lol"), "<urlModifier/>", "<urlModifier>&lol2;</urlModifier>", 1), "30003", "DTD"},
		{"entity declaration in a SOAP envelope", `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` + soapWith("", "", cp("Acme/shelf/", "xxe")), "30003", "DTD"},
		{"10,000-deep nesting", strings.Replace(cp("Acme/shelf/", "deep"), "<urlModifier/>", strings.Repeat("<a>", 10000)+strings.Repeat("</a>", 10000), 1), "30003", "nested deeper"},
		{"invalid UTF-8", cp("Acme/shelf/", "bad\xff\xfename"), "30003", "UTF-8"},
		{"undeclared entity", cp("Acme/shelf/", "amp&nbsp;x"), "30003", "entity"},
		{"NUL by character reference", cp("Acme/shelf/", "nul&#0;x"), "30003", ""},
		{"name with /", cp("Acme/shelf/", "a/b"), "30001", "name"},
		{"name with \\", cp("Acme/shelf/", `a\b`), "30001", "name"},
		{"name ..", cp("Acme/shelf/", ".."), "30001", "name"},
		{"name ../escape", cp("Acme/shelf/", "../../escape"), "30001", "name"},
		{"name with |", cp("Acme/shelf/", "a|b"), "30001", "name"},
		{"name with a control character (not even XML)", cp("Acme/shelf/", "a&#x1b;[31mb"), "30003", "illegal character"},
		{"name with a raw control character", cp("Acme/shelf/", "a\x1b[31mb"), "30003", "illegal character"},
		{"name with a tab", cp("Acme/shelf/", "a&#9;b"), "30001", "name"},
		{"name over 255 bytes", cp("Acme/shelf/", strings.Repeat("n", 256)), "30001", "255"},
		{"folder handle of another company", cp("Other/misc/", "foreign"), "30001", "folderHandle"},
		{"folder handle escaping root", cp("Acme/../Other/misc/", "esc"), "30001", "folderHandle"},
		{"absolute folder handle outside", cp("/../../etc/", "esc2"), "30001", "folderHandle"},
		{"source of another company", copyParam(a.acme.Handle, otherSrc, "Acme/shelf/", "foreign2"), "30001", "assetHandle"},
		{"folder through a symlink outside root", cp("Acme/link/", "vialink"), "30001", "folderHandle"},
		{"source deleted a moment ago", copyParam(a.acme.Handle, gone, "Acme/shelf/", "ghost"), "30001", "assetHandle"},
	}
	before := tree(t, a.root)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := a.post(t, tt.body, nil)
			if got := faultCode(body); got != tt.code || status != 500 {
				t.Errorf("HTTP %d, fault code %q; want 500, %s\n%.600s", status, got, tt.code, body)
			}
			if !strings.Contains(body, tt.reason) {
				t.Errorf("reason does not mention %q: %.600s", tt.reason, body)
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
