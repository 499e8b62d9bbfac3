package watch

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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
