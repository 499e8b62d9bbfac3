package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// deadline bounds every wait for an outcome. It is generous: -race and a
// busy machine slow things down, and a wait ends as soon as the outcome is
// observed.
const deadline = 2 * time.Minute

// recorder is a Handler that records its calls.
type recorder struct {
	mu    sync.Mutex
	calls []Request
	res   func(Request) Result // nil: OK with a fixed body
}

func (r *recorder) handle(_ context.Context, req Request) Result {
	r.mu.Lock()
	r.calls = append(r.calls, req)
	f := r.res
	r.mu.Unlock()
	if f != nil {
		return f(req)
	}
	return Result{OK: true, Body: resultBody(req.Name)}
}

func (r *recorder) requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// counts returns how often each name was handled.
func (r *recorder) counts() map[string]int {
	m := map[string]int{}
	for _, c := range r.requests() {
		m[c.Name]++
	}
	return m
}

func resultBody(name string) []byte {
	return fmt.Appendf(nil, "<?xml version=\"1.0\"?>\n<copyImageReturn><name>%s</name></copyImageReturn>\n", name)
}

func requestBody(name string) []byte {
	return fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?>
<copyImageParam xmlns="http://www.scene7.com/IpsApi/xsd/2008-01-15">
  <companyHandle>c|1</companyHandle><sourceFileHandle>a|1</sourceFileHandle>
  <destFolderHandle>Co/</destFolderHandle><destFileName>%s</destFileName><urlModifier/>
</copyImageParam>
`, name)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// fastConfig returns a Config for dir with short times for tests.
func fastConfig(dir string) Config {
	return Config{
		Dir:          dir,
		Settle:       100 * time.Millisecond,
		Rescan:       time.Hour, // tests that need rescans set it
		Incomplete:   time.Hour,
		RetryBackoff: 10 * time.Millisecond,
		Grace:        time.Minute,
	}
}

// start runs a Watcher for cfg in the background until the test ends and
// checks that Run returns as it should. It returns once the Watcher has
// begun its first scan, so that inotify is set up.
func start(t *testing.T, cfg Config, h Handler) (*Watcher, context.CancelFunc) {
	t.Helper()
	return startWith(t, cfg, h, nil)
}

// startWith is start with a hook that may change the Watcher before Run.
func startWith(t *testing.T, cfg Config, h Handler, setup func(*Watcher)) (*Watcher, context.CancelFunc) {
	t.Helper()
	scanned := make(chan struct{})
	var once sync.Once
	onRescan := cfg.Hooks.OnRescan
	cfg.Hooks.OnRescan = func(reason string) {
		once.Do(func() { close(scanned) })
		if onRescan != nil {
			onRescan(reason)
		}
	}
	w, err := New(cfg, h, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if setup != nil {
		setup(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	select {
	case <-scanned:
	case err := <-errc:
		t.Fatalf("Run = %v before its first scan", err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v; want context.Canceled", err)
		}
	}
	t.Cleanup(stop)
	return w, stop
}

// waitFor polls cond until it holds, failing the test after deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fileExists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	return err == nil
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dropRenamed writes b to a hidden temp name in dir and renames it to name.
func dropRenamed(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	writeFile(t, tmp, b)
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// workEmpty reports whether .work/ under dir holds nothing.
func workEmpty(t *testing.T, dir string) bool {
	return len(listDir(t, filepath.Join(dir, WorkDir))) == 0
}

var stampRE = regexp.MustCompile(`<!-- ipsd: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ attempt=(\d+) -->`)

// checkResult checks that a result file holds body after a stamp with attempt.
func checkResult(t *testing.T, path string, body []byte, attempt int) {
	t.Helper()
	got := readFile(t, path)
	m := stampRE.FindStringSubmatch(got)
	if m == nil {
		t.Errorf("%s has no ipsd stamp:\n%s", path, got)
	} else if m[1] != fmt.Sprint(attempt) {
		t.Errorf("%s stamp says attempt=%s; want %d", path, m[1], attempt)
	}
	if stripped := strings.Replace(got, m[0]+"\n", "", 1); m != nil && stripped != string(body) {
		t.Errorf("%s without stamp = %q; want %q", path, stripped, body)
	}
	if err := checkXML([]byte(got)); err != nil {
		t.Errorf("%s is not well-formed: %v", path, err)
	}
}

func TestDropIsHandledOnce(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
		dest string
	}{
		{"ok", true, DoneDir},
		{"failed", false, FailedDir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rec := &recorder{res: func(req Request) Result {
				return Result{OK: tt.ok, Body: resultBody(req.Name)}
			}}
			start(t, fastConfig(dir), rec.handle)

			body := requestBody("red")
			path := filepath.Join(dir, "req1.xml")
			writeFile(t, path, body)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}

			dest := filepath.Join(dir, tt.dest)
			waitFor(t, "request filed", func() bool {
				return fileExists(t, filepath.Join(dest, "req1.xml")) && workEmpty(t, dir)
			})

			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("handler called %d times; want 1", len(reqs))
			}
			req := reqs[0]
			wantKey := fmt.Sprintf(":req1.xml:%d:%d:%d", fi.Size(), fi.ModTime().UnixNano(), inode(fi))
			if req.Name != "req1.xml" || string(req.Body) != string(body) || req.Attempt != 1 ||
				req.Owner != uint32(os.Getuid()) || !strings.HasSuffix(req.Key, wantKey) {
				t.Errorf("request = {Name:%q Key:%q Owner:%d Attempt:%d}, body equal %v; want req1.xml, key ending %q, owner %d, attempt 1",
					req.Name, req.Key, req.Owner, req.Attempt, string(req.Body) == string(body),
					wantKey, os.Getuid())
			}
			if got := readFile(t, filepath.Join(dest, "req1.xml")); got != string(body) {
				t.Errorf("filed request = %q; want the dropped body", got)
			}
			checkResult(t, filepath.Join(dest, "req1.result.xml"), resultBody("req1.xml"), 1)
			if fileExists(t, path) {
				t.Error("request still in the folder")
			}
			if got := listDir(t, dest); len(got) != 2 {
				t.Errorf("%s holds %v; want the request and its result", tt.dest, got)
			}
		})
	}
}

func TestCollisionGetsSuffix(t *testing.T) {
	dir := t.TempDir()
	done := filepath.Join(dir, DoneDir)
	if err := os.Mkdir(done, 0o755); err != nil {
		t.Fatal(err)
	}
	// earlier pair, and a stray result that blocks suffix 2
	old := map[string]string{
		"req1.xml":          "old request",
		"req1.result.xml":   "old result",
		"req1.2.result.xml": "stray result",
	}
	for name, content := range old {
		writeFile(t, filepath.Join(done, name), []byte(content))
	}
	rec := &recorder{}
	start(t, fastConfig(dir), rec.handle)

	body := requestBody("second")
	writeFile(t, filepath.Join(dir, "req1.xml"), body)
	waitFor(t, "request filed", func() bool {
		return fileExists(t, filepath.Join(done, "req1.3.xml")) && workEmpty(t, dir)
	})

	for name, content := range old {
		if got := readFile(t, filepath.Join(done, name)); got != content {
			t.Errorf("%s = %q; want it unchanged (%q)", name, got, content)
		}
	}
	if got := readFile(t, filepath.Join(done, "req1.3.xml")); got != string(body) {
		t.Errorf("req1.3.xml = %q; want the new request", got)
	}
	checkResult(t, filepath.Join(done, "req1.3.result.xml"), resultBody("req1.xml"), 1)
	if fileExists(t, filepath.Join(done, "req1.2.xml")) {
		t.Error("req1.2.xml created although req1.2.result.xml was taken")
	}

	// the same name dropped again goes on to suffix 4
	writeFile(t, filepath.Join(dir, "req1.xml"), requestBody("third"))
	waitFor(t, "second request filed", func() bool {
		return fileExists(t, filepath.Join(done, "req1.4.xml")) && workEmpty(t, dir)
	})
	if n := rec.counts()["req1.xml"]; n != 2 {
		t.Errorf("handler saw req1.xml %d times; want 2", n)
	}
}

func TestSlowWriterIsNotTakenEarly(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig(dir)
	cfg.Settle = 300 * time.Millisecond // more than the writer's pauses
	rec := &recorder{}
	start(t, cfg, rec.handle)

	// the document is well-formed only once the last chunk is written
	var doc strings.Builder
	doc.WriteString("<?xml version=\"1.0\"?>\n<copyImageParam>\n")
	for doc.Len() < 20*1024 {
		doc.WriteString("  <!-- padding padding padding padding padding padding -->\n")
	}
	doc.WriteString("</copyImageParam>\n")
	full := []byte(doc.String())

	f, err := os.Create(filepath.Join(dir, "slow.xml"))
	if err != nil {
		t.Fatal(err)
	}
	writerDone := make(chan error, 1)
	go func() {
		defer f.Close()
		for off := 0; off < len(full); off += 1024 {
			if _, err := f.Write(full[off:min(off+1024, len(full))]); err != nil {
				writerDone <- err
				return
			}
			time.Sleep(100 * time.Millisecond) // a slow client, not a wait for an outcome
		}
		writerDone <- nil
	}()

	waitFor(t, "slow request filed", func() bool {
		return fileExists(t, filepath.Join(dir, DoneDir, "slow.xml"))
	})
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("handler called %d times; want 1", len(reqs))
	}
	if string(reqs[0].Body) != string(full) {
		t.Errorf("handler saw %d bytes; want all %d", len(reqs[0].Body), len(full))
	}
}

func TestRenameInIsTakenWithoutSettling(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig(dir)
	cfg.Settle = time.Hour // only the rename rule can take a file
	rec := &recorder{}
	start(t, cfg, rec.handle)

	// written in place: must wait for Settle
	writeFile(t, filepath.Join(dir, "written.xml"), requestBody("w"))
	dropRenamed(t, dir, "renamed.xml", requestBody("r"))

	waitFor(t, "renamed request filed", func() bool {
		return fileExists(t, filepath.Join(dir, DoneDir, "renamed.xml"))
	})
	if !fileExists(t, filepath.Join(dir, "written.xml")) {
		t.Error("file written in place was taken before it settled")
	}
	if got := rec.counts(); got["renamed.xml"] != 1 || got["written.xml"] != 0 {
		t.Errorf("handler calls = %v; want renamed.xml once only", got)
	}
}

func TestTruncatedXMLWaitsThenFails(t *testing.T) {
	dir := t.TempDir()
	truncated := []byte("<?xml version=\"1.0\"?>\n<copyImageParam><companyHandle>c|1</compa")
	writeFile(t, filepath.Join(dir, "trunc.xml"), truncated)

	// phase 1: a long Incomplete; a good file dropped later is handled,
	// the truncated one stays
	rec := &recorder{}
	_, stop := start(t, fastConfig(dir), rec.handle)
	writeFile(t, filepath.Join(dir, "good.xml"), requestBody("g"))
	waitFor(t, "good request filed", func() bool {
		return fileExists(t, filepath.Join(dir, DoneDir, "good.xml"))
	})
	if !fileExists(t, filepath.Join(dir, "trunc.xml")) {
		t.Fatal("truncated request was taken before Incomplete passed")
	}
	stop()

	// phase 2: a short Incomplete fails it, without calling the handler
	cfg := fastConfig(dir)
	cfg.Incomplete = 200 * time.Millisecond
	start(t, cfg, rec.handle)
	failed := filepath.Join(dir, FailedDir)
	waitFor(t, "truncated request failed", func() bool {
		return fileExists(t, filepath.Join(failed, "trunc.xml")) && workEmpty(t, dir)
	})
	if got := rec.counts(); got["trunc.xml"] != 0 {
		t.Errorf("handler called for the truncated request")
	}
	if got := readFile(t, filepath.Join(failed, "trunc.xml")); got != string(truncated) {
		t.Errorf("failed request = %q; want the truncated body", got)
	}
	res := readFile(t, filepath.Join(failed, "trunc.result.xml"))
	for _, want := range []string{"<tns:code>30003</tns:code>", "not complete", "EOF", "attempt=1"} {
		if !strings.Contains(res, want) {
			t.Errorf("result lacks %q:\n%s", want, res)
		}
	}
}

func TestIgnoredNamesAreNotTouched(t *testing.T) {
	dir := t.TempDir()
	ignored := []string{
		".hidden.xml", "a.tmp", "b.part", "c.xml.partial", "d.crdownload", "e.download",
		"~$f.xml", ".g.xml.swp", "h.xml~", "#i.xml#", "j.txt", "k.result.xml", "l.xml.tmp",
	}
	for _, name := range ignored {
		writeFile(t, filepath.Join(dir, name), requestBody(name))
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(sub, "nested.xml"), requestBody("nested"))
	if err := os.Symlink(filepath.Join(sub, "nested.xml"), filepath.Join(dir, "link.xml")); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", MaxNameLen) + ".xml"
	writeFile(t, filepath.Join(dir, long), requestBody("long"))
	want := map[string]string{"sub/nested.xml": string(requestBody("nested")), long: string(requestBody("long"))}
	for _, name := range ignored {
		want[name] = string(requestBody(name))
	}

	var mu sync.Mutex
	scans := 0
	cfg := fastConfig(dir)
	cfg.Rescan = 50 * time.Millisecond // scans must skip them too
	cfg.Hooks.OnRescan = func(string) { mu.Lock(); scans++; mu.Unlock() }
	rescans := func() int { mu.Lock(); defer mu.Unlock(); return scans }
	rec := &recorder{}
	start(t, cfg, rec.handle)
	writeFile(t, filepath.Join(dir, "ok.xml"), requestBody("ok"))
	waitFor(t, "ok.xml filed", func() bool {
		return fileExists(t, filepath.Join(dir, DoneDir, "ok.xml"))
	})
	after := rescans()
	waitFor(t, "two more rescans", func() bool { return rescans() >= after+2 })

	for name, content := range want {
		if got := readFile(t, filepath.Join(dir, name)); got != content {
			t.Errorf("%s changed", name)
		}
	}
	if fi, err := os.Lstat(filepath.Join(dir, "link.xml")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink link.xml was touched: %v", err)
	}
	if got := rec.counts(); len(got) != 1 || got["ok.xml"] != 1 {
		t.Errorf("handler calls = %v; want ok.xml only", got)
	}
	if got := listDir(t, filepath.Join(dir, DoneDir)); len(got) != 2 {
		t.Errorf("done/ = %v; want ok.xml and its result", got)
	}
}

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}

func TestRecoveryAfterCrash(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, WorkDir)
	done := filepath.Join(dir, DoneDir)
	for _, d := range []string{work, done} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	host := hostTag()
	dead := deadPID(t)
	put := func(name string, b []byte) string {
		writeFile(t, filepath.Join(work, name), b)
		return name
	}

	// a claim of a dead process, first attempt
	deadClaim := put(tag{"req1.xml", host, dead, "aa", 1}.name("01"), requestBody("1"))
	fi, err := os.Stat(filepath.Join(work, deadClaim))
	if err != nil {
		t.Fatal(err)
	}
	// a claim of this pid by an instance that is not running: an earlier
	// process with the same pid
	put(tag{"req2.xml", host, os.Getpid(), "bb", 2}.name("02"), requestBody("2"))
	// a claim of a live process (our parent) and one of another host
	live := put(tag{"live.xml", host, os.Getppid(), "cc", 1}.name("03"), requestBody("l"))
	foreign := put(tag{"far.xml", "otherhost", dead, "dd", 1}.name("04"), requestBody("f"))
	// a dead claim whose result was stored before the crash
	stored := put(tag{"req3.xml", host, dead, "ee", 1}.name("05"), requestBody("3"))
	put(stored+okSuffix, []byte("<stored/>"))
	// ...and one whose result was already linked into done/
	half := put(tag{"req4.xml", host, dead, "ff", 1}.name("06"), requestBody("4"))
	put(half+failedSuffix, []byte("<half/>"))
	if err := os.Mkdir(filepath.Join(dir, FailedDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(work, half+failedSuffix),
		filepath.Join(dir, FailedDir, "req4.result.xml")); err != nil {
		t.Fatal(err)
	}
	// a claim already used up its attempts
	put(tag{"req5.xml", host, dead, "ab", 5}.name("07"), requestBody("5"))
	// a result stored by a dead process whose request was filed already
	lone := tag{"req6.xml", host, dead, "ac", 1}.name("0a") + okSuffix
	put(lone, []byte("<lone/>"))
	// stale temp file of the dead process, and one of a live one
	deadTmp := put(tag{tmpPrefix, host, dead, "aa", 0}.name("08"), []byte("partial"))
	liveTmp := put(tag{tmpPrefix, host, os.Getppid(), "cc", 0}.name("09"), []byte("partial"))

	rec := &recorder{}
	cfg := fastConfig(dir)
	cfg.Attempts = 5
	start(t, cfg, rec.handle)

	waitFor(t, "recovered requests filed", func() bool {
		for _, p := range []string{
			filepath.Join(done, "req1.xml"), filepath.Join(done, "req2.xml"),
			filepath.Join(done, "req3.xml"), filepath.Join(dir, FailedDir, "req4.xml"),
			filepath.Join(dir, FailedDir, "req5.xml"),
		} {
			if !fileExists(t, p) {
				return false
			}
		}
		return !fileExists(t, filepath.Join(work, deadTmp)) && !fileExists(t, filepath.Join(work, lone))
	})

	calls := map[string]Request{}
	for _, r := range rec.requests() {
		if _, dup := calls[r.Name]; dup {
			t.Errorf("%s handled twice", r.Name)
		}
		calls[r.Name] = r
	}
	if r, ok := calls["req1.xml"]; !ok || r.Attempt != 2 {
		t.Errorf("req1.xml: handled %v with attempt %d; want attempt 2", ok, r.Attempt)
	} else if want := fmt.Sprintf(":req1.xml:%d:%d:%d", fi.Size(), fi.ModTime().UnixNano(), inode(fi)); !strings.HasSuffix(r.Key, want) {
		t.Errorf("req1.xml key = %q; want one ending %q, as at the first attempt", r.Key, want)
	}
	if r, ok := calls["req2.xml"]; !ok || r.Attempt != 3 {
		t.Errorf("req2.xml: handled %v with attempt %d; want attempt 3", ok, r.Attempt)
	}
	for _, name := range []string{"req3.xml", "req4.xml", "req5.xml", "live.xml", "far.xml"} {
		if _, ok := calls[name]; ok {
			t.Errorf("%s was handled; want it filed or left alone without a call", name)
		}
	}
	checkResult(t, filepath.Join(done, "req1.result.xml"), resultBody("req1.xml"), 2)
	if got := readFile(t, filepath.Join(done, "req3.result.xml")); got != "<stored/>" {
		t.Errorf("req3 result = %q; want the stored one", got)
	}
	if got := listDir(t, filepath.Join(dir, FailedDir)); !slices.Equal(got,
		[]string{"req4.result.xml", "req4.xml", "req5.result.xml", "req5.xml"}) {
		t.Errorf("failed/ = %v; want req4 and req5 pairs, no duplicates", got)
	}
	if res := readFile(t, filepath.Join(dir, FailedDir, "req5.result.xml")); !strings.Contains(res, "interrupted 5 times") ||
		!strings.Contains(res, "attempt=6") {
		t.Errorf("req5 result = %q; want a fault about 5 interruptions at attempt 6", res)
	}

	waitFor(t, "work directory cleaned", func() bool {
		got := listDir(t, work)
		slices.Sort(got)
		want := []string{live, foreign, liveTmp}
		slices.Sort(want)
		return slices.Equal(got, want)
	})
}

func TestBurstIsHandledExactlyOnce(t *testing.T) {
	const n = 2000
	dir := t.TempDir()
	cfg := fastConfig(dir)
	cfg.Workers = 4
	cfg.Rescan = time.Second // a safety net, as in production
	rec := &recorder{}
	start(t, cfg, rec.handle)

	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("r%04d.xml", i)), requestBody(fmt.Sprint(i)))
	}
	done := filepath.Join(dir, DoneDir)
	waitFor(t, "all requests filed", func() bool {
		return len(listDir(t, done)) == 2*n && workEmpty(t, dir)
	})
	counts := rec.counts()
	if len(counts) != n {
		t.Errorf("handler saw %d names; want %d", len(counts), n)
	}
	for name, c := range counts {
		if c != 1 {
			t.Errorf("%s handled %d times", name, c)
		}
	}
	for _, name := range listDir(t, done) {
		if !regexp.MustCompile(`^r\d{4}(\.result)?\.xml$`).MatchString(name) {
			t.Errorf("unexpected name in done/: %s", name)
		}
	}
}

func TestOverflowRescanFindsEverything(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var overflows int
	var reasons []string
	cfg := fastConfig(dir)
	cfg.Hooks = Hooks{
		OnOverflow: func() { mu.Lock(); overflows++; mu.Unlock() },
		OnRescan:   func(r string) { mu.Lock(); reasons = append(reasons, r); mu.Unlock() },
	}
	rec := &recorder{}
	w, _ := start(t, cfg, rec.handle)
	// a first request shows the start scan is over
	writeFile(t, filepath.Join(dir, "first.xml"), requestBody("first"))
	waitFor(t, "first request filed", func() bool {
		return fileExists(t, filepath.Join(dir, DoneDir, "first.xml"))
	})

	// from now on events are lost, as in a kernel queue overflow; with
	// Rescan an hour away only the overflow's rescan can find the files
	w.dropEvents.Store(true)
	const n = 50
	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("o%02d.xml", i)), requestBody("o"))
	}
	w.inject <- fsnotify.ErrEventOverflow

	waitFor(t, "all requests filed", func() bool {
		return len(listDir(t, filepath.Join(dir, DoneDir))) == 2*(n+1)
	})
	mu.Lock()
	defer mu.Unlock()
	if overflows != 1 || !slices.Contains(reasons, "overflow") {
		t.Errorf("overflows = %d, rescans = %v; want 1 overflow and an overflow rescan", overflows, reasons)
	}
	if got := len(rec.counts()); got != n+1 {
		t.Errorf("handled %d requests; want %d", got, n+1)
	}
}

func TestTwoWatchersShareAFolder(t *testing.T) {
	const n = 500
	dir := t.TempDir()
	rec := &recorder{}
	for range 2 {
		cfg := fastConfig(dir)
		cfg.Workers = 2
		cfg.Rescan = 200 * time.Millisecond // sweeps run while the other is busy
		start(t, cfg, rec.handle)
	}
	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("s%03d.xml", i)), requestBody("s"))
	}
	waitFor(t, "all requests filed", func() bool {
		return len(listDir(t, filepath.Join(dir, DoneDir))) == 2*n && workEmpty(t, dir)
	})
	counts := rec.counts()
	if len(counts) != n {
		t.Errorf("handled %d names; want %d", len(counts), n)
	}
	for name, c := range counts {
		if c != 1 {
			t.Errorf("%s handled %d times", name, c)
		}
	}
}

func TestPollMode(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig(dir)
	cfg.Poll = 50 * time.Millisecond
	var mu sync.Mutex
	polls := 0
	cfg.Hooks.OnRescan = func(r string) {
		if r == "poll" {
			mu.Lock()
			polls++
			mu.Unlock()
		}
	}
	cfg.Hooks.OnEvent = func(op string) { t.Errorf("event %s in poll mode", op) }
	rec := &recorder{}
	start(t, cfg, rec.handle)
	writeFile(t, filepath.Join(dir, "p.xml"), requestBody("p"))
	dropRenamed(t, dir, "q.xml", requestBody("q"))
	waitFor(t, "requests filed", func() bool {
		return fileExists(t, filepath.Join(dir, DoneDir, "p.xml")) &&
			fileExists(t, filepath.Join(dir, DoneDir, "q.xml"))
	})
	mu.Lock()
	defer mu.Unlock()
	if polls < 2 {
		t.Errorf("%d poll scans; want at least 2 (settling spans scans)", polls)
	}
	if got := rec.counts(); got["p.xml"] != 1 || got["q.xml"] != 1 {
		t.Errorf("handler calls = %v", got)
	}
}

func TestBackpressureClaimsOnlyForFreeWorkers(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig(dir)
	cfg.Workers = 2
	release := make(chan struct{})
	entered := make(chan string, 10)
	h := func(_ context.Context, req Request) Result {
		entered <- req.Name
		<-release
		return Result{OK: true, Body: resultBody(req.Name)}
	}
	var depths []int
	var mu sync.Mutex
	cfg.Hooks.OnQueue = func(d int, _ time.Duration) { mu.Lock(); depths = append(depths, d); mu.Unlock() }
	w, _ := start(t, cfg, h)

	for i := range 10 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("b%d.xml", i)), requestBody("b"))
	}
	<-entered
	<-entered
	waitFor(t, "the rest queued", func() bool { return w.Pending() == 8 })

	if got := len(listDir(t, filepath.Join(dir, WorkDir))); got != 2 {
		t.Errorf(".work holds %d entries with 2 workers busy; want 2", got)
	}
	var waiting int
	for _, name := range listDir(t, dir) {
		if strings.HasSuffix(name, ".xml") {
			waiting++
		}
	}
	if waiting != 8 {
		t.Errorf("%d requests left in the folder; want 8", waiting)
	}
	mu.Lock()
	maxDepth := slices.Max(append(depths, 0))
	mu.Unlock()
	if maxDepth < 1 {
		t.Errorf("OnQueue never reported waiting requests")
	}
	close(release)
	waitFor(t, "all filed", func() bool {
		return len(listDir(t, filepath.Join(dir, DoneDir))) == 20 && w.Pending() == 0
	})
}

func TestRetry(t *testing.T) {
	t.Run("then ok", func(t *testing.T) {
		dir := t.TempDir()
		rec := &recorder{res: func(req Request) Result {
			if req.Attempt == 1 {
				return Result{Retry: true}
			}
			return Result{OK: true, Body: resultBody(req.Name)}
		}}
		start(t, fastConfig(dir), rec.handle)
		writeFile(t, filepath.Join(dir, "r.xml"), requestBody("r"))
		waitFor(t, "filed", func() bool { return fileExists(t, filepath.Join(dir, DoneDir, "r.xml")) })
		reqs := rec.requests()
		if len(reqs) != 2 || reqs[0].Attempt != 1 || reqs[1].Attempt != 2 || reqs[0].Key != reqs[1].Key {
			t.Errorf("calls = %+v; want attempts 1, 2 with one key", reqs)
		}
		checkResult(t, filepath.Join(dir, DoneDir, "r.result.xml"), resultBody("r.xml"), 2)
	})
	t.Run("gives up", func(t *testing.T) {
		dir := t.TempDir()
		rec := &recorder{res: func(req Request) Result {
			return Result{Retry: true, Body: []byte("<busy/>")}
		}}
		cfg := fastConfig(dir)
		cfg.Attempts = 3
		start(t, cfg, rec.handle)
		writeFile(t, filepath.Join(dir, "r.xml"), requestBody("r"))
		waitFor(t, "failed", func() bool {
			return fileExists(t, filepath.Join(dir, FailedDir, "r.xml")) && workEmpty(t, dir)
		})
		if n := len(rec.requests()); n != 3 {
			t.Errorf("handler called %d times; want 3", n)
		}
		checkResult(t, filepath.Join(dir, FailedDir, "r.result.xml"), []byte("<busy/>"), 3)
	})
}

func TestShutdownLetsInFlightFinish(t *testing.T) {
	for _, retry := range []bool{false, true} {
		t.Run(fmt.Sprintf("retry=%v", retry), func(t *testing.T) {
			dir := t.TempDir()
			entered := make(chan struct{})
			release := make(chan struct{})
			ctxErr := make(chan error, 1)
			h := func(ctx context.Context, req Request) Result {
				close(entered)
				<-release
				ctxErr <- ctx.Err()
				return Result{OK: true, Retry: retry, Body: resultBody(req.Name)}
			}
			_, stop := start(t, fastConfig(dir), h)
			writeFile(t, filepath.Join(dir, "s.xml"), requestBody("s"))
			<-entered

			stopped := make(chan struct{})
			go func() { stop(); close(stopped) }()
			select {
			case <-stopped:
				t.Fatal("Run returned while a handler was running")
			case <-time.After(50 * time.Millisecond):
				// not a wait for an outcome: a window in which Run must not return
			}
			close(release)
			<-stopped
			if err := <-ctxErr; err != nil {
				t.Errorf("handler ctx.Err() = %v after shutdown began; want nil", err)
			}
			if retry {
				work := listDir(t, filepath.Join(dir, WorkDir))
				if len(work) != 1 || !strings.HasPrefix(work[0], "s.xml.") {
					t.Errorf(".work = %v; want the request still claimed", work)
				}
			} else if !fileExists(t, filepath.Join(dir, DoneDir, "s.xml")) {
				t.Error("in-flight request not filed at shutdown")
			}
		})
	}
}

func TestFolderDeletedAndRecreated(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "inbox")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	start(t, fastConfig(dir), rec.handle)
	writeFile(t, filepath.Join(dir, "a.xml"), requestBody("a"))
	waitFor(t, "first filed", func() bool { return fileExists(t, filepath.Join(dir, DoneDir, "a.xml")) })

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "b.xml"), requestBody("b"))
	waitFor(t, "filed in the recreated folder", func() bool {
		return fileExists(t, filepath.Join(dir, DoneDir, "b.xml"))
	})
	if got := rec.counts(); got["a.xml"] != 1 || got["b.xml"] != 1 {
		t.Errorf("handler calls = %v", got)
	}
}

func TestHardLinkedRequestIsRefused(t *testing.T) {
	dir := t.TempDir()
	elsewhere := filepath.Join(t.TempDir(), "theirs.xml")
	writeFile(t, elsewhere, requestBody("x"))
	rec := &recorder{}
	start(t, fastConfig(dir), rec.handle)
	if err := os.Link(elsewhere, filepath.Join(dir, "linked.xml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "linked request failed", func() bool {
		return fileExists(t, filepath.Join(dir, FailedDir, "linked.xml")) && workEmpty(t, dir)
	})
	if len(rec.requests()) != 0 {
		t.Error("handler called for a hard-linked request")
	}
	if res := readFile(t, filepath.Join(dir, FailedDir, "linked.result.xml")); !strings.Contains(res, "hard link") {
		t.Errorf("result = %q; want a fault about the hard link", res)
	}
}

func TestRunNeedsFolder(t *testing.T) {
	w, err := New(Config{Dir: filepath.Join(t.TempDir(), "missing")},
		func(context.Context, Request) Result { return Result{} }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Run(t.Context()); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Run on a missing folder = %v; want a not-exist error", err)
	}
}
