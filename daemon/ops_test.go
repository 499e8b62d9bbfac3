package daemon

import (
	"encoding/xml"
	"fmt"
	"image/color"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadOperations checks each read operation's reply on the test tree.
func TestReadOperations(t *testing.T) {
	a := startAPI(t, []UserConfig{{Email: "me@x", Unix: []string{fmt.Sprint(os.Getuid())}, Memberships: []MembershipConfig{{Company: "Acme", Role: "ImagePortalUser"}}}})
	red, blue, green := a.asset(t, "Acme/pics/red.png"), a.asset(t, "Acme/pics/blue.png"), a.asset(t, "Acme/pics/deep/green.png")
	grey := a.asset(t, "Other/misc/grey.png")
	co := "<companyHandle>" + a.acme.Handle + "</companyHandle>"
	param := func(op, inner string) string {
		return `<` + op + `Param xmlns="http://www.scene7.com/IpsApi/xsd/2012-02-14">` + co + inner + `</` + op + `Param>`
	}
	names := func(body string) string {
		var out []string
		for _, m := range regexp.MustCompile(`<name>([^<]*)</name>`).FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		name, body string
		want       []string
		names      string // the asset names in the reply, in order; "-" to skip
	}{
		{"getCompanyInfo by handle", `<getCompanyInfoParam xmlns="` + nsDefault + `">` + co + `</getCompanyInfoParam>`,
			[]string{`<companyInfo><companyHandle>` + a.acme.Handle + `</companyHandle><name>Acme</name><rootPath>Acme/</rootPath></companyInfo>`}, "-"},
		{"getFolders", param("getFolders", ""), []string{`<getFoldersReturn xmlns="http://www.scene7.com/IpsApi/xsd/2012-02-14"><folderArray>` +
			`<items><folderHandle>Acme/</folderHandle><path>Acme/</path><hasSubfolders>true</hasSubfolders></items>` +
			`<items><folderHandle>Acme/pics/</folderHandle><path>Acme/pics/</path><hasSubfolders>true</hasSubfolders></items>` +
			`<items><folderHandle>Acme/pics/deep/</folderHandle><path>Acme/pics/deep/</path><hasSubfolders>false</hasSubfolders></items>` +
			`<items><folderHandle>Acme/shelf/</folderHandle><path>Acme/shelf/</path><hasSubfolders>false</hasSubfolders></items></folderArray>`}, "-"},
		{"getFolders below /pics", param("getFolders", "<folderPath>/pics</folderPath>"), []string{`<folderArray><items><folderHandle>Acme/pics/</folderHandle>`, `Acme/pics/deep/`}, "-"},
		{"getFolderTree depth 1", param("getFolderTree", "<depth>1</depth>"), []string{`<folders><folderHandle>Acme/</folderHandle><path>Acme/</path><hasSubfolders>true</hasSubfolders><subfolderArray>` +
			`<items><folderHandle>Acme/pics/</folderHandle><path>Acme/pics/</path><hasSubfolders>true</hasSubfolders></items>` +
			`<items><folderHandle>Acme/shelf/</folderHandle><path>Acme/shelf/</path><hasSubfolders>false</hasSubfolders></items></subfolderArray></folders>`}, "-"},
		{"getFolderTree all", param("getFolderTree", "<depth>-1</depth>"), []string{`<subfolderArray><items><folderHandle>Acme/pics/deep/</folderHandle>`}, "-"},
		{"getAssets, foreign and unknown left out", param("getAssets", "<assetHandleArray><items>"+green+"</items><items>"+grey+"</items><items>a|99999</items><items>"+red+"</items></assetHandleArray>"),
			[]string{`<items><assetHandle>` + green + `</assetHandle><type>Image</type><name>green</name><fileName>green.png</fileName><folder>Acme/pics/deep/</folder><folderHandle>Acme/pics/deep/</folderHandle><trashState>NotInTrash</trashState><imageInfo><originalPath>Acme/pics/deep/</originalPath><originalFile>green.png</originalFile><fileSize>`}, "green,red"},
		{"getAssetsByName", param("getAssetsByName", "<nameArray><items>blue</items><items>grey</items></nameArray>"), []string{"<assetHandle>" + blue + "</assetHandle>"}, "blue"},
		{"getAssetsByName, other types only", param("getAssetsByName", "<nameArray><items>blue</items></nameArray><assetTypeArray><items>Video</items></assetTypeArray>"), []string{"<assetArray/>"}, ""},
		{"checkAssetNames", param("checkAssetNames", "<assetNameArray><items>red</items><items>Red</items><items>grey</items><items>green</items><items>red</items></assetNameArray>"),
			[]string{"<inUseNameArray><items>red</items><items>green</items></inUseNameArray>"}, "-"},
		{"searchAssets top folder only", param("searchAssets", "<folder>Acme/pics/</folder><includeSubfolders>false</includeSubfolders>"), []string{"<totalRows>2</totalRows>"}, "blue,red"},
		{"searchAssets subfolders", param("searchAssets", "<includeSubfolders>true</includeSubfolders>"), []string{"<totalRows>3</totalRows>"}, "blue,green,red"},
		{"searchAssets page 2 of 2", param("searchAssets", "<includeSubfolders>true</includeSubfolders><recordsPerPage>2</recordsPerPage><resultsPage>2</resultsPage>"), []string{"<totalRows>3</totalRows>"}, "red"},
		{"searchAssets past the end", param("searchAssets", "<includeSubfolders>true</includeSubfolders><recordsPerPage>2</recordsPerPage><resultsPage>5</resultsPage>"), []string{"<totalRows>3</totalRows><assetArray/>"}, ""},
		{"searchAssets name EndsWith, descending", param("searchAssets", "<includeSubfolders>true</includeSubfolders><systemFieldConditionArray><items><field>name</field><op>EndsWith</op><value>e</value></items></systemFieldConditionArray><sortBy>name</sortBy><sortDirection>Descending</sortDirection>"), []string{"<totalRows>1</totalRows>"}, "blue"},
		{"searchAssets MatchAny", param("searchAssets", "<includeSubfolders>true</includeSubfolders><systemFieldMatchMode>MatchAny</systemFieldMatchMode><systemFieldConditionArray><items><field>name</field><op>Equals</op><value>red</value></items><items><field>fileName</field><op>StartsWith</op><value>gr</value></items></systemFieldConditionArray>"), nil, "green,red"},
		{"searchAssets keyword", param("searchAssets", "<includeSubfolders>true</includeSubfolders><keywordArray><items>LU</items></keywordArray>"), nil, "blue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := a.post(t, tt.body, nil)
			if status != 200 {
				t.Fatalf("HTTP %d %s", status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("reply lacks\n%s\nreply:\n%s", w, body)
				}
			}
			if tt.names != "-" {
				if got := names(body); got != tt.names {
					t.Errorf("asset names %q; want %q\n%s", got, tt.names, body)
				}
			}
		})
	}

	faults := []struct{ name, body, code string }{
		{"getFolders of another company", strings.Replace(param("getFolders", ""), a.acme.Handle, a.other.Handle, 1), "20000"},
		{"getFolderTree without depth", param("getFolderTree", ""), "30002"},
		{"searchAssets without includeSubfolders", param("searchAssets", ""), "30002"},
		{"searchAssets folder of another company", param("searchAssets", "<folder>Other/misc/</folder><includeSubfolders>true</includeSubfolders>"), "30001"},
		{"searchAssets bad page size", param("searchAssets", "<includeSubfolders>true</includeSubfolders><recordsPerPage>0</recordsPerPage>"), "30001"},
		{"searchAssets unknown field", param("searchAssets", "<includeSubfolders>true</includeSubfolders><systemFieldConditionArray><items><field>created</field><op>Equals</op><value>x</value></items></systemFieldConditionArray>"), "30001"},
		{"getAssets malformed handle", param("getAssets", "<assetHandleArray><items>x|1</items></assetHandleArray>"), "30001"},
		{"getAssetsByName without names", param("getAssetsByName", ""), "30002"},
		{"too many items", param("checkAssetNames", "<assetNameArray>"+strings.Repeat("<items>n</items>", maxItems+1)+"</assetNameArray>"), "30001"},
		{"unknown operation", param("deleteAsset", ""), "30003"},
		{"copyImage is not for ImagePortalUser", copyParam(a.acme.Handle, red, "Acme/shelf/", "nope"), "20003"},
	}
	for _, tt := range faults {
		t.Run(tt.name, func(t *testing.T) {
			status, body := a.post(t, tt.body, nil)
			if got := faultCode(body); got != tt.code || status != 500 {
				t.Errorf("HTTP %d code %q; want 500 %s\n%s", status, got, tt.code, body)
			}
		})
	}
}

// TestReadRepliesWithHostileNames: names in the tree that are not UTF-8,
// or hold characters XML 1.0 cannot carry (a control character, U+FFFF),
// still give well-formed replies, with U+FFFD in their place; a single such
// file must not make every listing of its company unreadable to clients.
func TestReadRepliesWithHostileNames(t *testing.T) {
	a := startAPI(t, []UserConfig{{Email: "me@x", Unix: []string{fmt.Sprint(os.Getuid())}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
	for _, n := range []string{"Acme/odd/bad\xffname.png", "Acme/odd/ctl\x01x.png", "Acme/odd/non\uffffchar.png", "Acme/odd\xfe/inner.png"} {
		writePNG(t, filepath.Join(a.root, n), color.White)
	}
	if err := a.d.store.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	co := "<companyHandle>" + a.acme.Handle + "</companyHandle>"
	for _, body := range []string{
		`<getFoldersParam xmlns="` + nsDefault + `">` + co + `</getFoldersParam>`,
		`<getFolderTreeParam xmlns="` + nsDefault + `">` + co + `<depth>-1</depth></getFolderTreeParam>`,
		`<searchAssetsParam xmlns="` + nsDefault + `">` + co + `<includeSubfolders>true</includeSubfolders></searchAssetsParam>`,
		soapWith("", "", `<searchAssetsParam xmlns="`+nsDefault+`">`+co+`<includeSubfolders>true</includeSubfolders></searchAssetsParam>`),
	} {
		status, reply := a.post(t, body, nil)
		if status != 200 {
			t.Fatalf("HTTP %d %s", status, reply)
		}
		d := xml.NewDecoder(strings.NewReader(reply))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reply is not well-formed XML: %v\n%q", err, reply)
			}
		}
		if !strings.Contains(reply, "\ufffd") {
			t.Errorf("reply shows none of the odd names: %s", reply)
		}
	}
}

// TestSearchPageOverflow: a resultsPage so large that (page-1) ×
// recordsPerPage overflows gives an empty page, not a panic that drops
// the connection without a reply.
func TestSearchPageOverflow(t *testing.T) {
	a := startAPI(t, []UserConfig{{Email: "me@x", Unix: []string{fmt.Sprint(os.Getuid())}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
	for _, pg := range []string{"<recordsPerPage>3</recordsPerPage><resultsPage>4611686018427387904</resultsPage>", "<resultsPage>9223372036854775807</resultsPage>"} {
		body := `<searchAssetsParam xmlns="` + nsDefault + `"><companyHandle>` + a.acme.Handle + `</companyHandle><includeSubfolders>true</includeSubfolders>` + pg + `</searchAssetsParam>`
		req, _ := http.NewRequest("POST", "http://ipsd/scene7/services/IpsApiService", strings.NewReader(body))
		resp, err := a.client.Do(req)
		if err != nil {
			t.Errorf("%s: %v", pg, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), "<totalRows>3</totalRows><assetArray/>") {
			t.Errorf("%s: HTTP %d %s; want an empty page of 3 rows", pg, resp.StatusCode, b)
		}
	}
}

// TestHandlerPanicIsAFault: an operation that panics (a bug) answers a
// 30000 fault on the same connection, and the daemon goes on serving.
func TestHandlerPanicIsAFault(t *testing.T) {
	a := startAPI(t, []UserConfig{{Email: "me@x", Unix: []string{fmt.Sprint(os.Getuid())}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
	readOps["panicForTest"] = func(*Daemon, *call, *UserConfig) (elem, *Fault) { panic("boom") }
	t.Cleanup(func() { delete(readOps, "panicForTest") })
	status, body := a.post(t, `<panicForTestParam xmlns="`+nsDefault+`"/>`, nil)
	if status != 500 || faultCode(body) != "30000" {
		t.Errorf("HTTP %d %s; want a 30000 fault", status, body)
	}
	if strings.Contains(body, "boom") {
		t.Errorf("the fault quotes the panic: %s", body)
	}
	a.stillServing(t)
}
