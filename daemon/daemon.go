package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/ipsd/ipsd/fsstore"
	"github.com/ipsd/ipsd/metrics"
	"github.com/ipsd/ipsd/watch"
)

// Version is set at build time with -ldflags "-X github.com/ipsd/ipsd/daemon.Version=...".
var Version = "dev"

// Daemon is a running ipsd: the store, the socket API, the watch folders and
// the metrics endpoint.
type Daemon struct {
	cfgp    atomic.Pointer[Config] // replaced whole on reload
	logger  *slog.Logger
	store   *fsstore.Store
	metrics *metrics.Set
	users   atomic.Pointer[users]
	sem     chan struct{} // one slot per render worker
	waiting atomic.Int64  // socket calls waiting for a worker
	ready   atomic.Bool   // catalog reconciled and listeners bound
	// inFlight counts copies holding a render worker (ipsd_requests_in_flight)
	inFlight atomic.Int64
	// apiCalls counts socket API handlers running, so that shutdown can
	// wait for those cut off at the deadline to unwind
	apiCalls sync.WaitGroup

	watchMu  sync.Mutex // guards watchers
	watchers map[string]*runningWatch
	watchWG  sync.WaitGroup
}

// runningWatch is one watch folder's intake goroutine.
type runningWatch struct {
	cfg    WatchConfig
	cancel context.CancelFunc
	done   chan struct{}
}

// cfg returns the configuration in force.
func (d *Daemon) cfg() *Config { return d.cfgp.Load() }

// Run runs ipsd until ctx is cancelled. SIGHUP reloads the config file. It
// returns nil after a clean shutdown.
func Run(ctx context.Context, cfg *Config, logger *slog.Logger) error {
	d := &Daemon{
		logger:   logger,
		metrics:  metrics.New(Version),
		sem:      make(chan struct{}, cfg.Render.Workers),
		watchers: map[string]*runningWatch{},
	}
	d.cfgp.Store(cfg)
	d.users.Store(newUsers(cfg.Users))
	d.metrics.Workers.Set(float64(cfg.Render.Workers))

	// taken from the start: a SIGHUP during the reconcile (systemctl reload
	// while starting) must not kill the daemon; it is handled once ready
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	logger.Info("starting", "version", Version, "root", cfg.Root, "state_dir", cfg.StateDir)
	for _, w := range cfg.Warnings() {
		logger.Warn("config: " + w)
	}
	status(logger, "reconciling catalog with %s", cfg.Root)
	st, err := fsstore.Open(ctx, fsstore.Config{
		Root:     cfg.Root,
		StateDir: cfg.StateDir,
		FileMode: os.FileMode(cfg.Store.FileMode),
		Rescan:   cfg.RescanInterval(),
		Poll:     cfg.Store.Poll.Duration,
		Hooks:    d.storeHooks(),
	}, logger.With("component", "store"))
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	defer st.Close()
	d.store = st
	d.updateCatalogGauges()

	ln, err := d.listen()
	if err != nil {
		return err
	}
	var mln net.Listener
	if addr := cfg.MetricsListen(); addr != "" {
		if mln, err = net.Listen("tcp", addr); err != nil {
			ln.Close()
			return fmt.Errorf("listening for metrics: %w", err)
		}
		logger.Info("metrics listening", "addr", mln.Addr().String())
	}

	// on shutdown, intake stops first: the watch folders stop claiming and
	// the socket stops accepting, and both let their copies in flight
	// finish within shutdown_timeout. The store and metrics outlive them.
	intake, stopIntake := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIntake()
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	g.Go(func() error { return st.Run(gctx) })
	apiCtx, stopAPI := context.WithCancel(gctx)
	defer stopAPI()
	apiDone := make(chan struct{})
	g.Go(func() error {
		defer close(apiDone)
		return d.serveSocket(apiCtx, ln)
	})
	if mln != nil {
		g.Go(func() error { return d.serveMetrics(gctx, mln) })
	}
	g.Go(func() error { return d.tick(gctx) })
	g.Go(func() error { return d.watchdog(gctx) })
	plan, err := d.planWatchers(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	d.applyWatchers(intake, plan)

	d.ready.Store(true)
	logger.Info("ready", "socket", cfg.API.Socket, "watch_folders", len(cfg.Watch))
	notify(logger, "READY=1")
	d.serving()

	failed := make(chan error, 1)
	go func() { failed <- g.Wait() }() // returns once every component has
loop:
	for {
		select {
		case <-hup:
			d.reload(intake)
		case err := <-failed:
			// a component failed; g's context already stopped the others
			stopIntake()
			d.stopWatchers()
			return err
		case <-ctx.Done():
			break loop
		}
	}

	grace := d.cfg().ShutdownTimeout.Duration
	logger.Info("stopping: no new requests; waiting for copies in flight",
		"in_flight", d.inFlight.Load(), "shutdown_timeout", grace)
	notify(logger, "STOPPING=1")
	status(logger, "stopping: %d copies in flight get %v to finish", d.inFlight.Load(), grace)
	stopIntake()
	stopAPI()
	d.stopWatchers() // the socket drains meanwhile
	<-apiDone
	g.Go(func() error { return context.Canceled }) // stops the store, metrics and watchdog
	err = <-failed
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	logger.Info("stopped")
	return err
}

// watchPlan is a change of the running watch folders, prepared in full
// before any of it takes effect.
type watchPlan struct {
	stop  []string // dirs whose watcher stops
	start []newWatch
	gone  []string // dirs no longer watched at all: their series go
}

type newWatch struct {
	cfg WatchConfig
	w   *watch.Watcher
}

// planWatchers prepares the watchers of cfg that are not running with the
// same settings, and lists those to stop. It changes nothing, so a failure
// leaves the running set as it is.
func (d *Daemon) planWatchers(cfg *Config) (watchPlan, error) {
	d.watchMu.Lock()
	defer d.watchMu.Unlock()
	var p watchPlan
	want := map[string]WatchConfig{}
	for _, wc := range cfg.Watch {
		want[wc.Dir] = wc
		if rw := d.watchers[wc.Dir]; rw != nil && rw.cfg == wc {
			continue
		}
		w, err := d.newWatcher(cfg, wc)
		if err != nil {
			return watchPlan{}, fmt.Errorf("watch folder %s: %w", wc.Dir, err)
		}
		p.start = append(p.start, newWatch{wc, w})
	}
	for dir, rw := range d.watchers {
		if wc, ok := want[dir]; !ok || rw.cfg != wc {
			p.stop = append(p.stop, dir)
		}
		if _, ok := want[dir]; !ok {
			p.gone = append(p.gone, dir)
		}
	}
	return p, nil
}

// applyWatchers stops the watchers of p (they finish their copies in
// flight within shutdown_timeout; anything cut off stays claimed and is
// taken up by the watcher that replaces it) and starts the new ones.
func (d *Daemon) applyWatchers(ctx context.Context, p watchPlan) {
	d.watchMu.Lock()
	defer d.watchMu.Unlock()
	for _, dir := range p.stop {
		d.watchers[dir].cancel()
	}
	for _, dir := range p.stop {
		<-d.watchers[dir].done
		delete(d.watchers, dir)
	}
	for _, dir := range p.gone {
		d.metrics.QueueDepth.DeleteLabelValues(dir)
		d.metrics.OldestPending.DeleteLabelValues(dir)
	}
	for _, nw := range p.start {
		wc, w := nw.cfg, nw.w
		d.metrics.QueueDepth.WithLabelValues(wc.Dir).Set(0)
		d.metrics.OldestPending.WithLabelValues(wc.Dir).Set(0)
		wctx, cancel := context.WithCancel(ctx)
		rw := &runningWatch{cfg: wc, cancel: cancel, done: make(chan struct{})}
		d.watchers[wc.Dir] = rw
		d.watchWG.Add(1)
		go func() { // returns when wctx is cancelled
			defer d.watchWG.Done()
			defer close(rw.done)
			if err := w.Run(wctx); err != nil && !errors.Is(err, context.Canceled) {
				d.logger.Error("watch folder stopped", "dir", wc.Dir, "err", err)
			}
		}()
	}
}

// stopWatchers stops every watch folder and waits for their copies in
// flight.
func (d *Daemon) stopWatchers() {
	d.watchMu.Lock()
	for _, rw := range d.watchers {
		rw.cancel()
	}
	d.watchers = map[string]*runningWatch{}
	d.watchMu.Unlock()
	d.watchWG.Wait()
}

// reload re-reads the config file. Users, memberships, limits and watch
// folders take effect at once; copies in flight keep the settings they
// started with. An invalid file is rejected whole: it is logged, counted,
// and the old config stays.
func (d *Daemon) reload(intake context.Context) {
	old := d.cfg()
	notify(d.logger, fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
	status(d.logger, "reloading %s", old.path)
	defer func() {
		notify(d.logger, "READY=1")
		d.serving()
	}()
	cfg, err := LoadConfig(old.path)
	if err == nil {
		err = restartOnly(old, cfg)
	}
	var plan watchPlan
	if err == nil {
		if cfg.Render.Workers != old.Render.Workers {
			d.logger.Warn("config reload: render.workers changes only with a restart",
				"running", old.Render.Workers, "configured", cfg.Render.Workers)
			cfg.Render.Workers = old.Render.Workers
		}
		plan, err = d.planWatchers(cfg)
	}
	if err != nil {
		d.metrics.ConfigReloads.WithLabelValues(metrics.ReloadError).Inc()
		d.logger.Error("config reload rejected; keeping the running config", "err", err)
		return
	}
	for _, w := range cfg.Warnings() {
		d.logger.Warn("config reload: " + w)
	}
	// users first: a new watch folder may name a new user
	d.users.Store(newUsers(cfg.Users))
	d.cfgp.Store(cfg)
	d.applyWatchers(intake, plan)
	d.metrics.ConfigReloads.WithLabelValues(metrics.ReloadOK).Inc()
	d.logger.Info("config reloaded", "users", len(cfg.Users), "watch_folders", len(cfg.Watch),
		"watch_started", len(plan.start), "watch_stopped", len(plan.stop))
}

// serving says in systemctl status what the daemon serves.
func (d *Daemon) serving() {
	cfg := d.cfg()
	status(d.logger, "serving %s and %d watch folders; catalog of %s", cfg.API.Socket, len(cfg.Watch), cfg.Root)
}

// restartOnly refuses a reload that changes what only a restart can.
func restartOnly(old, cfg *Config) error {
	var errs []error
	if old.Root != cfg.Root || old.StateDir != cfg.StateDir {
		errs = append(errs, errors.New("root and state_dir change only with a restart"))
	}
	if old.API.Socket != cfg.API.Socket || old.MetricsListen() != cfg.MetricsListen() {
		errs = append(errs, errors.New("api.socket and metrics.listen change only with a restart"))
	}
	return errors.Join(errs...)
}

// tick refreshes gauges that are cheaper to read than to track.
func (d *Daemon) tick(ctx context.Context) error {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			d.updateCatalogGauges()
		}
	}
}

func (d *Daemon) updateCatalogGauges() {
	c, f, a := d.store.Stats()
	d.metrics.CatalogCompanies.Set(float64(c))
	d.metrics.CatalogFolders.Set(float64(f))
	d.metrics.CatalogAssets.Set(float64(a))
	d.metrics.NameClashes.Set(float64(d.store.Clashes()))
}

func (d *Daemon) storeHooks() fsstore.Hooks {
	m := d.metrics
	return fsstore.Hooks{
		OnWatchEvent:   func() { m.WatchEvents.WithLabelValues("tree").Inc() },
		OnOverflow:     func() { m.WatchOverflows.WithLabelValues("tree").Inc() },
		OnRescan:       func(reason string) { m.Rescans.WithLabelValues("tree", reason).Inc() },
		OnPollFallback: func() { m.PollFallbacks.WithLabelValues("tree").Inc() },
	}
}

// listen returns the socket handed over by systemd, or creates the
// configured one with its mode and group.
func (d *Daemon) listen() (net.Listener, error) {
	if lns, err := activation.Listeners(); err == nil && len(lns) > 0 && lns[0] != nil {
		d.logger.Info("using socket from systemd", "addr", lns[0].Addr().String())
		return lns[0], nil
	}
	path := d.cfg().API.Socket
	// a live socket means another ipsd answers there; a dead one is stale
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("listening on %s: another process is serving this socket", path)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if g := d.cfg().API.SocketGroup; g != "" {
		gid, err := lookupGID(g)
		if err == nil {
			err = os.Chown(path, -1, gid)
		}
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("setting group of %s: %w", path, err)
		}
	}
	if err := os.Chmod(path, os.FileMode(d.cfg().API.SocketMode)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("setting mode of %s: %w", path, err)
	}
	return ln, nil
}

func lookupGID(g string) (int, error) {
	if n, err := strconv.Atoi(g); err == nil {
		return n, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(grp.Gid)
}

// serveSocket serves the API on ln until ctx is done, then lets in-flight
// calls finish for a while.
func (d *Daemon) serveSocket(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           d.handler(),
		ConnContext:       connContext,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.logger.Handler(), slog.LevelDebug),
	}
	err := serve(ctx, srv, ln, "socket api", d.cfg().ShutdownTimeout.Duration)
	// calls cut off at the deadline see their context cancelled and stop
	// at the next safe point; give them a moment so the store is not
	// closed under them
	done := make(chan struct{})
	go func() { d.apiCalls.Wait(); close(done) }() // returns when the last call has
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		d.logger.Warn("socket calls still running at exit")
	}
	return err
}

func (d *Daemon) serveMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.Registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return serve(ctx, srv, ln, "metrics", time.Second)
}

// serve runs srv on ln; it owns the goroutine that runs Serve.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, what string, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving %s: %w", what, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); errors.Is(err, context.DeadlineExceeded) {
		// calls still running are cut off; their reservations and temp
		// files are cleaned at the next start
		return srv.Close()
	} else if err != nil {
		return fmt.Errorf("stopping %s: %w", what, err)
	}
	return nil
}

// newWatcher builds the intake of one watch folder.
func (d *Daemon) newWatcher(cfg *Config, wc WatchConfig) (*watch.Watcher, error) {
	m := d.metrics
	dir := wc.Dir
	h := func(ctx context.Context, req watch.Request) watch.Result {
		return d.handleWatch(ctx, wc, req)
	}
	return watch.New(watch.Config{
		Dir:        dir,
		Settle:     wc.Settle.Duration,
		Poll:       wc.Poll.Duration,
		Rescan:     wc.Rescan.Duration,
		Incomplete: wc.Incomplete.Duration,
		Workers:    cfg.Render.Workers,
		Grace:      cfg.ShutdownTimeout.Duration,
		// a request the watcher fails itself (not complete XML, too big,
		// interrupted too often) ends here: it is counted and logged like
		// the others, and its result has the shape of every other fault
		Fault: func(code int, reason string) []byte {
			f := apiFault(code, "%s", reason)
			m.Requests.WithLabelValues("watch", f.Family()).Inc()
			d.logger.Warn("request done", "channel", "watch", "dir", dir,
				"result", f.Family(), "code", f.Code, "reason", f.Reason)
			return encodeFault(false, f)
		},
		Hooks: watch.Hooks{
			OnEvent:        func(string) { m.WatchEvents.WithLabelValues("watch").Inc() },
			OnOverflow:     func() { m.WatchOverflows.WithLabelValues("watch").Inc() },
			OnRescan:       func(reason string) { m.Rescans.WithLabelValues("watch", reason).Inc() },
			OnPollFallback: func() { m.PollFallbacks.WithLabelValues("watch").Inc() },
			OnQueue: func(depth int, oldest time.Duration) {
				m.QueueDepth.WithLabelValues(dir).Set(float64(depth))
				m.OldestPending.WithLabelValues(dir).Set(oldest.Seconds())
			},
		},
	}, h, d.logger) // watch adds component and dir itself
}

// handleWatch executes one request file. A request cut off by shutdown
// (ctx is cancelled once the grace period is over) is not failed: it stays
// claimed and runs again at the next start.
func (d *Daemon) handleWatch(ctx context.Context, wc WatchConfig, req watch.Request) watch.Result {
	start := time.Now()
	id := requestSeq.Add(1)
	log := d.logger.With("request_id", id, "channel", "watch", "file", req.Name, "attempt", req.Attempt)

	c, f := decodeCall(req.Body)
	var caller *UserConfig
	if f == nil {
		caller, f = d.users.Load().identify(c.Cred, req.Owner, true, wc.User)
	}
	if f == nil && !c.Cred.Present && wc.User == "" && othersMayWrite(req) {
		// acting as the file's owner is only sound if nobody else could
		// have written what the file asks (a shared setgid inbox with
		// umask 002 would let any member of the group act as any other)
		caller, f = nil, authFault(10000, fmt.Sprintf("The request file is writable by others than its owner (mode %04o), so it cannot act as its owner; write it with mode 0644 (umask 022), or set user on this watch folder.", req.Mode.Perm()))
	}
	log = accepted(log, c, caller, "owner_uid", req.Owner)
	if f != nil {
		d.finish(ctx, log, "watch", f, start)
		return watch.Result{Body: encodeFault(false, f)}
	}
	ret, attrs, f := d.dispatch(ctx, c, caller, "watch", req.Key, true, log)
	d.finish(ctx, log, "watch", f, start, attrs...)
	switch {
	case f == nil:
		return watch.Result{OK: true, Body: encodeReply(false, c.NS, ret)}
	case ctx.Err() != nil:
		return watch.Result{Retry: true}
	}
	return watch.Result{Body: encodeFault(false, f), Retry: f.Transient}
}

// othersMayWrite reports whether someone other than its owner may have
// written the request file: it is world-writable, or group-writable with a
// group other than the owner's own (the private group that umask 002 is
// meant for).
func othersMayWrite(req watch.Request) bool {
	perm := req.Mode.Perm()
	if perm&0o002 != 0 {
		return true
	}
	if perm&0o020 == 0 {
		return false
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(req.Owner), 10))
	return err != nil || u.Gid != strconv.FormatUint(uint64(req.Group), 10)
}
