package watch

import (
	"os"
	"path/filepath"
	"testing"
)

// The same request file dropped again, with the same name, size and mtime
// (cp -p, rsync -t), is a new request: its Key differs, so a handler does
// not mistake it for a re-run of the first.
func TestDroppedAgainGetsNewKey(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{res: func(req Request) Result {
		return Result{OK: true, Body: resultBody(req.Name)}
	}}
	start(t, fastConfig(dir), rec.handle)

	body := requestBody("red")
	dropRenamed(t, dir, "req1.xml", body)
	waitFor(t, "first drop filed", func() bool {
		return fileExists(t, filepath.Join(dir, DoneDir, "req1.xml")) && workEmpty(t, dir)
	})
	fi, err := os.Stat(filepath.Join(dir, DoneDir, "req1.xml"))
	if err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(dir, ".req1.xml.tmp")
	writeFile(t, again, body)
	if err := os.Chtimes(again, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(again, filepath.Join(dir, "req1.xml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second drop filed", func() bool {
		return fileExists(t, filepath.Join(dir, DoneDir, "req1.2.xml")) && workEmpty(t, dir)
	})
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("handler called %d times; want 2", len(reqs))
	}
	if reqs[0].Key == reqs[1].Key {
		t.Errorf("both drops have Key %q; want different keys", reqs[0].Key)
	}
}
