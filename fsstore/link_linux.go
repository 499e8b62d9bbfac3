package fsstore

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// linkFile links old to new under root; a variable so that tests can play
// a file system without hard links.
var linkFile = func(root *os.Root, old, new string) error { return root.Link(old, new) }

// linkUnsupported reports whether err says the file system cannot make
// hard links at all, as opposed to this link failing.
func linkUnsupported(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.ENOSYS)
}

// renameNoReplace renames old to new in the folder dir without replacing
// new (renameat2 with RENAME_NOREPLACE), failing with an error matching
// fs.ErrExist when new exists. A file system that has neither hard links
// nor RENAME_NOREPLACE cannot hold ipsd's tree: ipsd never replaces a
// file, and a check followed by a plain rename could.
func renameNoReplace(dir *os.Root, old, new string) error {
	d, err := dir.OpenFile(".", os.O_RDONLY|openFlags, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	err = unix.Renameat2(fd, old, fd, new, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: os.ErrExist}
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("the file system has neither hard links nor rename without replacing, so ipsd cannot write %s safely: %w", new, err)
	}
	return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
}
