package main

// Lifecycle tests: sd_notify, SIGHUP reload and SIGTERM under load, with the
// real binary.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// notifyListener is a fake systemd notification socket.
type notifyListener struct {
	path string
	conn *net.UnixConn
	mu   sync.Mutex
	msgs []string
	// onMsg, when set, is called with each message as it arrives, before
	// the next one is read
	onMsg func(string)
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	n := &notifyListener{path: filepath.Join(t.TempDir(), "notify.sock")}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n.conn = c
	go func() { // returns when the test closes the socket
		buf := make([]byte, 4096)
		for {
			k, _, err := c.ReadFromUnix(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			f := n.onMsg
			n.mu.Unlock()
			if f != nil {
				f(string(buf[:k]))
			}
		}
	}()
	t.Cleanup(func() { c.Close() })
	return n
}

// has reports whether some message holds the line want (or a line starting
// with want when want ends in "=").
func (n *notifyListener) has(want string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.msgs {
		for _, line := range strings.Split(m, "\n") {
			if line == want || strings.HasSuffix(want, "=") && strings.HasPrefix(line, want) {
				return true
			}
		}
	}
	return false
}

func (n *notifyListener) all() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.msgs, " | ")
}

// waitExit waits for the daemon to exit and returns its exit code.
func (e *env) waitExit(d time.Duration) int {
	e.t.Helper()
	done := make(chan error, 1)
	go func() { done <- e.cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			return 0
		}
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		e.t.Fatalf("waiting for ipsd: %v", err)
	case <-time.After(d):
		e.t.Fatalf("ipsd did not exit within %v", d)
	}
	return -1
}

// TestSystemdNotify runs ipsd under a fake systemd notification socket:
// when READY=1 arrives the catalog is reconciled and the socket answers
// (checked the moment it arrives, so READY=1 sent a long way too early is
// caught; one sent a few microseconds early may slip by), STATUS= lines
// say what ipsd is doing, WATCHDOG=1 pings come under WATCHDOG_USEC, and
// STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	n := listenNotify(t)
	var mu sync.Mutex
	var atReady []string // what was true when READY=1 arrived
	e := startEnvOpts(t, "", func(e *env) {
		e.env = []string{"NOTIFY_SOCKET=" + n.path, "WATCHDOG_USEC=200000"}
		sock, config := filepath.Join(e.dir, "ipsd.sock"), filepath.Join(e.dir, "ipsd.toml")
		client := unixClient(&sock)
		n.mu.Lock()
		n.onMsg = func(msg string) {
			if !slices.Contains(strings.Split(msg, "\n"), "READY=1") {
				return
			}
			var facts []string
			if resp, err := client.Get("http://ipsd/healthz"); err != nil {
				facts = append(facts, "healthz: "+err.Error())
			} else {
				resp.Body.Close()
				facts = append(facts, fmt.Sprintf("healthz: %d", resp.StatusCode))
			}
			out, err := exec.Command(binPath, "ls", "-config", config, "ApiTestCo/").Output()
			facts = append(facts, fmt.Sprintf("assets: %d (%v)", strings.Count(string(out), "a|"), err))
			mu.Lock()
			atReady = append(atReady, strings.Join(facts, ", "))
			mu.Unlock()
		}
		n.mu.Unlock()
	})
	waitFor(t, 10*time.Second, "READY=1", func() bool { return n.has("READY=1") })
	waitFor(t, 10*time.Second, "WATCHDOG=1", func() bool { return n.has("WATCHDOG=1") })
	mu.Lock()
	if len(atReady) == 0 || atReady[0] != "healthz: 200, assets: 6 (<nil>)" {
		t.Errorf("when READY=1 arrived: %q; want the socket healthy and all 6 seeded assets catalogued", atReady)
	}
	mu.Unlock()
	for _, want := range []string{"STATUS=reconciling", "STATUS=serving"} {
		if !strings.Contains(n.all(), want) {
			t.Errorf("no %s... line; got %s", want, n.all())
		}
	}
	if n.has("STOPPING=1") {
		t.Fatalf("STOPPING=1 before any signal: %s", n.all())
	}
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := e.waitExit(30 * time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM = %d; want 0", code)
	}
	if !n.has("STOPPING=1") || !strings.Contains(n.all(), "STATUS=stopping") {
		t.Errorf("no STOPPING=1 and STATUS=stopping after SIGTERM; got %s", n.all())
	}
	if _, err := os.Stat(e.socket); !os.IsNotExist(err) {
		t.Errorf("socket %s still exists after shutdown (err %v)", e.socket, err)
	}
}

// TestReloadDuringTraffic reloads users, memberships, limits and watch
// folders with SIGHUP while socket copies and watch-folder requests run,
// and sends an invalid config in between: not one request may fail, the
// invalid config is rejected whole, logged and counted, and the config
// before it stays in force.
func TestReloadDuringTraffic(t *testing.T) {
	n := listenNotify(t)
	e := startEnvWith(t, "", []string{"NOTIFY_SOCKET=" + n.path})
	company := e.ls("")["ApiTestCo"]
	other := e.ls("")["OtherCo"]
	src := e.ls("ApiTestCo/")["ApiTestCo/photos/Canon_40D.jpg"]
	otherSrc := e.ls("OtherCo/")["OtherCo/misc/nikon.jpg"]
	inbox2 := filepath.Join(e.dir, "inbox2")
	if err := os.Mkdir(inbox2, 0o755); err != nil {
		t.Fatal(err)
	}
	reloads := 0
	reload := func(cfg, result string) {
		t.Helper()
		if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		reloads++
		before := strings.Count(n.all(), "READY=1")
		e.cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, time.Minute, "reload "+result+" counted", func() bool {
			return e.scrape(`ipsd_config_reloads_total{result="`+result+`"}`) >= 1 &&
				e.scrape(`ipsd_config_reloads_total{result="ok"}`)+e.scrape(`ipsd_config_reloads_total{result="error"}`) == float64(reloads)
		})
		waitFor(t, 10*time.Second, "READY=1 after the reload", func() bool { return strings.Count(n.all(), "READY=1") > before })
	}

	// socket traffic: copies one after another until stopped; every one
	// must succeed
	var stop atomic.Bool
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				status, body := e.post(copyXML(ns, company, src, "ApiTestCo/out/", fmt.Sprintf("hup_%d_%d", w, i), "wid=50"))
				sent.Add(1)
				if status != 200 {
					failed.Add(1)
					t.Errorf("copy during reload: HTTP %d %s", status, body)
				}
			}
		}()
	}
	// watch-folder traffic across the first reload
	const nWatch = 10
	reqs := map[string]string{}
	for i := range nWatch {
		reqs[fmt.Sprintf("w%02d.xml", i)] = copyXML(ns, company, src, "ApiTestCo/out/", fmt.Sprintf("w%02d", i), "wid=60")
	}
	dropAll(t, e.inbox, reqs)

	// 1: a new user, a new watch folder acting as that user, a lower limit
	orig, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	hash := hashPassword(t, "s3cret")
	late := func(company string) string {
		return fmt.Sprintf("\n[[user]]\nemail = \"late@example.com\"\npassword_hash = %q\n[[user.membership]]\ncompany = %q\nrole = \"IpsCompanyAdmin\"\n", hash, company)
	}
	watch2 := fmt.Sprintf("\n[[watch]]\ndir = %q\nuser = \"late@example.com\"\nsettle = \"200ms\"\n", inbox2)
	limited := strings.Replace(string(orig), "workers = 2\n", "workers = 2\nmax_output_pixels = 10000\n", 1)
	cfg1 := limited + late("ApiTestCo") + watch2
	reload(cfg1, "ok")
	if status, body := e.postAs("late@example.com", "s3cret", copyXML(ns, company, src, "ApiTestCo/out/", "late1", "")); status != 200 {
		t.Errorf("user added by reload cannot copy: HTTP %d %s", status, body)
	}
	big := copyXML(ns, company, src, "ApiTestCo/out/", "big1", "wid=2000")
	if status, body := e.post(big); status != 500 || !strings.Contains(body, "exceeds max_output_pixels 10000") || strings.Contains(body, "writing") {
		t.Errorf("a copy over the reloaded max_output_pixels: HTTP %d %s; want a fault naming the limit", status, body)
	}
	dropAll(t, inbox2, map[string]string{"x1.xml": copyXML(ns, company, src, "ApiTestCo/out/", "x1", "wid=20")})
	waitFor(t, time.Minute, "x1.xml done in the new watch folder", func() bool { return countGlob(t, inbox2, "done/x1.result.xml") == 1 })
	waitFor(t, time.Minute, "the first watch folder's requests done", func() bool { return countGlob(t, e.inbox, "done/w*.result.xml") == nWatch })
	if got := countGlob(t, e.inbox, "failed/*"); got != 0 {
		t.Errorf("%d requests of the kept watch folder failed across the reload", got)
	}
	if got, want := e.scrape(`ipsd_requests_total{channel="watch",result="ok"}`), float64(nWatch+1); got != want {
		t.Errorf(`ipsd_requests_total{channel="watch",result="ok"} = %v; want %v`, got, want)
	}

	// 2: an invalid config, rejected whole: its new user, its higher limit
	// and its valid-looking parts do not take effect
	bad := "bogus_key = 1\nshutdown_timeout = \"-1s\"\n" + string(orig) + late("ApiTestCo") +
		"\n[[user]]\nemail = \"never@example.com\"\npassword_hash = \"$2a$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0\"\n"
	reload(bad, "error")
	logs := e.logs.String()
	if !strings.Contains(logs, "config reload rejected") || !strings.Contains(logs, "bogus_key") || !strings.Contains(logs, "shutdown_timeout") {
		t.Errorf("the rejected reload is not logged with both bad keys")
	}
	if status, body := e.post(big); status != 500 {
		t.Errorf("after a rejected reload the limit of the running config is gone: HTTP %d %s", status, body)
	}
	if status, body := e.postAs("late@example.com", "s3cret", copyXML(ns, company, src, "ApiTestCo/out/", "late2", "")); status != 200 {
		t.Errorf("after a rejected reload the running config's user is gone: HTTP %d %s", status, body)
	}
	dropAll(t, inbox2, map[string]string{"x2.xml": copyXML(ns, company, src, "ApiTestCo/out/", "x2", "wid=20")})
	waitFor(t, time.Minute, "x2.xml done after the rejected reload", func() bool { return countGlob(t, inbox2, "done/x2.result.xml") == 1 })

	// 3: the membership moves to OtherCo, the first watch folder goes, the
	// limit is back to its default
	noInbox := strings.Replace(string(orig), "[[watch]]\ndir = \"inbox\"\nsettle = \"200ms\"\n", "", 1)
	if noInbox == string(orig) {
		t.Fatal("cannot find the [[watch]] table of the test config")
	}
	reload(noInbox+late("OtherCo")+watch2, "ok")
	if status, body := e.postAs("late@example.com", "s3cret", copyXML(ns, company, src, "ApiTestCo/out/", "late3", "")); status != 500 || !strings.Contains(body, "20000") {
		t.Errorf("a membership removed by reload still works: HTTP %d %s; want fault 20000", status, body)
	}
	if status, body := e.postAs("late@example.com", "s3cret", copyXML(ns, other, otherSrc, "OtherCo/", "late4", "")); status != 200 {
		t.Errorf("a membership added by reload does not work: HTTP %d %s", status, body)
	}
	if status, body := e.post(big); status != 200 {
		t.Errorf("the default max_output_pixels is not back after reload: HTTP %d %s", status, body)
	}
	inbox, _ := filepath.Abs(e.inbox)
	if sc := e.scrapeAll(); strings.Contains(sc, inbox+`"`) || !strings.Contains(sc, inbox2+`"`) {
		t.Errorf("the queue series do not follow the watch folders (%s gone, %s kept):\n%s", inbox, inbox2, sc)
	}
	dropAll(t, e.inbox, map[string]string{"after.xml": copyXML(ns, company, src, "ApiTestCo/out/", "after", "")})
	dropAll(t, inbox2, map[string]string{"x3.xml": copyXML(ns, other, otherSrc, "OtherCo/", "x3", "")})
	waitFor(t, time.Minute, "x3.xml done", func() bool { return countGlob(t, inbox2, "done/x3.result.xml") == 1 })
	if _, err := os.Stat(filepath.Join(e.inbox, "after.xml")); err != nil {
		t.Errorf("a request in the watch folder removed by reload was taken: %v", err)
	}

	waitFor(t, time.Minute, "traffic across the reloads", func() bool { return sent.Load() >= 10 })
	stop.Store(true)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d copies failed during reloads", failed.Load(), sent.Load())
	}
	if got := strings.Count(n.all(), "RELOADING=1"); got != reloads {
		t.Errorf("%d RELOADING=1 messages for %d reloads", got, reloads)
	}
	if !n.has("MONOTONIC_USEC=") {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC=: %s", n.all())
	}
	if strings.Contains(e.logs.String(), "s3cret") || strings.Contains(e.logs.String(), hash) {
		t.Errorf("the password or its hash appears in the log")
	}
}

func TestSigtermDuringBurstLosesNothing(t *testing.T) {
	e := startEnv(t, "")
	company := e.ls("")["ApiTestCo"]
	src := e.ls("ApiTestCo/")["ApiTestCo/photos/DSCN0010.jpg"]

	const n = 40
	for i := range n {
		body := copyXML(ns, company, src, "ApiTestCo/out/", fmt.Sprintf("burst%02d", i), "wid=300&op_usm=1,1,0")
		tmp := filepath.Join(e.inbox, fmt.Sprintf(".r%02d.tmp", i))
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(e.inbox, fmt.Sprintf("r%02d.xml", i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "first results", func() bool { return countGlob(t, e.inbox, "done/*.result.xml") >= 2 })
	e.cmd.Process.Signal(syscall.SIGTERM)
	if code := e.waitExit(60 * time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d; want 0", code)
	}
	// every request is done, failed, still claimed, or not yet taken
	accounted := countGlob(t, e.inbox, "done/r*.result.xml") + countGlob(t, e.inbox, "failed/r*.result.xml") +
		countGlob(t, e.inbox, ".work/r*") + countGlob(t, e.inbox, "r*.xml")
	if accounted < n {
		t.Fatalf("after SIGTERM only %d of %d requests are accounted for", accounted, n)
	}
	if got := countGlob(t, e.inbox, "failed/*"); got != 0 {
		t.Errorf("%d files in failed/ after SIGTERM; want 0", got)
	}

	e.start()
	waitFor(t, 120*time.Second, "all requests done after restart", func() bool {
		return countGlob(t, e.inbox, "done/r*.result.xml") == n
	})
	if got := countGlob(t, e.inbox, "failed/*"); got != 0 {
		t.Errorf("%d files in failed/ after restart; want 0", got)
	}
	copies, _ := filepath.Glob(filepath.Join(e.root, "ApiTestCo/out/burst*"))
	if len(copies) != n {
		t.Errorf("%d copies in the tree; want exactly %d", len(copies), n)
	}
	tmps, _ := filepath.Glob(filepath.Join(e.root, "ApiTestCo/out/.*"))
	if len(tmps) != 0 {
		t.Errorf("temp files left in the tree: %v", tmps)
	}
}

func countGlob(t *testing.T, dir, pattern string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

func hashPassword(t *testing.T, pw string) string {
	t.Helper()
	cmd := exec.Command(binPath, "hash-password")
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// postAs sends body with HTTP Basic credentials.
func (e *env) postAs(user, password, body string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", "http://ipsd/scene7/services/IpsApiService", strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	req.SetBasicAuth(user, password)
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrapeAll returns the whole /metrics text.
func (e *env) scrapeAll() string {
	e.t.Helper()
	resp, err := http.Get("http://" + e.metrics + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// TestSigtermDeadlineLeavesUnfinishedClaimed stops ipsd while slow copies
// run, with a shutdown_timeout far shorter than one of them: the copies cut
// off are not failed but stay claimed, socket calls either complete or get
// no answer (and leave nothing behind), ipsd exits 0 and closes its socket,
// and the next start completes every request exactly once.
func TestSigtermDeadlineLeavesUnfinishedClaimed(t *testing.T) {
	e := startEnvOpts(t, "", func(e *env) { e.top = `shutdown_timeout = "1ms"` })
	copyFile(t, filepath.Join(corpus, "photos", "42_IndexError.jpg"), filepath.Join(e.root, "ApiTestCo/photos/big.jpg"))
	var src string
	waitFor(t, 30*time.Second, "big.jpg in the catalog", func() bool {
		src = e.ls("ApiTestCo/")["ApiTestCo/photos/big.jpg"]
		return src != ""
	})
	company := e.ls("")["ApiTestCo"]
	// a 12-megapixel PNG takes far longer than 1ms to encode on any machine
	const mod = "wid=4000&fmt=png"

	const n = 6
	reqs := map[string]string{}
	for i := range n {
		reqs[fmt.Sprintf("slow%d.xml", i)] = copyXML(ns, company, src, "ApiTestCo/out/", fmt.Sprintf("slow%d", i), mod)
	}
	dropAll(t, e.inbox, reqs)
	waitFor(t, time.Minute, "copies rendering", func() bool { return e.scrape("ipsd_requests_in_flight") >= 1 })
	// two workers, six requests: the rest wait, and the gauges say so
	inbox, _ := filepath.Abs(e.inbox)
	waitFor(t, time.Minute, "requests waiting in the watch folder", func() bool {
		return e.scrape(series("ipsd_watch_queue_depth", "folder", inbox)) >= 1 &&
			e.scrape(series("ipsd_watch_oldest_pending_age_seconds", "folder", inbox)) > 0
	})

	// socket calls in flight at the same time
	type reply struct {
		name   string
		status int
		err    error
	}
	replies := make(chan reply, 2)
	for i := range 2 {
		name := fmt.Sprintf("sock%d", i)
		go func() { // ends when the daemon answers or goes away
			req, _ := http.NewRequest("POST", "http://ipsd/scene7/services/IpsApiService",
				strings.NewReader(copyXML(ns, company, src, "ApiTestCo/out/", name, mod)))
			resp, err := e.http.Do(req)
			if err != nil {
				replies <- reply{name: name, err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			replies <- reply{name: name, status: resp.StatusCode}
		}()
	}
	waitFor(t, time.Minute, "socket calls accepted", func() bool {
		return strings.Count(e.logs.String(), `msg="request accepted" request_id=`) >= 2+1
	})

	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := e.waitExit(2 * time.Minute); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d; want 0", code)
	}
	if _, err := os.Stat(e.socket); !os.IsNotExist(err) {
		t.Errorf("socket %s still exists after exit (err %v)", e.socket, err)
	}
	logs := e.logs.String()
	if got := countGlob(t, e.inbox, "failed/*"); got != 0 {
		t.Errorf("%d files in failed/ after SIGTERM; want 0", got)
	}
	claimed := countGlob(t, e.inbox, ".work/slow*")
	if claimed == 0 || !strings.Contains(logs, "result=interrupted") {
		t.Errorf("%d requests left claimed, interrupted logged: %v; want copies cut off by the 1ms deadline",
			claimed, strings.Contains(logs, "result=interrupted"))
	}
	if accounted := countGlob(t, e.inbox, "done/slow*.result.xml") + claimed + countGlob(t, e.inbox, "slow*.xml"); accounted != n {
		t.Errorf("after SIGTERM %d of %d requests are done, claimed or waiting", accounted, n)
	}
	answered := map[string]bool{}
	for range 2 {
		r := <-replies
		switch {
		case r.err == nil && r.status == 200:
			answered[r.name] = true
		case r.err == nil:
			t.Errorf("socket call %s: HTTP %d; want 200 or no answer at all", r.name, r.status)
		}
	}

	e.start()
	waitFor(t, 3*time.Minute, "every request done after restart", func() bool {
		return countGlob(t, e.inbox, "done/slow*.result.xml") == n
	})
	if got := countGlob(t, e.inbox, "failed/*"); got != 0 {
		t.Errorf("%d files in failed/ after restart; want 0", got)
	}
	for i := range n {
		if m, _ := filepath.Glob(filepath.Join(e.root, fmt.Sprintf("ApiTestCo/out/slow%d.*", i))); len(m) != 1 {
			t.Errorf("copies of slow%d in the tree: %v; want exactly one", i, m)
		}
	}
	for i := range 2 {
		name := fmt.Sprintf("sock%d", i)
		m, _ := filepath.Glob(filepath.Join(e.root, "ApiTestCo/out/"+name+".*"))
		if answered[name] != (len(m) == 1) || len(m) > 1 {
			t.Errorf("socket call %s answered 200: %v, but the tree holds %v", name, answered[name], m)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(e.root, "ApiTestCo/out/.*")); len(tmps) != 0 {
		t.Errorf("temp files left in the tree: %v", tmps)
	}
}

// TestSocketActivation runs ipsd the way ipsd.socket does: the listening
// socket is made by systemd-socket-activate, which starts ipsd on the first
// connection and hands the socket over (LISTEN_FDS). The first call waits in
// the backlog until ipsd is ready; ipsd serves on the inherited socket and
// leaves it in place at exit, since it belongs to the socket unit.
func TestSocketActivation(t *testing.T) {
	sa := needTool(t, "systemd-socket-activate", "systemd")
	e := startEnvOpts(t, "", func(e *env) {
		e.wrap = []string{sa, "-l", filepath.Join(e.dir, "ipsd.sock")}
	})
	if !strings.Contains(e.logs.String(), `msg="using socket from systemd"`) {
		t.Errorf("ipsd did not take the socket it was handed")
	}
	company := e.ls("")["ApiTestCo"]
	src := e.ls("ApiTestCo/")["ApiTestCo/photos/BlueSquare.jpg"]
	if status, body := e.post(copyXML(ns, company, src, "ApiTestCo/out/", "activated", "wid=10")); status != 200 {
		t.Fatalf("copy over the inherited socket: HTTP %d\n%s", status, body)
	}
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := e.waitExit(time.Minute); code != 0 {
		t.Errorf("exit code after SIGTERM = %d; want 0", code)
	}
	if fi, err := os.Stat(e.socket); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("the socket unit's socket is gone after ipsd exits: %v", err)
	}
}
