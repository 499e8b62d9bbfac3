package fsstore

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func jpegBytes(t testing.TB, seed uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = seed + uint8(i)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngBytes(t testing.TB) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.NRGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

type env struct {
	root, state string
	cfg         Config
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d := t.TempDir()
	e := &env{root: filepath.Join(d, "root"), state: filepath.Join(d, "state")}
	if err := os.MkdirAll(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	e.cfg = Config{Root: e.root, StateDir: e.state}
	return e
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func (e *env) open(t *testing.T) *Store {
	t.Helper()
	return e.openCfg(t, e.cfg)
}

func (e *env) openCfg(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func xattrsWork(t *testing.T, dir string) bool {
	p := filepath.Join(dir, ".xattr-probe")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	return unix.Setxattr(p, "user.probe", []byte("x"), 0) == nil
}

// handles maps path -> handle for every asset of s.
func handles(t *testing.T, s *Store) map[string]string {
	t.Helper()
	m := map[string]string{}
	cs, err := s.Companies()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		es, err := s.List(c.Name + "/")
		if errors.Is(err, ErrNotFound) {
			continue // removed since Companies; a live sync is running
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Handle[0] == 'a' {
				m[e.Path] = e.Handle
			}
		}
	}
	return m
}

func TestReconcileClassifiesTree(t *testing.T) {
	e := newEnv(t)
	outside := filepath.Join(filepath.Dir(e.root), "outside")
	writeFile(t, filepath.Join(outside, "secret.jpg"), jpegBytes(t, 1))
	writeFile(t, filepath.Join(e.root, "ApiTestCo/shoes/red.jpg"), jpegBytes(t, 2))
	writeFile(t, filepath.Join(e.root, "ApiTestCo/shoes/blue.PNG"), pngBytes(t))
	writeFile(t, filepath.Join(e.root, "ApiTestCo/noext"), jpegBytes(t, 3))
	writeFile(t, filepath.Join(e.root, "ApiTestCo/notes.jpg"), []byte("just some text, not an image"))
	writeFile(t, filepath.Join(e.root, "ApiTestCo/.hidden.jpg"), jpegBytes(t, 4))
	writeFile(t, filepath.Join(e.root, "ApiTestCo/.ipsd-tmp-x"), jpegBytes(t, 4))
	writeFile(t, filepath.Join(e.root, "ApiTestCo/up.jpg.part"), jpegBytes(t, 4))
	writeFile(t, filepath.Join(e.root, "ApiTestCo/.cache/in.jpg"), jpegBytes(t, 4))
	writeFile(t, filepath.Join(e.root, "ApiTestCo/empty.jpg"), nil)
	writeFile(t, filepath.Join(e.root, "toplevel.jpg"), jpegBytes(t, 5))
	writeFile(t, filepath.Join(e.root, "Other/x.gif"), []byte("GIF89a\x01\x00\x01\x00"))
	if err := os.MkdirAll(filepath.Join(e.root, "ApiTestCo/empty/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	// symlinks pointing outside the root: neither assets nor folders
	if err := os.Symlink(filepath.Join(outside, "secret.jpg"), filepath.Join(e.root, "ApiTestCo/evil.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.root, "ApiTestCo/evildir")); err != nil {
		t.Fatal(err)
	}

	s := e.open(t)
	got := handles(t, s)
	var paths []string
	for p := range got {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	want := []string{"ApiTestCo/noext", "ApiTestCo/shoes/blue.PNG", "ApiTestCo/shoes/red.jpg", "Other/x.gif"}
	if !slices.Equal(paths, want) {
		t.Errorf("assets = %v; want %v", paths, want)
	}

	es, err := s.List("ApiTestCo/")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range es {
		lines = append(lines, e.Path)
	}
	wantLines := []string{"ApiTestCo/empty", "ApiTestCo/empty/dir", "ApiTestCo/noext", "ApiTestCo/shoes",
		"ApiTestCo/shoes/blue.PNG", "ApiTestCo/shoes/red.jpg"}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("List(ApiTestCo/) paths = %v; want %v", lines, wantLines)
	}
	if es[0].Handle != "ApiTestCo/empty/" {
		t.Errorf("folder entry handle = %q; want ApiTestCo/empty/", es[0].Handle)
	}

	top, err := s.List("")
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 || top[0].Path != "ApiTestCo" || top[1].Path != "Other" || top[0].Handle[:2] != "c|" {
		t.Errorf("List(\"\") = %v; want the two companies", top)
	}
	if c, f, a := s.Stats(); c != 2 || f != 5 || a != 4 {
		t.Errorf("Stats() = %d, %d, %d; want 2, 5, 4", c, f, a)
	}

	// lookups
	co, err := s.CompanyByName("ApiTestCo")
	if err != nil {
		t.Fatal(err)
	}
	if c2, err := s.Company(co.Handle); err != nil || c2 != co {
		t.Errorf("Company(%q) = %v, %v; want %v", co.Handle, c2, err, co)
	}
	if _, err := s.Company("c|999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Company(c|999) err = %v; want ErrNotFound", err)
	}
	if _, err := s.CompanyByName("apitestco"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CompanyByName is not case-sensitive: err = %v", err)
	}
	a, err := s.Asset(got["ApiTestCo/shoes/red.jpg"])
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "red" || a.Format != "jpeg" || a.Path != "ApiTestCo/shoes/red.jpg" || a.Company != co ||
		a.Size != int64(len(jpegBytes(t, 2))) {
		t.Errorf("Asset = %+v", a)
	}
	short := a.Handle[:indexN(a.Handle, '|', 2)] // "a|<assetID>"
	if a2, err := s.Asset(short); err != nil || a2 != a {
		t.Errorf("Asset(%q) = %v, %v; want %v", short, a2, err, a)
	}
	if _, err := s.Asset("a|999|1|999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Asset(unknown) err = %v; want ErrNotFound", err)
	}
	if _, err := s.Asset("a|x"); !errors.Is(err, ErrInvalidHandle) {
		t.Errorf("Asset(a|x) err = %v; want ErrInvalidHandle", err)
	}
	b, err := s.ReadAsset(a, 0)
	if err != nil || !bytes.Equal(b, jpegBytes(t, 2)) {
		t.Errorf("ReadAsset = %d bytes, %v; want the file", len(b), err)
	}

	// folders
	f, err := s.Folder(co, "/shoes/")
	if err != nil || f.Path != "ApiTestCo/shoes" {
		t.Errorf("Folder(/shoes/) = %v, %v", f, err)
	}
	if _, err := s.Folder(co, "Other/"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Folder of another company err = %v; want ErrNotFound", err)
	}
	if _, err := s.Folder(co, "ApiTestCo/nope/"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Folder(missing) err = %v; want ErrNotFound", err)
	}
	if _, err := s.Folder(co, "ApiTestCo/evildir/"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Folder(symlink) err = %v; want ErrNotFound", err)
	}
	if _, err := s.Folder(co, "ApiTestCo/../Other/"); !errors.Is(err, ErrInvalidHandle) {
		t.Errorf("Folder(..) err = %v; want ErrInvalidHandle", err)
	}
	as, err := s.Assets(Folder{Company: co, Path: "ApiTestCo"}, false)
	if err != nil || len(as) != 1 || as[0].Name != "noext" {
		t.Errorf("Assets(root, false) = %v, %v", as, err)
	}
	as, err = s.Assets(Folder{Company: co, Path: "ApiTestCo"}, true)
	if err != nil || len(as) != 3 {
		t.Errorf("Assets(root, true) = %v, %v", as, err)
	}
	as, err = s.AssetsByName(co, []string{"red", "blue", "nope"})
	if err != nil || len(as) != 2 || as[0].Name != "blue" || as[1].Name != "red" {
		t.Errorf("AssetsByName = %v, %v", as, err)
	}
	fs, err := s.Folders(co)
	if err != nil || len(fs) != 4 || fs[0].Path != "ApiTestCo" {
		t.Errorf("Folders = %v, %v", fs, err)
	}

	// symlink pointing outside is not readable either
	if _, err := s.ReadAsset(Asset{Handle: "a|1", Path: "ApiTestCo/evil.jpg"}, 0); err == nil {
		t.Error("ReadAsset through a symlink out of root succeeded")
	}
	if _, err := s.ReadAsset(Asset{Handle: "a|1", Path: "ApiTestCo/evildir/secret.jpg"}, 0); err == nil {
		t.Error("ReadAsset through a directory symlink out of root succeeded")
	}
	if _, err := s.ReadAsset(Asset{Handle: "a|1", Path: "../outside/secret.jpg"}, 0); err == nil {
		t.Error("ReadAsset of ../ succeeded")
	}
}

// indexN returns the index of the n-th (1-based) sep in s.
func indexN(s string, sep byte, n int) int {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			n--
			if n == 0 {
				return i
			}
		}
	}
	return -1
}

func TestHandlesStableAcrossReopenAndRebuild(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a/one.jpg"), jpegBytes(t, 1))
	writeFile(t, filepath.Join(e.root, "Co/a/two.png"), pngBytes(t))
	writeFile(t, filepath.Join(e.root, "Co2/three.jpg"), jpegBytes(t, 3))

	s := e.open(t)
	first := handles(t, s)
	co1, _ := s.CompanyByName("Co2")
	s.Close()

	s = e.open(t)
	if got := handles(t, s); !mapsEqual(got, first) {
		t.Errorf("handles after reopen = %v; want %v", got, first)
	}
	s.Close()

	if !xattrsWork(t, e.root) {
		t.Skip("no user xattrs on this file system")
	}
	// lose the catalog: handles come back from the xattrs
	for _, suf := range []string{"", "-wal", "-shm"} {
		os.Remove(filepath.Join(e.state, "catalog.db"+suf))
	}
	s = e.open(t)
	if got := handles(t, s); !mapsEqual(got, first) {
		t.Errorf("handles after rebuild = %v; want %v", got, first)
	}
	if co2, err := s.CompanyByName("Co2"); err != nil || co2 != co1 {
		t.Errorf("company after rebuild = %v, %v; want %v", co2, err, co1)
	}
	// new numbers do not collide with adopted ones
	writeFile(t, filepath.Join(e.root, "Co/new.jpg"), jpegBytes(t, 9))
	if err := s.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := handles(t, s)
	for p, old := range first {
		if h["Co/new.jpg"] == old {
			t.Errorf("new asset got handle %s of %s", old, p)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestMoveKeepsHandle(t *testing.T) {
	for _, withXattr := range []bool{true, false} {
		name := "inode"
		if withXattr {
			name = "xattr"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if withXattr && !xattrsWork(t, e.root) {
				t.Skip("no user xattrs")
			}
			src := filepath.Join(e.root, "Co/a/red.jpg")
			writeFile(t, src, jpegBytes(t, 1))
			writeFile(t, filepath.Join(e.root, "Co/b/keep.jpg"), jpegBytes(t, 2))
			s := e.open(t)
			before := handles(t, s)["Co/a/red.jpg"]
			if !withXattr {
				if err := unix.Removexattr(src, xattrHandle); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Rename(src, filepath.Join(e.root, "Co/b/red.jpg")); err != nil {
				t.Fatal(err)
			}
			if err := s.Reconcile(t.Context()); err != nil {
				t.Fatal(err)
			}
			h := handles(t, s)
			if h["Co/b/red.jpg"] != before {
				t.Errorf("handle after move = %q; want %q (all: %v)", h["Co/b/red.jpg"], before, h)
			}
			if _, ok := h["Co/a/red.jpg"]; ok {
				t.Error("old path still listed")
			}
		})
	}
}

func TestCopyWithXattrGetsNewHandle(t *testing.T) {
	e := newEnv(t)
	if !xattrsWork(t, e.root) {
		t.Skip("no user xattrs")
	}
	writeFile(t, filepath.Join(e.root, "Co/red.jpg"), jpegBytes(t, 1))
	s := e.open(t)
	// cp --preserve=xattr
	out, err := exec.Command("cp", "--preserve=xattr", filepath.Join(e.root, "Co/red.jpg"),
		filepath.Join(e.root, "Co/red2.jpg")).CombinedOutput()
	if err != nil {
		t.Skipf("cp: %v %s", err, out)
	}
	if err := s.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := handles(t, s)
	if h["Co/red.jpg"] == "" || h["Co/red2.jpg"] == "" || h["Co/red.jpg"] == h["Co/red2.jpg"] {
		t.Errorf("handles = %v; want two different", h)
	}
}

func TestDeletedAssetDisappears(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a/red.jpg"), jpegBytes(t, 1))
	s := e.open(t)
	h := handles(t, s)["Co/a/red.jpg"]
	os.RemoveAll(filepath.Join(e.root, "Co/a"))
	if err := s.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Asset(h); !errors.Is(err, ErrNotFound) {
		t.Errorf("Asset(deleted) err = %v; want ErrNotFound", err)
	}
	if _, err := s.List("Co/a/"); !errors.Is(err, ErrNotFound) {
		t.Errorf("List(deleted folder) err = %v; want ErrNotFound", err)
	}
	os.RemoveAll(filepath.Join(e.root, "Co"))
	if err := s.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.Companies(); len(cs) != 0 {
		t.Errorf("Companies after delete = %v", cs)
	}
}

func TestNameClash(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a/red.jpg"), jpegBytes(t, 1))
	writeFile(t, filepath.Join(e.root, "Co/b/red.png"), pngBytes(t))
	writeFile(t, filepath.Join(e.root, "Co/b/Red.png"), pngBytes(t))    // case differs: no clash
	writeFile(t, filepath.Join(e.root, "Co2/red.jpg"), jpegBytes(t, 1)) // other company: no clash
	var mu sync.Mutex
	var reported []string
	cfg := e.cfg
	cfg.Hooks.OnClash = func(company, name string) {
		mu.Lock()
		reported = append(reported, company+"/"+name)
		mu.Unlock()
	}
	s := e.openCfg(t, cfg)
	if n := s.Clashes(); n != 1 {
		t.Errorf("Clashes() = %d; want 1", n)
	}
	mu.Lock()
	if !slices.Contains(reported, "Co/red") {
		t.Errorf("OnClash reports = %v; want Co/red", reported)
	}
	mu.Unlock()
	co, _ := s.CompanyByName("Co")
	as, err := s.AssetsByName(co, []string{"red"})
	if err != nil || len(as) != 2 {
		t.Errorf("AssetsByName(red) = %v, %v; want both", as, err)
	}
	if _, err := s.Reserve(t.Context(), co, "red"); !errors.Is(err, ErrNameInUse) {
		t.Errorf("Reserve(clashing name) err = %v; want ErrNameInUse", err)
	}
	es, _ := s.List("Co/")
	for _, e := range es {
		want := e.Path == "Co/a/red.jpg" || e.Path == "Co/b/red.png"
		if e.Clash != want {
			t.Errorf("List entry %s Clash = %v; want %v", e.Path, e.Clash, want)
		}
	}
	os.Remove(filepath.Join(e.root, "Co/b/red.png"))
	if err := s.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := s.Clashes(); n != 0 {
		t.Errorf("Clashes() after removing one = %d; want 0", n)
	}
}

func TestCreateCopy(t *testing.T) {
	e := newEnv(t)
	src := jpegBytes(t, 7)
	writeFile(t, filepath.Join(e.root, "Co/in/red.jpg"), src)
	if err := os.MkdirAll(filepath.Join(e.root, "Co/out"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := e.cfg
	cfg.FileMode = 0o640
	s := e.openCfg(t, cfg)
	ctx := t.Context()
	co, _ := s.CompanyByName("Co")
	srcAsset, err := s.Asset(handles(t, s)["Co/in/red.jpg"])
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Folder(co, "Co/out/")
	if err != nil {
		t.Fatal(err)
	}

	old := syscall.Umask(0o077) // the configured mode wins over the umask
	r, err := s.Reserve(ctx, co, "copy")
	if err != nil {
		syscall.Umask(old)
		t.Fatal(err)
	}
	if _, err := s.Reserve(ctx, co, "copy"); !errors.Is(err, ErrNameInUse) {
		t.Errorf("second Reserve err = %v; want ErrNameInUse", err)
	}
	p := Provenance{Source: srcAsset.Handle, Caller: "u@example.com", RequestKey: "req-1"}
	a, err := s.Create(ctx, r, out, ".jpg", s.CopyFrom(srcAsset), p)
	syscall.Umask(old)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if a.Path != "Co/out/copy.jpg" || a.Name != "copy" || a.Format != "jpeg" || a.Size != int64(len(src)) {
		t.Errorf("Create = %+v", a)
	}
	got, err := os.ReadFile(filepath.Join(e.root, "Co/out/copy.jpg"))
	if err != nil || !bytes.Equal(got, src) {
		t.Errorf("copy differs from source (%v)", err)
	}
	fi, _ := os.Stat(filepath.Join(e.root, "Co/out/copy.jpg"))
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v; want 0640", fi.Mode().Perm())
	}
	if xattrsWork(t, e.root) {
		b := make([]byte, 64)
		n, err := unix.Getxattr(filepath.Join(e.root, "Co/out/copy.jpg"), xattrHandle, b)
		if err != nil || string(b[:n]) != a.Handle {
			t.Errorf("xattr = %q, %v; want %q", b[:max(n, 0)], err, a.Handle)
		}
	}
	if a2, err := s.Asset(a.Handle); err != nil || a2 != a {
		t.Errorf("Asset(new) = %v, %v; want %v", a2, err, a)
	}
	if a2, ok, err := s.AssetByRequestKey("req-1"); err != nil || !ok || a2 != a {
		t.Errorf("AssetByRequestKey = %v, %v, %v; want %v", a2, ok, err, a)
	}
	if _, ok, _ := s.AssetByRequestKey("req-2"); ok {
		t.Error("AssetByRequestKey(unknown) found something")
	}
	if err := r.Release(); err != nil {
		t.Errorf("Release after Create = %v; want nil", err)
	}
	if _, err := s.Reserve(ctx, co, "copy"); !errors.Is(err, ErrNameInUse) {
		t.Errorf("Reserve(existing asset) err = %v; want ErrNameInUse", err)
	}
	if _, err := s.Create(ctx, r, out, ".jpg", s.CopyFrom(srcAsset), p); err == nil {
		t.Error("Create with a used reservation succeeded")
	}
	assertNoTemps(t, e.root)

	// a released name can be reserved again
	r2, err := s.Reserve(ctx, co, "other")
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Release(); err != nil {
		t.Fatal(err)
	}
	if r3, err := s.Reserve(ctx, co, "other"); err != nil {
		t.Errorf("Reserve after Release: %v", err)
	} else {
		r3.Release()
	}
}

func TestCreateNeverReplaces(t *testing.T) {
	e := newEnv(t)
	// not an image, so not an asset: the name is free in the catalog but
	// the file exists
	existing := []byte("precious, not an image")
	writeFile(t, filepath.Join(e.root, "Co/out/x.jpg"), existing)
	s := e.open(t)
	co, _ := s.CompanyByName("Co")
	out, _ := s.Folder(co, "/out/")
	r, err := s.Reserve(t.Context(), co, "x")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Create(t.Context(), r, out, ".jpg", func(w *os.File) error {
		_, err := w.Write(jpegBytes(t, 1))
		return err
	}, Provenance{})
	if !errors.Is(err, ErrNameInUse) {
		t.Errorf("Create over existing file err = %v; want ErrNameInUse", err)
	}
	if got, _ := os.ReadFile(filepath.Join(e.root, "Co/out/x.jpg")); !bytes.Equal(got, existing) {
		t.Error("existing file was changed")
	}
	assertNoTemps(t, e.root)

	// a failing fill leaves nothing behind
	r.Release()
	r, err = s.Reserve(t.Context(), co, "y")
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err = s.Create(t.Context(), r, out, ".jpg", func(w *os.File) error {
		w.Write([]byte("partial"))
		return boom
	}, Provenance{})
	if !errors.Is(err, boom) {
		t.Errorf("Create err = %v; want boom", err)
	}
	if _, err := os.Lstat(filepath.Join(e.root, "Co/out/y.jpg")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed Create left y.jpg (%v)", err)
	}
	assertNoTemps(t, e.root)
	if err := r.Release(); err != nil {
		t.Fatal(err)
	}

	// bad extensions and folders of other companies are refused
	r, _ = s.Reserve(t.Context(), co, "z")
	defer r.Release()
	for _, ext := range []string{"", "jpg", ".j/g", ".", ".tmp", ".jp g"} {
		if _, err := s.Create(t.Context(), r, out, ext, s.CopyFrom(Asset{}), Provenance{}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Create ext %q err = %v; want ErrInvalidName", ext, err)
		}
	}
	writeFile(t, filepath.Join(e.root, "Other/x.jpg"), jpegBytes(t, 1))
	s.Reconcile(t.Context())
	oc, _ := s.CompanyByName("Other")
	if _, err := s.Create(t.Context(), r, Folder{Company: oc, Path: "Other"}, ".jpg", s.CopyFrom(Asset{}), Provenance{}); err == nil {
		t.Error("Create into another company's folder succeeded")
	}
}

func assertNoTemps(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && len(d.Name()) > len(tempPrefix) && d.Name()[:len(tempPrefix)] == tempPrefix {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	})
}

func TestReserveTwoStoresOneWinner(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a.jpg"), jpegBytes(t, 1))
	s1 := e.open(t)
	s2 := e.open(t)
	co, err := s1.CompanyByName("Co")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		name := "n" + string(rune('a'+round))
		var wins, inUse atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			s := s1
			if i%2 == 1 {
				s = s2
			}
			wg.Go(func() {
				_, err := s.Reserve(context.Background(), co, name)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, ErrNameInUse):
					inUse.Add(1)
				default:
					t.Errorf("Reserve: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || inUse.Load() != 7 {
			t.Errorf("round %d: %d winners, %d refused; want 1 and 7", round, wins.Load(), inUse.Load())
		}
	}
}

func TestReadOnlyStore(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a/red.jpg"), jpegBytes(t, 1))
	w := e.open(t)
	want, _ := w.List("Co/")

	ro := e.cfg
	ro.ReadOnly = true
	r := e.openCfg(t, ro)
	got, err := r.List("Co/")
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("read-only List = %v, %v; want %v", got, err, want)
	}
	co, _ := r.CompanyByName("Co")
	if _, err := r.Reserve(t.Context(), co, "x"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Reserve err = %v; want ErrReadOnly", err)
	}
	if err := r.Reconcile(t.Context()); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Reconcile err = %v; want ErrReadOnly", err)
	}
	// the reader sees the writer's later changes
	writeFile(t, filepath.Join(e.root, "Co/a/blue.jpg"), jpegBytes(t, 2))
	if err := w.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.List("Co/"); len(got) != len(want)+1 {
		t.Errorf("read-only List after change = %v", got)
	}
	r.Close()
	w.Close()
	// and works with no writer running
	r = e.openCfg(t, ro)
	if got, err := r.List("Co/"); err != nil || len(got) != len(want)+1 {
		t.Errorf("read-only List without writer = %v, %v", got, err)
	}
	// a missing catalog is an error, not an empty one
	ro.StateDir = filepath.Join(t.TempDir(), "none")
	if _, err := Open(t.Context(), ro, testLogger(t)); err == nil {
		t.Error("read-only Open of missing catalog succeeded")
	}
}

func TestCleanTemps(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	// a pid that is certainly dead: a child we waited for
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	dead := cmd.Process.Pid
	tag := hostTag(s.host)
	deadTemp := filepath.Join(e.root, "Co/a", tempPrefix+tag+"-"+itoa(dead)+"-abc")
	liveTemp := filepath.Join(e.root, "Co/a", tempPrefix+tag+"-"+itoa(os.Getpid())+"-abc")
	otherOld := filepath.Join(e.root, "Co", tempPrefix+"ffffffff-1-abc")
	otherNew := filepath.Join(e.root, "Co", tempPrefix+"fffffffe-1-abc")
	notOurs := filepath.Join(e.root, "Co", ".other-tmp")
	for _, p := range []string{deadTemp, liveTemp, otherOld, otherNew, notOurs} {
		writeFile(t, p, []byte("x"))
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(otherOld, old, old)
	n, err := s.CleanTemps(t.Context())
	if err != nil || n != 2 {
		t.Errorf("CleanTemps = %d, %v; want 2", n, err)
	}
	for p, want := range map[string]bool{deadTemp: false, liveTemp: true, otherOld: false, otherNew: true, notOurs: true} {
		_, err := os.Lstat(p)
		if (err == nil) != want {
			t.Errorf("%s exists = %v; want %v", filepath.Base(p), err == nil, want)
		}
	}
}

func itoa(n int) string { return fmtInt(int64(n)) }

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }
