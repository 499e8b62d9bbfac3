package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The CSV rows of a batch are named by their line in the file, counting
// comments and blank lines, so that a failure points at the right line.
func TestLoadBatchCSVLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.csv")
	csv := "# nightly jobs\ncompany,asset,folder,name,modifier\n\nc|1, a|2|1|2 ,ApiTestCo/bags/, small ,wid=60\n# bad row next\nc|1,a|2|1|2\n"
	if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := loadBatch(path)
	if err == nil || !strings.Contains(err.Error(), "line 6:") {
		t.Fatalf("loadBatch of a CSV whose line 6 has 2 fields: err %v; want it to name line 6", err)
	}

	csv = strings.TrimSuffix(csv, "# bad row next\nc|1,a|2|1|2\n")
	if err := os.WriteFile(path, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	items, err := loadBatch(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].label != "line 4 (small)" {
		t.Fatalf("items %+v; want one, labelled %q", items, "line 4 (small)")
	}
	var r copyRequest
	if err := xml.Unmarshal(items[0].body, &r); err != nil {
		t.Fatal(err)
	}
	if want := (copyRequest{XMLName: r.XMLName, Company: "c|1", Asset: "a|2|1|2", Folder: "ApiTestCo/bags/", Name: "small", Modifier: "wid=60"}); r != want {
		t.Errorf("request %+v; want the fields without their spaces, %+v", r, want)
	}
}
