package main

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const ns = "http://www.scene7.com/IpsApi/xsd/2008-01-15"

func TestCopyOverSocketAndWatchFolder(t *testing.T) {
	e := startEnv(t, "")

	companies := e.ls("")
	company := companies["ApiTestCo"]
	if !strings.HasPrefix(company, "c|") {
		t.Fatalf("ls: ApiTestCo handle = %q; want c|N (all: %v)", company, companies)
	}
	tree := e.ls("ApiTestCo/")
	src := tree["ApiTestCo/photos/DSCN0010.jpg"]
	if !strings.HasPrefix(src, "a|") {
		t.Fatalf("ls ApiTestCo/: no handle for DSCN0010.jpg: %v", tree)
	}
	if tree["ApiTestCo/out/deep"] != "ApiTestCo/out/deep/" {
		t.Errorf("ls: folder handle of ApiTestCo/out/deep = %q; want ApiTestCo/out/deep/", tree["ApiTestCo/out/deep"])
	}
	okBefore := e.scrape(`ipsd_requests_total{channel="socket",result="ok"}`)

	// 1. bare request, shaped like the example in ../shared/seeds
	status, body := e.post(copyXML(ns, company, src, "ApiTestCo/", "Copy_macbookwin1", ""))
	m := handleRE.FindStringSubmatch(body)
	if status != 200 || m == nil {
		t.Fatalf("bare copy: HTTP %d %s", status, body)
	}
	if !strings.Contains(body, `<copyImageReturn xmlns="`+ns+`">`) {
		t.Errorf("bare reply not in the request namespace: %s", body)
	}
	plain := filepath.Join(e.root, "ApiTestCo/Copy_macbookwin1.jpg")
	want, _ := os.ReadFile(filepath.Join(e.root, "ApiTestCo/photos/DSCN0010.jpg"))
	got, err := os.ReadFile(plain)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("empty modifier: %s is not a byte-identical copy (err %v)", plain, err)
	}

	// 2. SOAP envelope, resized to webp
	status, body = e.post(soapWrap(copyXML(ns, company, src, "ApiTestCo/out/deep/", "small", "wid=200&fmt=webp&qlt=80")))
	m2 := handleRE.FindStringSubmatch(body)
	if status != 200 || m2 == nil || !strings.Contains(body, "<soapenv:Envelope") {
		t.Fatalf("soap copy: HTTP %d %s", status, body)
	}
	img, format := decodeFile(t, filepath.Join(e.root, "ApiTestCo/out/deep/small.webp"))
	if format != "webp" || img.Bounds().Dx() != 200 || img.Bounds().Dy() != 150 {
		t.Errorf("small.webp: %s %v; want webp 200x150", format, img.Bounds())
	}

	// 3. through the watch folder
	req := copyXML(ns, company, src, "ApiTestCo/photos/", "from_inbox", "hei=100&fmt=png")
	tmp := filepath.Join(e.inbox, ".req1.xml.tmp")
	if err := os.WriteFile(tmp, []byte(req), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.inbox, "req1.xml")); err != nil {
		t.Fatal(err)
	}
	result := filepath.Join(e.inbox, "done", "req1.result.xml")
	waitFor(t, 30*time.Second, "done/req1.result.xml", func() bool {
		_, err := os.Stat(result)
		return err == nil
	})
	rb, _ := os.ReadFile(result)
	m3 := handleRE.FindStringSubmatch(string(rb))
	if m3 == nil {
		t.Fatalf("watch result has no handle: %s", rb)
	}
	if _, err := os.Stat(filepath.Join(e.inbox, "done", "req1.xml")); err != nil {
		t.Errorf("request not moved to done/: %v", err)
	}
	img, format = decodeFile(t, filepath.Join(e.root, "ApiTestCo/photos/from_inbox.png"))
	if format != "png" || img.Bounds().Dy() != 100 || img.Bounds().Dx() != 133 {
		t.Errorf("from_inbox.png: %s %v; want png 133x100", format, img.Bounds())
	}

	// every new handle is listed by ipsd ls, at its path
	waitFor(t, 5*time.Second, "new assets in ipsd ls", func() bool {
		tree = e.ls("ApiTestCo/")
		return tree["ApiTestCo/Copy_macbookwin1.jpg"] == m[1] &&
			tree["ApiTestCo/out/deep/small.webp"] == m2[1] &&
			tree["ApiTestCo/photos/from_inbox.png"] == m3[1]
	})

	if got := e.scrape(`ipsd_requests_total{channel="socket",result="ok"}`); got < okBefore+2 {
		t.Errorf("ipsd_requests_total{socket,ok} = %v; want >= %v", got, okBefore+2)
	}
	if got := e.scrape(`ipsd_requests_total{channel="watch",result="ok"}`); got < 1 {
		t.Errorf("ipsd_requests_total{watch,ok} = %v; want >= 1", got)
	}
	if got := e.scrape(`ipsd_request_duration_seconds_count{channel="socket"}`); got < 2 {
		t.Errorf("ipsd_request_duration_seconds_count{socket} = %v; want >= 2", got)
	}
	if got := e.scrape("ipsd_catalog_assets"); got < 7 {
		t.Errorf("ipsd_catalog_assets = %v; want >= 7", got)
	}

	// one line per request end, with the channel, caller, source and new handle
	logs := e.logs.String()
	for _, c := range []struct{ channel, handle string }{{"socket", m2[1]}, {"watch", m3[1]}} {
		re := regexp.MustCompile(`msg="request done" request_id=\d+ channel=` + c.channel +
			` .*caller=\S+ op=copyImage source=` + regexp.QuoteMeta(src) +
			` handle=` + regexp.QuoteMeta(c.handle) + ` result=ok duration=`)
		if !re.MatchString(logs) {
			t.Errorf("no %q line for the %s copy %s in the log:\n%s", "request done", c.channel, c.handle, logs)
		}
	}
	checkLogKeysUnique(t, logs)
}

// checkLogKeysUnique fails when a line of slog text output names a key
// twice (op=copyImage ... op=copyImage), which also makes its JSON form
// ambiguous.
func checkLogKeysUnique(t *testing.T, logs string) {
	t.Helper()
	for line := range strings.Lines(logs) {
		line = strings.TrimRight(line, "\n")
		if !strings.HasPrefix(line, "time=") {
			continue
		}
		seen := map[string]bool{}
		for rest := line; rest != ""; {
			rest = strings.TrimLeft(rest, " ")
			key, val, ok := strings.Cut(rest, "=")
			if !ok {
				break
			}
			if seen[key] {
				t.Errorf("log line names %q twice: %s", key, line)
				break
			}
			seen[key] = true
			if strings.HasPrefix(val, `"`) {
				q, err := strconv.QuotedPrefix(val)
				if err != nil {
					t.Errorf("log line with a bad quoted value: %s", line)
					break
				}
				rest = val[len(q):]
			} else {
				_, rest, _ = strings.Cut(val, " ")
			}
		}
	}
}

func TestCopyFaults(t *testing.T) {
	e := startEnv(t, "")
	company := e.ls("")["ApiTestCo"]
	other := e.ls("")["OtherCo"]
	tree := e.ls("ApiTestCo/")
	src := tree["ApiTestCo/photos/BlueSquare.jpg"]
	otherAsset := e.ls("OtherCo/")["OtherCo/misc/nikon.jpg"]

	tests := []struct {
		name   string
		body   string
		code   string
		reason string
	}{
		{"unknown asset", copyXML(ns, company, "a|999999|1|999999", "ApiTestCo/", "x1", ""), "30001", "assetHandle"},
		{"asset of another company", copyXML(ns, company, otherAsset, "ApiTestCo/", "x2", ""), "30001", "assetHandle"},
		{"name in use elsewhere in the company", copyXML(ns, company, src, "ApiTestCo/out/", "DSCN0010", ""), "30000", "Asset ID 'DSCN0010' is already in use."},
		{"missing element", strings.Replace(copyXML(ns, company, src, "ApiTestCo/", "x3", ""), "<name>x3</name>", "", 1), "30002", "name"},
		{"malformed xml", `<copyImageParam xmlns="` + ns + `"><companyHandle>`, "30003", ""},
		{"not a member", copyXML(ns, other, otherAsset, "OtherCo/", "x4", ""), "20000", ""},
		{"dotdot name", copyXML(ns, company, src, "ApiTestCo/", "../x", ""), "30001", "name"},
		{"slash name", copyXML(ns, company, src, "ApiTestCo/", "a/b", ""), "30001", "name"},
		{"unknown command", copyXML(ns, company, src, "ApiTestCo/", "x5", "wid=10&frobnicate=3"), "30001", "frobnicate"},
		{"folder of another company", copyXML(ns, company, src, "OtherCo/misc/", "x6", ""), "30001", "folderHandle"},
		{"dtd", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>` + copyXML(ns, company, src, "ApiTestCo/", "x7", ""), "30003", ""},
	}
	before := snapshot(t, e.root)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.post(tt.body)
			if status != 500 {
				t.Errorf("HTTP status %d; want 500", status)
			}
			if !strings.Contains(body, "<code>"+tt.code+"</code>") {
				t.Errorf("reply lacks code %s: %s", tt.code, body)
			}
			if tt.reason != "" && !strings.Contains(body, tt.reason) {
				t.Errorf("reason does not mention %q: %s", tt.reason, body)
			}
		})
	}
	if after := snapshot(t, e.root); after != before {
		t.Errorf("faulted requests changed the tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	checkLogKeysUnique(t, e.logs.String())
}

// snapshot lists every file below root with its mode and size.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d\n", p[len(root):], fi.Mode(), fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestOrientationApplied(t *testing.T) {
	e := startEnv(t, "")
	company := e.ls("")["ApiTestCo"]
	tree := e.ls("ApiTestCo/")
	for _, n := range []string{"1", "6"} {
		src := tree["ApiTestCo/orient/Landscape_"+n+".jpg"]
		status, body := e.post(copyXML(ns, company, src, "ApiTestCo/out/", "land"+n, "wid=300"))
		if status != 200 {
			t.Fatalf("copy Landscape_%s: HTTP %d %s", n, status, body)
		}
	}
	a, _ := decodeFile(t, filepath.Join(e.root, "ApiTestCo/out/land1.jpg"))
	b, _ := decodeFile(t, filepath.Join(e.root, "ApiTestCo/out/land6.jpg"))
	if a.Bounds().Dx() != 300 || b.Bounds().Dx() != 300 {
		t.Fatalf("widths %d and %d; want 300", a.Bounds().Dx(), b.Bounds().Dx())
	}
	if a.Bounds() != b.Bounds() {
		t.Fatalf("Landscape_6 came out %v, Landscape_1 %v; want the same upright size", b.Bounds(), a.Bounds())
	}
	if d := meanAbsDiff(a, b); d > 8 {
		t.Errorf("Landscape_6 differs from Landscape_1 by %.1f per channel on average; want <= 8 (upright)", d)
	}
}

// meanAbsDiff is the mean absolute difference per 8-bit channel.
func meanAbsDiff(a, b image.Image) float64 {
	r := a.Bounds()
	var sum float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			sum += math.Abs(float64(r1>>8)-float64(r2>>8)) +
				math.Abs(float64(g1>>8)-float64(g2>>8)) +
				math.Abs(float64(b1>>8)-float64(b2>>8))
		}
	}
	return sum / float64(3*r.Dx()*r.Dy())
}
