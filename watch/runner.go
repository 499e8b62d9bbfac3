package watch

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// liveInst holds the instance ids of the runners alive in this process, so
// that a sweep of .work/ can tell this process's claims from those of an
// earlier process that had the same pid.
var liveInst sync.Map

// jobKind says what a worker does with a job.
type jobKind int

const (
	jobClaim   jobKind = iota // claim a file from the folder
	jobRecover                // take over a dead process's claim
	jobRetry                  // run an own claim again
)

// A job is one unit of work for a worker.
type job struct {
	kind    jobKind
	name    string   // request name
	work    string   // entry in .work/ (jobRecover: the dead one)
	attempt int      // attempt to run
	fail    *failure // jobClaim: fail instead of handling
	ready   time.Time
	size    int64     // jobClaim: size and mtime judged, to recheck
	mtime   time.Time // before claiming
}

// A failure is a request the Watcher fails without calling the Handler.
type failure struct {
	code   int
	reason string
}

// doneMsg reports a finished job to the loop.
type doneMsg struct {
	job      job
	retry    string // non-empty: own claim to run again after a backoff
	stuck    string // non-empty: own claim whose outcome could not be stored or filed
	attempt  int    // the attempt the job ran
	claimErr bool   // jobClaim: the rename failed other than by losing a race
}

// A stuckClaim is an own claim whose outcome could not be stored or filed.
type stuckClaim struct {
	name    string
	attempt int
}

// A retry is an own claim waiting for its next attempt.
type retry struct {
	due time.Time
	job job
}

// A runner is the state of one Run call. Its fields are owned by the loop
// goroutine, except those read by workers, which are set before the loop
// starts and not changed.
type runner struct {
	w      *Watcher
	log    *slog.Logger
	inst   string
	pol    policy
	tick   time.Duration
	poll   time.Duration   // 0: inotify
	stop   <-chan struct{} // closed when Run's ctx is done
	hctx   context.Context // for Handler calls
	cancel context.CancelFunc

	fw      *fsnotify.Watcher
	lost    bool   // the folder is gone; re-add its watch when it is back
	dirIno  uint64 // inode of the folder the watch was added for
	parent  string // the folder's parent directory, watched for deletions
	cands   map[string]*cand
	queue   []job
	retries []retry
	recov   map[string]bool       // .work/ entries queued or running as jobRecover
	stuck   map[string]stuckClaim // own .work/ entries to file or run again at the next sweep
	busy    int                   // jobs running
	claims  int                   // jobClaim jobs running
	done    chan doneMsg

	lastDepth  int // queue length last reported
	lastReport time.Time
	failing    bool            // listing the folder failed last time
	longNames  map[string]bool // names too long, warned about once
}

func newRunner(ctx context.Context, w *Watcher) *runner {
	tick := min(w.cfg.Settle/4, 250*time.Millisecond)
	tick = max(tick, 10*time.Millisecond)
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &runner{
		w:    w,
		inst: randHex(4),
		pol: policy{
			settle:     w.cfg.Settle,
			window:     tick,
			incomplete: w.cfg.Incomplete,
			maxBytes:   w.cfg.MaxBytes,
			trustMtime: w.cfg.Poll == 0,
		},
		tick:      tick,
		poll:      w.cfg.Poll,
		stop:      ctx.Done(),
		hctx:      hctx,
		cancel:    cancel,
		cands:     make(map[string]*cand),
		recov:     make(map[string]bool),
		stuck:     make(map[string]stuckClaim),
		longNames: make(map[string]bool),
		done:      make(chan doneMsg, w.cfg.Workers),
	}
	r.log = w.log.With("instance", r.inst)
	liveInst.Store(r.inst, true)
	return r
}

// close releases what newRunner and loop acquired. Workers have returned.
func (r *runner) close() {
	r.cancel()
	if r.fw != nil {
		r.fw.Close()
	}
	liveInst.Delete(r.inst)
}

// loop is the body of Run: it owns the candidates, the queue and the timers,
// and starts one goroutine per job, at most Workers at a time.
func (r *runner) loop(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if r.poll == 0 {
		events, errs = r.startNotify()
	}
	r.fullScan("start")

	rescan := time.NewTicker(r.w.cfg.Rescan)
	defer rescan.Stop()
	var pollC <-chan time.Time
	if r.poll > 0 {
		t := time.NewTicker(r.poll)
		defer t.Stop()
		pollC = t.C
	}
	tickT := time.NewTimer(r.tick)
	defer tickT.Stop()
	retryT := time.NewTimer(time.Hour)
	defer retryT.Stop()

	for {
		r.dispatch()
		r.report()
		var tickC <-chan time.Time
		if r.poll == 0 && (r.lost || r.hasSettling()) {
			tickC = tickT.C
		}
		var retryC <-chan time.Time
		if len(r.retries) > 0 {
			retryT.Reset(time.Until(r.retries[0].due))
			retryC = retryT.C
		}

		select {
		case <-ctx.Done():
			return r.drain(ctx)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if !r.w.dropEvents.Load() {
				r.onEvent(ev)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.onError(err)
		case err := <-r.w.inject:
			r.onError(err)
		case <-rescan.C:
			r.fullScan("periodic")
		case <-pollC:
			r.scan("poll")
			r.check()
		case <-tickC:
			tickT.Reset(r.tick)
			if r.lost {
				r.reAdd()
			}
			r.check()
		case <-retryC:
			r.dueRetries()
		case d := <-r.done:
			r.finished(d)
		}
	}
}

// drain waits for running jobs after ctx is done. Handler contexts are
// cancelled when the grace period ends.
func (r *runner) drain(ctx context.Context) error {
	if r.busy > 0 {
		r.log.Info("stopping; waiting for running requests", "running", r.busy)
	}
	grace := time.NewTimer(r.w.cfg.Grace)
	defer grace.Stop()
	for r.busy > 0 {
		select {
		case d := <-r.done:
			r.finished(d)
		case <-grace.C:
			r.log.Warn("shutdown grace period over; cancelling running requests",
				"running", r.busy)
			r.cancel()
		}
	}
	return ctx.Err()
}

// startNotify sets up inotify on the folder and its parent. When that fails
// it switches the runner to polling.
func (r *runner) startNotify() (<-chan fsnotify.Event, <-chan error) {
	fw, err := r.w.newNotify()
	if err == nil {
		err = fw.Add(r.w.dir)
		if err != nil {
			fw.Close()
		}
	}
	if err != nil {
		r.log.Warn("inotify unavailable; polling instead",
			"interval", r.w.fallbackPoll, "err", err)
		r.poll = r.w.fallbackPoll
		r.pol.trustMtime = false
		if h := r.w.cfg.Hooks.OnPollFallback; h != nil {
			h()
		}
		return nil, nil
	}
	r.fw = fw
	r.dirIno = r.folderInode()
	// the parent tells us when the folder is deleted, renamed or
	// created again
	if parent := filepath.Dir(r.w.dir); parent != r.w.dir {
		r.parent = parent
		r.watchParent()
	}
	return fw.Events, fw.Errors
}

// watchParent adds the watch on the folder's parent directory.
func (r *runner) watchParent() {
	if r.parent == "" {
		return
	}
	if err := r.fw.Add(r.parent); err != nil {
		r.log.Debug("not watching parent directory", "err", err)
	}
}

// folderInode returns the inode now at the folder's path, or 0.
func (r *runner) folderInode() uint64 {
	fi, err := os.Stat(r.w.dir)
	if err != nil || !fi.IsDir() {
		return 0
	}
	return inode(fi)
}

// loseFolder records that the watch no longer watches the folder's path:
// the folder (or a directory above it) was deleted or renamed. The watch is
// added again, and the folder scanned, once a folder is back at the path.
func (r *runner) loseFolder(why string) {
	if r.lost {
		return
	}
	r.log.Warn("watch folder disappeared; waiting for it to return", "cause", why)
	r.lost = true
	_ = r.fw.Remove(r.w.dir) // the kernel may have dropped it already
}

func (r *runner) onEvent(ev fsnotify.Event) {
	if ev.Name == r.w.dir {
		switch {
		case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
			r.loseFolder("removed or renamed")
		case ev.Has(fsnotify.Create) && r.lost:
			r.reAdd()
		}
		return
	}
	if ev.Name == r.parent && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
		// the watch follows the folder to wherever its parent went, and
		// would go on reporting the old path
		r.loseFolder("parent directory removed or renamed")
		return
	}
	if filepath.Dir(ev.Name) != r.w.dir {
		return // a sibling, seen through the parent's watch
	}
	name := filepath.Base(ev.Name)
	if !isRequestName(name) {
		return
	}
	if h := r.w.cfg.Hooks.OnEvent; h != nil {
		h(opName(ev.Op))
	}
	switch {
	case ev.Has(fsnotify.Create):
		r.observe(name, fsnotify.Create)
	case ev.Has(fsnotify.Write):
		r.observe(name, fsnotify.Write)
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Chmod):
		r.observe(name, 0)
	}
}

func opName(op fsnotify.Op) string {
	switch {
	case op.Has(fsnotify.Create):
		return "create"
	case op.Has(fsnotify.Write):
		return "write"
	case op.Has(fsnotify.Remove):
		return "remove"
	case op.Has(fsnotify.Rename):
		return "rename"
	}
	return "chmod"
}

func (r *runner) onError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		if h := r.w.cfg.Hooks.OnOverflow; h != nil {
			h()
		}
		r.log.Warn("file events lost; rescanning", "err", err)
		r.fullScan("overflow")
		return
	}
	r.log.Warn("file watch error; rescanning", "err", err)
	r.fullScan("error")
}

// reAdd watches the folder again once it exists again.
func (r *runner) reAdd() {
	ino := r.folderInode()
	if ino == 0 {
		return
	}
	if err := r.fw.Add(r.w.dir); err != nil {
		r.log.Debug("watching recreated folder", "err", err)
		return
	}
	r.lost, r.dirIno = false, ino
	r.watchParent()
	r.log.Info("watch folder is back")
	r.fullScan("recreated")
}

// checkFolder notices, at a full scan, a folder that was replaced without
// an event telling (a directory above its parent was renamed, say): the
// path is gone, or holds another directory than the one watched. It
// reports whether it watched the folder again, which scans it.
func (r *runner) checkFolder() bool {
	if r.fw == nil || r.lost {
		return false
	}
	ino := r.folderInode()
	if ino == r.dirIno {
		return false
	}
	r.loseFolder("replaced")
	if ino == 0 {
		return false
	}
	r.reAdd()
	return !r.lost
}

// observe stats the top-level file name after an event (op Create or Write;
// 0 for anything else, or a scan) and updates its candidate.
func (r *runner) observe(name string, op fsnotify.Op) {
	c := r.cands[name]
	if c != nil && c.state != settling {
		return // finished() looks again
	}
	fi, err := os.Lstat(filepath.Join(r.w.dir, name))
	if err != nil || !fi.Mode().IsRegular() {
		delete(r.cands, name)
		return
	}
	if len(name) > MaxNameLen {
		if !r.longNames[name] {
			r.longNames[name] = true
			r.log.Warn("ignoring request file with a long name",
				"file", name, "max_bytes", MaxNameLen)
		}
		return
	}
	now := time.Now()
	if c == nil {
		c = &cand{}
		r.cands[name] = c
	}
	c.observe(now, fi)
	switch op {
	case fsnotify.Create:
		c.created = now
		c.parsed = false
	case fsnotify.Write:
		c.touch(now)
	}
}

// hasSettling reports whether any candidate is waiting to be finished.
func (r *runner) hasSettling() bool {
	for _, c := range r.cands {
		if c.state == settling {
			return true
		}
	}
	return false
}

// fullScan scans the folder and sweeps .work/.
func (r *runner) fullScan(reason string) {
	if reason != "recreated" && r.checkFolder() {
		return // watched again and scanned
	}
	if !r.scan(reason) {
		return
	}
	if err := os.Mkdir(r.w.workDir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		r.log.Warn("creating work directory", "err", err)
		return
	}
	r.sweep()
	r.check()
}

// scan lists the folder and adds files not seen before. It reports whether
// the folder could be listed; failures are logged when they begin and end.
func (r *runner) scan(reason string) bool {
	if h := r.w.cfg.Hooks.OnRescan; h != nil {
		h(reason)
	}
	entries, err := os.ReadDir(r.w.dir)
	if err != nil {
		if !r.failing && !r.lost {
			r.log.Warn("listing watch folder; retrying", "err", err)
		}
		r.failing = true
		return false
	}
	if r.failing {
		r.failing = false
		r.log.Info("watch folder readable again")
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !isRequestName(name) {
			continue
		}
		seen[name] = true
		if r.cands[name] == nil {
			r.observe(name, 0)
		}
	}
	for name, c := range r.cands {
		if c.state == settling && !seen[name] {
			delete(r.cands, name)
		}
	}
	return true
}

// check stats the settling candidates and queues those that are finished.
func (r *runner) check() {
	now := time.Now()
	var add []job
	for name, c := range r.cands {
		if c.state != settling {
			continue
		}
		fi, err := os.Lstat(filepath.Join(r.w.dir, name))
		if err != nil || !fi.Mode().IsRegular() {
			delete(r.cands, name)
			continue
		}
		c.observe(now, fi)
		v := r.pol.judge(c, now)
		if v == needParse {
			c.parseErr = r.parse(name)
			c.parsed = true
			v = r.pol.judge(c, now)
		}
		j := job{kind: jobClaim, name: name, attempt: 1, size: c.size, mtime: c.mtime}
		switch v {
		case wait, needParse:
			continue
		case failTooBig:
			j.fail = &failure{CodeInvalidXML, tooBigReason(r.w.cfg.MaxBytes)}
			r.log.Warn("request file too large", "file", name, "size", c.size)
		case failIncomplete:
			j.fail = &failure{CodeInvalidXML, "Request file is not complete, well-formed XML: " +
				c.parseErr.Error()}
			r.log.Warn("request file stayed incomplete; failing it",
				"file", name, "err", c.parseErr)
		}
		c.state = queued
		c.ready = now
		j.ready = now
		add = append(add, j)
	}
	// oldest first, as AEM Watched Folders do
	slices.SortFunc(add, func(a, b job) int {
		return cmp.Or(a.mtime.Compare(b.mtime), strings.Compare(a.name, b.name))
	})
	r.queue = append(r.queue, add...)
}

func tooBigReason(max int64) string {
	return "Request file is larger than " + itoa(max) + " bytes."
}

// parse reads the top-level file name and checks it is complete XML.
func (r *runner) parse(name string) error {
	b, _, err := readLimited(filepath.Join(r.w.dir, name), r.w.cfg.MaxBytes)
	if err != nil {
		return err
	}
	return checkXML(b)
}

// dispatch starts jobs while workers are free.
func (r *runner) dispatch() {
	for r.busy < r.w.cfg.Workers && len(r.queue) > 0 {
		j := r.queue[0]
		r.queue[0] = job{}
		r.queue = r.queue[1:]
		if j.kind == jobClaim && !r.recheck(j) {
			continue
		}
		r.busy++
		if j.kind == jobClaim {
			r.claims++
		}
		// returns when the job is done; drain waits for it
		go func() { r.done <- r.do(j) }()
	}
	if len(r.queue) == 0 {
		r.queue = nil // let the backing array go
	}
}

// recheck reports whether a queued file is still what was judged finished;
// if not, it goes back to settling.
func (r *runner) recheck(j job) bool {
	c := r.cands[j.name]
	if c == nil {
		return false
	}
	if j.fail != nil {
		c.state = running
		return true
	}
	fi, err := os.Lstat(filepath.Join(r.w.dir, j.name))
	if err != nil || !fi.Mode().IsRegular() {
		delete(r.cands, j.name)
		return false
	}
	if fi.Size() != j.size || !fi.ModTime().Equal(j.mtime) {
		c.state = settling
		c.observe(time.Now(), fi)
		return false
	}
	c.state = running
	return true
}

// finished records a job a worker is done with.
func (r *runner) finished(d doneMsg) {
	r.busy--
	switch d.job.kind {
	case jobClaim:
		r.claims--
		if c := r.cands[d.job.name]; c != nil && d.claimErr {
			c.state = settling
			c.hold = time.Now().Add(r.w.cfg.Rescan)
			break
		}
		delete(r.cands, d.job.name)
		r.observe(d.job.name, 0) // a new file of the same name may be there
	case jobRecover:
		delete(r.recov, d.job.work)
	}
	if d.stuck != "" {
		r.stuck[d.stuck] = stuckClaim{name: d.job.name, attempt: d.attempt}
	}
	if d.retry != "" {
		j := job{kind: jobRetry, name: d.job.name, work: d.retry, attempt: d.job.attempt + 1}
		due := time.Now().Add(r.w.backoff(j.attempt))
		r.retries = append(r.retries, retry{due: due, job: j})
		slices.SortFunc(r.retries, func(a, b retry) int { return a.due.Compare(b.due) })
	}
}

// dueRetries queues the retries that are due.
func (r *runner) dueRetries() {
	now := time.Now()
	for len(r.retries) > 0 && !r.retries[0].due.After(now) {
		j := r.retries[0].job
		j.ready = now
		r.queue = append(r.queue, j)
		r.retries = r.retries[1:]
	}
}

// report publishes Pending and calls OnQueue when the queue changed, or at
// most once per tick otherwise.
func (r *runner) report() {
	n := len(r.cands) - r.claims + len(r.retries)
	for _, j := range r.queue {
		if j.kind != jobClaim {
			n++
		}
	}
	r.w.pending.Store(int64(n))

	h := r.w.cfg.Hooks.OnQueue
	now := time.Now()
	if h == nil || len(r.queue) == r.lastDepth && now.Sub(r.lastReport) < r.tick {
		return
	}
	r.lastDepth, r.lastReport = len(r.queue), now
	var oldest time.Duration
	if len(r.queue) > 0 {
		oldest = now.Sub(r.queue[0].ready) // queued in order of readiness
	}
	h(len(r.queue), oldest)
}
