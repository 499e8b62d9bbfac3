package main

// Operations tests with the real binary: every metric family moves under
// real traffic and the scrape passes promtool; JSON logs carry two lines per
// request and never a secret; watching falls back to polling when the
// kernel refuses inotify.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ipsd/ipsd/metrics"
)

// inCI reports whether the tests run under .ci/run, where every tool the
// tests use is installed and a missing one is a failure, not a skip.
func inCI() bool { return os.Getenv("CI") != "" }

// needTool returns the path of a command-line tool; without it the test
// is skipped, or fails in CI.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if inCI() {
			t.Fatalf("%s not installed in CI (Debian package %s; see .ci/run): %v", name, pkg, err)
		}
		t.Skipf("%s not installed (Debian package %s)", name, pkg)
	}
	return p
}

// samples parses a Prometheus text scrape into series -> value, with the
// series written as the scrape writes it: name{label="value",...}, labels
// sorted by name.
func samples(t *testing.T, scrape string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(scrape))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("cannot parse sample line %q", line)
		}
		m[line[:i]] = v
	}
	return m
}

// series builds a series name with labels given as name, value pairs in
// label-name order.
func series(name string, kv ...string) string {
	if len(kv) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name + "{")
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", kv[i], kv[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

// Secrets the traffic below uses; none of them may reach the log.
const (
	secretPassword = "Pw-Sekrit-4711"
	wrongPassword  = "Wrong-Sekrit-0815"
	basicPassword  = "Basic-Sekrit-2342"
)

func authHeaderXML(user, password string) string {
	return `<authHeader xmlns="http://www.scene7.com/IpsApi/xsd"><user>` + user + `</user><password>` + password + `</password></authHeader>`
}

// soapWithHeader wraps body in a SOAP envelope whose header is hdr.
func soapWithHeader(hdr, body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
  <soapenv:Header>` + hdr + `</soapenv:Header>
  <soapenv:Body>` + body + `</soapenv:Body>
</soapenv:Envelope>`
}

// TestMetricsUnderTraffic sends real traffic of every kind through the
// socket, the watch folder, the tree and SIGHUP, then checks that every
// metric family moved by exactly what the traffic did, that `promtool check
// metrics` accepts the scrape, and that the JSON log has one accepted and
// one done line per request and no secret.
func TestMetricsUnderTraffic(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	hashOf := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	secretHash, basicHash := hashOf(secretPassword), hashOf(basicPassword)
	users := fmt.Sprintf(`[[user]]
email = "soap@example.com"
password_hash = %q
[[user.membership]]
company = "ApiTestCo"
role = "IpsUser"
[[user]]
email = "basic@example.com"
password_hash = %q
[[user.membership]]
company = "ApiTestCo"
role = "IpsUser"
`, secretHash, basicHash)
	e := startEnvWithArgs(t, users, []string{"-log.format", "json"})
	company := e.ls("")["ApiTestCo"]
	other := e.ls("")["OtherCo"]
	src := e.ls("ApiTestCo/")["ApiTestCo/photos/Canon_40D.jpg"]
	srcInfo, err := os.Stat(filepath.Join(e.root, "ApiTestCo/photos/Canon_40D.jpg"))
	if err != nil {
		t.Fatal(err)
	}

	// socket traffic: every result but busy and interrupted
	calls := []struct {
		name   string
		body   string
		basic  bool
		status int
		result string
	}{
		{"rendered", copyXML(ns, company, src, "ApiTestCo/out/", "t_render", "wid=64"), false, 200, metrics.ResultOK},
		{"plain", copyXML(ns, company, src, "ApiTestCo/out/", "t_plain", ""), false, 200, metrics.ResultOK},
		{"authHeader", soapWithHeader(authHeaderXML("soap@example.com", secretPassword),
			copyXML(ns, company, src, "ApiTestCo/out/", "t_auth", "wid=32&fmt=png")), false, 200, metrics.ResultOK},
		{"basic", copyXML(ns, company, src, "ApiTestCo/out/", "t_basic", ""), true, 200, metrics.ResultOK},
		{"name in use", copyXML(ns, company, src, "ApiTestCo/out/", "t_plain", ""), false, 500, metrics.ResultFailed},
		{"bad handle", copyXML(ns, company, "a|999999|1|999999", "ApiTestCo/out/", "t_x", ""), false, 500, metrics.ResultInvalid},
		{"no name", strings.Replace(copyXML(ns, company, src, "ApiTestCo/out/", "t_y", ""), "<name>t_y</name>", "", 1),
			false, 500, metrics.ResultMissing},
		{"bad xml", "<copyImageParam xmlns=\"" + ns + "\"><companyHandle>", false, 500, metrics.ResultBadXML},
		{"wrong password", soapWithHeader(authHeaderXML("soap@example.com", wrongPassword),
			copyXML(ns, company, src, "ApiTestCo/out/", "t_z", "")), false, 500, metrics.ResultAuthentication},
		{"not a member", copyXML(ns, other, e.ls("OtherCo/")["OtherCo/misc/nikon.jpg"], "OtherCo/", "t_o", ""),
			false, 500, metrics.ResultAuthorization},
	}
	wantReq := map[[2]string]float64{}
	for _, c := range calls {
		var status int
		var body string
		if c.basic {
			status, body = e.postAs("basic@example.com", basicPassword, c.body)
		} else {
			status, body = e.post(c.body)
		}
		if status != c.status {
			t.Fatalf("%s: HTTP %d; want %d\n%s", c.name, status, c.status, body)
		}
		wantReq[[2]string{"socket", c.result}]++
	}

	// watch-folder traffic: one copy, one fault (name in use)
	dropAll(t, e.inbox, map[string]string{
		"w_ok.xml":  copyXML(ns, company, src, "ApiTestCo/out/", "w_ok", "wid=40"),
		"w_dup.xml": soapWithHeader(authHeaderXML("soap@example.com", secretPassword), copyXML(ns, company, src, "ApiTestCo/out/", "t_render", "")),
	})
	waitFor(t, time.Minute, "both watch requests filed", func() bool {
		return countGlob(t, e.inbox, "done/w_ok.result.xml") == 1 && countGlob(t, e.inbox, "failed/w_dup.result.xml") == 1
	})
	wantReq[[2]string{"watch", metrics.ResultOK}]++
	wantReq[[2]string{"watch", metrics.ResultFailed}]++

	// a file added behind ipsd's back that reuses an asset name
	copyFile(t, filepath.Join(e.root, "ApiTestCo/photos/BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/out/deep/BlueSquare.jpg"))

	// one good and one bad reload; the bad one names a secret hash
	orig, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, append(orig, "\n# reloaded\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "good reload counted", func() bool {
		return e.scrape(`ipsd_config_reloads_total{result="ok"}`) == 1
	})
	bad := strings.Replace(string(orig), fmt.Sprintf("password_hash = %q", basicHash), "password_hash = \""+basicHash, 1)
	if err := os.WriteFile(e.config, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "bad reload counted", func() bool {
		return e.scrape(`ipsd_config_reloads_total{result="error"}`) == 1
	})
	if err := os.WriteFile(e.config, orig, 0o644); err != nil { // for ipsd ls
		t.Fatal(err)
	}

	// the catalog gauges are refreshed every few seconds
	assets := 0
	for _, co := range []string{"ApiTestCo/", "OtherCo/"} {
		for _, h := range e.ls(co) {
			if strings.HasPrefix(h, "a|") {
				assets++
			}
		}
	}
	waitFor(t, time.Minute, "catalog gauges caught up", func() bool {
		return e.scrape("ipsd_catalog_assets") == float64(assets) && e.scrape("ipsd_catalog_name_clashes") >= 1
	})

	scrape := e.scrapeAll()
	got := samples(t, scrape)
	check := func(s string, ok func(float64) bool, want string) {
		t.Helper()
		v, present := got[s]
		if !present {
			t.Errorf("scrape has no series %s", s)
		} else if !ok(v) {
			t.Errorf("%s = %v; want %s", s, v, want)
		}
	}
	eq := func(want float64) (func(float64) bool, string) {
		return func(v float64) bool { return v == want }, fmt.Sprint(want)
	}
	pos := func(v float64) bool { return v > 0 }

	// requests: every channel and result, at exactly the count sent
	for _, ch := range metrics.Channels {
		for _, r := range metrics.Results {
			f, w := eq(wantReq[[2]string{ch, r}])
			check(series("ipsd_requests_total", "channel", ch, "result", r), f, w)
		}
	}
	f, w := eq(float64(len(calls)))
	check(series("ipsd_request_duration_seconds_count", "channel", "socket"), f, w)
	f, w = eq(2)
	check(series("ipsd_request_duration_seconds_count", "channel", "watch"), f, w)
	check(series("ipsd_request_duration_seconds_sum", "channel", "socket"), pos, "> 0")
	// a worker is taken only by copies that get past the checks
	f, w = eq(4)
	check(series("ipsd_queue_wait_seconds_count", "channel", "socket"), f, w)
	f, w = eq(1)
	check(series("ipsd_queue_wait_seconds_count", "channel", "watch"), f, w)
	// three rendered copies (t_render, t_auth, w_ok), two plain ones
	for _, st := range []string{metrics.StageDecode, metrics.StageTransform, metrics.StageEncode} {
		f, w = eq(3)
		check(series("ipsd_render_stage_duration_seconds_count", "stage", st), f, w)
		check(series("ipsd_render_stage_duration_seconds_sum", "stage", st), pos, "> 0")
	}
	f, w = eq(5)
	check(series("ipsd_render_stage_duration_seconds_count", "stage", metrics.StageWrite), f, w)

	// bytes: five copies of the same source; the outputs as they are on disk
	f, w = eq(float64(5 * srcInfo.Size()))
	check("ipsd_read_bytes_total", f, w)
	var written int64
	for _, name := range []string{"t_render.jpg", "t_plain.jpg", "t_auth.png", "t_basic.jpg", "w_ok.jpg"} {
		fi, err := os.Stat(filepath.Join(e.root, "ApiTestCo/out", name))
		if err != nil {
			t.Fatal(err)
		}
		written += fi.Size()
	}
	f, w = eq(float64(written))
	check("ipsd_written_bytes_total", f, w)

	f, w = eq(0)
	check("ipsd_requests_in_flight", f, w)
	f, w = eq(2)
	check("ipsd_render_workers", f, w)
	inbox, _ := filepath.Abs(e.inbox)
	f, w = eq(0)
	check(series("ipsd_watch_queue_depth", "folder", inbox), f, w)
	check(series("ipsd_watch_oldest_pending_age_seconds", "folder", inbox), f, w)

	f, w = eq(float64(assets))
	check("ipsd_catalog_assets", f, w)
	f, w = eq(2)
	check("ipsd_catalog_companies", f, w)
	check("ipsd_catalog_folders", func(v float64) bool { return v >= 6 }, ">= 6 (the folders of the seeded tree)")
	check("ipsd_catalog_name_clashes", func(v float64) bool { return v >= 1 }, ">= 1")

	for _, src := range metrics.Sources {
		check(series("ipsd_watch_events_total", "source", src), pos, "> 0")
		f, w = eq(0)
		check(series("ipsd_watch_overflows_total", "source", src), f, w)
		check(series("ipsd_watch_poll_fallbacks_total", "source", src), f, w)
	}
	check(series("ipsd_rescans_total", "reason", "open", "source", "tree"), func(v float64) bool { return v >= 1 }, ">= 1")
	check(series("ipsd_rescans_total", "reason", "start", "source", "watch"), func(v float64) bool { return v >= 1 }, ">= 1")
	f, w = eq(1)
	check(series("ipsd_config_reloads_total", "result", metrics.ReloadOK), f, w)
	check(series("ipsd_config_reloads_total", "result", metrics.ReloadError), f, w)
	check(series("ipsd_build_info", "goversion", runtime.Version(), "version", "dev"), f, w)
	check("go_goroutines", pos, "> 0")
	check("process_resident_memory_bytes", pos, "> 0")
	check("process_start_time_seconds", pos, "> 0")

	// every ipsd series: a known metric with bounded label values
	for s := range got {
		name, labels, _ := strings.Cut(s, "{")
		if !strings.HasPrefix(name, "ipsd_") {
			continue
		}
		for _, bad := range []string{"request_id", "caller", "handle", "path", "user"} {
			if strings.Contains(labels, bad+"=") {
				t.Errorf("series %s has an unbounded label %s", s, bad)
			}
		}
	}

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	checkRequestLog(t, e.logs.String(), len(calls)+2)
	logs := e.logs.String()
	basicHeader := base64.StdEncoding.EncodeToString([]byte("basic@example.com:" + basicPassword))
	for what, s := range map[string]string{
		"the authHeader password": secretPassword, "a wrong password": wrongPassword,
		"the Basic password": basicPassword, "the Basic header": basicHeader,
		"a password hash": secretHash, "the other password hash": basicHash,
		"a bcrypt hash prefix": "$2a$",
	} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %s (%q)", what, s)
		}
	}
}

// checkRequestLog checks a JSON log: every line is a JSON object, and each
// of the n requests has exactly one "request accepted" and one "request
// done" line, which together say the channel, caller, source, new handle,
// result and duration.
func checkRequestLog(t *testing.T, logs string, n int) {
	t.Helper()
	type line map[string]any
	byID := map[string][]line{}
	for l := range strings.Lines(logs) {
		var m line
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("log line is not JSON: %q", l)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Errorf("log line without %s: %q", k, l)
			}
		}
		if id, ok := m["request_id"]; ok {
			key := fmt.Sprint(id)
			byID[key] = append(byID[key], m)
		}
	}
	if len(byID) != n {
		t.Errorf("the log names %d request ids; want %d (one per request)", len(byID), n)
	}
	var copies int
	for id, ls := range byID {
		var msgs []string
		for _, l := range ls {
			if l["level"] == "INFO" || l["level"] == "WARN" {
				msgs = append(msgs, l["msg"].(string))
			}
		}
		if !slices.Equal(msgs, []string{"request accepted", "request done"}) {
			t.Errorf("request %s logged %q at info and above; want one accepted and one done line", id, msgs)
			continue
		}
		var acc, done line
		for _, l := range ls {
			switch l["msg"] {
			case "request accepted":
				acc = l
			case "request done":
				done = l
			}
		}
		for _, k := range []string{"channel", "result", "duration"} {
			if _, ok := done[k]; !ok {
				t.Errorf("request %s: done line has no %s: %v", id, k, done)
			}
		}
		if _, ok := acc["channel"]; !ok {
			t.Errorf("request %s: accepted line has no channel: %v", id, acc)
		}
		if done["result"] == "ok" && done["op"] == "copyImage" {
			copies++
			for _, k := range []string{"caller", "source", "handle"} {
				if _, ok := done[k]; !ok {
					t.Errorf("request %s: done line of a copy has no %s: %v", id, k, done)
				}
				if k != "handle" {
					if _, ok := acc[k]; !ok {
						t.Errorf("request %s: accepted line of a copy has no %s: %v", id, k, acc)
					}
				}
			}
		}
	}
	if copies == 0 {
		t.Errorf("no successful copy in the request log")
	}
}

// startEnvWithArgs is startEnv with extra flags for ipsd serve.
func startEnvWithArgs(t *testing.T, extra string, args []string) *env {
	t.Helper()
	return startEnvOpts(t, extra, func(e *env) { e.args = args })
}

// inotifyRefusedWrap runs ipsd in a user namespace of its own whose inotify
// instance limit is 0 (/proc/sys/user/max_inotify_instances counts per user
// namespace), so every inotify_init fails with EMFILE as on a host that ran
// out of instances, without touching the host's limits.
var inotifyRefusedWrap = []string{"unshare", "--user", "--map-root-user", "sh", "-c",
	`echo 0 > /proc/sys/user/max_inotify_instances && exec "$0" "$@"`}

// TestPollFallbackWhenInotifyRefused starts ipsd where the kernel refuses
// inotify: the tree and the watch folder both fall back to polling, count
// it in ipsd_watch_poll_fallbacks_total, and keep working.
func TestPollFallbackWhenInotifyRefused(t *testing.T) {
	probe := exec.Command(inotifyRefusedWrap[0], append(inotifyRefusedWrap[1:], "true")...)
	if out, err := probe.CombinedOutput(); err != nil {
		if inCI() {
			t.Fatalf("cannot limit inotify in a user namespace: %v\n%s", err, out)
		}
		t.Skipf("cannot limit inotify in a user namespace: %v\n%s", err, out)
	}
	// inside the namespace every uid reads as 0, so the calls and the
	// request file authenticate with a password rather than as a local
	// account
	e := startEnvOpts(t, userTOML(t, "poll@example.com", "pw", false, "ApiTestCo=IpsUser"), func(e *env) {
		e.wrap = inotifyRefusedWrap
	})
	for _, src := range metrics.Sources {
		if got := e.scrape(series("ipsd_watch_poll_fallbacks_total", "source", src)); got != 1 {
			t.Errorf("ipsd_watch_poll_fallbacks_total{source=%q} = %v; want 1", src, got)
		}
	}
	if n := inotifyFDs(t, e.cmd.Process.Pid); n != 0 {
		t.Errorf("ipsd holds %d inotify instances where the kernel refuses them", n)
	}
	for _, want := range []string{`"inotify unavailable; polling the tree instead"`, `"inotify unavailable; polling instead"`} {
		if !strings.Contains(e.logs.String(), strings.Trim(want, `"`)) {
			t.Errorf("the log does not say %s", want)
		}
	}

	// both still work, by polling
	company := e.ls("")["ApiTestCo"]
	src := e.ls("ApiTestCo/")["ApiTestCo/photos/BlueSquare.jpg"]
	dropAll(t, e.inbox, map[string]string{"polled.xml": soapWithHeader(authHeaderXML("poll@example.com", "pw"),
		copyXML(ns, company, src, "ApiTestCo/out/", "polled", "wid=16"))})
	waitFor(t, time.Minute, "polled.xml done", func() bool { return countGlob(t, e.inbox, "done/polled.result.xml") == 1 })
	copyFile(t, filepath.Join(e.root, "ApiTestCo/photos/BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/later/new/late.jpg"))
	waitFor(t, time.Minute, "late.jpg found by polling the tree", func() bool {
		_, ok := e.ls("ApiTestCo/")["ApiTestCo/later/new/late.jpg"]
		return ok
	})
	if status, body := e.postAs("poll@example.com", "pw", copyXML(ns, company, src, "ApiTestCo/out/", "socket_polled", "")); status != 200 {
		t.Errorf("socket copy: HTTP %d\n%s", status, body)
	}

	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := e.waitExit(time.Minute); code != 0 {
		t.Errorf("exit code after SIGTERM = %d; want 0", code)
	}
}

// syscallGroup returns the system calls of a systemd-analyze syscall-filter
// group (or a single call), with nested groups expanded.
func syscallGroup(t *testing.T, sa, name string, seen map[string]bool) map[string]bool {
	t.Helper()
	res := map[string]bool{}
	if !strings.HasPrefix(name, "@") {
		res[name] = true
		return res
	}
	if seen[name] {
		return res
	}
	seen[name] = true
	out, err := exec.Command(sa, "syscall-filter", "--no-pager", name).Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter %s: %v", name, err)
	}
	lines := strings.Split(string(out), "\n")
	for _, l := range lines[1:] { // the first line is the group's name
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "@"):
			for s := range syscallGroup(t, sa, l, seen) {
				res[s] = true
			}
		default:
			res[l] = true
		}
	}
	if len(res) == 0 {
		t.Fatalf("systemd-analyze knows no system calls in %s:\n%s", name, out)
	}
	return res
}

// unitSyscallFilter returns the system calls the SystemCallFilter= lines of
// a unit file allow, read as systemd does: the first line without ~ makes
// an allow-list, a line with ~ takes its calls out, a later line without ~
// puts them back.
func unitSyscallFilter(t *testing.T, sa, unit string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	var allowed map[string]bool
	for l := range strings.Lines(string(data)) {
		v, ok := strings.CutPrefix(strings.TrimSpace(l), "SystemCallFilter=")
		if !ok {
			continue
		}
		deny := strings.HasPrefix(v, "~")
		if allowed == nil {
			if deny {
				t.Fatalf("%s: a deny-list filter; this check expects an allow-list first", unit)
			}
			allowed = map[string]bool{}
		}
		for _, name := range strings.Fields(strings.TrimPrefix(v, "~")) {
			for s := range syscallGroup(t, sa, name, map[string]bool{}) {
				if deny {
					delete(allowed, s)
				} else {
					allowed[s] = true
				}
			}
		}
	}
	if len(allowed) < 100 {
		t.Fatalf("%s allows %d system calls; the filter was not read", unit, len(allowed))
	}
	return allowed
}

// TestSyscallsAllowedByUnitFilter traces ipsd through real work of every
// kind (renders to every output format, a plain copy, a fault, a watch
// request, a change in the tree, a scrape, a reload, a shutdown) and checks
// that every system call it makes passes the SystemCallFilter= of
// systemd/ipsd.service. A call outside the filter fails with EPERM under
// systemd, which no other test here would see without systemd as PID 1.
func TestSyscallsAllowedByUnitFilter(t *testing.T) {
	strace := needTool(t, "strace", "strace")
	sa := needTool(t, "systemd-analyze", "systemd")
	allowed := unitSyscallFilter(t, sa, "../../systemd/ipsd.service")

	trace := filepath.Join(t.TempDir(), "trace")
	e := startEnvOpts(t, "", func(e *env) { e.wrap = []string{strace, "-f", "-qq", "-o", trace} })
	// the daemon is strace's child
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", e.cmd.Process.Pid, e.cmd.Process.Pid))
	if err != nil || len(strings.Fields(string(kids))) != 1 {
		t.Fatalf("cannot find the traced ipsd: %q, %v", kids, err)
	}
	pid, _ := strconv.Atoi(strings.Fields(string(kids))[0])

	company := e.ls("")["ApiTestCo"]
	src := e.ls("ApiTestCo/")["ApiTestCo/photos/DSCN0010.jpg"]
	for _, f := range []string{"jpeg", "png", "webp", "tif", "gif"} {
		if status, body := e.post(copyXML(ns, company, src, "ApiTestCo/out/", "sc_"+f, "wid=80&op_usm=1,1,0&fmt="+f)); status != 200 {
			t.Fatalf("copy to %s: HTTP %d\n%s", f, status, body)
		}
	}
	if status, body := e.post(copyXML(ns, company, src, "ApiTestCo/out/", "sc_plain", "")); status != 200 {
		t.Fatalf("plain copy: HTTP %d\n%s", status, body)
	}
	if status, _ := e.post(copyXML(ns, company, src, "ApiTestCo/out/", "sc_plain", "")); status != 500 {
		t.Fatalf("second copy to the same name: HTTP %d; want a fault", status)
	}
	dropAll(t, e.inbox, map[string]string{"sc.xml": copyXML(ns, company, src, "ApiTestCo/out/", "sc_watch", "wid=20")})
	waitFor(t, time.Minute, "sc.xml done", func() bool { return countGlob(t, e.inbox, "done/sc.result.xml") == 1 })
	copyFile(t, filepath.Join(e.root, "ApiTestCo/photos/BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/sc/new/late.jpg"))
	waitFor(t, time.Minute, "late.jpg catalogued", func() bool {
		_, ok := e.ls("ApiTestCo/")["ApiTestCo/sc/new/late.jpg"]
		return ok
	})
	e.scrapeAll()
	syscall.Kill(pid, syscall.SIGHUP)
	waitFor(t, time.Minute, "reload", func() bool { return e.scrape(`ipsd_config_reloads_total{result="ok"}`) == 1 })
	syscall.Kill(pid, syscall.SIGTERM)
	if code := e.waitExit(time.Minute); code != 0 {
		t.Fatalf("traced ipsd exited %d after SIGTERM; want 0", code)
	}

	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	callRE := regexp.MustCompile(`(?m)^\d+ +([a-z_0-9]+)\(`)
	used := map[string]bool{}
	for _, m := range callRE.FindAllStringSubmatch(string(data), -1) {
		used[m[1]] = true
	}
	for _, want := range []string{"openat", "fsync", "accept4", "epoll_pwait"} {
		if !used[want] {
			t.Fatalf("the trace has no %s; reading it failed (%d calls found)", want, len(used))
		}
	}
	var denied []string
	for s := range used {
		if !allowed[s] {
			denied = append(denied, s)
		}
	}
	slices.Sort(denied)
	if len(denied) > 0 {
		t.Fatalf("ipsd made system calls that SystemCallFilter= of ipsd.service denies (EPERM under systemd): %v", denied)
	}
	t.Logf("ipsd made %d distinct system calls, all allowed by the unit", len(used))
}
