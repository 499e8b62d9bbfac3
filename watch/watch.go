package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for zero Config fields.
const (
	DefaultSettle       = time.Second
	DefaultRescan       = 30 * time.Second
	DefaultIncomplete   = time.Minute
	DefaultWorkers      = 1
	DefaultAttempts     = 5
	DefaultRetryBackoff = 2 * time.Second
	DefaultMaxBytes     = 1 << 20
	DefaultGrace        = 20 * time.Second
)

// MaxNameLen is the longest request file name, in bytes, that a Watcher
// takes. Longer names are ignored: the claimed name in .work/ adds a tag of
// up to about 50 bytes and must stay within the usual 255-byte limit.
const MaxNameLen = 200

// Subdirectories of a watch folder.
const (
	WorkDir   = ".work"
	DoneDir   = "done"
	FailedDir = "failed"
)

// fallbackPoll is the poll interval used when inotify cannot be set up.
const fallbackPoll = 5 * time.Second

// maxBackoff caps the delay between retries.
const maxBackoff = 5 * time.Minute

// Config configures a Watcher. Zero values select the defaults named on each
// field.
type Config struct {
	// Dir is the watched folder. Required; made absolute by New. It must
	// exist when Run starts.
	Dir string

	// Settle is how long a file's size and modification time must stay
	// unchanged before it is taken. Zero means DefaultSettle (1s).
	Settle time.Duration

	// Poll, when positive, lists the folder at this interval and uses no
	// inotify at all (for NFS and SMB). Settle is then observed across
	// listings. Zero means inotify.
	Poll time.Duration

	// Rescan is the interval of periodic full scans (folder and .work/).
	// Zero means DefaultRescan (30s).
	Rescan time.Duration

	// Incomplete is how long a file may stay unparsable after its last
	// change before it is failed. Zero means DefaultIncomplete (60s).
	Incomplete time.Duration

	// Workers is the number of concurrent Handler calls. Zero means 1.
	Workers int

	// Attempts is the most Handler calls one request gets, counting
	// retries asked for by the Handler and re-runs after a crash. Zero
	// means DefaultAttempts (5).
	Attempts int

	// RetryBackoff is the delay before the second attempt; it doubles for
	// each further attempt, up to 5 minutes. Zero means 2s.
	RetryBackoff time.Duration

	// MaxBytes is the largest request file accepted; larger files are
	// failed. Zero means 1 MiB.
	MaxBytes int64

	// Grace is how long in-flight Handler calls may run after Run's
	// context is cancelled before the context passed to them is
	// cancelled too. Zero means DefaultGrace (20s).
	Grace time.Duration

	// Fault renders the result body of a request the Watcher fails itself
	// (incomplete or oversized file, too many attempts). Nil means
	// FaultXML.
	Fault func(code int, reason string) []byte

	// Hooks are optional callbacks for metrics.
	Hooks Hooks
}

// Hooks are optional metric callbacks. Nil fields are not called. They are
// called from the Watcher's goroutines and must not block; if several
// Watchers share them they must be safe for concurrent use.
type Hooks struct {
	// OnEvent is called for each file-system event about a request name
	// in the folder; op is "create", "write", "remove", "rename" or
	// "chmod".
	OnEvent func(op string)

	// OnOverflow is called when the kernel's event queue overflowed and
	// events were lost.
	OnOverflow func()

	// OnPollFallback is called when inotify cannot be set up for the
	// folder (watch or instance limits) and the Watcher polls it instead.
	OnPollFallback func()

	// OnRescan is called when a scan of the folder starts; reason is
	// "start", "periodic", "overflow", "error", "recreated" or "poll".
	OnRescan func(reason string)

	// OnQueue reports the number of requests ready and waiting for a
	// worker (including retries that are due) and how long the oldest of
	// them has waited. It is called whenever the queue may have changed.
	OnQueue func(depth int, oldest time.Duration)
}

// A Request is one claimed request file.
type Request struct {
	// Name is the base name as dropped, e.g. "req1.xml".
	Name string

	// Key identifies the request across retries and restarts:
	// "<folder-hash>:<name>:<size>:<mtime-ns>:<inode>", where the hash is
	// of the folder's absolute path and size, mtime and inode are read
	// from the claimed file, which claiming (a rename) does not change.
	// Handlers use it to make a re-run after a crash idempotent. The same
	// request dropped again is a new file (a new inode), so it gets a new
	// Key even when its name, size and mtime are the same (cp -p, rsync -t).
	Key string

	// Body is the file's content, complete well-formed XML.
	Body []byte

	// Owner is the uid that owns the file.
	Owner uint32

	// Group is the gid of the file, and Mode its mode, when its Body was
	// read. A Handler that acts as Owner should refuse a file that others
	// could have written.
	Group uint32
	Mode  fs.FileMode

	// Attempt is 1 on the first try and counts up across retries and
	// re-runs after a crash.
	Attempt int
}

// A Result is the outcome of a Handler call.
type Result struct {
	// Body is written to <name>.result.xml, after an XML comment with
	// the time and the attempt number.
	Body []byte

	// OK files the request under done/; false under failed/.
	OK bool

	// Retry reports a transient failure: the request stays claimed and
	// is tried again after a backoff. When Attempts are used up, the
	// request is failed with Body (or a fault, if Body is empty). During
	// shutdown the request stays claimed and is re-run at the next start.
	Retry bool
}

// A Handler processes one request. It is called from up to Config.Workers
// goroutines at once. ctx is not cancelled when the Watcher stops, only when
// Config.Grace has passed after that.
type Handler func(ctx context.Context, req Request) Result

// A Watcher takes request files from one folder. Its methods are safe for
// concurrent use, but Run may only be running once at a time.
type Watcher struct {
	cfg       Config
	h         Handler
	log       *slog.Logger
	dir       string
	workDir   string
	doneDir   string
	failedDir string
	host      string // sanitized host name, no dots
	pid       int
	dirHash   string

	pending atomic.Int64
	running atomic.Bool

	// for tests
	newNotify    func() (*fsnotify.Watcher, error) // fsnotify.NewWatcher
	fallbackPoll time.Duration                     // poll interval without inotify
	inject       chan error                        // fed into the event path as if from fsnotify
	dropEvents   atomic.Bool                       // discard fsnotify events, as an overflow would
}

// New returns a Watcher for cfg.Dir that passes requests to h. It checks the
// configuration but does not touch the file system. A nil logger discards
// log output.
func New(cfg Config, h Handler, logger *slog.Logger) (*Watcher, error) {
	if h == nil {
		return nil, errors.New("creating watcher: nil handler")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("creating watcher: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("creating watcher: %w", err)
	}
	cfg.Dir = dir
	sum := sha256.Sum256([]byte(dir))
	w := &Watcher{
		cfg:          cfg,
		h:            h,
		log:          logger.With("component", "watch", "dir", dir),
		dir:          dir,
		workDir:      filepath.Join(dir, WorkDir),
		doneDir:      filepath.Join(dir, DoneDir),
		failedDir:    filepath.Join(dir, FailedDir),
		host:         hostTag(),
		pid:          os.Getpid(),
		dirHash:      hex.EncodeToString(sum[:8]),
		newNotify:    fsnotify.NewWatcher,
		fallbackPoll: fallbackPoll,
		inject:       make(chan error, 1),
	}
	return w, nil
}

func (c *Config) setDefaults() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"settle", &c.Settle, DefaultSettle},
		{"poll", &c.Poll, 0},
		{"rescan", &c.Rescan, DefaultRescan},
		{"incomplete", &c.Incomplete, DefaultIncomplete},
		{"retry_backoff", &c.RetryBackoff, DefaultRetryBackoff},
		{"grace", &c.Grace, DefaultGrace},
	}
	for _, d := range durations {
		switch {
		case *d.v < 0:
			errs = append(errs, fmt.Errorf("%s: must not be negative", d.name))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if c.Workers < 0 {
		errs = append(errs, errors.New("workers: must not be negative"))
	} else if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Attempts < 0 {
		errs = append(errs, errors.New("attempts: must not be negative"))
	} else if c.Attempts == 0 {
		c.Attempts = DefaultAttempts
	}
	if c.MaxBytes < 0 {
		errs = append(errs, errors.New("max_bytes: must not be negative"))
	} else if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Fault == nil {
		c.Fault = FaultXML
	}
	return errors.Join(errs...)
}

// Dir returns the absolute path of the watched folder.
func (w *Watcher) Dir() string { return w.dir }

// Pending returns the number of requests seen but not yet being handled:
// files in the folder waiting to settle or for a worker, and claimed
// requests waiting for a retry. It is 0 when Run is not running.
func (w *Watcher) Pending() int { return int(w.pending.Load()) }

// Run watches the folder until ctx is cancelled. It then stops claiming,
// waits for in-flight Handler calls to return (see Config.Grace) and
// returns ctx.Err(). Requests claimed but not finished stay in .work/ and
// are re-run at the next start. Run returns an error at once if the folder
// does not exist or .work/ cannot be created.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("running watcher: already running")
	}
	defer w.running.Store(false)
	defer w.pending.Store(0)

	fi, err := os.Stat(w.dir)
	if err != nil {
		return fmt.Errorf("opening watch folder: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("opening watch folder: %s is not a directory", w.dir)
	}
	if err := os.Mkdir(w.workDir, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("creating work directory: %w", err)
	}

	r := newRunner(ctx, w)
	defer r.close()
	return r.loop(ctx)
}

// hostTag returns the host name as used in claim names: every byte that is
// not a letter, digit or '-' becomes '_', so the tag holds no dots.
func hostTag() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		}
		return '_'
	}, h)
}

// key returns the Request.Key of a request named name whose claimed file
// is described by fi.
func (w *Watcher) key(name string, fi fs.FileInfo) string {
	return fmt.Sprintf("%s:%s:%d:%d:%d", w.dirHash, name, fi.Size(), fi.ModTime().UnixNano(), inode(fi))
}

// backoff returns the delay before attempt (2 or more).
func (w *Watcher) backoff(attempt int) time.Duration {
	d := w.cfg.RetryBackoff
	for i := 2; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}
