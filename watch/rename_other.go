//go:build unix && !linux

package watch

import "os"

// renameNoReplace renames oldpath to newpath, failing with an error matching
// fs.ErrExist if newpath exists. It checks first and renames, which leaves a
// small race.
func renameNoReplace(oldpath, newpath string) error {
	if _, err := os.Lstat(newpath); err == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrExist}
	}
	return os.Rename(oldpath, newpath)
}
