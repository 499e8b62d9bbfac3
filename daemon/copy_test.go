package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/ipsd/ipsd/render"
)

// TestTransient pins which copy failures a watch folder retries (R11):
// resource and I/O errors do; bad modifiers, missing files and
// permissions never do.
func TestTransient(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&fs.PathError{Op: "write", Path: "/t/x.tmp", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("reading asset a|1|1|1: %w", &fs.PathError{Op: "read", Path: "x", Err: syscall.EIO}), true},
		{fmt.Errorf("open: %w", syscall.EAGAIN), true},
		{fmt.Errorf("open: %w", syscall.EBUSY), true},
		{errors.New("reserving: database is locked (5) (SQLITE_BUSY)"), true},
		// the catalog's disk full (SQLITE_FULL) or failing (SQLITE_IOERR)
		// is the tree's ENOSPC or EIO: worth waiting for
		{errors.New(`reserving "x" in Co: committing catalog transaction: database or disk is full (13)`), true},
		{errors.New("recording asset: disk I/O error (10)"), true},
		{&fs.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, false},
		{&fs.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, false},
		{&render.CommandError{Command: "wid", Value: "x", Reason: "not a number"}, false},
		{errors.New("decoding source: invalid JPEG format"), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	f := transientFault(30000, "Copy of '%s' failed: %v", "a|1|1|1", syscall.EIO)
	if !f.Transient || f.Code != 30000 || f.Kind != "ipsApiFault" {
		t.Errorf("transientFault = %+v", f)
	}
}

// TestCopyCancelledIsNoBadName: a copy whose request was cancelled before
// its name was reserved (the socket client hung up, or half-closed its end
// as socat and nc -N do once they have sent the request; ipsd shuts down)
// fails with 30000 saying so, not with 30001 calling the name invalid.
func TestCopyCancelledIsNoBadName(t *testing.T) {
	a := startAPI(t, []UserConfig{{Email: "me@x", Unix: []string{fmt.Sprint(os.Getuid())}, Memberships: []MembershipConfig{{Company: "Acme", Role: "IpsUser"}}}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	caller := a.d.users.Load().byEmail["me@x"]
	_, f := a.d.copyImage(ctx, copyJob{channel: "socket", caller: caller, params: copyParams{
		Company: a.acme.Handle, Asset: a.asset(t, "Acme/pics/red.png"), Folder: "Acme/shelf/", Name: "fine", Modifier: "wid=4",
	}})
	if f == nil || f.Code != 30000 || strings.Contains(f.Reason, "Invalid name") {
		t.Errorf("copyImage with a cancelled context = %v; want a 30000 fault that does not call the name invalid", f)
	}
}
