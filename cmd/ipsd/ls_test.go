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
