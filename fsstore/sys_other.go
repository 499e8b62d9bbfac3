//go:build !linux

package fsstore

import (
	"errors"
	"os"
	"syscall"
)

var errUnsupported = errors.New("not supported on this platform")

func getXattr(f *os.File, name string) (string, error) { return "", nil }
func setXattr(f *os.File, name, value string) error    { return errUnsupported }
func xattrUnsupported(err error) bool                  { return errors.Is(err, errUnsupported) }
func cloneFile(dst, src *os.File) error                { return errUnsupported }
func processAlive(pid int) bool                        { return true }
func watchLimitErr(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE)
}

func fileKey(fi os.FileInfo) (dev, ino uint64, gid int) { return 0, 0, -1 }

const openFlags = syscall.O_NOFOLLOW

var linkFile = func(root *os.Root, old, new string) error { return root.Link(old, new) }

func linkUnsupported(err error) bool { return false }

func renameNoReplace(dir *os.Root, old, new string) error { return errUnsupported }
