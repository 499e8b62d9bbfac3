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
	"strings"
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
}

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
