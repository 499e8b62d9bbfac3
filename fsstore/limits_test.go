package fsstore

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadAssetRefusesHugeFile: a sparse file of 1 GiB that starts like a
// PNG is an asset of the tree, but reading it with a limit is refused at
// once instead of pulling a gigabyte (or, grown by doubling, twice that)
// into memory; a file at the limit is read whole.
func TestReadAssetRefusesHugeFile(t *testing.T) {
	e := newEnv(t)
	small := pngBytes(t)
	writeFile(t, filepath.Join(e.root, "ApiTestCo/small.png"), small)
	huge := filepath.Join(e.root, "ApiTestCo/huge.png")
	writeFile(t, huge, small)
	if err := os.Truncate(huge, 1<<30); err != nil {
		t.Fatal(err)
	}
	s := e.open(t)
	es, err := s.List("ApiTestCo/")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Asset{}
	for _, en := range es {
		if a, err := s.Asset(en.Handle); err == nil {
			got[en.Path] = a
		}
	}
	if len(got) != 2 {
		t.Fatalf("assets in the catalog: %v; want small.png and huge.png", got)
	}

	if _, err := s.ReadAsset(got["ApiTestCo/huge.png"], 64<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadAsset(1 GiB file, 64 MiB limit) err = %v; want ErrTooLarge", err)
	}
	b, err := s.ReadAsset(got["ApiTestCo/small.png"], int64(len(small)))
	if err != nil || !bytes.Equal(b, small) {
		t.Errorf("ReadAsset(file at the limit) = %d bytes, %v; want the %d bytes of the file", len(b), err, len(small))
	}
	if _, err := s.ReadAsset(got["ApiTestCo/small.png"], int64(len(small))-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadAsset(file one byte over the limit) err = %v; want ErrTooLarge", err)
	}
}

// TestCreateFolderMovedMidWrite: the destination folder is renamed while
// the new file is being written (people move folders behind ipsd's back).
// Create fails, and its temp file is removed from wherever the folder went:
// nothing of ipsd's stays in the tree, which a live process would
// otherwise never clean up (only dead writers' temp files are swept).
func TestCreateFolderMovedMidWrite(t *testing.T) {
	e := newEnv(t)
	if err := os.MkdirAll(filepath.Join(e.root, "Co/out"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := e.open(t)
	co, _ := s.CompanyByName("Co")
	out, err := s.Folder(co, "Co/out/")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Reserve(t.Context(), co, "moved")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	moved := filepath.Join(e.root, "Co/elsewhere")
	_, err = s.Create(t.Context(), r, out, ".jpg", func(w *os.File) error {
		if _, err := w.Write(jpegBytes(t, 3)); err != nil {
			return err
		}
		return os.Rename(filepath.Join(e.root, "Co/out"), moved)
	}, Provenance{})
	if err == nil {
		t.Fatal("Create into a folder moved away mid-write succeeded")
	}
	des, rerr := os.ReadDir(moved)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, de := range des {
		t.Errorf("left in the moved folder: %s", de.Name())
	}
}

// TestFailedSyncIsRetried: the catalog fails for a while (its disk full,
// say) just as a new image arrives. Once the catalog works again the
// image is catalogued by a retry of the failed sync, without waiting for
// the periodic rescan (an hour here; it may be disabled).
func TestFailedSyncIsRetried(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a.jpg"), jpegBytes(t, 1))
	cfg := e.cfg
	cfg.Rescan = time.Hour
	s := e.openCfg(t, cfg)
	s.fallbackPoll = 20 * time.Millisecond // the retry delay
	var failing atomic.Bool
	var failed atomic.Int32
	s.txFault = func() error {
		if failing.Load() {
			failed.Add(1)
			return errors.New("database or disk is full (13)")
		}
		return nil
	}
	startRunScanned(t, s)
	failing.Store(true)
	writeFile(t, filepath.Join(e.root, "Co/b.jpg"), jpegBytes(t, 2))
	eventually(t, "a failed sync of b.jpg", func() bool { return failed.Load() > 0 })
	failing.Store(false)
	eventually(t, "b.jpg catalogued by a retry", hasAsset(t, s, "Co/b.jpg"))
}

// TestClashLogBounded: many folders each holding a file of the same name
// (front.jpg in every product folder) are one clash that grows by a file
// at a time. Each report names a bounded number of the paths, so the log
// grows with the files, not with their square (2000 such files logged
// 60 MB at the first scan).
func TestClashLogBounded(t *testing.T) {
	e := newEnv(t)
	const n = 200
	img := jpegBytes(t, 5)
	for i := range n {
		writeFile(t, filepath.Join(e.root, "Co", fmt.Sprintf("p%03d", i), "front.jpg"), img)
	}
	var logged bytes.Buffer
	s, err := Open(t.Context(), e.cfg, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Clashes(); got < 1 {
		t.Fatalf("Clashes() = %d; want the clash of front", got)
	}
	lines := 0
	for line := range strings.Lines(logged.String()) {
		if !strings.Contains(line, "asset name clash") {
			continue
		}
		lines++
		if k := strings.Count(line, "/front.jpg"); k > maxClashPaths {
			t.Fatalf("a clash report names %d paths; want at most %d: %.300s...", k, maxClashPaths, line)
		}
	}
	if lines == 0 {
		t.Error("the clash is not logged")
	}
	if !strings.Contains(logged.String(), fmt.Sprintf("files=%d", n)) {
		t.Errorf("no clash report gives the number of files, %d", n)
	}
}
