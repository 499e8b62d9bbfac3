package fsstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // generous: -race on a loaded machine; ends once cond holds
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startRun runs s.Run until the test ends.
func startRun(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v; want context.Canceled", err)
		}
	})
}

func hasAsset(t *testing.T, s *Store, rel string) func() bool {
	return func() bool { _, ok := handles(t, s)[rel]; return ok }
}

func lacksAsset(t *testing.T, s *Store, rel string) func() bool {
	return func() bool { _, ok := handles(t, s)[rel]; return !ok }
}

// logTo makes s log to t and to a buffer it returns.
func logTo(t *testing.T, s *Store) *syncLog {
	l := &syncLog{}
	s.logger = slog.New(slog.NewTextHandler(io.MultiWriter(tWriter{t}, lockedWriter{&l.mu, &l.b}),
		&slog.HandlerOptions{Level: slog.LevelDebug}))
	return l
}

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), s)
}

// startRunScanned is startRun, returning once Run's first full scan is
// over, so that changes made afterwards can only be found by what follows.
func startRunScanned(t *testing.T, s *Store) {
	t.Helper()
	l := logTo(t, s)
	startRun(t, s)
	eventually(t, "start scan", func() bool { return l.has(`msg="catalog reconciled" reason=start`) })
}

// watchedAll waits until Run's first scan has added its watches.
func waitWatching(t *testing.T, s *Store, n int) {
	eventually(t, "watches", func() bool {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		return s.watch != nil && len(s.watch.dirs) >= n
	})
}

func TestRunInotify(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a/red.jpg"), jpegBytes(t, 1))
	writeFile(t, filepath.Join(e.root, "Co2/x.jpg"), jpegBytes(t, 1)) // shares a prefix with Co
	if err := os.MkdirAll(filepath.Join(e.root, "Co/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	var events atomic.Int32
	cfg := e.cfg
	cfg.Hooks.OnWatchEvent = func() { events.Add(1) }
	s := e.openCfg(t, cfg)
	startRun(t, s)
	waitWatching(t, s, 5) // root, Co, Co/a, Co/b, Co2

	t.Run("copy in", func(t *testing.T) {
		writeFile(t, filepath.Join(e.root, "Co/a/new.png"), pngBytes(t))
		eventually(t, "new.png", hasAsset(t, s, "Co/a/new.png"))
	})
	t.Run("delete", func(t *testing.T) {
		os.Remove(filepath.Join(e.root, "Co/a/new.png"))
		eventually(t, "new.png gone", lacksAsset(t, s, "Co/a/new.png"))
	})
	t.Run("move keeps handle", func(t *testing.T) {
		h := handles(t, s)["Co/a/red.jpg"]
		if err := os.Rename(filepath.Join(e.root, "Co/a/red.jpg"), filepath.Join(e.root, "Co/b/red.jpg")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "moved red.jpg", func() bool { return handles(t, s)["Co/b/red.jpg"] == h })
		eventually(t, "old path gone", lacksAsset(t, s, "Co/a/red.jpg"))
	})
	t.Run("mkdir -p and fill", func(t *testing.T) {
		deep := filepath.Join(e.root, "Co/x/y/z")
		if err := os.MkdirAll(deep, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"Co/x/1.jpg", "Co/x/y/2.jpg", "Co/x/y/z/3.jpg"} {
			if err := os.WriteFile(filepath.Join(e.root, p), jpegBytes(t, 3), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{"Co/x/1.jpg", "Co/x/y/2.jpg", "Co/x/y/z/3.jpg"} {
			eventually(t, p, hasAsset(t, s, p))
		}
		// the new folders are watched too
		writeFile(t, filepath.Join(deep, "4.jpg"), jpegBytes(t, 4))
		eventually(t, "4.jpg", hasAsset(t, s, "Co/x/y/z/4.jpg"))
	})
	t.Run("new company", func(t *testing.T) {
		writeFile(t, filepath.Join(e.root, "NewCo/in/a.jpg"), jpegBytes(t, 1))
		eventually(t, "NewCo/in/a.jpg", hasAsset(t, s, "NewCo/in/a.jpg"))
		if _, err := s.CompanyByName("NewCo"); err != nil {
			t.Error(err)
		}
	})
	t.Run("delete and recreate folder", func(t *testing.T) {
		if err := os.RemoveAll(filepath.Join(e.root, "Co/x")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "Co/x gone", lacksAsset(t, s, "Co/x/1.jpg"))
		writeFile(t, filepath.Join(e.root, "Co/x/again.jpg"), jpegBytes(t, 1))
		eventually(t, "again.jpg", hasAsset(t, s, "Co/x/again.jpg"))
		writeFile(t, filepath.Join(e.root, "Co/x/again2.jpg"), jpegBytes(t, 2))
		eventually(t, "again2.jpg", hasAsset(t, s, "Co/x/again2.jpg"))
	})
	t.Run("delete prefix-sharing company", func(t *testing.T) {
		if err := os.RemoveAll(filepath.Join(e.root, "Co2")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "Co2 gone", lacksAsset(t, s, "Co2/x.jpg"))
		writeFile(t, filepath.Join(e.root, "Co/b/still.jpg"), jpegBytes(t, 1))
		eventually(t, "Co still watched", hasAsset(t, s, "Co/b/still.jpg"))
	})
	t.Run("growing file", func(t *testing.T) {
		data := jpegBytes(t, 9)
		p := filepath.Join(e.root, "Co/b/slow.jpg")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(data); i += 64 {
			if _, err := f.Write(data[i:min(i+64, len(data))]); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		eventually(t, "full size", func() bool {
			as, err := s.AssetsByName(mustCompany(t, s, "Co"), []string{"slow"})
			return err == nil && len(as) == 1 && as[0].Size == int64(len(data))
		})
	})
	t.Run("dotfiles ignored", func(t *testing.T) {
		writeFile(t, filepath.Join(e.root, "Co/b/.ipsd-tmp-zz"), jpegBytes(t, 1))
		writeFile(t, filepath.Join(e.root, "Co/b/marker.jpg"), jpegBytes(t, 1))
		eventually(t, "marker", hasAsset(t, s, "Co/b/marker.jpg"))
		if _, ok := handles(t, s)["Co/b/.ipsd-tmp-zz"]; ok {
			t.Error("temp file cataloged")
		}
	})
	if events.Load() == 0 {
		t.Error("OnWatchEvent never called")
	}
}

func mustCompany(t *testing.T, s *Store, name string) Company {
	c, err := s.CompanyByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeWatcher delivers only what the test sends.
type fakeWatcher struct {
	events chan fsnotify.Event
	errs   chan error
	addErr error
}

func newFake() *fakeWatcher {
	return &fakeWatcher{events: make(chan fsnotify.Event), errs: make(chan error)}
}

func (f *fakeWatcher) Add(string) error              { return f.addErr }
func (f *fakeWatcher) Remove(string) error           { return nil }
func (f *fakeWatcher) Close() error                  { return nil }
func (f *fakeWatcher) Events() <-chan fsnotify.Event { return f.events }
func (f *fakeWatcher) Errors() <-chan error          { return f.errs }

func TestRunOverflowRescans(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a.jpg"), jpegBytes(t, 1))
	var overflows, rescans atomic.Int32
	cfg := e.cfg
	cfg.Hooks.OnOverflow = func() { overflows.Add(1) }
	cfg.Hooks.OnRescan = func(r string) {
		if r == "overflow" {
			rescans.Add(1)
		}
	}
	s := e.openCfg(t, cfg)
	fw := newFake()
	s.newWatcher = func() (watcher, error) { return fw, nil }
	startRunScanned(t, s)

	writeFile(t, filepath.Join(e.root, "Co/b.jpg"), jpegBytes(t, 2)) // no event for it
	fw.errs <- fsnotify.ErrEventOverflow
	eventually(t, "b.jpg after overflow", hasAsset(t, s, "Co/b.jpg"))
	if overflows.Load() != 1 || rescans.Load() != 1 {
		t.Errorf("overflows = %d, overflow rescans = %d; want 1, 1", overflows.Load(), rescans.Load())
	}

	// an event for a path is handled on its own
	writeFile(t, filepath.Join(e.root, "Co/c.jpg"), jpegBytes(t, 3))
	fw.events <- fsnotify.Event{Name: filepath.Join(e.root, "Co/c.jpg"), Op: fsnotify.Create}
	eventually(t, "c.jpg after event", hasAsset(t, s, "Co/c.jpg"))
}

func TestRunPeriodicRescan(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a.jpg"), jpegBytes(t, 1))
	cfg := e.cfg
	cfg.Rescan = 20 * time.Millisecond
	s := e.openCfg(t, cfg)
	s.newWatcher = func() (watcher, error) { return newFake(), nil }
	startRunScanned(t, s)
	writeFile(t, filepath.Join(e.root, "Co/b.jpg"), jpegBytes(t, 2))
	eventually(t, "b.jpg by rescan", hasAsset(t, s, "Co/b.jpg"))
	os.Remove(filepath.Join(e.root, "Co/a.jpg"))
	eventually(t, "a.jpg gone by rescan", lacksAsset(t, s, "Co/a.jpg"))
}

func TestRunPoll(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a.jpg"), jpegBytes(t, 1))
	cfg := e.cfg
	cfg.Poll = 20 * time.Millisecond
	s := e.openCfg(t, cfg)
	s.newWatcher = func() (watcher, error) {
		t.Error("poll mode created a watcher")
		return nil, errors.New("no inotify here")
	}
	startRun(t, s)
	writeFile(t, filepath.Join(e.root, "Co/new/b.jpg"), jpegBytes(t, 2))
	eventually(t, "b.jpg by polling", hasAsset(t, s, "Co/new/b.jpg"))
	os.Remove(filepath.Join(e.root, "Co/a.jpg"))
	eventually(t, "a.jpg gone by polling", lacksAsset(t, s, "Co/a.jpg"))
}

func TestRunFallsBackToPolling(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a.jpg"), jpegBytes(t, 1))
	var fellBack atomic.Int32
	cfg := e.cfg
	cfg.Hooks.OnPollFallback = func() { fellBack.Add(1) }
	s := e.openCfg(t, cfg)
	s.fallbackPoll = 20 * time.Millisecond
	fw := newFake()
	fw.addErr = syscall.ENOSPC
	s.newWatcher = func() (watcher, error) { return fw, nil }
	startRun(t, s)
	eventually(t, "fallback", func() bool { return fellBack.Load() == 1 })
	writeFile(t, filepath.Join(e.root, "Co/b.jpg"), jpegBytes(t, 2))
	eventually(t, "b.jpg by fallback polling", hasAsset(t, s, "Co/b.jpg"))
}
