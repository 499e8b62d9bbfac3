package fsstore

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestRunFolderRenamed renames folders with subfolders under a running
// store, in both orders of old and new name, and checks that the moved
// assets keep their handles and that the subfolders stay watched at their
// new paths: a file put there afterwards is seen without a rescan.
func TestRunFolderRenamed(t *testing.T) {
	for _, tt := range []struct{ from, to string }{
		{"Co/a", "Co/z"}, // the new name sorts after the old
		{"Co/y", "Co/b"}, // ...and before it
	} {
		t.Run(filepath.Base(tt.from)+"-to-"+filepath.Base(tt.to), func(t *testing.T) {
			e := newEnv(t)
			writeFile(t, filepath.Join(e.root, tt.from, "sub/deep/red.jpg"), jpegBytes(t, 1))
			writeFile(t, filepath.Join(e.root, "Co/other/keep.jpg"), jpegBytes(t, 2))
			s := e.open(t) // no periodic rescan: only events can find new files
			startRun(t, s)
			waitWatching(t, s, 6) // root, Co, from, from/sub, from/sub/deep, Co/other
			before := handles(t, s)[tt.from+"/sub/deep/red.jpg"]
			if before == "" {
				t.Fatal("red.jpg not cataloged")
			}

			if err := os.Rename(filepath.Join(e.root, tt.from), filepath.Join(e.root, tt.to)); err != nil {
				t.Fatal(err)
			}
			moved := tt.to + "/sub/deep/red.jpg"
			eventually(t, "moved red.jpg under its handle", func() bool { return handles(t, s)[moved] == before })
			eventually(t, "old path gone", lacksAsset(t, s, tt.from+"/sub/deep/red.jpg"))

			// the moved subfolders are still watched, under their new names
			for _, p := range []string{tt.to + "/new1.jpg", tt.to + "/sub/new2.jpg", tt.to + "/sub/deep/new3.jpg"} {
				writeFile(t, filepath.Join(e.root, p), jpegBytes(t, 3))
				eventually(t, p, hasAsset(t, s, p))
			}
			for p := range handles(t, s) {
				if filepath.Dir(p) == tt.from || len(p) > len(tt.from) && p[:len(tt.from)+1] == tt.from+"/" {
					t.Errorf("asset %s listed under the old folder name", p)
				}
			}
		})
	}
}

// refusingWatcher is a real fsnotify watcher whose Add fails for the paths
// refuse returns an error for, as the kernel does when inotify limits are
// reached.
type refusingWatcher struct {
	watcher
	refuse func(name string) error
}

func (r refusingWatcher) Add(name string) error {
	if err := r.refuse(name); err != nil {
		return err
	}
	return r.watcher.Add(name)
}

// TestRunPollsOnlyRefusedSubtree lets the kernel refuse the watches of one
// subtree: that subtree is polled, the rest keeps its inotify watches (no
// full-tree poll happens), the fallback is reported once, and once watches
// are allowed again the subtree is watched again.
func TestRunPollsOnlyRefusedSubtree(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EMFILE} {
		t.Run(errno.Error(), func(t *testing.T) {
			e := newEnv(t)
			writeFile(t, filepath.Join(e.root, "Co/watched/a.jpg"), jpegBytes(t, 1))
			writeFile(t, filepath.Join(e.root, "Co/big/sub/b.jpg"), jpegBytes(t, 2))
			big := filepath.Join(e.root, "Co/big")
			var refusing atomic.Bool
			refusing.Store(true)
			var fallbacks, fullPolls atomic.Int32
			cfg := e.cfg
			cfg.Hooks.OnPollFallback = func() { fallbacks.Add(1) }
			cfg.Hooks.OnRescan = func(reason string) {
				if reason == "poll" {
					fullPolls.Add(1)
				}
			}
			s := e.openCfg(t, cfg)
			s.fallbackPoll = 20 * time.Millisecond
			s.newWatcher = func() (watcher, error) {
				w, err := newFSWatcher()
				if err != nil {
					return nil, err
				}
				return refusingWatcher{w, func(name string) error {
					if refusing.Load() && (name == big || strings.HasPrefix(name, big+"/")) {
						return fmt.Errorf("adding watch: %w", errno)
					}
					return nil
				}}, nil
			}
			startRun(t, s)
			eventually(t, "Co/big polled", func() bool { return slices.Equal(s.polledDirs(), []string{"Co/big"}) })
			if n := fallbacks.Load(); n != 1 {
				t.Errorf("OnPollFallback called %d times; want once, for Co/big", n)
			}

			// both parts of the tree follow changes
			writeFile(t, filepath.Join(e.root, "Co/big/sub/new.jpg"), jpegBytes(t, 3))
			writeFile(t, filepath.Join(e.root, "Co/big/sub/deeper/new2.jpg"), jpegBytes(t, 4))
			writeFile(t, filepath.Join(e.root, "Co/watched/new.jpg"), jpegBytes(t, 5))
			for _, p := range []string{"Co/big/sub/new.jpg", "Co/big/sub/deeper/new2.jpg", "Co/watched/new.jpg"} {
				eventually(t, p, hasAsset(t, s, p))
			}
			os.Remove(filepath.Join(e.root, "Co/big/sub/b.jpg"))
			eventually(t, "b.jpg gone by polling", lacksAsset(t, s, "Co/big/sub/b.jpg"))
			if n := fullPolls.Load(); n != 0 {
				t.Errorf("%d full-tree polls; want only Co/big polled", n)
			}
			if n := fallbacks.Load(); n != 1 {
				t.Errorf("OnPollFallback called %d times after polls; want still 1", n)
			}

			// the limit is lifted: a poll watches the subtree again
			refusing.Store(false)
			eventually(t, "Co/big watched again", func() bool { return len(s.polledDirs()) == 0 })
			writeFile(t, filepath.Join(e.root, "Co/big/sub/deeper/late.jpg"), jpegBytes(t, 6))
			eventually(t, "late.jpg by inotify", hasAsset(t, s, "Co/big/sub/deeper/late.jpg"))
		})
	}
}
