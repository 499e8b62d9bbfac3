package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// maxDaemonRSS is the stated memory bound of the daemon under the load of
// TestConcurrentClients: peak RSS (VmHWM) of a normal (not race-
// instrumented) build with 2 render workers. Request bodies in memory are
// bounded by a 64 MiB budget, renders by [render] workers, and waiting
// copies by [api] max_queue.
const maxDaemonRSS = 200 << 20

// TestConcurrentClients: 200 clients each send 5 copy requests at once, a
// quarter of them with credentials in an authHeader, the others as the
// socket peer.
// Every request is answered with a copy, the busy fault, or (for names two
// clients race for) the name-in-use fault; no copy is made twice, nothing
// refused leaves a file, and the daemon stays within its memory bound.
func TestConcurrentClients(t *testing.T) {
	// the race detector multiplies memory; the bound is for the real thing
	plain := filepath.Join(t.TempDir(), "ipsd")
	if out, err := exec.Command("go", "build", "-o", plain, ".").CombinedOutput(); err != nil {
		t.Fatalf("building ipsd: %v\n%s", err, out)
	}
	old := binPath
	binPath = plain
	e := startEnv(t, userTOML(t, "load@example.com", "load-pw", false, "ApiTestCo=IpsUser"))
	binPath = old
	company := e.ls("")["ApiTestCo"]
	tree := e.ls("ApiTestCo/")
	srcs := []string{tree["ApiTestCo/photos/DSCN0010.jpg"], tree["ApiTestCo/photos/BlueSquare.jpg"]}

	const clients, each = 200, 5
	type result struct {
		name, ext string
		status    int
		body      string
	}
	results := make([]result, clients*each)
	tr := &http.Transport{DialContext: e.http.Transport.(*http.Transport).DialContext, MaxIdleConnsPerHost: clients}
	hc := &http.Client{Transport: tr}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		for j := range each {
			i := c*each + j
			name, ext, mod := fmt.Sprintf("c%d_%d", c, j), ".jpg", ""
			switch {
			case j == 0 && c%20 == 0:
				ext, mod = ".png", "wid=64&fmt=png" // some real renders
			case j == 4:
				name = fmt.Sprintf("dup%d", c/2) // clients 2k and 2k+1 race for one name
			}
			wg.Go(func() {
				<-start
				body := copyXML(ns, company, srcs[c%2], "ApiTestCo/out/", name, mod)
				if c%4 == 1 {
					// a quarter of the clients authenticate in an authHeader
					body = envelope(`<authHeader xmlns="http://www.scene7.com/IpsApi/xsd"><user>load@example.com</user><password>load-pw</password></authHeader>`, body)
				}
				req, _ := http.NewRequest("POST", "http://ipsd/scene7/services/IpsApiService", strings.NewReader(body))
				resp, err := hc.Do(req)
				if err != nil {
					results[i] = result{name: name, ext: ext, body: err.Error()}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				results[i] = result{name, ext, resp.StatusCode, string(b)}
			})
		}
	}
	close(start)
	wg.Wait()

	handles := map[string]string{}
	var ok, busy, inUse int
	made := map[string]bool{}
	for _, r := range results {
		path := filepath.Join(e.root, "ApiTestCo/out", r.name+r.ext)
		_, statErr := os.Stat(path)
		switch {
		case r.status == 200:
			m := handleRE.FindStringSubmatch(r.body)
			if m == nil {
				t.Errorf("%s: 200 without a handle: %s", r.name, r.body)
				continue
			}
			if prev, dup := handles[m[1]]; dup {
				t.Errorf("handle %s returned for %s and %s", m[1], prev, r.name)
			}
			handles[m[1]] = r.name
			if made[r.name] {
				t.Errorf("name %s copied twice", r.name)
			}
			made[r.name] = true
			if statErr != nil {
				t.Errorf("%s: answered OK but %v", r.name, statErr)
			}
			ok++
		case r.status == 503 && busyRE.MatchString(r.body):
			busy++
		case r.status == 500 && strings.HasPrefix(r.name, "dup") && strings.Contains(r.body, "Asset ID '"+r.name+"' is already in use."):
			inUse++
		default:
			t.Errorf("%s: unexpected answer HTTP %d %.300s", r.name, r.status, r.body)
		}
	}
	// what was refused left no file unless the same name succeeded
	for _, r := range results {
		if r.status != 200 && !made[r.name] {
			if _, err := os.Stat(filepath.Join(e.root, "ApiTestCo/out", r.name+r.ext)); err == nil {
				t.Errorf("%s was refused (HTTP %d) but its file exists", r.name, r.status)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(e.root, "ApiTestCo/out/*.*"))
	if len(files) != ok {
		t.Errorf("%d files in ApiTestCo/out; want one per success (%d)", len(files), ok)
	}
	t.Logf("%d requests: %d copied, %d busy, %d name in use", len(results), ok, busy, inUse)
	if ok == 0 {
		t.Error("no request succeeded")
	}

	rss := peakRSS(t, e.cmd.Process.Pid)
	t.Logf("daemon peak RSS %d MiB (bound %d MiB)", rss>>20, maxDaemonRSS>>20)
	if rss > maxDaemonRSS {
		t.Errorf("daemon peak RSS %d MiB; bound %d MiB", rss>>20, maxDaemonRSS>>20)
	}
	if status, body := e.post(copyXML(ns, company, srcs[0], "ApiTestCo/out/", "after_load", "")); status != 200 {
		t.Errorf("after the load: HTTP %d %s", status, body)
	}
}

var busyRE = regexp.MustCompile(`<(?:ns1:)?code>30000</(?:ns1:)?code><(?:ns1:)?reason>Server busy, retry later\.</`)

// peakRSS reads VmHWM of a process.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
