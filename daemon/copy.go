package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ipsd/ipsd/fsstore"
	"github.com/ipsd/ipsd/metrics"
	"github.com/ipsd/ipsd/render"
)

// copyParams are the five children of copyImageParam.
type copyParams struct {
	Company, Asset, Folder, Name, Modifier string
}

// readCopyParams takes the five required children; companyName is accepted
// as an alias of companyHandle (a known documentation error).
func readCopyParams(c *call) (copyParams, *Fault) {
	var p copyParams
	var ok bool
	// each element at most once: a request that names two folders (or
	// two sources) is ambiguous, not one to guess at
	seen := map[string]int{}
	for _, k := range c.Param.Kids {
		seen[k.Local]++
	}
	for _, name := range []string{"companyHandle", "companyName", "assetHandle", "folderHandle", "name", "urlModifier"} {
		if n := seen[name]; n > 1 {
			return p, apiFault(30001, "Invalid copyImageParam: element '%s' is given %d times.", name, n)
		}
	}
	if p.Company, ok = c.text("companyHandle"); !ok {
		if p.Company, ok = c.text("companyName"); !ok {
			return p, apiFault(30002, "Missing required element 'companyHandle'.")
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"assetHandle", &p.Asset}, {"folderHandle", &p.Folder}, {"name", &p.Name}, {"urlModifier", &p.Modifier}} {
		if *f.dst, ok = c.text(f.name); !ok {
			return p, apiFault(30002, "Missing required element '%s'.", f.name)
		}
	}
	return p, nil
}

// copyJob carries one copyImage through its steps.
type copyJob struct {
	channel string
	caller  *UserConfig
	params  copyParams
	key     string // request key for idempotent retries; "" for socket calls
	wait    bool   // wait for a worker instead of answering busy
}

// copyImage runs one copyImage and returns the new asset handle.
func (d *Daemon) copyImage(ctx context.Context, j copyJob) (string, *Fault) {
	p := j.params
	st := d.store

	company, err := st.Company(p.Company)
	if err != nil {
		return "", apiFault(30001, "Invalid companyHandle '%s'.", printable(p.Company))
	}
	if f := authorize(j.caller, "copyImage", company.Name, company.Handle, copyRoles); f != nil {
		return "", f
	}

	// a retried watch request whose copy was made before a crash
	if j.key != "" {
		if a, ok, err := st.AssetByRequestKey(j.key); err == nil && ok {
			return a.Handle, nil
		}
	}

	src, err := st.Asset(p.Asset)
	if err != nil || src.Company.ID != company.ID {
		return "", apiFault(30001, "Invalid assetHandle '%s'.", printable(p.Asset))
	}
	folder, err := st.Folder(company, p.Folder)
	if err != nil {
		return "", apiFault(30001, "Invalid folderHandle '%s'.", printable(p.Folder))
	}
	if reason := badName(p.Name); reason != "" {
		return "", apiFault(30001, "Invalid name '%s': %s.", printable(p.Name), reason)
	}
	req, err := render.Parse(p.Modifier)
	if err != nil {
		return "", apiFault(30001, "Invalid urlModifier: %v", err)
	}
	// the new file takes the source's extension unless the modifier
	// changes the format
	ext := path.Ext(src.Path)
	if !req.IsEmpty() {
		if out := req.OutputFormat(src.Format); out != src.Format {
			ext = render.Ext(out)
		}
	}
	if len(p.Name)+len(ext) > 255 {
		return "", apiFault(30001, "Invalid name '%s': with its extension '%s' the file name is longer than 255 bytes.", printable(p.Name), ext)
	}

	res, err := st.Reserve(ctx, company, p.Name)
	if errors.Is(err, fsstore.ErrNameInUse) {
		return "", apiFault(30000, "Asset ID '%s' is already in use.", printable(p.Name))
	}
	switch {
	case err == nil:
	case errors.Is(err, fsstore.ErrInvalidName):
		return "", apiFault(30001, "Invalid name '%s': %v", printable(p.Name), err)
	case ctx.Err() != nil:
		return "", apiFault(30000, "Request cancelled: %v", ctx.Err())
	case transient(err):
		return "", transientFault(30000, "Reserving name '%s' failed: %v", printable(p.Name), err)
	default:
		// the catalog failed (read-only, corrupt, ...): not the caller's name
		return "", apiFault(30000, "Reserving name '%s' failed: %v", printable(p.Name), err)
	}
	defer res.Release()

	release, f := d.acquire(ctx, j.channel, j.wait)
	if f != nil {
		return "", f
	}
	defer release()

	prov := fsstore.Provenance{
		Source: src.Handle, Modifier: p.Modifier, Caller: j.caller.Email,
		RequestKey: j.key, Time: time.Now().UTC(),
	}
	var a fsstore.Asset
	if req.IsEmpty() {
		// a plain copy has no render stages: the kernel copy is all write
		t0 := time.Now()
		a, err = st.Create(ctx, res, folder, ext, st.CopyFrom(src), prov)
		if err == nil {
			d.metrics.StageDuration.WithLabelValues(metrics.StageWrite).Observe(time.Since(t0).Seconds())
			d.metrics.BytesRead.Add(float64(a.Size))
		}
	} else {
		a, err = d.renderCopy(ctx, res, folder, src, req, ext, prov)
	}
	if err != nil {
		var ce *render.CommandError
		if errors.As(err, &ce) {
			return "", apiFault(30001, "Invalid urlModifier: %v", err)
		}
		if errors.Is(err, fsstore.ErrNameInUse) {
			return "", apiFault(30000, "Asset ID '%s' is already in use.", printable(p.Name))
		}
		if errors.Is(err, fsstore.ErrInvalidName) {
			return "", apiFault(30001, "Invalid name '%s': %v", printable(p.Name), err)
		}
		if transient(err) {
			return "", transientFault(30000, "Copy of '%s' failed: %v", src.Handle, err)
		}
		return "", apiFault(30000, "Copy of '%s' failed: %v", src.Handle, err)
	}
	d.metrics.BytesWritten.Add(float64(a.Size))
	return a.Handle, nil
}

// renderCopy renders src through req into a new asset.
func (d *Daemon) renderCopy(
	ctx context.Context,
	res *fsstore.Reservation,
	folder fsstore.Folder,
	src fsstore.Asset,
	req *render.Request,
	ext string,
	prov fsstore.Provenance,
) (fsstore.Asset, error) {
	pixels := d.cfg().Render.MaxSourcePixels
	maxBytes := maxSourceBytes(pixels)
	data, err := d.store.ReadAsset(src, maxBytes)
	if errors.Is(err, fsstore.ErrTooLarge) {
		return fsstore.Asset{}, fmt.Errorf("the source file has more than the %d bytes a source of max_source_pixels %d may have", maxBytes, pixels)
	}
	if err != nil {
		return fsstore.Asset{}, err
	}
	d.metrics.BytesRead.Add(float64(len(data)))

	lim := render.Limits{
		MaxSourcePixels: d.cfg().Render.MaxSourcePixels,
		MaxOutputPixels: d.cfg().Render.MaxOutputPixels,
	}
	var info render.Info
	var rendering time.Duration
	var renderErr error
	fill := func(w *os.File) error {
		bw := bufio.NewWriterSize(w, 256<<10)
		t0 := time.Now()
		if info, renderErr = render.Render(ctx, data, req, lim, bw); renderErr != nil {
			return renderErr
		}
		rendering = time.Since(t0)
		return bw.Flush()
	}
	t0 := time.Now()
	a, err := d.store.Create(ctx, res, folder, ext, fill, prov)
	if renderErr != nil {
		// the store wrapped it as a failed write, but nothing was written:
		// the reason is the render's own
		return a, renderErr
	}
	if err != nil {
		return a, err
	}
	// write: everything Create did besides rendering (the last buffered
	// bytes, fsync, link into place, catalog)
	m := d.metrics.StageDuration
	m.WithLabelValues(metrics.StageDecode).Observe(info.Decode.Seconds())
	m.WithLabelValues(metrics.StageTransform).Observe(info.Transform.Seconds())
	m.WithLabelValues(metrics.StageEncode).Observe(info.Encode.Seconds())
	m.WithLabelValues(metrics.StageWrite).Observe(max(time.Since(t0)-rendering, 0).Seconds())
	return a, nil
}

// Sources to render are read whole into memory; their file size is bounded
// by max_source_pixels, so that a huge or sparse file in the tree (say a
// PNG header followed by gigabytes of nothing) is refused before it is read
// rather than held in memory. No image file ipsd decodes needs more than
// 16 bytes per pixel (uncompressed 16-bit RGBA is 8, with a full pyramid of
// smaller pages under 11); the slack leaves room for metadata.
const (
	sourceBytesPerPixel = 16
	sourceSlackBytes    = 64 << 20
)

// maxSourceBytes is the largest source file rendered for max_source_pixels.
func maxSourceBytes(pixels int64) int64 {
	if pixels <= 0 || pixels > (math.MaxInt64-sourceSlackBytes)/sourceBytesPerPixel {
		return 0 // no limit
	}
	return pixels*sourceBytesPerPixel + sourceSlackBytes
}

// acquire takes a render worker. With wait false it refuses with the busy
// fault when the queue of waiting calls is full.
func (d *Daemon) acquire(ctx context.Context, channel string, wait bool) (func(), *Fault) {
	start := time.Now()
	select {
	case d.sem <- struct{}{}:
	default:
		if !wait && d.waiting.Add(1) > int64(d.cfg().API.MaxQueue) {
			d.waiting.Add(-1)
			return nil, busyFault()
		}
		if !wait {
			defer d.waiting.Add(-1)
		}
		select {
		case d.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, apiFault(30000, "Request cancelled: %v", ctx.Err())
		}
	}
	d.metrics.QueueWait.WithLabelValues(channel).Observe(time.Since(start).Seconds())
	d.metrics.InFlight.Inc()
	d.inFlight.Add(1)
	return func() {
		d.inFlight.Add(-1)
		d.metrics.InFlight.Dec()
		<-d.sem
	}, nil
}

// badName says why name cannot be an Asset ID, or "" when it can. The
// rules are fsstore.ValidateName's, checked here first so that the reason
// is short and names the rule.
func badName(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > 255:
		return "longer than 255 bytes"
	case name == "." || name == "..":
		return "not a name"
	case strings.HasPrefix(name, "."):
		return "starts with '.'"
	case strings.HasPrefix(name, "~$"):
		return "starts with '~$'"
	case strings.Contains(name, ".."):
		return "contains '..'"
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r):
			return "contains a control character"
		case strings.ContainsRune(`/\|`, r):
			return "contains '" + string(r) + "'"
		}
	}
	if fsstore.ValidateName(name) != nil {
		return "not allowed as an asset name"
	}
	return ""
}

// printable makes a value from a request safe to quote in a one-line
// reason: at most 80 bytes, control characters (C0, DEL, C1) shown as '?'.
func printable(s string) string {
	if len(s) > 80 {
		i := 80
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "..."
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// transientErrnos are the failures worth trying again: the resource may be
// free, the disk may have room, the device may answer, a moment later.
var transientErrnos = []syscall.Errno{
	syscall.EAGAIN, syscall.EBUSY, syscall.EINTR, syscall.ETIMEDOUT,
	syscall.EIO, syscall.ENOSPC, syscall.EDQUOT, syscall.ETXTBSY,
	syscall.ENFILE, syscall.EMFILE, syscall.ENOMEM, syscall.ESTALE,
}

// transient reports whether err may pass on its own; decode errors, limits
// and unsupported features are deterministic and never transient.
func transient(err error) bool {
	var ce *render.CommandError
	if err == nil || errors.As(err, &ce) {
		return false
	}
	for _, e := range transientErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	// the catalog's errors come as text: busy or locked, its disk full
	// (SQLITE_FULL), or an I/O error (SQLITE_IOERR)
	msg := err.Error()
	for _, s := range []string{"SQLITE_BUSY", "database is locked", "database or disk is full", "SQLITE_FULL", "disk I/O error", "SQLITE_IOERR"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// transientFault is an ipsApiFault marked as worth retrying.
func transientFault(code int, format string, args ...any) *Fault {
	f := apiFault(code, format, args...)
	f.Transient = true
	return f
}
