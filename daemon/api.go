package daemon

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/semaphore"
	"golang.org/x/sys/unix"

	"github.com/ipsd/ipsd/metrics"
)

// peerKey is the context key of the socket peer's credentials.
type peerKey struct{}

// peer is who is at the other end of a Unix socket connection.
type peer struct {
	UID, PID uint32
	OK       bool
}

// connContext reads SO_PEERCRED once per connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	var p peer
	if uc, ok := c.(*net.UnixConn); ok {
		if raw, err := uc.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) {
				cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
				if err == nil {
					p = peer{UID: cred.Uid, PID: uint32(cred.Pid), OK: true}
				}
			})
		}
	}
	return context.WithValue(ctx, peerKey{}, p)
}

var requestSeq atomic.Uint64

// handler returns the HTTP handler of the socket API.
func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /scene7/services/IpsApiService", d.serveAPI)
	mux.HandleFunc("GET "+wsdlPath, d.serveWSDL)
	mux.HandleFunc("GET /scene7/services/IpsApiService", func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.Query().Has("wsdl") {
			http.Error(w, "POST SOAP requests here; the WSDL is at ?wsdl\n", http.StatusMethodNotAllowed)
			return
		}
		d.serveWSDL(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !d.ready.Load() {
			http.Error(w, "catalog not reconciled yet\n", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// serveAPI answers one SOAP or bare-XML API call.
func (d *Daemon) serveAPI(w http.ResponseWriter, r *http.Request) {
	d.apiCalls.Add(1)
	defer d.apiCalls.Done()
	start := time.Now()
	id := requestSeq.Add(1)
	pr, _ := r.Context().Value(peerKey{}).(peer)
	log := d.logger.With("request_id", id, "channel", "socket")

	var body []byte
	defer func() {
		// a bug in an operation answers a fault, logged with its stack,
		// rather than a dropped connection that net/http logs at debug
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			log.Error("request handler panicked", "panic", p, "stack", string(debug.Stack()))
			f := apiFault(30000, "Internal error while handling the request.")
			d.finish(r.Context(), log, "socket", f, start)
			d.writeFault(w, r, nil, looksSOAP(body), f)
		}
	}()
	body, f := d.readBody(w, r)
	var c *call
	if f == nil {
		c, f = decodeCall(body)
	}
	soap := c != nil && c.SOAP || c == nil && looksSOAP(body)
	var caller *UserConfig
	if f == nil {
		if c.Cred.User == "" && c.Cred.Password == "" {
			// no authHeader user and password: HTTP Basic, when sent, decides
			if b := basicAuth(r); b.Present {
				c.Cred = b
			}
		}
		caller, f = d.users.Load().identify(c.Cred, pr.UID, pr.OK, "")
	}
	extra := []any{"peer_uid", pr.UID}
	if sa := soapAction(r); sa != "" {
		extra = append(extra, "soap_action", sa)
	}
	log = accepted(log, c, caller, extra...)
	if f != nil {
		d.finish(r.Context(), log, "socket", f, start)
		d.writeFault(w, r, c, soap, f)
		return
	}

	ret, attrs, f := d.dispatch(r.Context(), c, caller, "socket", "", false, log)
	d.finish(r.Context(), log, "socket", f, start, attrs...)
	if f != nil {
		d.writeFault(w, r, c, soap, f)
		return
	}
	d.write(w, r, c, http.StatusOK, encodeReply(soap, c.NS, ret))
}

// accepted logs the first of the two lines of a request and returns log
// with what every later line of the request repeats: the caller and the
// operation, when known. extra are attributes for this line only.
func accepted(log *slog.Logger, c *call, caller *UserConfig, extra ...any) *slog.Logger {
	if caller != nil {
		log = log.With("caller", caller.Email)
	}
	args := extra
	if c != nil {
		log = log.With("op", c.Op)
		if c.Op == "copyImage" {
			for _, kv := range [][2]string{{"assetHandle", "source"}, {"folderHandle", "folder"}, {"name", "name"}} {
				if v, ok := c.text(kv[0]); ok {
					args = append(args, kv[1], printable(v))
				}
			}
		}
		if c.AppName != "" {
			args = append(args, "app", printable(c.AppName))
		}
	}
	log.Info("request accepted", args...)
	return log
}

// dispatch runs the operation of c for caller. attrs describe the request
// for the line that logs its end: for a copy, the source and new handle.
func (d *Daemon) dispatch(
	ctx context.Context,
	c *call,
	caller *UserConfig,
	channel, key string,
	wait bool,
	log *slog.Logger,
) (ret elem, attrs []any, f *Fault) {
	switch c.Op {
	case "copyImage":
		p, f := readCopyParams(c)
		if f != nil {
			return elem{}, nil, f
		}
		attrs = []any{"source", p.Asset}
		log.Debug("copying", "company", p.Company, "source", p.Asset, "folder", p.Folder, "name", p.Name, "modifier", p.Modifier)
		h, f := d.copyImage(ctx, copyJob{channel: channel, caller: caller, params: p, key: key, wait: wait})
		if f != nil {
			return elem{}, attrs, d.sourceGone(p.Asset, f)
		}
		attrs = append(attrs, "handle", h)
		return elem{Name: "copyImageReturn", Kids: []elem{{Name: "assetHandle", Text: h}}}, attrs, nil
	}
	if op := readOps[c.Op]; op != nil {
		ret, f := op(d, c, caller)
		return ret, nil, f
	}
	return elem{}, nil, apiFault(30003, "Operation '%s' is not supported by ipsd.", c.Op)
}

// finish counts and logs the end of a request; attrs describe it (source
// and new handle of a copy). A failure after ctx was cancelled (shutdown,
// or the socket client hung up) counts as interrupted, not as failed.
func (d *Daemon) finish(ctx context.Context, log *slog.Logger, channel string, f *Fault, start time.Time, attrs ...any) {
	dur := time.Since(start)
	d.metrics.RequestDuration.WithLabelValues(channel).Observe(dur.Seconds())
	switch {
	case f == nil:
		d.metrics.Requests.WithLabelValues(channel, metrics.ResultOK).Inc()
		log.Info("request done", append(attrs, "result", metrics.ResultOK, "duration", dur)...)
		return
	case ctx.Err() != nil:
		d.metrics.Requests.WithLabelValues(channel, metrics.ResultInterrupted).Inc()
		log.Warn("request done", append(attrs, "result", metrics.ResultInterrupted, "reason", f.Reason, "duration", dur)...)
		return
	}
	d.metrics.Requests.WithLabelValues(channel, f.Family()).Inc()
	lvl := slog.LevelInfo
	if f.Family() == metrics.ResultFailed {
		lvl = slog.LevelWarn
	}
	args := append(attrs, "result", f.Family(), "code", f.Code, "reason", f.Reason)
	if f.Transient {
		args = append(args, "transient", true)
	}
	log.Log(context.Background(), lvl, "request done", append(args, "duration", dur)...)
}

func (d *Daemon) writeFault(w http.ResponseWriter, r *http.Request, c *call, soap bool, f *Fault) {
	status := http.StatusInternalServerError
	if f.Status != 0 {
		status = f.Status
	}
	if c != nil && c.FaultCode != 0 {
		status = c.FaultCode
	}
	d.write(w, r, c, status, encodeFault(soap, f))
}

// write sends body, gzipped when authHeader or Accept-Encoding asks for it.
func (d *Daemon) write(w http.ResponseWriter, r *http.Request, c *call, status int, body []byte) {
	// a client that does not read its reply is cut off rather than
	// holding the handler and its share of the body budget for good
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(replyTimeout))
	w.Header().Set("Content-Type", "text/xml; charset=UTF-8")
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	if c != nil && c.GzipSet {
		gz = c.Gzip
	}
	if gz {
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(status)
		zw := gzip.NewWriter(w)
		zw.Write(body)
		zw.Close()
		return
	}
	w.WriteHeader(status)
	w.Write(body)
}

// basicAuth reads the credentials of an Authorization header, without
// ever challenging (IPS sends no 401). A header that is not usable HTTP
// Basic still counts as credentials sent, so that the request is refused
// instead of falling back to the socket peer.
func basicAuth(r *http.Request) Credentials {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return Credentials{}
	}
	scheme, enc, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return Credentials{Present: true, Unusable: "the Authorization header is not HTTP Basic"}
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	u, p, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok || !utf8.Valid(raw) {
		return Credentials{Present: true, Unusable: "the Authorization header is not valid HTTP Basic"}
	}
	return Credentials{Present: true, User: u, Password: p}
}

// looksSOAP guesses whether an unparsable body meant to be SOAP, so its
// fault comes back in the same form.
func looksSOAP(b []byte) bool {
	if len(b) > 4096 {
		b = b[:4096]
	}
	return strings.Contains(string(b), nsSOAP)
}

// bodyTimeout is how long a client may take to send its request body once
// the headers are in; slow senders get a 30003 fault and the connection is
// closed. (Slow headers are cut off by the server's ReadHeaderTimeout.)
var bodyTimeout = 10 * time.Second

// replyTimeout is how long a client may take to read its reply once ipsd
// starts writing it.
var replyTimeout = 30 * time.Second

// bodyBudget bounds the request bodies held in memory at once, so that
// many large requests at the same time answer busy instead of growing the
// daemon without bound. Each request takes its Content-Length, or
// max_body_bytes when the length is not known, for as long as it runs.
var bodyBudget = semaphore.NewWeighted(64 << 20)

// bodyWait is how long a request waits for room in bodyBudget before it is
// refused as busy.
const bodyWait = 2 * time.Second

// readBody reads the request body within max_body_bytes and bodyTimeout.
func (d *Daemon) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Fault) {
	limit := d.cfg().API.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, apiFault(30003, "Request body is larger than %d bytes.", limit)
	}
	need := limit
	if r.ContentLength >= 0 {
		need = r.ContentLength
	}
	need = min(max(need, 4096), 64<<20)
	ctx, cancel := context.WithTimeout(r.Context(), bodyWait)
	err := bodyBudget.Acquire(ctx, need)
	cancel()
	if err != nil {
		return nil, busyFault()
	}
	// released when the handler returns, after the reply is written
	context.AfterFunc(r.Context(), func() { bodyBudget.Release(need) })

	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(bodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return body, apiFault(30003, "Request body is larger than %d bytes.", limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return body, apiFault(30003, "Request body not received within %v.", bodyTimeout)
	case err != nil:
		return body, apiFault(30003, "Reading request body: %v", err)
	}
	return body, nil
}

// soapAction returns the SOAPAction header without its quotes: clients
// send it bare, quoted, empty or not at all. ipsd dispatches on the body's
// element, never on this header.
func soapAction(r *http.Request) string {
	return strings.Trim(strings.TrimSpace(r.Header.Get("SOAPAction")), `"`)
}

// acceptsGzip reads an Accept-Encoding header: gzip (or *) with a non-zero
// quality.
func acceptsGzip(h string) bool {
	for part := range strings.SplitSeq(h, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		if q == "q=0" || strings.HasPrefix(q, "q=0.0") && strings.Trim(q[len("q=0."):], "0") == "" {
			continue
		}
		return true
	}
	return false
}

// sourceGone turns the failure of a copy whose source file was removed or
// replaced by a symlink behind the catalog's back (before the tree watcher
// caught up) into the fault of an unknown asset handle.
func (d *Daemon) sourceGone(handle string, f *Fault) *Fault {
	if f.Code != 30000 || f.Status != 0 || f.Kind != "ipsApiFault" {
		return f
	}
	a, err := d.store.Asset(handle)
	if err != nil {
		return f
	}
	root, err := os.OpenRoot(d.cfg().Root)
	if err != nil {
		return f
	}
	defer root.Close()
	fi, err := root.Lstat(a.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return apiFault(30001, "Invalid assetHandle '%s': its file is gone.", printable(handle))
	case err == nil && !fi.Mode().IsRegular():
		// replaced by a symlink (never followed) or something else
		return apiFault(30001, "Invalid assetHandle '%s': its file is no longer a regular file.", printable(handle))
	}
	return f
}
