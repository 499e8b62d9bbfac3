package daemon

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipsd/ipsd/watch"
)

var resultHandleRE = regexp.MustCompile(`<(?:\w+:)?assetHandle>(a\|[0-9|]+)</`)

// TestWatchRerunIsIdempotent hands the watch handler one request three
// times, as the Watcher does: a re-run after a crash (same Key, next
// attempt) answers the copy already made, with no second file; the same
// request dropped again (a new Key) is refused with 30000, already in use.
// A copy whose catalog row was lost in the crash is still found, through
// the request key recorded on the file.
func TestWatchRerunIsIdempotent(t *testing.T) {
	uid := strconv.Itoa(os.Getuid())
	a := startAPI(t, []UserConfig{{Email: "u@x", Unix: []string{uid},
		Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
	d := a.d
	wc := WatchConfig{Dir: t.TempDir()}
	src := a.asset(t, "Acme/pics/red.png")
	call := func(name, key string, attempt int) watch.Result {
		t.Helper()
		return d.handleWatch(context.Background(), wc, watch.Request{
			Name: name + ".xml", Key: key, Owner: uint32(os.Getuid()), Attempt: attempt,
			Body: []byte(copyParam(a.acme.Handle, src, "Acme/shelf/", name)),
		})
	}
	shelf := func() []string {
		ents, err := os.ReadDir(filepath.Join(a.root, "Acme/shelf"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}

	first := call("twin", "k1", 1)
	m := resultHandleRE.FindStringSubmatch(string(first.Body))
	if !first.OK || m == nil {
		t.Fatalf("first run: %+v %s", first, first.Body)
	}
	rerun := call("twin", "k1", 2)
	if m2 := resultHandleRE.FindStringSubmatch(string(rerun.Body)); !rerun.OK || m2 == nil || m2[1] != m[1] {
		t.Errorf("re-run with the same key: ok=%v %s; want the first copy %s", rerun.OK, rerun.Body, m[1])
	}
	again := call("twin", "k2", 1)
	if again.OK || again.Retry || faultCode(string(again.Body)) != "30000" ||
		!strings.Contains(string(again.Body), "Asset ID 'twin' is already in use.") {
		t.Errorf("dropped again: ok=%v retry=%v %s; want fault 30000, already in use", again.OK, again.Retry, again.Body)
	}
	if got := shelf(); len(got) != 1 || got[0] != "twin.png" {
		t.Errorf("shelf holds %v; want twin.png only", got)
	}

	// a crash after the copy was linked into place but before the catalog
	// recorded it: the file carries the key, and a rescan adopts it
	p := filepath.Join(a.root, "Acme/shelf/lost.png")
	data, err := os.ReadFile(filepath.Join(a.root, "Acme/pics/red.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, "user.ipsd.request", []byte("k3"), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	if err := d.store.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	lost := a.asset(t, "Acme/shelf/lost.png")
	rerun = call("lost", "k3", 2)
	if m3 := resultHandleRE.FindStringSubmatch(string(rerun.Body)); !rerun.OK || m3 == nil || m3[1] != lost {
		t.Errorf("re-run after a crash before the catalog commit: ok=%v %s; want %s", rerun.OK, rerun.Body, lost)
	}
	if got := shelf(); len(got) != 2 {
		t.Errorf("shelf holds %v; want twin.png and lost.png only", got)
	}
}
