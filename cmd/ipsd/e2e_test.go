package main

// End-to-end tests: they build the real ipsd binary, start it on a temp tree
// seeded from ../shared/corpus, and talk to it as users do.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ipsd-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "ipsd")
	// the daemon is built without the race detector unless IPSD_E2E_RACE
	// is set: the packages' own tests run under -race, and a race-built
	// daemon is several times slower under the burst tests
	args := []string{"build", "-o", binPath}
	if os.Getenv("IPSD_E2E_RACE") != "" {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building ipsd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const corpus = "../../../shared/corpus"

func needCorpus(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(corpus); err != nil {
		t.Skipf("corpus not found at %s", corpus)
	}
}

// env is one running daemon on a temp tree.
type env struct {
	t       *testing.T
	dir     string
	root    string
	inbox   string
	config  string
	socket  string
	metrics string // host:port
	cmd     *exec.Cmd
	logs    *syncBuffer
	http    *http.Client
	env     []string // extra environment for the daemon
	wrap    []string // command (and arguments) that runs the daemon's command line; nil runs it directly
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// startEnv seeds a tree and starts ipsd serve. extra is appended to the
// config file.
func startEnv(t *testing.T, extra string) *env {
	t.Helper()
	return startEnvWith(t, extra, nil)
}

// startEnvWith is startEnv with extra environment variables for the daemon.
func startEnvWith(t *testing.T, extra string, environ []string) *env {
	t.Helper()
	needCorpus(t)
	dir := t.TempDir()
	e := &env{t: t, dir: dir, root: filepath.Join(dir, "root"), inbox: filepath.Join(dir, "inbox"), env: environ}
	for _, d := range []string{"root/ApiTestCo/photos", "root/ApiTestCo/orient", "root/ApiTestCo/out/deep", "root/OtherCo/misc", "state", "inbox"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"DSCN0010.jpg", "BlueSquare.jpg", "Canon_40D.jpg", "canon_hdr_YES.jpg"} {
		copyFile(t, filepath.Join(corpus, "photos", f), filepath.Join(e.root, "ApiTestCo/photos", f))
	}
	for _, f := range []string{"Landscape_1.jpg", "Landscape_6.jpg"} {
		copyFile(t, filepath.Join(corpus, "orientation", f), filepath.Join(e.root, "ApiTestCo/orient", f))
	}
	copyFile(t, filepath.Join(corpus, "photos", "Nikon_D70.jpg"), filepath.Join(e.root, "OtherCo/misc/nikon.jpg"))

	e.socket = filepath.Join(dir, "ipsd.sock")
	e.config = filepath.Join(dir, "ipsd.toml")
	cfg := fmt.Sprintf(`root = "root"
state_dir = "state"
[api]
socket = "ipsd.sock"
[metrics]
listen = "127.0.0.1:0"
[render]
workers = 2
[store]
rescan = "1m"
[[watch]]
dir = "inbox"
settle = "200ms"
[[user]]
email = "tester@example.com"
unix = ["%d"]
[[user.membership]]
company = "ApiTestCo"
role = "IpsUser"
%s`, os.Getuid(), extra)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	e.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", e.socket)
		},
	}, Timeout: time.Minute}
	e.start()
	return e
}

func (e *env) start() {
	t := e.t
	t.Helper()
	e.logs = &syncBuffer{}
	args := []string{binPath, "serve", "-config", e.config, "-log.level", "debug"}
	if e.wrap != nil {
		args = append(append([]string(nil), e.wrap...), args...)
	}
	e.cmd = exec.Command(args[0], args[1:]...)
	e.cmd.Stderr = e.logs
	e.cmd.Stdout = e.logs
	e.cmd.Env = append(os.Environ(), e.env...)
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := e.cmd
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", e.logs.String())
		}
	})
	addrRE := regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)
	waitFor(t, 30*time.Second, "daemon healthy", func() bool {
		resp, err := e.http.Get("http://ipsd/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	// healthz can answer a moment before the metrics listener logs its
	// address, so wait for the line rather than reading the log once.
	var m []string
	waitFor(t, 10*time.Second, "metrics address in the log", func() bool {
		m = addrRE.FindStringSubmatch(e.logs.String())
		return m != nil
	})
	e.metrics = m[1]
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ipsd runs the binary with args and returns its stdout.
func (e *env) ipsd(args ...string) (string, error) {
	cmd := exec.Command(binPath, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("ipsd %v: %v: %s", args, err, errb.String())
	}
	return out.String(), nil
}

// ls returns path -> handle from `ipsd ls`.
func (e *env) ls(folder string) map[string]string {
	e.t.Helper()
	args := []string{"ls", "-config", e.config}
	if folder != "" {
		args = append(args, folder)
	}
	out, err := e.ipsd(args...)
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]string{}
	for line := range strings.Lines(out) {
		h, p, ok := strings.Cut(strings.TrimRight(line, "\n"), "\t")
		if !ok {
			e.t.Fatalf("ls line without a tab: %q", line)
		}
		m[p] = h
	}
	return m
}

func copyXML(ns, company, asset, folder, name, modifier string) string {
	esc := func(s string) string {
		var b bytes.Buffer
		xmlEscape(&b, s)
		return b.String()
	}
	return fmt.Sprintf(`<copyImageParam xmlns="%s">
   <companyHandle>%s</companyHandle>
   <assetHandle>%s</assetHandle>
   <folderHandle>%s</folderHandle>
   <name>%s</name>
   <urlModifier>%s</urlModifier>
</copyImageParam>`, ns, esc(company), esc(asset), esc(folder), esc(name), esc(modifier))
}

func xmlEscape(b *bytes.Buffer, s string) {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	b.WriteString(r.Replace(s))
}

func soapWrap(body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
  <soapenv:Header/>
  <soapenv:Body>` + body + `</soapenv:Body>
</soapenv:Envelope>`
}

// post sends body to the API and returns status and reply.
func (e *env) post(body string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", "http://ipsd/scene7/services/IpsApiService", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	req.Header.Set("SOAPAction", `"copyImage"`)
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var handleRE = regexp.MustCompile(`<(?:ns1:)?assetHandle>(a\|\d+\|1\|\d+)</(?:ns1:)?assetHandle>`)

// scrape returns the value of one sample from /metrics, or 0.
func (e *env) scrape(sample string) float64 {
	e.t.Helper()
	resp, err := http.Get("http://" + e.metrics + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func decodeFile(t *testing.T, path string) (image.Image, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, format, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return img, format
}
