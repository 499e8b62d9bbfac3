//go:build unix

package watch

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// owner returns the uid owning the file described by fi.
func owner(fi fs.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}

// group returns the gid of the file described by fi.
func group(fi fs.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Gid
	}
	return 0
}

// inode returns the inode number of the file described by fi, or 0.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// links returns the number of hard links of the file described by fi.
func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// pidAlive reports whether a process with id pid exists on this host.
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// openNoFollow opens name for reading without following a symlink, and
// without waiting for a writer when name is (by now) a named pipe: the
// caller finds it is not a regular file instead of blocking in open(2).
func openNoFollow(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// syncDir makes the entries of directory dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// placeFile gives the file at oldpath the additional name newpath without
// replacing anything: an existing newpath yields an error matching
// fs.ErrExist. It hard-links where the file system allows; elsewhere it
// moves the file (see the BUG note in the package doc). moved reports
// whether oldpath is gone.
func placeFile(oldpath, newpath string) (moved bool, err error) {
	err = os.Link(oldpath, newpath)
	if err == nil || !linkUnsupported(err) {
		return false, err
	}
	return true, renameNoReplace(oldpath, newpath)
}

// linkUnsupported reports whether err from link(2) means the file system
// has no hard links.
func linkUnsupported(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) ||
		errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) ||
		errors.Is(err, syscall.EMLINK)
}

// isNotExist reports whether err means a missing file or directory.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
