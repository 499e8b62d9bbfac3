package main

// End-to-end tests of the watch folders and the tree sync (issue 4): the
// real binary, a real file system, and outcomes counted in done/, failed/,
// the tree and `ipsd ls`.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// watchEnvOpts shape the config of newWatchEnv.
type watchEnvOpts struct {
	settle    string   // [[watch]] settle of inbox; default 200ms
	poll      string   // [[watch]] poll of inbox; default inotify
	storePoll string   // [store] poll; default inotify
	rescan    string   // [store] rescan; default 1m
	workers   int      // [render] workers; default 2
	api       string   // more keys of [api]
	extra     string   // appended to the config file
	dirs      []string // more directories to create below the test dir
	wrap      []string // runs the daemon's command line (env.wrap)
	watchUser string   // [[watch]] user of inbox; default the file's owner
}

// newWatchEnv is startEnv with the watch and store settings of o. It seeds
// the same tree.
func newWatchEnv(t *testing.T, o watchEnvOpts) *env {
	t.Helper()
	needCorpus(t)
	dir := t.TempDir()
	e := &env{t: t, dir: dir, root: filepath.Join(dir, "root"), inbox: filepath.Join(dir, "inbox")}
	dirs := append([]string{"root/ApiTestCo/photos", "root/ApiTestCo/out", "root/OtherCo/misc", "state", "inbox"}, o.dirs...)
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"Canon_40D.jpg", "BlueSquare.jpg", "canon_hdr_YES.jpg"} {
		copyFile(t, filepath.Join(corpus, "photos", f), filepath.Join(e.root, "ApiTestCo/photos", f))
	}
	copyFile(t, filepath.Join(corpus, "photos", "Nikon_D70.jpg"), filepath.Join(e.root, "OtherCo/misc/nikon.jpg"))

	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	if o.workers == 0 {
		o.workers = 2
	}
	watchPoll, storePoll := "", ""
	if o.watchUser != "" {
		watchPoll = fmt.Sprintf("user = %q\n", o.watchUser)
	}
	if o.poll != "" {
		watchPoll += fmt.Sprintf("poll = %q\n", o.poll)
	}
	if o.storePoll != "" {
		storePoll = fmt.Sprintf("poll = %q\n", o.storePoll)
	}
	e.socket = filepath.Join(dir, "ipsd.sock")
	e.config = filepath.Join(dir, "ipsd.toml")
	cfg := fmt.Sprintf(`root = "root"
state_dir = "state"
[api]
socket = "ipsd.sock"
%s
[metrics]
listen = "127.0.0.1:0"
[render]
workers = %d
[store]
rescan = %q
%s
[[watch]]
dir = "inbox"
settle = %q
%s
[[user]]
email = "tester@example.com"
unix = ["%d"]
[[user.membership]]
company = "ApiTestCo"
role = "IpsUser"
%s`, o.api, o.workers, or(o.rescan, "1m"), storePoll, or(o.settle, "200ms"), watchPoll, os.Getuid(), o.extra)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	e.http = unixClient(&e.socket)
	e.wrap = o.wrap
	e.start()
	return e
}

// unixClient is an HTTP client that dials the socket at *path.
func unixClient(path *string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", *path)
		},
	}, Timeout: time.Minute}
}

// peer starts a second daemon on e's tree, state_dir and watch folders,
// with its own socket and metrics port.
func (e *env) peer() *env {
	t := e.t
	t.Helper()
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	n := strconv.Itoa(int(time.Now().UnixNano() % 1e6))
	cfg := strings.Replace(string(b), `socket = "ipsd.sock"`, `socket = "ipsd-peer`+n+`.sock"`, 1)
	p := &env{t: t, dir: e.dir, root: e.root, inbox: e.inbox,
		config: filepath.Join(e.dir, "ipsd-peer"+n+".toml"), socket: filepath.Join(e.dir, "ipsd-peer"+n+".sock")}
	if err := os.WriteFile(p.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p.http = unixClient(&p.socket)
	p.start()
	return p
}

// kill stops the daemon with SIGKILL and waits for it to exit.
func (e *env) kill() {
	e.t.Helper()
	if err := e.cmd.Process.Kill(); err != nil {
		e.t.Fatal(err)
	}
	e.cmd.Wait()
}

// companyAndSource returns the handles of ApiTestCo and of its photo name.
func (e *env) companyAndSource(photo string) (company, src string) {
	e.t.Helper()
	company = e.ls("")["ApiTestCo"]
	src = e.ls("ApiTestCo/")["ApiTestCo/photos/"+photo]
	if !strings.HasPrefix(company, "c|") || !strings.HasPrefix(src, "a|") {
		e.t.Fatalf("ls: company %q, source %q", company, src)
	}
	return company, src
}

// dropAll writes the requests (file name -> body) into a staging directory
// on the same file system, then renames them into dir one after another, as
// rsync and scp -p do.
func dropAll(t *testing.T, dir string, reqs map[string]string) {
	t.Helper()
	stage := filepath.Join(filepath.Dir(dir), ".stage-"+strconv.Itoa(int(time.Now().UnixNano()%1e9)))
	if err := os.Mkdir(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range reqs {
		if err := os.WriteFile(filepath.Join(stage, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name := range reqs {
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(stage)
}

// outcome is what a watch folder holds after requests were processed.
type outcome struct {
	done, failed map[string]string // request stem -> result body
	dups         []string          // stems with more than one result
	pending      []string          // request files left in the folder or in .work/
}

var resultName = regexp.MustCompile(`^(.*?)(\.\d+)?\.result\.xml$`)

// readOutcome lists done/, failed/, the folder and .work/ of inbox.
func readOutcome(t *testing.T, inbox string) outcome {
	t.Helper()
	o := outcome{done: map[string]string{}, failed: map[string]string{}}
	seen := map[string]int{}
	for _, sub := range []string{"done", "failed"} {
		ents, err := os.ReadDir(filepath.Join(inbox, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, d := range ents {
			m := resultName.FindStringSubmatch(d.Name())
			if m == nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join(inbox, sub, d.Name()))
			if err != nil {
				t.Fatal(err)
			}
			seen[m[1]]++
			if sub == "done" {
				o.done[m[1]] = string(b)
			} else {
				o.failed[m[1]] = string(b)
			}
		}
	}
	for stem, n := range seen {
		if n > 1 {
			o.dups = append(o.dups, stem)
		}
	}
	for _, sub := range []string{"", ".work"} {
		ents, _ := os.ReadDir(filepath.Join(inbox, sub))
		for _, d := range ents {
			if d.Type().IsRegular() && strings.Contains(d.Name(), ".xml") && !strings.HasPrefix(d.Name(), ".") {
				o.pending = append(o.pending, filepath.Join(sub, d.Name()))
			}
		}
	}
	return o
}

// waitResults waits until n results are filed in inbox and no request is
// left in the folder or in .work/. It polls by listing directories only, and
// reads the results once at the end.
func waitResults(t *testing.T, inbox string, n int, d time.Duration) outcome {
	t.Helper()
	count := func(dir string, match func(string) bool) int {
		ents, _ := os.ReadDir(dir)
		k := 0
		for _, e := range ents {
			if match(e.Name()) {
				k++
			}
		}
		return k
	}
	isResult := func(s string) bool { return strings.HasSuffix(s, ".result.xml") }
	isRequest := func(s string) bool { return strings.Contains(s, ".xml") && !strings.HasPrefix(s, ".") }
	deadline := time.Now().Add(d)
	for {
		got := count(filepath.Join(inbox, "done"), isResult) + count(filepath.Join(inbox, "failed"), isResult)
		left := count(inbox, isRequest) + count(filepath.Join(inbox, ".work"), isRequest)
		if got >= n && left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %d results in %s: %d results, %d requests left", d, n, inbox, got, left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return readOutcome(t, inbox)
}

// treeFiles returns the regular files below dir (relative paths) and the
// dotfiles among them.
func treeFiles(t *testing.T, dir string) (files, dot []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
			if strings.HasPrefix(d.Name(), ".") {
				dot = append(dot, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, dot
}

// assetsUnder counts the assets `ipsd ls` lists below folder.
func (e *env) assetsUnder(folder string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for p, h := range e.ls(folder) {
		if strings.HasPrefix(h, "a|") {
			out[p] = h
		}
	}
	return out
}

func TestWatchBurstOf5000(t *testing.T) {
	if testing.Short() {
		t.Skip("burst test skipped in -short mode")
	}
	e := newWatchEnv(t, watchEnvOpts{})
	company, src := e.companyAndSource("Canon_40D.jpg")
	const n = 5000
	reqs := make(map[string]string, n)
	for i := range n {
		reqs[fmt.Sprintf("b%04d.xml", i)] = copyXML(ns, company, src, "ApiTestCo/out/", fmt.Sprintf("b%04d", i), "wid=64")
	}
	start := time.Now()
	dropAll(t, e.inbox, reqs)
	o := waitResults(t, e.inbox, n, 10*time.Minute)
	t.Logf("%d requests processed in %v", n, time.Since(start))

	if len(o.dups) > 0 || len(o.failed) > 0 || len(o.done) != n {
		t.Fatalf("done %d, failed %d, duplicated %d (e.g. %v); want %d done", len(o.done), len(o.failed), len(o.dups), first(o.dups), n)
	}
	handles := map[string]bool{}
	for stem, body := range o.done {
		m := handleRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("result of %s has no handle: %s", stem, body)
		}
		handles[m[1]] = true
	}
	if len(handles) != n {
		t.Errorf("%d distinct handles in %d results", len(handles), n)
	}
	files, dot := treeFiles(t, filepath.Join(e.root, "ApiTestCo/out"))
	if len(files) != n || len(dot) > 0 {
		t.Errorf("tree holds %d files (dotfiles %v); want %d", len(files), first(dot), n)
	}
	var listed map[string]string
	waitFor(t, time.Minute, "all copies in ipsd ls", func() bool {
		listed = e.assetsUnder("ApiTestCo/out/")
		return len(listed) >= n
	})
	if len(listed) != n {
		t.Errorf("ipsd ls lists %d assets in out/; want %d", len(listed), n)
	}
	for p, h := range listed {
		if !handles[h] {
			t.Errorf("ls: %s has handle %s, which no result reported", p, h)
			break
		}
	}
	img, _ := decodeFile(t, filepath.Join(e.root, "ApiTestCo/out/b0042.jpg"))
	if img.Bounds().Dx() != 64 {
		t.Errorf("b0042.jpg is %v wide; want 64", img.Bounds().Dx())
	}
}

func first(s []string) []string {
	if len(s) > 3 {
		return s[:3]
	}
	return s
}

// requestXML returns a request copying src to ApiTestCo/out/ as name.
func requestXML(company, src, name, modifier string) string {
	return copyXML(ns, company, src, "ApiTestCo/out/", name, modifier)
}

// faultCode returns the fault code in a result body, or "".
func faultCode(body string) string {
	m := regexp.MustCompile(`<(?:\w+:)?code>(\d+)</`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// checkTreeSound fails when a dotfile is left below dir or an image file
// there does not decode.
func checkTreeSound(t *testing.T, dir string) []string {
	t.Helper()
	files, dot := treeFiles(t, dir)
	if len(dot) > 0 {
		t.Errorf("temp or dot files left in the tree: %v", dot)
	}
	for _, f := range files {
		decodeFile(t, filepath.Join(dir, f))
	}
	return files
}

func TestWatchKillMidRenderThenRestart(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{})
	company, big := e.companyAndSource("canon_hdr_YES.jpg") // 2048x1536
	_, small := e.companyAndSource("Canon_40D.jpg")
	reqs := map[string]string{}
	// two workers: the 3 MP renders hold both for a while, long enough to
	// see their temp files in the tree
	for i := range 6 {
		reqs[fmt.Sprintf("big%d.xml", i)] = requestXML(company, big, fmt.Sprintf("big%d", i), "wid=1000")
	}
	for i := range 4 {
		reqs[fmt.Sprintf("small%d.xml", i)] = requestXML(company, small, fmt.Sprintf("small%d", i), "wid=64")
	}
	dropAll(t, e.inbox, reqs)

	// a render is writing into the tree: kill the daemon there
	out := filepath.Join(e.root, "ApiTestCo/out")
	waitFor(t, 2*time.Minute, "a temp file of a render in progress", func() bool {
		_, dot := treeFiles(t, out)
		return len(dot) > 0
	})
	e.kill()
	_, orphans := treeFiles(t, out)
	if len(orphans) == 0 {
		t.Fatal("no temp file left by the killed render; the test did not kill mid-render")
	}
	claimed, _ := os.ReadDir(filepath.Join(e.inbox, ".work"))
	if len(claimed) == 0 {
		t.Fatal("nothing claimed in .work/ at the kill")
	}
	// each claim is tagged with this host and the killed daemon's pid
	host, _ := os.Hostname()
	hostTag := regexp.MustCompile(`[^A-Za-z0-9-]`).ReplaceAllString(host, "_")
	claimRE := regexp.MustCompile(`^(big|small)\d\.xml\.` + regexp.QuoteMeta(hostTag) + `\.` +
		strconv.Itoa(e.cmd.Process.Pid) + `\.[0-9a-f]+-[0-9a-f]+-1$`)
	for _, c := range claimed {
		name := strings.TrimSuffix(strings.TrimSuffix(c.Name(), ".ok"), ".failed")
		if strings.HasPrefix(name, ".tmp.") {
			continue // a result being stored
		}
		if !claimRE.MatchString(name) {
			t.Errorf("claim %q in .work/ does not match %v", c.Name(), claimRE)
		}
	}

	e.start()
	o := waitResults(t, e.inbox, len(reqs), 5*time.Minute)
	if len(o.dups) > 0 {
		t.Errorf("requests with more than one result: %v", o.dups)
	}
	if len(o.done)+len(o.failed) != len(reqs) {
		t.Errorf("%d done + %d failed; want %d results", len(o.done), len(o.failed), len(reqs))
	}
	for stem, body := range o.failed {
		t.Errorf("%s failed: %s", stem, body)
	}
	interrupted := 0
	handles := map[string]bool{}
	for _, body := range o.done {
		if strings.Contains(body, "attempt=2") {
			interrupted++
		}
		if m := handleRE.FindStringSubmatch(body); m != nil {
			handles[m[1]] = true
		}
	}
	if interrupted == 0 {
		t.Error("no result says attempt=2; the interrupted requests were not re-run")
	}
	files := checkTreeSound(t, out)
	assets := e.assetsUnder("ApiTestCo/out/")
	if len(files) != len(o.done) || len(assets) != len(o.done) {
		t.Errorf("%d files and %d assets in out/ for %d ok results", len(files), len(assets), len(o.done))
	}
	for p, h := range assets {
		if !handles[h] {
			t.Errorf("asset %s (%s) is in no result", p, h)
		}
	}
}

func TestWatchTwoDaemonsShareFolderTreeAndCatalog(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{})
	p := e.peer()
	company, src := e.companyAndSource("Canon_40D.jpg")
	const n = 500
	reqs := map[string]string{}
	for i := range n {
		reqs[fmt.Sprintf("r%03d.xml", i)] = requestXML(company, src, fmt.Sprintf("r%03d", i), "wid=64")
	}
	dropAll(t, e.inbox, reqs)
	o := waitResults(t, e.inbox, n, 5*time.Minute)
	if len(o.done) != n || len(o.failed) > 0 || len(o.dups) > 0 {
		t.Fatalf("done %d, failed %d (e.g. %v), duplicated %v; want %d done", len(o.done), len(o.failed), o.failed, first(o.dups), n)
	}
	handles := map[string]bool{}
	for _, body := range o.done {
		if m := handleRE.FindStringSubmatch(body); m != nil {
			handles[m[1]] = true
		}
	}
	if len(handles) != n {
		t.Errorf("%d distinct handles in %d results", len(handles), n)
	}
	files := checkTreeSound(t, filepath.Join(e.root, "ApiTestCo/out"))
	if len(files) != n {
		t.Errorf("%d files in out/; want %d", len(files), n)
	}
	for _, d := range []*env{e, p} {
		var assets map[string]string
		waitFor(t, time.Minute, "every copy in the catalog", func() bool {
			assets = d.assetsUnder("ApiTestCo/out/")
			return len(assets) >= n
		})
		if len(assets) != n {
			t.Errorf("ls (%s) lists %d assets in out/; want %d", d.config, len(assets), n)
		}
	}
	a := e.scrape(`ipsd_requests_total{channel="watch",result="ok"}`)
	b := p.scrape(`ipsd_requests_total{channel="watch",result="ok"}`)
	if a+b != n || a == 0 || b == 0 {
		t.Errorf("ok requests per daemon: %v + %v; want both > 0, sum %d", a, b, n)
	}
}

func TestWatchSameRequestTwice(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{})
	company, src := e.companyAndSource("Canon_40D.jpg")
	body := requestXML(company, src, "twin", "wid=64")

	// the same content under two names at once
	dropAll(t, e.inbox, map[string]string{"twin-a.xml": body, "twin-b.xml": body})
	o := waitResults(t, e.inbox, 2, time.Minute)
	if len(o.done) != 1 || len(o.failed) != 1 {
		t.Fatalf("done %v, failed %v; want one of each", o.done, o.failed)
	}
	for _, f := range o.failed {
		if faultCode(f) != "30000" || !strings.Contains(f, "Asset ID 'twin' is already in use.") {
			t.Errorf("second copy: %s; want fault 30000, already in use", f)
		}
	}

	// the same file name, content and mtime again (cp -p, rsync -t)
	done := filepath.Join(e.inbox, "done")
	ents, _ := os.ReadDir(done)
	var first string
	for _, d := range ents {
		if strings.HasPrefix(d.Name(), "twin-") && !strings.Contains(d.Name(), ".result.") {
			first = d.Name()
		}
	}
	fi, err := os.Stat(filepath.Join(done, first))
	if err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(e.dir, "again.xml")
	if err := os.WriteFile(again, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(again, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(again, filepath.Join(e.inbox, first)); err != nil {
		t.Fatal(err)
	}
	stem := strings.TrimSuffix(first, ".xml")
	res := filepath.Join(e.inbox, "failed", stem+".result.xml")
	waitFor(t, time.Minute, "result of the dropped-again request", func() bool {
		_, err := os.Stat(res)
		return err == nil
	})
	b, _ := os.ReadFile(res)
	if faultCode(string(b)) != "30000" || !strings.Contains(string(b), "already in use") {
		t.Errorf("dropped again: %s; want fault 30000, already in use", b)
	}
	if files, _ := treeFiles(t, filepath.Join(e.root, "ApiTestCo/out")); len(files) != 1 {
		t.Errorf("out/ holds %v; want one copy", files)
	}
}

// inotifyFDs counts the inotify instances process pid holds.
func inotifyFDs(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("cannot list %s: %v", dir, err)
	}
	n := 0
	for _, d := range ents {
		if l, err := os.Readlink(filepath.Join(dir, d.Name())); err == nil && strings.Contains(l, "inotify") {
			n++
		}
	}
	return n
}

func TestWatchPollModeWithoutInotify(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{poll: "2s", storePoll: "2s"})
	if n := inotifyFDs(t, e.cmd.Process.Pid); n != 0 {
		t.Fatalf("daemon holds %d inotify instances in poll mode; want none", n)
	}
	company, src := e.companyAndSource("Canon_40D.jpg")

	// a request written in place, and an image put into a new folder
	if err := os.WriteFile(filepath.Join(e.inbox, "p1.xml"), []byte(requestXML(company, src, "p1", "wid=64")), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/polled/new/blue2.jpg"))
	o := waitResults(t, e.inbox, 1, time.Minute)
	if len(o.done) != 1 {
		t.Fatalf("done %v, failed %v; want p1 done", o.done, o.failed)
	}
	waitFor(t, time.Minute, "polled image in ipsd ls", func() bool {
		_, ok := e.assetsUnder("ApiTestCo/")["ApiTestCo/polled/new/blue2.jpg"]
		return ok
	})
	if _, ok := e.assetsUnder("ApiTestCo/out/")["ApiTestCo/out/p1.jpg"]; !ok {
		t.Error("copy p1.jpg not in ipsd ls")
	}
	if n := inotifyFDs(t, e.cmd.Process.Pid); n != 0 {
		t.Errorf("daemon holds %d inotify instances in poll mode; want none", n)
	}
}

func TestWatchOverflowThenRescanFindsEverything(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{})
	company, src := e.companyAndSource("Canon_40D.jpg")

	// stop the daemon, so that the kernel queues events for it until the
	// queue (fs.inotify.max_queued_events) overflows
	limit := 16384
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		limit, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if limit > 100000 {
		t.Skipf("max_queued_events = %d; too many events to overflow in a test", limit)
	}
	if err := e.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			e.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	junk := func(dir string) {
		for i := range limit/2 + 100 { // create and remove: two events each
			p := filepath.Join(dir, fmt.Sprintf(".junk%d", i))
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Remove(p)
		}
	}
	junk(e.inbox)
	junk(filepath.Join(e.root, "ApiTestCo/out"))
	// what the lost events would have told
	const n = 50
	reqs := map[string]string{}
	for i := range n {
		reqs[fmt.Sprintf("o%02d.xml", i)] = requestXML(company, src, fmt.Sprintf("o%02d", i), "wid=64")
	}
	dropAll(t, e.inbox, reqs)
	copyFile(t, filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/late/a/b/late.jpg"))
	if err := e.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false

	o := waitResults(t, e.inbox, n, 3*time.Minute)
	if len(o.done) != n || len(o.dups) > 0 {
		t.Errorf("done %d, failed %d, duplicated %v; want %d done", len(o.done), len(o.failed), o.dups, n)
	}
	waitFor(t, time.Minute, "late.jpg and every copy in ipsd ls", func() bool {
		a := e.assetsUnder("ApiTestCo/")
		_, ok := a["ApiTestCo/late/a/b/late.jpg"]
		return ok && len(e.assetsUnder("ApiTestCo/out/")) == n
	})
	for _, src := range []string{"watch", "tree"} {
		if got := e.scrape(`ipsd_watch_overflows_total{source="` + src + `"}`); got < 1 {
			t.Errorf("ipsd_watch_overflows_total{source=%q} = %v; want >= 1", src, got)
		}
		if got := e.scrape(`ipsd_rescans_total{reason="overflow",source="` + src + `"}`); got < 1 {
			t.Errorf("ipsd_rescans_total{%s,overflow} = %v; want >= 1", src, got)
		}
	}
}

func TestWatchIgnoredNames(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{})
	company, src := e.companyAndSource("Canon_40D.jpg")
	ignored := []string{".hidden.xml", "a.xml.tmp", "b.xml.part", "c.xml.partial", "d.xml.crdownload",
		"e.xml.download", "~$f.xml", ".g.xml.swp", "h.xml~", "#i.xml#", "j.result.xml", "k.txt"}
	for i, name := range ignored {
		body := requestXML(company, src, fmt.Sprintf("ign%d", i), "")
		if err := os.WriteFile(filepath.Join(e.inbox, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(e.root, "ApiTestCo/out")
	treeIgnored := []string{".hidden.jpg", "a.jpg.tmp", "b.jpg.part", "c.jpg.partial", "d.jpg.crdownload", "~$e.jpg", "f.jpg~", ".ipsd-tmp-x"}
	for _, name := range treeIgnored {
		copyFile(t, filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(out, name))
	}
	// barriers: a request and an image that are taken. The request is
	// written in place after the others, so it settles last and is claimed
	// after any of them that were (wrongly) taken; once it is done and
	// .work/ is empty, those would have been filed.
	if err := os.WriteFile(filepath.Join(e.inbox, "barrier.xml"), []byte(requestXML(company, src, "barrier", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(out, "real.jpg"))
	waitFor(t, time.Minute, "barrier.xml done", func() bool {
		_, err := os.Stat(filepath.Join(e.inbox, "done", "barrier.result.xml"))
		work, _ := os.ReadDir(filepath.Join(e.inbox, ".work"))
		return err == nil && len(work) == 0
	})
	waitFor(t, time.Minute, "real.jpg in ipsd ls", func() bool {
		_, ok := e.assetsUnder("ApiTestCo/out/")["ApiTestCo/out/real.jpg"]
		return ok
	})
	for _, name := range ignored {
		if _, err := os.Stat(filepath.Join(e.inbox, name)); err != nil {
			t.Errorf("ignored request file %s was touched: %v", name, err)
		}
	}
	assets := e.assetsUnder("ApiTestCo/")
	for p := range assets {
		base := filepath.Base(p)
		if strings.HasPrefix(base, "ign") {
			t.Errorf("an ignored request file was processed: %s", p)
		}
		for _, name := range treeIgnored {
			if base == name {
				t.Errorf("ignored tree file %s is an asset", p)
			}
		}
	}
	if !regexp.MustCompile(`msg="watching the tree with inotify".* directories=\d+ max_user_watches=\d+`).MatchString(e.logs.String()) {
		t.Error("no log line comparing directories with max_user_watches")
	}
}

func TestWatchSlowWriterRenameInAndTruncated(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{dirs: []string{"inbox2"}, extra: `
[[watch]]
dir = "inbox2"
settle = "1h"
`})
	company, src := e.companyAndSource("Canon_40D.jpg")

	// a request written slowly: 1 KiB every 100 ms for 5 s
	body := []byte(requestXML(company, src, "slow", "wid=64") + "\n<!-- " + strings.Repeat("x", 50<<10) + " -->\n")
	path := filepath.Join(e.inbox, "slow.xml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// and a truncated one, completed later
	trunc := requestXML(company, src, "trunc", "wid=64")
	tpath := filepath.Join(e.inbox, "trunc.xml")
	if err := os.WriteFile(tpath, []byte(trunc[:len(trunc)/2]), 0o644); err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(body); off += 1 << 10 {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("slow.xml claimed after %d of %d bytes: %v", off, len(body), err)
		}
		if _, err := f.Write(body[off:min(off+1<<10, len(body))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // the pace of the writer, not a wait for an outcome
	}
	f.Close()
	waitFor(t, time.Minute, "slow.xml done", func() bool {
		_, err := os.Stat(filepath.Join(e.inbox, "done", "slow.result.xml"))
		return err == nil
	})
	if b, _ := os.ReadFile(filepath.Join(e.inbox, "done", "slow.result.xml")); handleRE.FindString(string(b)) == "" {
		t.Errorf("slow.xml result has no handle: %s", b)
	}
	// trunc.xml sat unparsable through all of that: still waiting
	if _, err := os.Stat(tpath); err != nil {
		t.Errorf("truncated trunc.xml was taken: %v", err)
	}
	tf, err := os.OpenFile(tpath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	tf.WriteString(trunc[len(trunc)/2:])
	tf.Close()
	waitFor(t, time.Minute, "trunc.xml done once complete", func() bool {
		_, err := os.Stat(filepath.Join(e.inbox, "done", "trunc.result.xml"))
		return err == nil
	})

	// inbox2 waits an hour for written files, but not for renamed ones
	inbox2 := filepath.Join(e.dir, "inbox2")
	if err := os.WriteFile(filepath.Join(inbox2, "written.xml"), []byte(requestXML(company, src, "written", "wid=64")), 0o644); err != nil {
		t.Fatal(err)
	}
	dropAll(t, inbox2, map[string]string{"renamed.xml": requestXML(company, src, "renamed", "wid=64")})
	waitFor(t, 30*time.Second, "renamed.xml taken without settling", func() bool {
		_, err := os.Stat(filepath.Join(inbox2, "done", "renamed.result.xml"))
		return err == nil
	})
	if _, err := os.Stat(filepath.Join(inbox2, "written.xml")); err != nil {
		t.Errorf("written.xml was taken before settling: %v", err)
	}
}

func TestWatchFolderRecreatedAndNewSubfolders(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{})
	company, src := e.companyAndSource("Canon_40D.jpg")
	if err := os.RemoveAll(e.inbox); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.inbox, 0o755); err != nil {
		t.Fatal(err)
	}
	dropAll(t, e.inbox, map[string]string{"back.xml": requestXML(company, src, "back", "wid=64")})
	o := waitResults(t, e.inbox, 1, time.Minute)
	if len(o.done) != 1 {
		t.Fatalf("after the folder was recreated: done %v failed %v", o.done, o.failed)
	}

	// mkdir -p and fill at once; then delete a folder and make it again
	deep := filepath.Join(e.root, "ApiTestCo/new/a/b/c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(deep, "deep.jpg"))
	waitFor(t, time.Minute, "deep.jpg in ipsd ls", func() bool {
		_, ok := e.assetsUnder("ApiTestCo/")["ApiTestCo/new/a/b/c/deep.jpg"]
		return ok
	})
	if err := os.RemoveAll(filepath.Join(e.root, "ApiTestCo/new")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "deep.jpg gone from ipsd ls", func() bool {
		_, ok := e.assetsUnder("ApiTestCo/")["ApiTestCo/new/a/b/c/deep.jpg"]
		return !ok
	})
	copyFile(t, filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/new/again.jpg"))
	waitFor(t, time.Minute, "again.jpg in the recreated folder", func() bool {
		_, ok := e.assetsUnder("ApiTestCo/")["ApiTestCo/new/again.jpg"]
		return ok
	})
}

func TestSocketAnswersBusy(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{workers: 1, api: "max_queue = 1"})
	company, big := e.companyAndSource("canon_hdr_YES.jpg")
	const n = 6
	var wg sync.WaitGroup
	status := make([]int, n)
	bodies := make([]string, n)
	client := unixClient(&e.socket)
	client.Timeout = 5 * time.Minute
	for i := range n {
		wg.Go(func() {
			body := requestXML(company, big, fmt.Sprintf("busy%d", i), "wid=1000")
			resp, err := client.Post("http://ipsd/scene7/services/IpsApiService", "text/xml", strings.NewReader(body))
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			status[i], bodies[i] = resp.StatusCode, string(b)
		})
	}
	wg.Wait()
	ok, busy := 0, 0
	for i := range n {
		switch {
		case status[i] == 200:
			ok++
		case status[i] == 503 && strings.Contains(bodies[i], "Server busy, retry later."):
			busy++
		default:
			t.Errorf("request %d: HTTP %d %s", i, status[i], bodies[i])
		}
	}
	if busy == 0 || ok == 0 {
		t.Errorf("%d ok, %d busy; want some of each with 1 worker and max_queue 1", ok, busy)
	}
	files := checkTreeSound(t, filepath.Join(e.root, "ApiTestCo/out"))
	if len(files) != ok {
		t.Errorf("%d files in out/ for %d ok replies", len(files), ok)
	}
}

// TestWatchWritableRequestDoesNotActAsOwner: in a shared inbox, a request
// file that others could have written (umask 002 in a setgid folder, which
// gives it the folder's group) does not act as its owner; group-writable
// in the owner's own group it does, and so does the first in a folder with
// its own user.
func TestWatchWritableRequestDoesNotActAsOwner(t *testing.T) {
	other := -1 // a group the test may give its files, not its primary one
	if os.Getuid() == 0 {
		other = 1
	} else if gs, _ := os.Getgroups(); len(gs) > 0 {
		for _, g := range gs {
			if g != os.Getgid() {
				other = g
			}
		}
	}
	if other < 0 {
		t.Skip("no group other than the primary one to give a request file")
	}
	e := newWatchEnv(t, watchEnvOpts{dirs: []string{"inbox2"}, extra: `
[[watch]]
dir = "inbox2"
user = "tester@example.com"
settle = "200ms"
`})
	company, src := e.companyAndSource("Canon_40D.jpg")
	inbox2 := filepath.Join(e.dir, "inbox2")
	for _, drop := range []struct {
		dir, name string
		gid       int
		mode      os.FileMode
	}{
		{e.inbox, "shared", other, 0o664},
		{e.inbox, "world", os.Getgid(), 0o646},
		{e.inbox, "private", os.Getgid(), 0o664},
		{inbox2, "forced", other, 0o664},
	} {
		stage := filepath.Join(e.dir, "."+drop.name)
		if err := os.WriteFile(stage, []byte(requestXML(company, src, drop.name, "wid=32")), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(stage, -1, drop.gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(stage, drop.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(stage, filepath.Join(drop.dir, drop.name+".xml")); err != nil {
			t.Fatal(err)
		}
	}
	o := waitResults(t, e.inbox, 3, time.Minute)
	for name, mode := range map[string]string{"shared": "0664", "world": "0646"} {
		if res, ok := o.failed[name]; !ok || faultCode(res) != "10000" || !strings.Contains(res, "writable by others than its owner (mode "+mode+")") {
			t.Errorf("%s request acting as its owner: failed %v, done %v; want fault 10000 naming the mode", name, o.failed, o.done)
		}
	}
	if _, ok := o.done["private"]; !ok {
		t.Errorf("group-writable request in its owner's own group: done %v, failed %v; want it done", o.done, o.failed)
	}
	if o2 := waitResults(t, inbox2, 1, time.Minute); len(o2.done) != 1 {
		t.Errorf("group-writable request in a folder with its own user: done %v, failed %v; want it done", o2.done, o2.failed)
	}
	files, _ := treeFiles(t, filepath.Join(e.root, "ApiTestCo/out"))
	if len(files) != 2 {
		t.Errorf("out/ holds %v; want the copies of private and forced", files)
	}
}
