package daemon

import (
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ipsd/ipsd/fsstore"
	"github.com/ipsd/ipsd/metrics"
)

// testAPI is the socket API of an in-process daemon on a small temp tree:
// Acme/{shelf/,pics/red.png,pics/blue.png,pics/deep/green.png} and
// Other/misc/grey.png.
type testAPI struct {
	d      *Daemon
	root   string
	socket string
	client *http.Client
	acme   fsstore.Company
	other  fsstore.Company
}

func writePNG(t *testing.T, p string, c color.Color) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 8, 6))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	img.Set(1, 1, c)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// hashOf is a cheap bcrypt hash for tests.
func hashOf(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func startAPI(t *testing.T, us []UserConfig) *testAPI {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	writePNG(t, filepath.Join(root, "Acme/pics/red.png"), color.RGBA{255, 0, 0, 255})
	writePNG(t, filepath.Join(root, "Acme/pics/blue.png"), color.RGBA{0, 0, 255, 255})
	writePNG(t, filepath.Join(root, "Acme/pics/deep/green.png"), color.RGBA{0, 255, 0, 255})
	writePNG(t, filepath.Join(root, "Other/misc/grey.png"), color.Gray{128})
	if err := os.MkdirAll(filepath.Join(root, "Acme/shelf"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.Root, cfg.StateDir = root, filepath.Join(dir, "state")
	cfg.API.Socket = filepath.Join(dir, "api.sock")
	cfg.Render.Workers = 2
	cfg.Users = us
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st, err := fsstore.Open(context.Background(), fsstore.Config{Root: root, StateDir: cfg.StateDir}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := &Daemon{logger: logger, metrics: metrics.New("test"), sem: make(chan struct{}, 2), store: st}
	d.cfgp.Store(&cfg)
	d.users.Store(newUsers(cfg.Users))
	d.ready.Store(true)

	ln, err := net.Listen("unix", cfg.API.Socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.handler(), ConnContext: connContext, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) // returns when Close is called in Cleanup
	t.Cleanup(func() { srv.Close() })

	a := &testAPI{d: d, root: root, socket: cfg.API.Socket}
	a.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", cfg.API.Socket)
		},
	}, Timeout: time.Minute}
	if a.acme, err = st.CompanyByName("Acme"); err != nil {
		t.Fatal(err)
	}
	if a.other, err = st.CompanyByName("Other"); err != nil {
		t.Fatal(err)
	}
	return a
}

// asset returns the handle of the asset at rel.
func (a *testAPI) asset(t *testing.T, rel string) string {
	t.Helper()
	es, err := a.d.store.List(strings.SplitN(rel, "/", 2)[0] + "/")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Path == rel {
			return e.Handle
		}
	}
	t.Fatalf("no asset at %s", rel)
	return ""
}

// post sends body; hdr is an authHeader (or "") for a SOAP envelope, or
// nil body wrapping when bare.
func (a *testAPI) post(t *testing.T, body string, set func(*http.Request)) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://ipsd/scene7/services/IpsApiService", strings.NewReader(body))
	if set != nil {
		set(req)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func soapWith(user, password, body string) string {
	h := ""
	if user != "" || password != "" {
		h = `<authHeader xmlns="` + nsCommon + `"><user>` + user + `</user><password>` + password + `</password></authHeader>`
	}
	return `<soapenv:Envelope xmlns:soapenv="` + nsSOAP + `"><soapenv:Header>` + h + `</soapenv:Header><soapenv:Body>` + body + `</soapenv:Body></soapenv:Envelope>`
}

// withHeader wraps body in a SOAP envelope with header in soapenv:Header.
func withHeader(header, body string) string {
	return `<soapenv:Envelope xmlns:soapenv="` + nsSOAP + `"><soapenv:Header>` + header + `</soapenv:Header><soapenv:Body>` + body + `</soapenv:Body></soapenv:Envelope>`
}

func copyParam(company, asset, folder, name string) string {
	return `<copyImageParam xmlns="` + nsDefault + `"><companyHandle>` + company + `</companyHandle><assetHandle>` + asset +
		`</assetHandle><folderHandle>` + folder + `</folderHandle><name>` + name + `</name><urlModifier/></copyImageParam>`
}

var codeRE = regexp.MustCompile(`<(?:\w+:)?code>(\d+)</`)

// faultCode returns the code of a fault reply, or "" for a non-fault.
func faultCode(body string) string {
	if m := codeRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// TestRolesAndMemberships runs copyImage and a read operation for every
// role in every membership situation.
func TestRolesAndMemberships(t *testing.T) {
	// ips-api.md §1.5, written out here rather than taken from auth.go
	docRoles := []string{"IpsAdmin", "IpsCompanyAdmin", "IpsUser", "ImagePortalAdmin", "ImagePortalContrib",
		"ImagePortalContribUser", "ImagePortalUser", "TrialSiteAdmin", "TrialSiteUser", "WebServiceUser"}
	docCopyRoles := []string{"IpsAdmin", "IpsCompanyAdmin", "IpsUser", "ImagePortalAdmin", "ImagePortalContrib", "ImagePortalContribUser"}
	if !slices.Equal(slices.Sorted(slices.Values(allRoles)), slices.Sorted(slices.Values(docRoles))) {
		t.Fatalf("allRoles = %v; want the ten roles of ips-api.md §1.5", allRoles)
	}
	type who struct {
		email, role, where string // where: "member", "other company", "none"
		admin              bool
	}
	var people []who
	for _, r := range allRoles {
		for _, where := range []string{"member", "other company"} {
			people = append(people, who{email: fmt.Sprintf("%s-%s@x", r, strings.ReplaceAll(where, " ", "-")), role: r, where: where})
		}
	}
	people = append(people,
		who{email: "admin@x", where: "none", admin: true},
		who{email: "admin-portaluser@x", role: "ImagePortalUser", where: "member", admin: true},
		who{email: "admin-elsewhere@x", role: "WebServiceUser", where: "other company", admin: true},
		who{email: "nobody@x", where: "none"},
		who{email: "twohats@x", role: "ImagePortalUser+IpsUser", where: "member"},
		who{email: "twohats-denied@x", role: "WebServiceUser+TrialSiteUser", where: "member"},
	)
	hash := hashOf(t, "pw")
	var us []UserConfig
	for _, p := range people {
		u := UserConfig{Email: p.email, PasswordHash: hash, IPSAdmin: p.admin}
		for _, r := range strings.Split(p.role, "+") {
			switch p.where {
			case "member":
				u.Memberships = append(u.Memberships, MembershipConfig{Company: "Acme", Role: r})
			case "other company":
				u.Memberships = append(u.Memberships, MembershipConfig{Company: "Other", Role: r})
			}
		}
		us = append(us, u)
	}
	a := startAPI(t, us)
	src := a.asset(t, "Acme/pics/red.png")
	co := "<companyHandle>" + a.acme.Handle + "</companyHandle>"
	reads := map[string]string{
		"getCompanyInfo":  "<companyName>Acme</companyName>",
		"getFolders":      co,
		"getFolderTree":   co + "<depth>1</depth>",
		"getAssets":       co + "<assetHandleArray><items>" + src + "</items></assetHandleArray>",
		"getAssetsByName": co + "<nameArray><items>red</items></nameArray>",
		"checkAssetNames": co + "<assetNameArray><items>red</items></assetNameArray>",
		"searchAssets":    co + "<includeSubfolders>true</includeSubfolders>",
	}
	for op := range readOps {
		if reads[op] == "" {
			t.Fatalf("read operation %s has no case in this table", op)
		}
	}

	for i, p := range people {
		t.Run(p.email, func(t *testing.T) {
			wantCopy, wantRead := "", ""
			switch {
			case p.admin:
			case p.where != "member":
				wantCopy, wantRead = "20000", "20000"
			default:
				if !slices.ContainsFunc(strings.Split(p.role, "+"), func(r string) bool { return slices.Contains(docCopyRoles, r) }) {
					wantCopy = "20003"
				}
				if !slices.ContainsFunc(strings.Split(p.role, "+"), func(r string) bool { return r != "WebServiceUser" }) {
					wantRead = "20003"
				}
			}
			name := fmt.Sprintf("copy%d", i)
			status, body := a.post(t, soapWith(p.email, "pw", copyParam(a.acme.Handle, src, "Acme/shelf/", name)), nil)
			if got := faultCode(body); got != wantCopy {
				t.Errorf("copyImage: fault code %q; want %q (HTTP %d)\n%s", got, wantCopy, status, body)
			}
			_, err := os.Stat(filepath.Join(a.root, "Acme/shelf", name+".png"))
			if made := err == nil; made != (wantCopy == "") {
				t.Errorf("copyImage made a file: %v; want %v", made, wantCopy == "")
			}
			for op, inner := range reads {
				read := `<` + op + `Param xmlns="` + nsDefault + `">` + inner + `</` + op + `Param>`
				status, body := a.post(t, soapWith(p.email, "pw", read), nil)
				if got := faultCode(body); got != wantRead {
					t.Errorf("%s: fault code %q; want %q\n%s", op, got, wantRead, body)
				}
				if wantRead == "" && (status != 200 || !strings.Contains(body, "<ns1:"+op+"Return")) {
					t.Errorf("%s: HTTP %d %s", op, status, body)
				}
				if wantRead != "" && (status != 500 || !strings.Contains(body, "<faultstring>AuthorizationException</faultstring>")) {
					t.Errorf("%s: HTTP %d %s; want 500 with an AuthorizationException", op, status, body)
				}
			}
			if p.role == "IpsCompanyAdmin" && p.where == "member" {
				// the membership names the company, never a neighbour
				_, body = a.post(t, soapWith(p.email, "pw", copyParam(a.other.Handle, a.asset(t, "Other/misc/grey.png"), "Other/misc/", name+"x")), nil)
				if got := faultCode(body); got != "20000" {
					t.Errorf("copyImage in Other: code %q; want 20000", got)
				}
			}
		})
	}
}

// TestIdentity pins decisions.md §5: credentials decide when present, with
// no fallback; else the socket peer's local account.
func TestIdentity(t *testing.T) {
	uid := fmt.Sprint(os.Getuid())
	a := startAPI(t, []UserConfig{
		{Email: "local@x", Unix: []string{uid}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}},
		{Email: "remote@x", PasswordHash: hashOf(t, "right"), Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}},
		{Email: "nohash@x", Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}},
	})
	read := `<getCompanyInfoParam xmlns="` + nsDefault + `"><companyName>Acme</companyName></getCompanyInfoParam>`
	basic := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	hdr := func(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	tests := []struct {
		name string
		body string
		set  func(*http.Request)
		code string
	}{
		{"peer account, no credentials", soapWith("", "", read), nil, ""},
		{"authHeader right password", soapWith("remote@x", "right", read), nil, ""},
		{"authHeader wrong password, no fallback to the peer", soapWith("remote@x", "wrong", read), nil, "10001"},
		{"authHeader unknown user", soapWith("ghost@x", "x", read), nil, "10002"},
		{"authHeader for a user without a hash", soapWith("nohash@x", "", read), nil, "10001"},
		{"authHeader for the peer's own user without a hash", soapWith("local@x", "x", read), nil, "10001"},
		{"Basic right", read, basic("remote@x", "right"), ""},
		{"Basic wrong", read, basic("remote@x", "nope"), "10001"},
		{"Basic unknown", read, basic("ghost@x", "x"), "10002"},
		{"email matched without case", soapWith("Remote@X", "right", read), nil, ""},
		{"password matched exactly", soapWith("remote@x", "Right", read), nil, "10001"},
		{"authHeader wins over Basic", soapWith("remote@x", "wrong", read), basic("remote@x", "right"), "10001"},
		{"legacy AuthUser headers", `<soapenv:Envelope xmlns:soapenv="` + nsSOAP + `"><soapenv:Header><AuthUser xmlns="` + nsLegacy + `">remote@x</AuthUser><AuthPassword xmlns="` + nsLegacy + `">right</AuthPassword></soapenv:Header><soapenv:Body>` + read + `</soapenv:Body></soapenv:Envelope>`, nil, ""},
		{"empty authHeader elements count as none", soapWith("", "", read), nil, ""},
		{"Basic that is not base64, no fallback to the peer", read, hdr("Authorization", "Basic !!!"), "10000"},
		{"Basic without a colon, no fallback", read, hdr("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("remote@x"))), "10000"},
		{"Bearer token, no fallback", read, hdr("Authorization", "Bearer abc"), "10000"},
		{"basic scheme in lower case", read, hdr("Authorization", "basic "+base64.StdEncoding.EncodeToString([]byte("remote@x:right"))), ""},
		{"authHeader with only an accessToken, no fallback", withHeader(`<authHeader xmlns="`+nsCommon+`"><accessToken>tok</accessToken><appName>x</appName></authHeader>`, read), nil, "10000"},
		{"accessToken beside a right password", withHeader(`<authHeader xmlns="`+nsCommon+`"><accessToken>tok</accessToken><user>remote@x</user><password>right</password></authHeader>`, read), nil, ""},
		{"accessToken, Basic right", withHeader(`<authHeader xmlns="`+nsCommon+`"><accessToken>tok</accessToken></authHeader>`, read), basic("remote@x", "right"), ""},
		{"authHeader with only appName, peer decides", withHeader(`<authHeader xmlns="`+nsCommon+`"><appName>x</appName><appVersion>1</appVersion></authHeader>`, read), nil, ""},
		{"authHeader user without a password", withHeader(`<authHeader xmlns="`+nsCommon+`"><user>remote@x</user></authHeader>`, read), nil, "10001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := a.post(t, tt.body, tt.set)
			if got := faultCode(body); got != tt.code {
				t.Errorf("fault code %q; want %q (HTTP %d)\n%s", got, tt.code, status, body)
			}
			if tt.code != "" && status != 500 {
				t.Errorf("HTTP %d; want 500", status)
			}
		})
	}

	// a local account named rather than numbered
	if me, err := user.Current(); err == nil {
		n := startAPI(t, []UserConfig{{Email: "named@x", Unix: []string{"no-such-account-here", me.Username}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
		if status, body := n.post(t, soapWith("", "", read), nil); status != 200 || faultCode(body) != "" {
			t.Errorf("peer mapped by account name %s: HTTP %d %s", me.Username, status, body)
		}
	}

	// a peer whose account maps to nobody
	b := startAPI(t, []UserConfig{{Email: "someone@x", Unix: []string{"4000000000"}}})
	status, body := b.post(t, soapWith("", "", read), nil)
	if faultCode(body) != "10000" || status != 500 {
		t.Errorf("unmapped peer: HTTP %d %s; want 500 with 10000", status, body)
	}
}

// TestPasswordCheckedOncePerBurst: many calls at once with the same
// credentials cost one bcrypt comparison; a wrong password is never
// remembered.
func TestPasswordCheckedOncePerBurst(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u := newUsers([]UserConfig{{Email: "a@x", PasswordHash: string(h)}})
	uc := u.byEmail["a@x"]
	start := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Int32
	before := bcryptRuns.Load()
	for range 50 {
		wg.Go(func() {
			<-start
			if !u.passwordOK(uc, "right") {
				bad.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := bcryptRuns.Load() - before; n != 1 || bad.Load() != 0 {
		t.Errorf("%d comparisons, %d refusals for 50 calls with the right password; want 1 and 0", n, bad.Load())
	}
	before = bcryptRuns.Load()
	for range 2 {
		if u.passwordOK(uc, "wrong") {
			t.Error("wrong password accepted")
		}
	}
	if n := bcryptRuns.Load() - before; n != 2 {
		t.Errorf("%d comparisons for 2 wrong passwords in a row; want 2 (never remembered)", n)
	}
	if !u.passwordOK(uc, "right") || bcryptRuns.Load()-before != 2 {
		t.Error("the right password was not remembered")
	}
}
