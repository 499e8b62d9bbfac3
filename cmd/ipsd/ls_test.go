package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLsReportsNameClash(t *testing.T) {
	e := startEnv(t, "")
	// a file put there behind ipsd's back reuses an Asset ID of the company
	copyFile(t, filepath.Join(e.root, "ApiTestCo/photos/BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/out/BlueSquare.jpg"))
	waitFor(t, 10*time.Second, "the second BlueSquare in ipsd ls", func() bool {
		_, ok := e.ls("ApiTestCo/")["ApiTestCo/out/BlueSquare.jpg"]
		return ok
	})
	cmd := exec.Command(binPath, "ls", "-config", e.config, "ApiTestCo/")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"ApiTestCo/photos/BlueSquare.jpg", "ApiTestCo/out/BlueSquare.jpg"} {
		if !strings.Contains(string(out), "\t"+p+"\n") {
			t.Errorf("ls does not list %s", p)
		}
		if !strings.Contains(stderr.String(), p+": its asset name is used by another file") {
			t.Errorf("ls does not report the clash of %s; stderr: %s", p, stderr.String())
		}
	}
	waitFor(t, 10*time.Second, "clash metric", func() bool { return e.scrape("ipsd_catalog_name_clashes") >= 1 })
}

func TestLsExplainsMistakes(t *testing.T) {
	e := startEnv(t, "")
	company := e.ls("")["ApiTestCo"]
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(binPath, append([]string{"ls"}, args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	}
	for _, c := range []struct {
		folder, want string
	}{
		{company, company + " is a company handle; list that company with: ipsd ls ApiTestCo/"},
		{"ApiTestCo/nope/", "no folder ApiTestCo/nope/ in the catalog"},
		{"/photos/", `"/photos/" is not a folder handle`},
	} {
		out, errs, code := run("-config", e.config, c.folder)
		if code != 1 || out != "" || !strings.Contains(errs, c.want) {
			t.Errorf("ipsd ls %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", c.folder, code, out, errs, c.want)
		}
	}
	// flags may follow the folder
	out, errs, code := run("ApiTestCo/photos/", "-config", e.config)
	if code != 0 || !strings.Contains(out, "\tApiTestCo/photos/BlueSquare.jpg\n") {
		t.Errorf("ipsd ls FOLDER -config FILE: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, errs, code := run("-config", e.config, "ApiTestCo/", "OtherCo/"); code != 2 || !strings.Contains(errs, `one FOLDER at most, got "ApiTestCo/" and "OtherCo/"`) {
		t.Errorf("ipsd ls with two folders: exit %d, stderr %q", code, errs)
	}
}

// TestLsOneLinePerEntry: a file name with a newline, a tab or another
// control character (any byte but '/' and NUL may be in one) still gives
// one line of handle, tab, path, with the control characters shown as '?',
// so that scripts reading ipsd ls line by line (the demo's awk) stay right.
func TestLsOneLinePerEntry(t *testing.T) {
	e := startEnv(t, "")
	for _, n := range []string{"nl\nname.jpg", "tab\tname.jpg", "esc\x1b[31mname.jpg"} {
		copyFile(t, filepath.Join(e.root, "ApiTestCo/photos/BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/odd", n))
	}
	waitFor(t, 10*time.Second, "the odd names in the catalog", func() bool {
		n := 0
		for p := range e.ls("ApiTestCo/") {
			if strings.HasPrefix(p, "ApiTestCo/odd/") {
				n++
			}
		}
		return n >= 3
	})
	out, err := exec.Command(binPath, "ls", "-config", e.config, "ApiTestCo/odd/").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	want := map[string]bool{"ApiTestCo/odd/nl?name.jpg": true, "ApiTestCo/odd/tab?name.jpg": true, "ApiTestCo/odd/esc?[31mname.jpg": true}
	for _, l := range lines {
		h, p, ok := strings.Cut(l, "\t")
		if !ok || h == "" || strings.Contains(p, "\t") {
			t.Errorf("line %q is not handle, tab, path", l)
			continue
		}
		delete(want, p)
	}
	for p := range want {
		t.Errorf("ls does not list %q; output:\n%s", p, out)
	}
}
