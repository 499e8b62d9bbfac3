package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCopyBatch runs `ipsd copy -batch` over a CSV file and a directory of
// request files against the real daemon.
func TestCopyBatch(t *testing.T) {
	e := startEnv(t, userTOML(t, "batch@example.com", "batch-pw", false, "ApiTestCo=IpsUser"))
	company := e.ls("")["ApiTestCo"]
	src := e.ls("ApiTestCo/")["ApiTestCo/photos/DSCN0010.jpg"]

	var csvb strings.Builder
	csvb.WriteString("company,asset,folder,name,modifier\n")
	for i := range 20 {
		mod := ""
		if i%5 == 0 {
			mod = "wid=50&fmt=png"
		}
		fmt.Fprintf(&csvb, "%s,%s,ApiTestCo/out/,b%02d,%s\n", company, src, i, mod)
	}
	fmt.Fprintf(&csvb, "%s,a|999999,ApiTestCo/out/,bad,\n", company) // fails
	csvPath := filepath.Join(e.dir, "reqs.csv")
	if err := os.WriteFile(csvPath, []byte(csvb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(e.dir, "pw")
	os.WriteFile(pwFile, []byte("batch-pw\n"), 0o600)

	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(binPath, append([]string{"copy", "-config", e.config}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	out, errs, code := run("-batch", csvPath, "-parallel", "6", "-user", "batch@example.com", "-password-file", pwFile)
	if code != 1 {
		t.Errorf("exit %d; want 1 (one row fails)\n%s", code, errs)
	}
	if n := strings.Count(out, "\ta|"); n != 20 {
		t.Errorf("%d handles on stdout; want 20:\n%s", n, out)
	}
	if !strings.Contains(errs, "line 22 (bad): ipsApiFault 30001") || !strings.Contains(errs, "21 requests: 20 copied, 1 failed") {
		t.Errorf("stderr lacks the failure or the summary:\n%s", errs)
	}
	for i := range 20 {
		ext := ".jpg"
		if i%5 == 0 {
			ext = ".png"
		}
		if _, err := os.Stat(filepath.Join(e.root, "ApiTestCo/out", fmt.Sprintf("b%02d%s", i, ext))); err != nil {
			t.Errorf("copy %d: %v", i, err)
		}
	}

	dir := filepath.Join(e.dir, "reqdir")
	os.MkdirAll(dir, 0o755)
	for i := range 3 {
		body := copyXML(ns, company, src, "ApiTestCo/out/deep/", fmt.Sprintf("d%d", i), "")
		if i == 1 {
			body = soapWrap(body)
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%d.xml", i)), []byte(body), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a request"), 0o644)
	out, errs, code = run("-batch", dir)
	if code != 0 || strings.Count(out, "\ta|") != 3 || !strings.Contains(out, "r1.xml\ta|") || !strings.Contains(errs, "3 requests: 3 copied, 0 failed") {
		t.Errorf("dir batch: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	// the password never comes from a flag
	if _, errs, code := run("-batch", dir, "-user", "batch@example.com", "-password", "x"); code == 0 || !strings.Contains(errs, "-password") {
		t.Errorf("-password flag accepted (exit %d): %s", code, errs)
	}

	// one copy with the password from the environment; a wrong one is
	// refused with 10001, none at all before anything is sent
	one := func(name, pwEnv string) (string, string, int) {
		cmd := exec.Command(binPath, "copy", "-config", e.config, "-user", "batch@example.com",
			"-company", company, "-asset", src, "-folder", "ApiTestCo/out/", "-name", name)
		cmd.Env = os.Environ()
		if pwEnv != "<unset>" {
			cmd.Env = append(cmd.Env, "IPSD_PASSWORD="+pwEnv)
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	if out, errs, code := one("fromenv", "batch-pw"); code != 0 || !handleLineRE.MatchString(out) {
		t.Errorf("IPSD_PASSWORD: exit %d, stdout %q, stderr %s", code, out, errs)
	} else if _, err := os.Stat(filepath.Join(e.root, "ApiTestCo/out/fromenv.jpg")); err != nil {
		t.Error(err)
	}
	if out, errs, code := one("wrongenv", "not-it"); code != 1 || out != "" || !strings.Contains(errs, "authenticationFault 10001") {
		t.Errorf("wrong IPSD_PASSWORD: exit %d, stdout %q, stderr %s", code, out, errs)
	}
	if _, errs, code := one("nopw", "<unset>"); code == 0 || !strings.Contains(errs, "IPSD_PASSWORD") {
		t.Errorf("-user without a password: exit %d, stderr %s", code, errs)
	}
	if strings.Contains(e.logs.String(), "batch-pw") || strings.Contains(e.logs.String(), "not-it") {
		t.Error("a password appears in the daemon log")
	}
}

var handleLineRE = regexp.MustCompile(`^a\|\d+\|1\|\d+\n$`)

// TestBatchRetriesBusy: busy faults are retried with backoff until the
// daemon takes the request; other faults are not retried.
func TestBatchRetriesBusy(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "fake.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n := calls.Add(1)
		switch {
		case bytes.Contains(b, []byte("<name>bad</name>")):
			w.WriteHeader(500)
			io.WriteString(w, `<ipsApiFault xmlns="http://www.scene7.com/IpsApi/xsd"><code>30001</code><reason>Invalid name.</reason></ipsApiFault>`)
		case n <= 3:
			w.WriteHeader(503)
			io.WriteString(w, `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>soapenv:Server</faultcode><faultstring>ipsApiFault</faultstring><detail><ns1:ipsApiFault xmlns:ns1="http://www.scene7.com/IpsApi/xsd"><ns1:code>30000</ns1:code><ns1:reason>Server busy, retry later.</ns1:reason></ns1:ipsApiFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`)
		default:
			io.WriteString(w, `<copyImageReturn xmlns="http://www.scene7.com/IpsApi/xsd/2008-01-15"><assetHandle>a|7|1|7</assetHandle></copyImageReturn>`)
		}
	})}
	go srv.Serve(ln) // returns when Close is called
	t.Cleanup(func() { srv.Close() })

	c := newClient(sock)
	o := batchOptions{parallel: 1, retries: 5, backoff: time.Millisecond, maxBackoff: 4 * time.Millisecond}
	h, tries, err := sendRetrying(context.Background(), c, []byte(copyXML(ns, "c|1", "a|1", "A/", "ok", "")), o)
	if err != nil || h != "a|7|1|7" || tries != 3 {
		t.Errorf("sendRetrying = %q, %d retries, %v; want a|7|1|7 after 3 retries", h, tries, err)
	}
	calls.Store(0)
	o.retries = 2
	if _, tries, err := sendRetrying(context.Background(), c, []byte("<x/>"), o); !busy(err) || tries != 2 {
		t.Errorf("retries exhausted: %d retries, %v; want the busy fault after 2", tries, err)
	}
	calls.Store(10)
	if _, tries, err := sendRetrying(context.Background(), c, []byte("<name>bad</name>"), o); busy(err) || err == nil || tries != 0 {
		t.Errorf("a 30001 fault: %d retries, %v; want no retry", tries, err)
	}
}

// TestBatchBoundedWithProgress: a batch never has more than -parallel
// requests in flight, does reach that many, draws its progress bar when
// asked to, and counts every request in the summary.
func TestBatchBoundedWithProgress(t *testing.T) {
	const parallel, n = 3, 12
	sock := filepath.Join(t.TempDir(), "fake.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	inFlight, most, served := 0, 0, 0
	// the first requests wait until parallel of them are in flight
	// together, and a moment longer so that any beyond the bound arrive
	// too; a client that never gets there is let through after a while,
	// and the count below fails the test
	full := make(chan struct{})
	var open sync.Once
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == parallel {
			time.AfterFunc(300*time.Millisecond, func() { open.Do(func() { close(full) }) })
		}
		mu.Unlock()
		select {
		case <-full:
		case <-time.After(30 * time.Second):
			open.Do(func() { close(full) })
		}
		mu.Lock()
		inFlight--
		served++
		id := served
		mu.Unlock()
		fmt.Fprintf(w, `<copyImageReturn xmlns="%s"><assetHandle>a|%d|1|1</assetHandle></copyImageReturn>`, ns, id)
	})}
	go srv.Serve(ln) // returns when Close is called
	t.Cleanup(func() { srv.Close() })

	dir := filepath.Join(t.TempDir(), "reqs")
	os.MkdirAll(dir, 0o755)
	for i := range n {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%02d.xml", i)), []byte(copyXML(ns, "c|1", "a|1", "A/", fmt.Sprintf("n%d", i), "")), 0o644)
	}
	var stdout, stderr bytes.Buffer
	err = runBatch(context.Background(), newClient(sock), dir, batchOptions{parallel: parallel, retries: 1, progress: true}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("runBatch: %v\n%s", err, stderr.String())
	}
	mu.Lock()
	if most != parallel {
		t.Errorf("at most %d requests in flight; want exactly -parallel %d", most, parallel)
	}
	mu.Unlock()
	if got := strings.Count(stdout.String(), "\ta|"); got != n {
		t.Errorf("%d handles printed; want %d\n%s", got, n, stdout.String())
	}
	// the bar draws its description and count as it goes
	if !strings.Contains(stderr.String(), "copying") || !strings.Contains(stderr.String(), fmt.Sprintf("/%d", n)) {
		t.Errorf("no progress bar on stderr:\n%q", stderr.String())
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf("%d requests: %d copied, 0 failed, 0 busy retries", n, n)) {
		t.Errorf("summary missing:\n%s", stderr.String())
	}

	// without progress, stderr holds the summary alone
	stderr.Reset()
	if err := runBatch(context.Background(), newClient(sock), dir, batchOptions{parallel: parallel, retries: 1}, io.Discard, &stderr); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(stderr.String(), "\n"); lines != 1 || strings.Contains(stderr.String(), "copying") {
		t.Errorf("stderr without a bar:\n%q", stderr.String())
	}
}
