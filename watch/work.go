package watch

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// maxPairs bounds the numeric suffixes tried in done/ and failed/.
const maxPairs = 100000

var errTooBig = errors.New("file too large")

// renameFile is os.Rename; tests replace it.
var renameFile = os.Rename

// do runs job j. It is called on its own goroutine.
func (r *runner) do(j job) doneMsg {
	d := doneMsg{job: j}
	switch j.kind {
	case jobClaim:
		work := r.tag(j.name, 1).name(randHex(5))
		won, err := r.claim(filepath.Join(r.w.dir, j.name), work, j.name)
		if !won {
			d.claimErr = err != nil
			return d
		}
		d.retry, d.stuck = r.process(j.name, work, 1, j.fail)
		d.attempt = 1

	case jobRecover:
		work := r.tag(j.name, j.attempt).name(randHex(5))
		if won, _ := r.claim(filepath.Join(r.w.workDir, j.work), work, j.name); !won {
			return d
		}
		r.log.Info("re-running interrupted request",
			"file", j.name, "attempt", j.attempt, "claim", j.work)
		var f *failure
		if j.attempt > r.w.cfg.Attempts {
			f = &failure{CodeException,
				fmt.Sprintf("Request was interrupted %d times; giving up.", j.attempt-1)}
		}
		d.retry, d.stuck = r.process(j.name, work, j.attempt, f)
		d.attempt = j.attempt

	case jobRetry:
		d.retry, d.stuck = r.process(j.name, j.work, j.attempt, nil)
		d.attempt = j.attempt
	}
	return d
}

// tag returns this runner's tag for a claim of request base.
func (r *runner) tag(base string, attempt int) tag {
	return tag{base: base, host: r.w.host, pid: r.w.pid, inst: r.inst, attempt: attempt}
}

// dead reports whether the claim tagged t belongs to a process that is
// gone: one of this host with a pid that is not alive, or with this
// process's pid and an instance not running here (an earlier process that
// had the same pid, or an earlier Run).
func (r *runner) dead(t tag) bool {
	if t.host != r.w.host {
		return false
	}
	if t.pid == r.w.pid {
		_, live := liveInst.Load(t.inst)
		return !live
	}
	return !pidAlive(t.pid)
}

// claim renames from into .work/ as work. It reports whether this runner
// won the file; losing to another worker is not an error.
func (r *runner) claim(from, work, name string) (bool, error) {
	to := filepath.Join(r.w.workDir, work)
	if err := realDir(r.w.workDir); err != nil && !isNotExist(err) {
		r.log.Warn("not claiming request: the work directory is not a directory of its own; trying again at the next rescan",
			"file", name, "err", err)
		return false, err
	}
	err := renameFile(from, to)
	if isNotExist(err) {
		// someone else took it, or .work/ itself is gone
		if _, serr := os.Stat(r.w.workDir); isNotExist(serr) {
			if merr := os.Mkdir(r.w.workDir, 0o750); merr == nil {
				err = renameFile(from, to)
			}
		}
	}
	if isNotExist(err) && exists(to) {
		// on NFS a retransmitted rename that did succeed reports ENOENT;
		// the claimed name is unique, so finding it there means it is ours
		r.log.Debug("rename reported ENOENT but the claim is in place", "file", name, "claim", work)
		err = nil
	}
	switch {
	case err == nil:
		r.log.Debug("request claimed", "file", name, "claim", work)
		return true, nil
	case isNotExist(err):
		r.log.Debug("request taken by another worker", "file", name)
		return false, nil
	}
	r.log.Warn("claiming request; trying again at the next rescan", "file", name, "err", err)
	return false, err
}

// process handles the claimed entry work of request name, or fails it with
// f if f is not nil, and files the outcome. It returns the new entry name if
// the request is to be retried, or work as stuck if the outcome could not
// be stored or filed (the next full scan tries again).
func (r *runner) process(name, work string, attempt int, f *failure) (retryWork, stuck string) {
	log := r.log.With("file", name, "attempt", attempt)
	path := filepath.Join(r.w.workDir, work)
	fault := r.w.cfg.Fault

	var res Result
	if f != nil {
		res = Result{Body: fault(f.code, f.reason)}
		return "", r.finish(log, name, work, attempt, res)
	}

	body, fi, err := readLimited(path, r.w.cfg.MaxBytes)
	switch {
	case errors.Is(err, errTooBig):
		res = Result{Body: fault(CodeInvalidXML, tooBigReason(r.w.cfg.MaxBytes))}
	case err != nil:
		log.Error("reading claimed request", "err", err)
		res = Result{Body: fault(CodeException, "Request file could not be read.")}
	case links(fi) > 1:
		// its owner would act for whoever linked it here
		log.Warn("refusing request file with several hard links", "links", links(fi))
		res = Result{Body: fault(CodeException, "Request file has more than one hard link.")}
	default:
		if err := checkXML(body); err != nil {
			res = Result{Body: fault(CodeInvalidXML,
				"Request file is not complete, well-formed XML: "+err.Error())}
			break
		}
		res = r.call(Request{
			Name:    name,
			Key:     r.w.key(name, fi),
			Body:    body,
			Owner:   owner(fi),
			Group:   group(fi),
			Mode:    fi.Mode(),
			Attempt: attempt,
		})
	}

	if res.Retry {
		select {
		case <-r.stop:
			log.Info("request interrupted; it will be re-run at the next start")
			return "", ""
		default:
		}
		if attempt < r.w.cfg.Attempts {
			next := r.tag(name, attempt+1).name(randHex(5))
			if err := os.Rename(path, filepath.Join(r.w.workDir, next)); err != nil {
				log.Error("recording retry; trying again at the next rescan", "err", err)
				return "", work
			}
			log.Warn("request failed; retrying", "retry_in", r.w.backoff(attempt+1))
			return next, ""
		}
		res.OK = false
		if len(res.Body) == 0 {
			res.Body = fault(CodeException,
				fmt.Sprintf("Request failed after %d attempts.", attempt))
		}
	}
	return "", r.finish(log, name, work, attempt, res)
}

// call calls the Handler, turning a panic into a failed result.
func (r *runner) call(req Request) (res Result) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("request handler panicked", "file", req.Name,
				"panic", p, "stack", string(debug.Stack()))
			res = Result{Body: r.w.cfg.Fault(CodeException,
				"Internal error while handling the request.")}
		}
	}()
	return r.w.h(r.hctx, req)
}

// finish stores res beside the claimed entry work, then files both. It
// returns work if either failed: the request stays claimed, and the next
// full scan files the stored result, or runs the request again (with the
// same Key, so a Handler does not repeat what it did).
func (r *runner) finish(log *slog.Logger, name, work string, attempt int, res Result) (stuck string) {
	suffix := failedSuffix
	if res.OK {
		suffix = okSuffix
	}
	comp := work + suffix
	if err := r.writeCompanion(comp, stamp(res.Body, time.Now(), attempt)); err != nil {
		log.Error("storing result; trying again at the next rescan", "err", err)
		return work
	}
	filed, err := r.w.file(name, work, comp, res.OK)
	if err != nil {
		log.Error("filing request; trying again at the next rescan", "err", err)
		return work
	}
	log.Debug("request filed", "path", filed, "ok", res.OK)
	return ""
}

// writeCompanion writes body durably to .work/name.
func (r *runner) writeCompanion(name string, body []byte) (err error) {
	tmp := filepath.Join(r.w.workDir, r.tag(tmpPrefix, 0).name(randHex(5)))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(body); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(r.w.workDir, name)); err != nil {
		return err
	}
	return syncDir(r.w.workDir)
}

// file moves the claimed entry work and its stored result comp into done/
// (ok) or failed/ as the first free pair of names for request name, and
// returns the request's new path. It never replaces a file, and it may be
// repeated after a crash or run by two processes at once: a result already
// linked into place (the same file as comp) is recognised and kept, and a
// claim already gone means the filing is done.
func (w *Watcher) file(name, work, comp string, ok bool) (string, error) {
	dest := w.failedDir
	if ok {
		dest = w.doneDir
	}
	if err := os.Mkdir(dest, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("creating outcome directory: %w", err)
	}
	if err := realDir(dest); err != nil {
		return "", fmt.Errorf("opening outcome directory: %w", err)
	}
	wpath := filepath.Join(w.workDir, work)
	cpath := filepath.Join(w.workDir, comp)
	if _, err := os.Lstat(wpath); isNotExist(err) {
		removeIfExists(cpath) // filed before, by us or by another process
		return "", nil
	}
	cfi, err := os.Lstat(cpath)
	if err != nil {
		return "", fmt.Errorf("reading stored result: %w", err)
	}

	moved := false // comp was renamed to a result name: no hard links here
	stem, ext := splitExt(name)
	for n := 1; n <= maxPairs; n++ {
		q, res := pairNames(stem, ext, n)
		qpath, rpath := filepath.Join(dest, q), filepath.Join(dest, res)
		if _, err := os.Lstat(qpath); err == nil {
			continue // taken: try the next pair
		} else if !isNotExist(err) {
			return "", fmt.Errorf("filing request: %w", err)
		}

		// the result first: while the claim exists, a crash re-files
		if fi, err := os.Lstat(rpath); err == nil {
			if !os.SameFile(fi, cfi) {
				continue
			}
		} else {
			m, err := placeFile(cpath, rpath)
			if errors.Is(err, fs.ErrExist) {
				if fi, err := os.Lstat(rpath); err != nil || !os.SameFile(fi, cfi) {
					continue
				}
			} else if isNotExist(err) && !exists(wpath) {
				return "", nil // another process filed it
			} else if err != nil {
				return "", fmt.Errorf("filing result: %w", err)
			}
			if m {
				moved, cpath = true, rpath
			}
		}

		err := renameNoReplace(wpath, qpath)
		if errors.Is(err, fs.ErrExist) {
			continue // someone put a file there just now; leave the result
		}
		if isNotExist(err) && !exists(wpath) {
			return "", nil // another process filed it
		}
		if err != nil {
			return "", fmt.Errorf("filing request: %w", err)
		}

		if err := syncDir(dest); err != nil {
			return "", fmt.Errorf("syncing outcome directory: %w", err)
		}
		if !moved {
			removeIfExists(cpath)
		}
		return qpath, syncDir(w.workDir)
	}
	return "", fmt.Errorf("filing %s: no free name in %s", name, dest)
}

// realDir reports an error unless path is a directory itself, not a
// symlink to one. done/, failed/ and .work/ are ipsd's, but clients of the
// folder may rename and create entries in it: a link there would move
// requests and results elsewhere, into another watch folder (to run again
// as that folder's user) or into the tree.
func realDir(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link, not a directory", path)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", path)
	}
	return nil
}

// removeIfExists removes path. Failures are ignored: a stale entry left in
// .work/ is removed again by a later sweep.
func removeIfExists(path string) { _ = os.Remove(path) }

// sweep looks through .work/ for claims of dead processes: results already
// stored are filed, requests without one are queued to run again, and
// temporary files are removed. Own claims whose outcome could not be
// stored or filed are dealt with the same way.
func (r *runner) sweep() {
	if err := realDir(r.w.workDir); err != nil {
		r.log.Warn("not sweeping the work directory", "err", err)
		return
	}
	entries, err := os.ReadDir(r.w.workDir)
	if err != nil {
		r.log.Warn("listing work directory", "err", err)
		return
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	now := time.Now()
	for work, sc := range r.stuck {
		delete(r.stuck, work)
		switch {
		case names[work+okSuffix] || names[work+failedSuffix]:
			ok := names[work+okSuffix]
			comp := work + failedSuffix
			if ok {
				comp = work + okSuffix
			}
			if _, err := r.w.file(sc.name, work, comp, ok); err != nil {
				r.log.Error("filing request; trying again at the next rescan", "file", sc.name, "err", err)
				r.stuck[work] = sc
			} else {
				r.log.Info("filed request after an earlier failure", "file", sc.name)
			}
		case names[work]:
			r.queue = append(r.queue, job{kind: jobRetry, name: sc.name, work: work, attempt: sc.attempt, ready: now})
		}
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, tmpPrefix+".") {
			if t, ok := parseTag(n); ok && t.base == tmpPrefix && r.dead(t) {
				r.log.Info("removing stale temporary file", "name", n)
				removeIfExists(filepath.Join(r.w.workDir, n))
			}
			continue
		}
		if work, ok, isComp := companionOf(n); isComp {
			t, valid := parseTag(work)
			if !valid || !r.dead(t) {
				continue
			}
			if !names[work] {
				removeIfExists(filepath.Join(r.w.workDir, n)) // filed already
				continue
			}
			r.log.Info("filing result of interrupted request", "file", t.base, "claim", work)
			if _, err := r.w.file(t.base, work, n, ok); err != nil {
				r.log.Error("filing interrupted request", "file", t.base, "err", err)
			}
			continue
		}
		t, valid := parseTag(n)
		if !valid || !isRequestName(t.base) || !r.dead(t) || r.recov[n] ||
			names[n+okSuffix] || names[n+failedSuffix] {
			continue
		}
		r.recov[n] = true
		r.queue = append(r.queue, job{
			kind: jobRecover, name: t.base, work: n, attempt: t.attempt + 1, ready: now,
		})
	}
}

// companionOf reports whether n is a stored result, and if so for which
// claim and whether it is ok.
func companionOf(n string) (work string, ok, isComp bool) {
	if w, found := strings.CutSuffix(n, okSuffix); found {
		return w, true, true
	}
	if w, found := strings.CutSuffix(n, failedSuffix); found {
		return w, false, true
	}
	return "", false, false
}

// readLimited reads the regular file path, refusing files over max bytes
// with errTooBig, and returns its content and metadata (of the same open
// file, so the two agree).
func readLimited(path string, max int64) ([]byte, fs.FileInfo, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("reading %s: not a regular file", path)
	}
	if fi.Size() > max {
		return nil, nil, errTooBig
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(b)) > max {
		return nil, nil, errTooBig
	}
	return b, fi, nil
}

// exists reports whether path exists (as far as Lstat can tell).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return !isNotExist(err)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
