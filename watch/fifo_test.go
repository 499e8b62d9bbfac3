package watch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestRequestSwappedForFIFO: a client replaces its request file by a named
// pipe of the same name between the Watcher's last look and its claim (a
// rename storm can hit that window). The claimed pipe must not block the
// worker, and with it the folder and shutdown, in open(2) forever: it is
// filed under failed/ with a fault, like any request that cannot be read.
func TestRequestSwappedForFIFO(t *testing.T) {
	dir := t.TempDir()
	orig := renameFile
	renameFile = func(from, to string) error {
		if filepath.Dir(from) == dir && filepath.Dir(to) == filepath.Join(dir, WorkDir) {
			if err := os.Remove(from); err != nil {
				return err
			}
			if err := syscall.Mkfifo(from, 0o644); err != nil {
				return err
			}
		}
		return orig(from, to)
	}
	t.Cleanup(func() { renameFile = orig })
	rec := &recorder{}
	start(t, fastConfig(dir), rec.handle)
	// should the worker be stuck opening the pipe, give it a writer so that
	// the Watcher can stop (cleanups run in reverse order: this one first)
	t.Cleanup(func() {
		des, _ := os.ReadDir(filepath.Join(dir, WorkDir))
		for _, de := range des {
			if de.Type()&os.ModeNamedPipe != 0 {
				if f, err := os.OpenFile(filepath.Join(dir, WorkDir, de.Name()), os.O_RDWR, 0); err == nil {
					f.Close()
				}
			}
		}
	})
	dropRenamed(t, dir, "pipe.xml", requestBody("p"))
	waitFor(t, "pipe.xml filed under failed/", func() bool {
		return fileExists(t, filepath.Join(dir, FailedDir, "pipe.result.xml")) && workEmpty(t, dir)
	})
	if len(rec.requests()) != 0 {
		t.Error("handler called for a named pipe")
	}
	if res := readFile(t, filepath.Join(dir, FailedDir, "pipe.result.xml")); !strings.Contains(res, "could not be read") {
		t.Errorf("result = %q; want a fault saying the request could not be read", res)
	}
}

// TestOutcomeSymlinkNotFollowed: a client of the folder (who may create
// and rename entries in it) replaces failed/ by a symlink to another
// watch folder, whose requests run as a more powerful user. The refused
// request must not be filed through the link (where the other folder
// would run it again, as its user): it stays claimed in .work/, and is
// filed once failed/ is a directory again.
func TestOutcomeSymlinkNotFollowed(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if err := os.Symlink(other, filepath.Join(dir, FailedDir)); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	cfg := fastConfig(dir)
	cfg.Rescan = 50 * time.Millisecond
	start(t, cfg, func(context.Context, Request) Result {
		calls.Add(1)
		return Result{Body: resultBody("refused")}
	})
	dropRenamed(t, dir, "esc.xml", requestBody("e"))
	waitFor(t, "the request handled", func() bool { return calls.Load() == 1 })
	// several rescans retry the filing; none may go through the link
	for range 5 {
		time.Sleep(cfg.Rescan)
		if des, _ := os.ReadDir(other); len(des) > 0 {
			t.Fatalf("filed through the symlink: %v", des)
		}
	}
	if workEmpty(t, dir) {
		t.Fatal("the request left .work/ but is not filed")
	}
	if err := os.Remove(filepath.Join(dir, FailedDir)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "esc.xml filed under a real failed/", func() bool {
		return fileExists(t, filepath.Join(dir, FailedDir, "esc.xml")) && workEmpty(t, dir)
	})
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times; want once", n)
	}
}

// TestWorkSymlinkNotFollowed: .work/ replaced by a symlink to somewhere
// else: requests are not claimed into the link's target.
func TestWorkSymlinkNotFollowed(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	cfg := fastConfig(dir)
	cfg.Rescan = 50 * time.Millisecond
	rec := &recorder{}
	start(t, cfg, rec.handle)
	if err := os.Remove(filepath.Join(dir, WorkDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(dir, WorkDir)); err != nil {
		t.Fatal(err)
	}
	dropRenamed(t, dir, "w.xml", requestBody("w"))
	for range 5 {
		time.Sleep(cfg.Rescan)
		if des, _ := os.ReadDir(other); len(des) > 0 {
			t.Fatalf("claimed through the symlink: %v", des)
		}
	}
	if !fileExists(t, filepath.Join(dir, "w.xml")) || len(rec.requests()) != 0 {
		t.Error("the request did not stay where it was dropped")
	}
}
