package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// TestZeepClient drives ipsd with a SOAP client nobody here wrote: zeep
// loads ipsd's WSDL over the socket and calls it with an authHeader.
func TestZeepClient(t *testing.T) {
	py := debianPython(t, "zeep", "requests_unixsocket")
	e := startEnv(t, userTOML(t, "zeep@example.com", "s3cret pass", false, "ApiTestCo=IpsUser"))
	company := e.ls("")["ApiTestCo"]
	src := e.ls("ApiTestCo/")["ApiTestCo/photos/DSCN0010.jpg"]

	cmd := exec.Command(py, "testdata/zeep_client.py", e.socket, "zeep@example.com", "s3cret pass",
		"ApiTestCo", "DSCN0010", "ApiTestCo/out/", "zeep_copy")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zeep client: %v\n%s", err, stderr.String())
	}
	var got struct {
		Company struct{ Handle, Name, RootPath string }
		Assets  []struct {
			Handle, Name, FileName, FolderHandle string
		}
		SearchTotal int      `json:"search_total"`
		SearchNames []string `json:"search_names"`
		Copy        string
		BadPassword struct {
			Faultstring string
			Code        string
		} `json:"bad_password"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("zeep client output %q: %v\n%s", out, err, stderr.String())
	}
	if got.Company.Handle != company || got.Company.Name != "ApiTestCo" || got.Company.RootPath != "ApiTestCo/" {
		t.Errorf("getCompanyInfo = %+v; want handle %s, name ApiTestCo, rootPath ApiTestCo/", got.Company, company)
	}
	if len(got.Assets) != 1 || got.Assets[0].Handle != src || got.Assets[0].FileName != "DSCN0010.jpg" ||
		got.Assets[0].FolderHandle != "ApiTestCo/photos/" {
		t.Errorf("getAssetsByName = %+v; want one asset %s, DSCN0010.jpg in ApiTestCo/photos/", got.Assets, src)
	}
	if got.SearchTotal != 1 || !slices.Equal(got.SearchNames, []string{"DSCN0010"}) {
		t.Errorf("searchAssets name StartsWith DSCN = %d %v; want 1 [DSCN0010]", got.SearchTotal, got.SearchNames)
	}
	if !regexp.MustCompile(`^a\|\d+\|1\|\d+$`).MatchString(got.Copy) || got.Copy == src {
		t.Fatalf("copyImage returned %q; want a new a|N|1|M handle", got.Copy)
	}
	want, _ := os.ReadFile(filepath.Join(e.root, "ApiTestCo/photos/DSCN0010.jpg"))
	copied, err := os.ReadFile(filepath.Join(e.root, "ApiTestCo/out/zeep_copy.jpg"))
	if err != nil || !bytes.Equal(copied, want) {
		t.Errorf("ApiTestCo/out/zeep_copy.jpg is not a byte copy of the source (err %v)", err)
	}
	waitFor(t, 5e9, "the copy in ipsd ls", func() bool {
		return e.ls("ApiTestCo/")["ApiTestCo/out/zeep_copy.jpg"] == got.Copy
	})
	if got.BadPassword.Code != "10001" || got.BadPassword.Faultstring != "AuthenticationException" {
		t.Errorf("wrong password: zeep saw %+v; want fault AuthenticationException with code 10001", got.BadPassword)
	}
}
