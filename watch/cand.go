package watch

import (
	"io/fs"
	"time"
)

// candState is where a candidate file is in its life.
type candState int

const (
	settling candState = iota // being watched until it is finished
	queued                    // finished, waiting for a worker
	running                   // handed to a worker
)

// A cand is a file in the folder that may become a request. It does no
// I/O and reads no clock: callers pass the time, so tests can give any.
type cand struct {
	state   candState
	size    int64
	mtime   time.Time
	seen    time.Time // first seen
	changed time.Time // last seen to change (write event or new size/mtime)
	created time.Time // create event not followed by a change; zero if none
	settled bool      // no change seen since it was first seen
	ready   time.Time // when it was queued
	hold    time.Time // not to be judged before; set after a failed claim

	parsed   bool  // parseErr is for the current size and mtime
	parseErr error // from checkXML
}

// observe records a stat of the file at now.
func (c *cand) observe(now time.Time, fi fs.FileInfo) {
	if c.seen.IsZero() {
		c.seen, c.changed, c.settled = now, now, true
		c.size, c.mtime = fi.Size(), fi.ModTime()
		return
	}
	if fi.Size() != c.size || !fi.ModTime().Equal(c.mtime) {
		c.size, c.mtime = fi.Size(), fi.ModTime()
		c.touch(now)
	}
}

// touch records a change (a write event, or a new size or mtime) at now.
func (c *cand) touch(now time.Time) {
	c.changed = now
	c.created = time.Time{}
	c.settled = false
	c.parsed = false
}

// lastChange returns when c last changed, as far as is known. For a file
// that has not changed since it was first seen, its mtime counts, when
// trusted (inotify mode, where the file system is local) and not in the
// future.
func (c *cand) lastChange(trustMtime bool) time.Time {
	if trustMtime && c.settled && c.mtime.Before(c.changed) {
		return c.mtime
	}
	return c.changed
}

// A verdict is what to do with a candidate next.
type verdict int

const (
	wait           verdict = iota // not finished yet
	needParse                     // quiet: check the XML, then judge again
	ready                         // claim and handle it
	failIncomplete                // claim and fail it: unparsable for too long
	failTooBig                    // claim and fail it: over MaxBytes
)

// policy holds the rules of completeness.
type policy struct {
	settle     time.Duration // quiet time for a written file
	window     time.Duration // quiet time after a create event (rename in)
	incomplete time.Duration // how long a quiet file may stay unparsable
	maxBytes   int64
	trustMtime bool // inotify mode: mtime is from this host's clock
}

// judge returns the verdict on c at now.
func (p policy) judge(c *cand, now time.Time) verdict {
	last := c.lastChange(p.trustMtime)
	quiet := now.Sub(last) >= p.settle ||
		!c.created.IsZero() && now.Sub(c.created) >= p.window
	switch {
	case !quiet || now.Before(c.hold):
		return wait
	case c.size > p.maxBytes:
		return failTooBig
	case !c.parsed:
		return needParse
	case c.parseErr == nil:
		return ready
	case now.Sub(last) >= p.incomplete:
		return failIncomplete
	}
	return wait
}
