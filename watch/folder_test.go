package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// hookLog records the hook calls of a Watcher.
type hookLog struct {
	mu     sync.Mutex
	calls  []string
	events int
}

func (l *hookLog) add(s string) {
	l.mu.Lock()
	l.calls = append(l.calls, s)
	l.mu.Unlock()
}

func (l *hookLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		if c == s {
			n++
		}
	}
	return n
}

func (l *hookLog) hooks() Hooks {
	return Hooks{
		OnEvent:        func(string) { l.mu.Lock(); l.events++; l.mu.Unlock() },
		OnOverflow:     func() { l.add("overflow") },
		OnPollFallback: func() { l.add("fallback") },
		OnRescan:       func(reason string) { l.add("rescan " + reason) },
	}
}

// TestClaimIsTaggedWithHostAndProcess looks into .work/ while the handler
// runs: the request is there under its name, this host's tag, this
// process's id, the runner's instance, a random part and attempt 1.
func TestClaimIsTaggedWithHostAndProcess(t *testing.T) {
	dir := t.TempDir()
	entered := make(chan struct{})
	release := make(chan struct{})
	h := func(_ context.Context, req Request) Result {
		close(entered)
		<-release
		return Result{OK: true, Body: resultBody(req.Name)}
	}
	start(t, fastConfig(dir), h)
	dropRenamed(t, dir, "req.xml", requestBody("r"))
	<-entered

	work := listDir(t, filepath.Join(dir, WorkDir))
	if len(work) != 1 {
		close(release)
		t.Fatalf(".work = %v; want one claim", work)
	}
	host, _ := os.Hostname()
	prefix := "req.xml." + hostTag() + "." + strconv.Itoa(os.Getpid()) + "."
	tg, ok := parseTag(work[0])
	if !strings.HasPrefix(work[0], prefix) || !ok || tg.base != "req.xml" || tg.pid != os.Getpid() ||
		tg.attempt != 1 || tg.host == "" || strings.Contains(tg.host, ".") {
		t.Errorf("claim %q; want %q + <instance>-<random>-1 (host %q)", work[0], prefix, host)
	}
	if fileExists(t, filepath.Join(dir, "req.xml")) {
		t.Error("request still in the folder while it is handled")
	}
	close(release)
	waitFor(t, "filed", func() bool { return fileExists(t, filepath.Join(dir, DoneDir, "req.xml")) && workEmpty(t, dir) })
}

// TestSlowWriterThatParsesEarly writes a request at 1 KiB every 100 ms for
// 5 s, where the file is complete, well-formed XML after the first chunk
// already (the rest are comments): only the Settle rule can keep the
// Watcher from taking it before the writer is done.
func TestSlowWriterThatParsesEarly(t *testing.T) {
	dir := t.TempDir()
	cfg := fastConfig(dir)
	cfg.Settle = DefaultSettle
	rec := &recorder{}
	start(t, cfg, rec.handle)

	head := requestBody("slow")
	first := append(slices.Clone(head), strings.Repeat(" ", 1024-len(head)-1)+"\n"...)
	if err := checkXML(first); err != nil {
		t.Fatalf("first chunk does not parse: %v", err)
	}
	chunks := [][]byte{first}
	for i := 1; i < 50; i++ {
		c := fmt.Sprintf("<!-- chunk %02d ", i)
		chunks = append(chunks, []byte(c+strings.Repeat("x", 1024-len(c)-5)+" -->\n"))
	}
	path := filepath.Join(dir, "slow.xml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []byte
	last := time.Now()
	var longest time.Duration
	for i, c := range chunks {
		if i > 0 {
			time.Sleep(100 * time.Millisecond) // the writer's pace, not a wait for an outcome
		}
		if gap := time.Since(last); gap > longest {
			longest = gap
		}
		if !fileExists(t, path) {
			if longest >= cfg.Settle {
				t.Skipf("the writer stalled for %v, longer than Settle (%v): the Watcher was right to take the file", longest, cfg.Settle)
			}
			t.Fatalf("slow.xml taken after %d of %d chunks; the writer never paused longer than %v", i, len(chunks), longest)
		}
		if _, err := f.Write(c); err != nil {
			t.Fatal(err)
		}
		last = time.Now()
		want = append(want, c...)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "slow request filed", func() bool { return fileExists(t, filepath.Join(dir, DoneDir, "slow.xml")) })
	reqs := rec.requests()
	if len(reqs) != 1 || string(reqs[0].Body) != string(want) {
		n := 0
		if len(reqs) > 0 {
			n = len(reqs[0].Body)
		}
		t.Errorf("handler called %d times, with %d bytes; want once with all %d", len(reqs), n, len(want))
	}
}

// TestPeriodicRescanFindsMissedFiles loses every event: the periodic
// rescan alone finds the requests.
func TestPeriodicRescanFindsMissedFiles(t *testing.T) {
	dir := t.TempDir()
	var l hookLog
	cfg := fastConfig(dir)
	cfg.Rescan = 100 * time.Millisecond
	cfg.Hooks = l.hooks()
	rec := &recorder{}
	w, _ := start(t, cfg, rec.handle)
	w.dropEvents.Store(true) // from now on, as if the kernel lost them

	const n = 20
	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("m%02d.xml", i)), requestBody("m"))
	}
	waitFor(t, "all requests filed", func() bool {
		return len(listDir(t, filepath.Join(dir, DoneDir))) == 2*n && workEmpty(t, dir)
	})
	if got := len(rec.counts()); got != n {
		t.Errorf("handled %d requests; want %d", got, n)
	}
	if l.count("rescan periodic") == 0 || l.count("overflow") != 0 {
		t.Errorf("hook calls %v; want periodic rescans and no overflow", l.calls)
	}
}

// TestInotifyUnavailable makes inotify fail as it does when the user's
// instances are used up: the Watcher says so, reports the fallback, and
// takes requests by polling, with no file events at all.
func TestInotifyUnavailable(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENOSPC} {
		t.Run(errno.Error(), func(t *testing.T) {
			dir := t.TempDir()
			var l hookLog
			cfg := fastConfig(dir)
			cfg.Hooks = l.hooks()
			rec := &recorder{}
			startWith(t, cfg, rec.handle, func(w *Watcher) {
				w.newNotify = func() (*fsnotify.Watcher, error) { return nil, fmt.Errorf("inotify_init1: %w", errno) }
				w.fallbackPoll = 30 * time.Millisecond
			})
			writeFile(t, filepath.Join(dir, "p.xml"), requestBody("p"))
			dropRenamed(t, dir, "q.xml", requestBody("q"))
			waitFor(t, "requests filed by polling", func() bool {
				return fileExists(t, filepath.Join(dir, DoneDir, "p.xml")) &&
					fileExists(t, filepath.Join(dir, DoneDir, "q.xml")) && workEmpty(t, dir)
			})
			if n := l.count("fallback"); n != 1 {
				t.Errorf("OnPollFallback called %d times; want 1", n)
			}
			if n := l.count("rescan poll"); n < 2 {
				t.Errorf("%d poll scans; want at least 2", n)
			}
			l.mu.Lock()
			events := l.events
			l.mu.Unlock()
			if events != 0 {
				t.Errorf("%d file events without inotify", events)
			}
			if got := rec.counts(); got["p.xml"] != 1 || got["q.xml"] != 1 {
				t.Errorf("handler calls = %v", got)
			}
		})
	}
}

// TestFolderMovedAwayWithItsParent renames a directory above the watch
// folder and makes a new folder at the old path: the Watcher watches the
// new folder, and requests dropped into it are taken from events, without
// waiting for a periodic rescan. Files in the moved-away folder are left
// alone.
func TestFolderMovedAwayWithItsParent(t *testing.T) {
	for _, tt := range []struct {
		name   string
		up     int           // which ancestor is renamed: 1 the parent, 2 the grandparent
		rescan time.Duration // the parent's rename is an event; the grandparent's is found by a rescan
	}{
		{"parent", 1, time.Hour},
		{"grandparent", 2, 100 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "a", "b", "inbox")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			var l hookLog
			cfg := fastConfig(dir)
			cfg.Rescan = tt.rescan
			cfg.Hooks = l.hooks()
			rec := &recorder{}
			start(t, cfg, rec.handle)
			dropRenamed(t, dir, "one.xml", requestBody("1"))
			waitFor(t, "one.xml filed", func() bool { return fileExists(t, filepath.Join(dir, DoneDir, "one.xml")) })

			moved := dir
			for range tt.up {
				moved = filepath.Dir(moved)
			}
			if err := os.Rename(moved, moved+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the new folder watched", func() bool { return l.count("rescan recreated") >= 1 })

			oldDir := filepath.Join(moved+".old", strings.TrimPrefix(dir, moved+"/"))
			dropRenamed(t, oldDir, "stray.xml", requestBody("s"))
			dropRenamed(t, dir, "two.xml", requestBody("2"))
			waitFor(t, "two.xml filed in the new folder", func() bool {
				return fileExists(t, filepath.Join(dir, DoneDir, "two.xml")) && workEmpty(t, dir)
			})
			if got := rec.counts(); got["one.xml"] != 1 || got["two.xml"] != 1 || got["stray.xml"] != 0 {
				t.Errorf("handler calls = %v; want one.xml and two.xml once, stray.xml never", got)
			}
			if !fileExists(t, filepath.Join(oldDir, "stray.xml")) {
				t.Error("stray.xml in the moved-away folder was touched")
			}
		})
	}
}

// TestClaimConfirmedAfterENOENT makes every claim's rename succeed and
// still report ENOENT, as a retransmitted rename does on NFS: the Watcher
// finds its claim in .work/ and handles the request, once, instead of
// leaving it there as a lost race.
func TestClaimConfirmedAfterENOENT(t *testing.T) {
	dir := t.TempDir()
	orig := renameFile
	renameFile = func(from, to string) error {
		if err := orig(from, to); err != nil {
			return err
		}
		if filepath.Dir(to) == filepath.Join(dir, WorkDir) && filepath.Dir(from) == dir {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.ENOENT}
		}
		return nil
	}
	t.Cleanup(func() { renameFile = orig })
	rec := &recorder{}
	start(t, fastConfig(dir), rec.handle)
	dropRenamed(t, dir, "nfs.xml", requestBody("n"))
	waitFor(t, "nfs.xml filed", func() bool {
		return fileExists(t, filepath.Join(dir, DoneDir, "nfs.xml")) && workEmpty(t, dir)
	})
	if got := rec.counts(); got["nfs.xml"] != 1 {
		t.Errorf("handler calls = %v; want nfs.xml once", got)
	}
}

// TestFilingFailureIsRetried makes filing fail (a file where done/ should
// be): the request stays claimed with its result stored, and once done/ can
// be made, a later rescan files it, without calling the handler again.
func TestFilingFailureIsRetried(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, DoneDir)
	writeFile(t, blocker, []byte("not a directory"))
	var l hookLog
	cfg := fastConfig(dir)
	cfg.Rescan = 50 * time.Millisecond
	cfg.Hooks = l.hooks()
	rec := &recorder{}
	start(t, cfg, rec.handle)
	dropRenamed(t, dir, "stuck.xml", requestBody("s"))
	waitFor(t, "the result stored in .work/", func() bool {
		for _, n := range listDir(t, filepath.Join(dir, WorkDir)) {
			if strings.HasPrefix(n, "stuck.xml.") && strings.HasSuffix(n, okSuffix) {
				return true
			}
		}
		return false
	})
	scans := l.count("rescan periodic")
	waitFor(t, "two more rescans", func() bool { return l.count("rescan periodic") >= scans+2 })
	if fileExists(t, filepath.Join(dir, "stuck.xml")) {
		t.Error("the request went back to the folder")
	}

	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stuck.xml filed", func() bool {
		return fileExists(t, filepath.Join(dir, DoneDir, "stuck.xml")) && workEmpty(t, dir)
	})
	checkResult(t, filepath.Join(dir, DoneDir, "stuck.result.xml"), resultBody("stuck.xml"), 1)
	if got := rec.counts(); got["stuck.xml"] != 1 {
		t.Errorf("handler calls = %v; want stuck.xml once", got)
	}
}
