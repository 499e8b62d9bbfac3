package fsstore

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// getXattr reads the extended attribute name of f. A missing attribute or a
// file system without xattrs gives "" and no error.
func getXattr(f *os.File, name string) (string, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return "", err
	}
	buf := make([]byte, 256)
	var n int
	var xerr error
	if err := rc.Control(func(fd uintptr) {
		n, xerr = unix.Fgetxattr(int(fd), name, buf)
	}); err != nil {
		return "", err
	}
	if xerr != nil {
		if errors.Is(xerr, unix.ENODATA) || xattrUnsupported(xerr) || errors.Is(xerr, unix.ERANGE) {
			return "", nil
		}
		return "", &os.PathError{Op: "getxattr", Path: f.Name(), Err: xerr}
	}
	return string(buf[:n]), nil
}

// setXattr sets the extended attribute name of f to value.
func setXattr(f *os.File, name, value string) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var xerr error
	if err := rc.Control(func(fd uintptr) {
		xerr = unix.Fsetxattr(int(fd), name, []byte(value), 0)
	}); err != nil {
		return err
	}
	if xerr != nil {
		return &os.PathError{Op: "setxattr", Path: f.Name(), Err: xerr}
	}
	return nil
}

// xattrUnsupported reports whether err says the file system (or its mount
// options) has no user xattrs.
func xattrUnsupported(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)
}

// fileKey returns the device and inode number of fi, and the group id.
func fileKey(fi os.FileInfo) (dev, ino uint64, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino, int(st.Gid)
	}
	return 0, 0, -1
}

// cloneFile makes dst share src's extents (FICLONE). It fails on file
// systems without reflinks; callers fall back to copying.
func cloneFile(dst, src *os.File) error {
	drc, err := dst.SyscallConn()
	if err != nil {
		return err
	}
	src2, err := src.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	err = drc.Control(func(dfd uintptr) {
		err2 := src2.Control(func(sfd uintptr) {
			cerr = unix.IoctlFileClone(int(dfd), int(sfd))
		})
		if cerr == nil {
			cerr = err2
		}
	})
	if err != nil {
		return err
	}
	return cerr
}

// processAlive reports whether a process with this pid exists on this host.
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// watchLimitErr reports whether err from adding a watch means the kernel's
// inotify limits are exhausted.
func watchLimitErr(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EMFILE)
}

// openFlags are added when opening tree files for reading: never follow a
// final symlink, never block on a FIFO.
const openFlags = unix.O_NOFOLLOW | unix.O_NONBLOCK
