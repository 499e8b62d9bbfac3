package fsstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fallbackPoll is the poll interval after inotify failed, when Config.Poll
// does not give one.
const fallbackPoll = 10 * time.Second

// watcher is the part of *fsnotify.Watcher that Run uses.
type watcher interface {
	Add(name string) error
	Remove(name string) error
	Close() error
	Events() <-chan fsnotify.Event
	Errors() <-chan error
}

type fsWatcher struct{ w *fsnotify.Watcher }

func newFSWatcher() (watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return fsWatcher{w}, nil
}

func (f fsWatcher) Add(name string) error         { return f.w.Add(name) }
func (f fsWatcher) Remove(name string) error      { return f.w.Remove(name) }
func (f fsWatcher) Close() error                  { return f.w.Close() }
func (f fsWatcher) Events() <-chan fsnotify.Event { return f.w.Events }
func (f fsWatcher) Errors() <-chan error          { return f.w.Errors }

// dirID identifies a directory independently of its path.
type dirID struct{ dev, ino uint64 }

// watchState is Run's inotify state. Guarded by Store.wmu.
type watchState struct {
	w watcher
	// dirs maps each watched directory (root-relative; "." is the root)
	// to the directory it was added for, and byID maps back. inotify
	// watches inodes, not paths: a watch follows its directory through a
	// rename, and fsnotify keeps reporting it under the old name (adding
	// the new name returns the old watch). byID lets watchDir notice such
	// a directory and watch it afresh under its new name.
	dirs map[string]dirID
	byID map[dirID]string
	// polled holds the directories whose watch the kernel refused
	// (ENOSPC, EMFILE: inotify limits) and no ancestor of which is
	// polled: Run polls their subtrees, and watches them again once the
	// kernel allows.
	polled map[string]bool
}

// watchDir adds an inotify watch on the directory rel, if Run watches.
func (s *Store) watchDir(rel string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ws := s.watch
	if ws == nil {
		return
	}
	fi, err := s.root.Lstat(rel)
	if err != nil || !fi.IsDir() {
		return // gone meanwhile: its listing fails too
	}
	dev, ino, _ := fileKey(fi)
	id := dirID{dev, ino}
	if old, ok := ws.byID[id]; ok && old != rel && ws.dirs[old] == id {
		// renamed from old: drop the watch that carries the old name, so
		// that the one added below reports the new one
		_ = ws.w.Remove(s.abs(old))
		ws.forget(old)
	}
	err = ws.w.Add(s.abs(rel))
	switch {
	case err == nil:
		if prev, ok := ws.dirs[rel]; !ok || prev != id {
			ws.forget(rel)
			ws.dirs[rel], ws.byID[id] = id, rel
			s.reportWatchesLocked()
		}
		if ws.polled[rel] {
			delete(ws.polled, rel)
			s.logger.Info("watching folder with inotify again", "path", rel, "polled", len(ws.polled))
		}
	case watchLimitErr(err):
		if ws.polled[rel] || ws.polledAbove(rel) {
			return
		}
		for p := range ws.polled {
			if rel == "." || strings.HasPrefix(p, rel+"/") {
				delete(ws.polled, p) // polled as part of rel from now on
			}
		}
		ws.polled[rel] = true
		s.logger.Warn("inotify watch refused; polling this folder and everything below it",
			"path", rel, "err", err, "interval", s.fallbackPoll, "polled", len(ws.polled))
		if f := s.cfg.Hooks.OnPollFallback; f != nil {
			f()
		}
	default:
		s.logger.Debug("watching folder", "path", rel, "err", err)
	}
}

// forget drops the record of a watch on rel.
func (ws *watchState) forget(rel string) {
	if id, ok := ws.dirs[rel]; ok {
		delete(ws.dirs, rel)
		if ws.byID[id] == rel {
			delete(ws.byID, id)
		}
	}
}

// polledAbove reports whether a proper ancestor of rel is polled.
func (ws *watchState) polledAbove(rel string) bool {
	for p := range ws.polled {
		if p != rel && (p == "." || strings.HasPrefix(rel, p+"/")) {
			return true
		}
	}
	return false
}

func (s *Store) abs(rel string) string {
	return filepath.Join(s.cfg.Root, filepath.FromSlash(rel))
}

// unwatchBelow forgets the watches on rel and below (the kernel drops the
// watch of a deleted directory itself), and stops polling there.
func (s *Store) unwatchBelow(rel string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ws := s.watch
	if ws == nil {
		return
	}
	n := len(ws.dirs)
	for d := range ws.dirs {
		if d == rel || strings.HasPrefix(d, rel+"/") {
			ws.w.Remove(s.abs(d)) // usually already gone
			ws.forget(d)
		}
	}
	for d := range ws.polled {
		if d == rel || strings.HasPrefix(d, rel+"/") {
			delete(ws.polled, d)
		}
	}
	if len(ws.dirs) != n {
		s.reportWatchesLocked()
	}
}

// polledDirs returns the tops of the subtrees Run polls, sorted.
func (s *Store) polledDirs() []string {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.watch == nil {
		return nil
	}
	out := make([]string, 0, len(s.watch.polled))
	for d := range s.watch.polled {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// reportWatchesLocked calls Hooks.OnWatches. s.wmu must be held.
func (s *Store) reportWatchesLocked() {
	if f := s.cfg.Hooks.OnWatches; f != nil {
		n := 0
		if s.watch != nil {
			n = len(s.watch.dirs)
		}
		f(n)
	}
}

// Run keeps the catalog in sync with the tree until ctx is done: with
// inotify watches, or by polling when Config.Poll is set or no inotify
// instance can be had; subtrees the kernel refuses to watch (ENOSPC,
// EMFILE) are polled on their own; plus a full rescan every Config.Rescan. It returns
// ctx.Err() when ctx is done. Only one Run per Store.
func (s *Store) Run(ctx context.Context) error {
	if s.cfg.ReadOnly {
		return ErrReadOnly
	}
	if s.cfg.Poll > 0 {
		return s.runPoll(ctx, s.cfg.Poll)
	}
	err := s.runWatch(ctx)
	var fe *fallbackError
	if !errors.As(err, &fe) {
		return err
	}
	s.logger.Warn("inotify unavailable; polling the tree instead", "err", fe.err, "interval", s.fallbackPoll)
	if f := s.cfg.Hooks.OnPollFallback; f != nil {
		f()
	}
	return s.runPoll(ctx, s.fallbackPoll)
}

type fallbackError struct{ err error }

func (e *fallbackError) Error() string { return "watching tree: " + e.err.Error() }
func (e *fallbackError) Unwrap() error { return e.err }

// runPoll reconciles the whole tree every interval (and every
// Config.Rescan) until ctx is done.
func (s *Store) runPoll(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := s.reconcile(ctx, "poll"); err != nil && ctx.Err() == nil {
			s.logger.Warn("polling tree", "err", err)
		}
	}
}

// runWatch is Run with inotify. It returns a *fallbackError when no
// inotify instance can be had; subtrees the kernel refuses to watch are
// polled every fallbackPoll.
func (s *Store) runWatch(ctx context.Context) error {
	w, err := s.newWatcher()
	if err != nil {
		if watchLimitErr(err) {
			return &fallbackError{err}
		}
		return fmt.Errorf("watching tree: %w", err)
	}
	s.wmu.Lock()
	s.watch = &watchState{w: w, dirs: map[string]dirID{}, byID: map[dirID]string{}, polled: map[string]bool{}}
	s.wmu.Unlock()
	defer func() {
		s.wmu.Lock()
		s.watch = nil
		s.reportWatchesLocked()
		s.wmu.Unlock()
		w.Close()
	}()

	// pending collects dirty paths; the reader goroutine never touches the
	// catalog, so a slow transaction cannot overflow the kernel queue
	var (
		mu       sync.Mutex
		pending  = map[string]bool{}
		rescan   = ""
		wake     = make(chan struct{}, 1)
		readDone = make(chan struct{})
	)
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	rctx, stopReader := context.WithCancel(ctx)
	defer func() { stopReader(); <-readDone }()
	// the reader returns when rctx is done or the watcher is closed
	go func() {
		defer close(readDone)
		for {
			select {
			case <-rctx.Done():
				return
			case ev, ok := <-w.Events():
				if !ok {
					return
				}
				if f := s.cfg.Hooks.OnWatchEvent; f != nil {
					f()
				}
				rel, ok := s.relPath(ev.Name)
				if !ok {
					continue
				}
				mu.Lock()
				pending[rel] = true
				mu.Unlock()
				notify()
			case err, ok := <-w.Errors():
				if !ok {
					return
				}
				reason := "error"
				if errors.Is(err, fsnotify.ErrEventOverflow) {
					reason = "overflow"
					s.logger.Warn("inotify event queue overflowed; rescanning")
					if f := s.cfg.Hooks.OnOverflow; f != nil {
						f()
					}
				} else {
					s.logger.Warn("watching tree", "err", err)
				}
				mu.Lock()
				rescan = reason
				mu.Unlock()
				notify()
			}
		}
	}()

	s.checkWatchLimit()

	// the first scan adds the watches; anything created before them is
	// found by the listing that follows each
	if err := s.reconcile(ctx, "start"); err != nil {
		return err
	}

	var tick <-chan time.Time
	if s.cfg.Rescan > 0 {
		t := time.NewTicker(s.cfg.Rescan)
		defer t.Stop()
		tick = t.C
	}
	// subtrees the kernel would not watch are polled
	pollT := time.NewTicker(s.fallbackPoll)
	defer pollT.Stop()
	// what failed to sync (the catalog busy, its disk full) is tried again
	// after fallbackPoll rather than left to the next periodic rescan
	var (
		retryC      <-chan time.Time
		retryPaths  = map[string]bool{}
		retryRescan = ""
		tries       = map[string]int{} // failed syncs of a path in a row
	)
	for {
		var pollC <-chan time.Time
		if len(s.polledDirs()) > 0 {
			pollC = pollT.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			mu.Lock()
			rescan = "periodic"
			mu.Unlock()
		case <-pollC:
			s.pollSubtrees(ctx)
			continue
		case <-retryC:
			retryC = nil
			mu.Lock()
			for p := range retryPaths {
				pending[p] = true
			}
			if retryRescan != "" && rescan == "" {
				rescan = retryRescan
			}
			mu.Unlock()
			retryPaths, retryRescan = map[string]bool{}, ""
		case <-wake:
		}
		mu.Lock()
		paths := pending
		pending = map[string]bool{}
		reason := rescan
		rescan = ""
		mu.Unlock()

		var failed map[string]bool
		if reason != "" {
			if err := s.reconcile(ctx, reason); err != nil && ctx.Err() == nil {
				s.logger.Warn("rescanning tree; trying again", "reason", reason, "err", err, "retry_in", s.fallbackPoll)
				retryRescan = reason
			}
		} else if len(paths) > 0 {
			failed = s.syncPaths(ctx, paths)
		}
		for p := range paths {
			if !failed[p] {
				delete(tries, p)
			}
		}
		for p := range failed {
			if tries[p]++; tries[p] > maxSyncTries {
				s.logger.Warn("syncing catalog failed again; leaving the path to the next rescan", "path", p, "tries", tries[p])
				delete(tries, p)
				continue
			}
			retryPaths[p] = true
		}
		if retryC == nil && ctx.Err() == nil && (len(retryPaths) > 0 || retryRescan != "") {
			retryC = time.After(s.fallbackPoll)
		}
	}
}

// maxSyncTries is how many times in a row a path whose sync failed is
// tried again (every fallbackPoll) before it is left to the next rescan.
const maxSyncTries = 30

// maxPolledSubtrees is how many polled subtrees are synced one by one; with
// more, a poll reconciles the whole tree.
const maxPolledSubtrees = 64

// pollSubtrees syncs the catalog with the subtrees that could not be
// watched; walking them also tries to watch them again.
func (s *Store) pollSubtrees(ctx context.Context) {
	tops := s.polledDirs()
	if len(tops) == 0 {
		return
	}
	if len(tops) > maxPolledSubtrees || slices.Contains(tops, ".") {
		if err := s.reconcile(ctx, "poll"); err != nil && ctx.Err() == nil {
			s.logger.Warn("polling tree", "err", err)
		}
		return
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	for _, top := range tops {
		if ctx.Err() != nil {
			return
		}
		if _, err := s.syncPathLocked(ctx, top); err != nil && ctx.Err() == nil {
			s.logger.Warn("polling folder", "path", top, "err", err)
		}
	}
}

// maxUserWatchesFile holds the kernel's per-user limit of inotify watches;
// userNSWatchesFile the limit of the user namespace ipsd runs in (in a
// container it may be lower; outside it is the same number).
const (
	maxUserWatchesFile = "/proc/sys/fs/inotify/max_user_watches"
	userNSWatchesFile  = "/proc/sys/user/max_inotify_watches"
)

// checkWatchLimit compares the number of directories Run is about to watch
// (one inotify watch each) with the inotify watch limit (the lower of
// fs.inotify.max_user_watches and the user namespace's
// user.max_inotify_watches) and logs both: at Warn when the tree needs
// more than three quarters of the limit, which all processes of this user
// share.
func (s *Store) checkWatchLimit() {
	_, folders, _ := s.Stats()
	dirs := folders + 1 // and the root
	limit := 0
	for _, f := range s.watchLimitFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			s.logger.Debug("reading inotify watch limit", "file", f, "err", err)
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 && (limit == 0 || n < limit) {
			limit = n
		}
	}
	if limit == 0 {
		return
	}
	switch {
	case dirs > limit:
		s.logger.Warn("the tree has more directories than inotify watches allowed; what cannot be watched will be polled",
			"directories", dirs, "max_user_watches", limit)
	case dirs > limit/4*3:
		s.logger.Warn("the tree needs most of the inotify watches allowed; raise fs.inotify.max_user_watches",
			"directories", dirs, "max_user_watches", limit)
	default:
		s.logger.Info("watching the tree with inotify", "directories", dirs, "max_user_watches", limit)
	}
}

// relPath turns an event's absolute name into a root-relative path; ok is
// false for the root itself and for dot names anywhere in the path.
func (s *Store) relPath(name string) (string, bool) {
	rel, err := filepath.Rel(s.cfg.Root, name)
	if err != nil || rel == "." || !filepath.IsLocal(rel) {
		return "", false
	}
	rel = filepath.ToSlash(rel)
	for c := range strings.SplitSeq(rel, "/") {
		if ignoredDir(c) {
			return "", false
		}
	}
	return rel, true
}

// syncPaths brings the catalog in line with the tree at each of paths. It
// returns the paths that could not be synced (the catalog failed), for the
// caller to try again.
func (s *Store) syncPaths(ctx context.Context, paths map[string]bool) (failed map[string]bool) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	failed = map[string]bool{}
	// parents first, and skip paths whose ancestor is rescanned anyway
	list := make([]string, 0, len(paths))
	for p := range paths {
		list = append(list, p)
	}
	slices.Sort(list)
	var scanned, files []string
	defer func() {
		// new and changed files in few transactions: a burst of copies
		// costs one commit per batch, not one per file
		for chunk := range slices.Chunk(files, batchSize) {
			err := s.inTx(ctx, func(t *txn) error {
				for _, rel := range chunk {
					if err := t.upsertFile(rel); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil && ctx.Err() == nil {
				s.logger.Warn("syncing catalog; trying again", "paths", len(chunk), "err", err, "retry_in", s.fallbackPoll)
				for _, rel := range chunk {
					failed[rel] = true
				}
			}
		}
	}()
	for _, rel := range list {
		if ctx.Err() != nil {
			return
		}
		covered := false
		for _, d := range scanned {
			if strings.HasPrefix(rel, d+"/") {
				covered = true
				break
			}
		}
		if covered {
			continue
		}
		if fi, err := s.root.Lstat(rel); err == nil && fi.Mode().IsRegular() {
			if strings.Contains(rel, "/") && !ignoredFile(path.Base(rel)) {
				files = append(files, rel)
			}
			continue
		}
		isDir, err := s.syncPathLocked(ctx, rel)
		if err != nil && ctx.Err() == nil {
			s.logger.Warn("syncing catalog; trying again", "path", rel, "err", err, "retry_in", s.fallbackPoll)
			failed[rel] = true
		}
		if isDir {
			scanned = append(scanned, rel)
		}
	}
	return failed
}

// syncPathLocked updates the catalog for one path. s.syncMu must be held.
func (s *Store) syncPathLocked(ctx context.Context, rel string) (isDir bool, err error) {
	fi, err := s.root.Lstat(rel)
	switch {
	case err != nil || (!fi.IsDir() && !fi.Mode().IsRegular()):
		// gone (or replaced by a symlink or device)
		s.unwatchBelow(rel)
		return false, s.inTx(ctx, func(t *txn) error { return t.removePath(rel) })
	case fi.IsDir():
		if !strings.Contains(rel, "/") && !isCompanyName(rel) {
			return false, nil
		}
		return true, s.syncTreeLocked(ctx, rel)
	default:
		if !strings.Contains(rel, "/") || ignoredFile(path.Base(rel)) {
			return false, nil // files at the top level belong to no company
		}
		return false, s.inTx(ctx, func(t *txn) error { return t.upsertFile(rel) })
	}
}
