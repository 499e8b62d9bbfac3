package main

// End-to-end tests of retries (R11) and of the tree sync (issue 2 item 3,
// issue 4): the real binary, real files, outcomes counted in done/,
// failed/, the log and `ipsd ls`.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// attemptOf returns the attempt number stamped into a result body, or "".
func attemptOf(body string) string {
	m := regexp.MustCompile(`<!-- ipsd: \S+ attempt=(\d+) -->`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestWatchTransientRetriedDeterministicFailedAtOnce drives both kinds of
// failure through the daemon: a source that does not decode fails at once
// (one handler call, attempt 1, fault 30000), while a catalog held locked
// by another process (SQLITE_BUSY, as when a peer daemon holds a long
// write) is retried with backoff and succeeds once the lock is gone.
func TestWatchTransientRetriedDeterministicFailedAtOnce(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{})
	company, src := e.companyAndSource("Canon_40D.jpg")

	// deterministic: a "JPEG" whose data is garbage
	broken := filepath.Join(e.root, "ApiTestCo/photos/broken.jpg")
	garbage := append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), []byte(strings.Repeat("not an image ", 200))...)
	if err := os.WriteFile(broken, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	var brokenHandle string
	waitFor(t, time.Minute, "broken.jpg in ipsd ls", func() bool {
		brokenHandle = e.assetsUnder("ApiTestCo/")["ApiTestCo/photos/broken.jpg"]
		return brokenHandle != ""
	})
	dropAll(t, e.inbox, map[string]string{"broken.xml": requestXML(company, brokenHandle, "fromBroken", "wid=64")})
	o := waitResults(t, e.inbox, 1, time.Minute)
	res, ok := o.failed["broken"]
	if !ok || faultCode(res) != "30000" || attemptOf(res) != "1" {
		t.Fatalf("broken source: failed %v, done %v; want failed/broken.result.xml with fault 30000 at attempt 1", o.failed, o.done)
	}
	accepted := regexp.MustCompile(`msg="request accepted".* file=broken\.xml`)
	if n := len(accepted.FindAllString(e.logs.String(), -1)); n != 1 {
		t.Errorf("broken.xml was handled %d times; want once, without retries", n)
	}

	// transient: the catalog is locked by someone else for longer than the
	// daemon's busy timeout
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, "state", "catalog.db")+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer unlock()

	dropAll(t, e.inbox, map[string]string{"busy.xml": requestXML(company, src, "afterBusy", "wid=64")})
	retrying := regexp.MustCompile(`msg="request failed; retrying".* file=busy\.xml`)
	waitFor(t, 2*time.Minute, "busy.xml to fail and be set for a retry", func() bool {
		return retrying.MatchString(e.logs.String())
	})
	if fi, err := os.Stat(filepath.Join(e.inbox, "failed", "busy.result.xml")); err == nil {
		t.Fatalf("busy.xml failed at once (%v); want a retry", fi.ModTime())
	}
	unlock()

	o = waitResults(t, e.inbox, 2, 2*time.Minute)
	res, ok = o.done["busy"]
	if !ok || attemptOf(res) != "2" || handleRE.FindString(res) == "" {
		t.Fatalf("busy.xml: done %v, failed %v; want done with a handle at attempt 2", o.done, o.failed)
	}
	if _, dup := o.failed["busy"]; dup || len(o.dups) > 0 {
		t.Errorf("busy.xml has a failed result too, or duplicates %v", o.dups)
	}
	if files, _ := treeFiles(t, filepath.Join(e.root, "ApiTestCo/out")); len(files) != 1 || files[0] != "afterBusy.jpg" {
		t.Errorf("out/ holds %v; want afterBusy.jpg only", files)
	}
}

// TestTreeFollowsChanges changes the tree behind the daemon's back as
// people and tools do (cp, rm, mv of a file and of a folder, mkdir -p and
// fill) and checks `ipsd ls` follows each without a rescan (rescan is a
// minute away), keeping handles across moves.
func TestTreeFollowsChanges(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{rescan: "1h"})
	photos := filepath.Join(e.root, "ApiTestCo/photos")
	asset := func(rel string) string { return e.assetsUnder("ApiTestCo/")[rel] }
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v %s", name, args, err, out)
		}
	}

	// cp: listed, with the time it took
	start := time.Now()
	run("cp", filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(photos, "copied.jpg"))
	var h string
	waitFor(t, time.Minute, "copied.jpg in ipsd ls", func() bool {
		h = asset("ApiTestCo/photos/copied.jpg")
		return h != ""
	})
	t.Logf("cp'd image listed after %v (ipsd ls itself included)", time.Since(start).Round(time.Millisecond))

	// mv to another folder: the same handle
	run("mv", filepath.Join(photos, "copied.jpg"), filepath.Join(e.root, "ApiTestCo/out/moved.jpg"))
	waitFor(t, time.Minute, "moved.jpg under its handle", func() bool {
		a := e.assetsUnder("ApiTestCo/")
		_, old := a["ApiTestCo/photos/copied.jpg"]
		return a["ApiTestCo/out/moved.jpg"] == h && !old
	})

	// rm: gone
	run("rm", filepath.Join(e.root, "ApiTestCo/out/moved.jpg"))
	waitFor(t, time.Minute, "moved.jpg gone from ipsd ls", func() bool { return asset("ApiTestCo/out/moved.jpg") == "" })

	// mkdir -p and fill at once
	deep := filepath.Join(e.root, "ApiTestCo/zz/b/c")
	run("mkdir", "-p", deep)
	run("cp", filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(deep, "deep.jpg"))
	run("cp", filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/zz/top.jpg"))
	var deepH string
	waitFor(t, time.Minute, "deep.jpg and top.jpg in ipsd ls", func() bool {
		a := e.assetsUnder("ApiTestCo/")
		deepH = a["ApiTestCo/zz/b/c/deep.jpg"]
		return deepH != "" && a["ApiTestCo/zz/top.jpg"] != ""
	})

	// mv of a folder (to a name that sorts first): handles kept, and its
	// subfolders stay watched under their new names
	run("mv", filepath.Join(e.root, "ApiTestCo/zz"), filepath.Join(e.root, "ApiTestCo/aa"))
	waitFor(t, time.Minute, "deep.jpg under its handle in the renamed folder", func() bool {
		a := e.assetsUnder("ApiTestCo/")
		_, old := a["ApiTestCo/zz/b/c/deep.jpg"]
		return a["ApiTestCo/aa/b/c/deep.jpg"] == deepH && !old
	})
	run("cp", filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/aa/b/c/later.jpg"))
	waitFor(t, time.Minute, "a file put into the renamed folder's subfolder", func() bool {
		return asset("ApiTestCo/aa/b/c/later.jpg") != ""
	})
	if e.ls("ApiTestCo/")["ApiTestCo/zz/b"] != "" {
		t.Error("the old folder name is still listed")
	}
	if n := e.scrape(`ipsd_rescans_total{reason="periodic",source="tree"}`); n != 0 {
		t.Errorf("%v periodic rescans ran; the test meant to see events only", n)
	}
}

// TestStartCatchesUp changes the watch folder and the tree while the
// daemon is down: at the next start the requests are processed and the
// catalog matches the tree (new image listed, moved one under its handle,
// deleted one gone).
func TestStartCatchesUp(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{})
	company, src := e.companyAndSource("Canon_40D.jpg")
	_, blue := e.companyAndSource("BlueSquare.jpg")
	e.kill()

	photos := filepath.Join(e.root, "ApiTestCo/photos")
	dropAll(t, e.inbox, map[string]string{
		"down1.xml": requestXML(company, src, "down1", "wid=64"),
		"down2.xml": requestXML(company, src, "down2", "wid=64"),
	})
	if err := os.WriteFile(filepath.Join(e.inbox, "down3.xml"), []byte(requestXML(company, src, "down3", "wid=64")), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(photos, "arrived.jpg"))
	if err := os.Rename(filepath.Join(photos, "BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/out/blue.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(photos, "canon_hdr_YES.jpg")); err != nil {
		t.Fatal(err)
	}

	e.start()
	o := waitResults(t, e.inbox, 3, time.Minute)
	if len(o.done) != 3 || len(o.failed) != 0 || len(o.dups) != 0 {
		t.Errorf("done %v, failed %v, duplicates %v; want down1-3 done", o.done, o.failed, o.dups)
	}
	a := e.assetsUnder("ApiTestCo/")
	if a["ApiTestCo/photos/arrived.jpg"] == "" {
		t.Error("arrived.jpg, put there while the daemon was down, is not listed")
	}
	if a["ApiTestCo/out/blue.jpg"] != blue {
		t.Errorf("moved blue.jpg has handle %q; want %q, as before the move", a["ApiTestCo/out/blue.jpg"], blue)
	}
	for _, gone := range []string{"ApiTestCo/photos/BlueSquare.jpg", "ApiTestCo/photos/canon_hdr_YES.jpg"} {
		if a[gone] != "" {
			t.Errorf("%s is listed although it is gone", gone)
		}
	}
}

// TestTreeWatchLimitFallsBackPerSubtree runs the daemon in a user namespace
// whose inotify watch limit is lower than the tree needs, so the kernel
// really refuses watches with ENOSPC. The daemon warns with the numbers,
// polls only the folders it could not watch (no full-tree polls), counts
// the fallback in its metrics, and still sees a file put into every folder.
func TestTreeWatchLimitFallsBackPerSubtree(t *testing.T) {
	const limit = 6
	probe := exec.Command("unshare", "-U", "-r", "sh", "-c", "echo 1 > /proc/sys/user/max_inotify_watches")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("cannot set an inotify watch limit in a user namespace: %v %s", err, out)
	}
	e := newWatchEnv(t, watchEnvOpts{
		rescan: "1h",
		dirs:   []string{"root/ApiTestCo/deep/a/b", "root/ApiTestCo/deep/c"},
		wrap: []string{"unshare", "-U", "-r", "sh", "-c",
			`echo ` + strconv.Itoa(limit) + ` > /proc/sys/user/max_inotify_watches && exec "$0" "$@"`},
	})
	logs := e.logs.String()
	// root, ApiTestCo, deep, deep/a, deep/a/b, deep/c, out, photos, OtherCo, misc
	if !regexp.MustCompile(`level=WARN msg="the tree has more directories than inotify watches allowed[^"]*" .*directories=10 max_user_watches=` +
		strconv.Itoa(limit)).MatchString(logs) {
		t.Errorf("no warning comparing 10 directories with the limit of %d:\n%s", limit, logs)
	}
	waitFor(t, time.Minute, "a folder polled for want of watches", func() bool {
		return strings.Contains(e.logs.String(), `msg="inotify watch refused; polling this folder and everything below it"`)
	})

	leaves := []string{"ApiTestCo/photos", "ApiTestCo/out", "ApiTestCo/deep/a/b", "ApiTestCo/deep/c", "OtherCo/misc"}
	for i, dir := range leaves {
		copyFile(t, filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(e.root, dir, fmt.Sprintf("leaf%d.jpg", i)))
	}
	for i, dir := range leaves {
		rel := fmt.Sprintf("%s/leaf%d.jpg", dir, i)
		company := strings.SplitN(dir, "/", 2)[0] + "/"
		waitFor(t, 2*time.Minute, rel+" in ipsd ls", func() bool { return e.assetsUnder(company)[rel] != "" })
	}
	if n := e.scrape(`ipsd_watch_poll_fallbacks_total{source="tree"}`); n < 1 {
		t.Errorf("ipsd_watch_poll_fallbacks_total{source=\"tree\"} = %v; want >= 1", n)
	}
	if n := e.scrape(`ipsd_rescans_total{reason="poll",source="tree"}`); n != 0 {
		t.Errorf("%v full-tree polls; want only the refused folders polled", n)
	}
}

// TestInotifyUnavailable runs the daemon in a user namespace that allows
// no inotify instance at all, with no poll configured: the watch folder
// and the tree fall back to polling on their own, say so in the log and
// the metrics, and requests and tree changes are still taken.
func TestInotifyUnavailable(t *testing.T) {
	probe := exec.Command("unshare", "-U", "-r", "sh", "-c", "echo 0 > /proc/sys/user/max_inotify_instances")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("cannot limit inotify instances in a user namespace: %v %s", err, out)
	}
	e := newWatchEnv(t, watchEnvOpts{
		watchUser: "tester@example.com", // file owners look different inside the namespace
		wrap: []string{"unshare", "-U", "-r", "sh", "-c",
			`echo 0 > /proc/sys/user/max_inotify_instances && exec "$0" "$@"`},
	})
	if n := inotifyFDs(t, e.cmd.Process.Pid); n != 0 {
		t.Fatalf("daemon holds %d inotify instances where none may be had", n)
	}
	company, src := e.companyAndSource("Canon_40D.jpg")
	if err := os.WriteFile(filepath.Join(e.inbox, "nonotify.xml"), []byte(requestXML(company, src, "nonotify", "wid=64")), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(corpus, "photos", "BlueSquare.jpg"), filepath.Join(e.root, "ApiTestCo/polled/blue3.jpg"))
	o := waitResults(t, e.inbox, 1, 2*time.Minute)
	if _, ok := o.done["nonotify"]; !ok {
		t.Fatalf("done %v, failed %v; want nonotify done", o.done, o.failed)
	}
	waitFor(t, 2*time.Minute, "the polled image in ipsd ls", func() bool {
		return e.assetsUnder("ApiTestCo/")["ApiTestCo/polled/blue3.jpg"] != ""
	})
	logs := e.logs.String()
	for _, want := range []string{`msg="inotify unavailable; polling instead" component=watch`, `msg="inotify unavailable; polling the tree instead"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	for _, source := range []string{"watch", "tree"} {
		if n := e.scrape(`ipsd_watch_poll_fallbacks_total{source="` + source + `"}`); n != 1 {
			t.Errorf("ipsd_watch_poll_fallbacks_total{source=%q} = %v; want 1", source, n)
		}
	}
}

// TestWatchTruncatedFailsAfterIncomplete leaves a truncated request in a
// folder with a short incomplete time: it is failed with fault 30003 and
// a reason, and nothing is copied.
func TestWatchTruncatedFailsAfterIncomplete(t *testing.T) {
	e := newWatchEnv(t, watchEnvOpts{dirs: []string{"inbox3"}, extra: `
[[watch]]
dir = "inbox3"
settle = "200ms"
incomplete = "1s"
`})
	company, src := e.companyAndSource("Canon_40D.jpg")
	body := requestXML(company, src, "cut", "wid=64")
	inbox3 := filepath.Join(e.dir, "inbox3")
	if err := os.WriteFile(filepath.Join(inbox3, "cut.xml"), []byte(body[:len(body)/2]), 0o644); err != nil {
		t.Fatal(err)
	}
	o := waitResults(t, inbox3, 1, time.Minute)
	res, ok := o.failed["cut"]
	if !ok || faultCode(res) != "30003" || !strings.Contains(res, "not complete, well-formed XML") || attemptOf(res) != "1" {
		t.Fatalf("truncated request: failed %v, done %v; want fault 30003 saying it is not complete", o.failed, o.done)
	}
	// the watcher's own fault has the shape of the daemon's and is counted
	if !strings.HasPrefix(res, "<?xml") || !strings.Contains(res, `<ipsApiFault xmlns="http://www.scene7.com/IpsApi/xsd">`) {
		t.Errorf("result is not shaped like the daemon's faults:\n%s", res)
	}
	if n := e.scrape(`ipsd_requests_total{channel="watch",result="invalid_xml"}`); n != 1 {
		t.Errorf("ipsd_requests_total{channel=watch,result=invalid_xml} = %v; want 1", n)
	}
	if b, err := os.ReadFile(filepath.Join(inbox3, "failed", "cut.xml")); err != nil || string(b) != body[:len(body)/2] {
		t.Errorf("failed/cut.xml = %q, %v; want the truncated request as dropped", b, err)
	}
	if files, _ := treeFiles(t, filepath.Join(e.root, "ApiTestCo/out")); len(files) != 0 {
		t.Errorf("out/ holds %v; want nothing", files)
	}
}
