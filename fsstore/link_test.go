package fsstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCreateWithoutHardLinks plays a file system without hard links (vfat,
// exfat, some SMB servers: link(2) fails with EPERM): the copy is renamed
// into place without replacing, still never over an existing file, and no
// temp file is left.
func TestCreateWithoutHardLinks(t *testing.T) {
	saved := linkFile
	linkFile = func(*os.Root, string, string) error {
		return &os.LinkError{Op: "link", Err: unix.EPERM}
	}
	t.Cleanup(func() { linkFile = saved })

	e := newEnv(t)
	existing := []byte("precious, not an image")
	writeFile(t, filepath.Join(e.root, "Co/out/x.jpg"), existing)
	s := e.open(t)
	co, _ := s.CompanyByName("Co")
	out, _ := s.Folder(co, "/out/")
	img := jpegBytes(t, 1)
	fill := func(w *os.File) error { _, err := w.Write(img); return err }

	r, err := s.Reserve(t.Context(), co, "y")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Create(t.Context(), r, out, ".jpg", fill, Provenance{})
	if err != nil {
		t.Fatalf("Create without hard links: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(e.root, a.Path)); !bytes.Equal(got, img) {
		t.Errorf("%s does not hold the copy", a.Path)
	}

	r, err = s.Reserve(t.Context(), co, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if _, err := s.Create(t.Context(), r, out, ".jpg", fill, Provenance{}); !errors.Is(err, ErrNameInUse) {
		t.Errorf("Create over an existing file without hard links err = %v; want ErrNameInUse", err)
	}
	if got, _ := os.ReadFile(filepath.Join(e.root, "Co/out/x.jpg")); !bytes.Equal(got, existing) {
		t.Error("existing file was changed")
	}
	assertNoTemps(t, e.root)
}
