package daemon

import (
	"errors"
	"fmt"
	"io/fs"
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
