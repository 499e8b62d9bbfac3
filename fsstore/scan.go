package fsstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

const (
	xattrHandle  = "user.ipsd.handle"
	xattrRequest = "user.ipsd.request"

	// moveWindow is how long a vanished asset can be matched by
	// device+inode+size when it reappears elsewhere without its xattr.
	moveWindow = time.Hour

	// batchSize bounds the files handled in one write transaction, so a
	// big scan does not hold the catalog's write lock for long.
	batchSize = 256
)

// fileStat is what the catalog records about a file's identity.
type fileStat struct {
	rel         string
	dev, ino    uint64
	size, mtime int64 // mtime in Unix nanoseconds
}

func statOf(rel string, fi fs.FileInfo) fileStat {
	dev, ino, _ := fileKey(fi)
	return fileStat{rel: rel, dev: dev, ino: ino, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

func (r assetRow) sameStat(st fileStat) bool {
	return r.dev == st.dev && r.ino == st.ino && r.size == st.size && r.mtime == st.mtime
}

// scanResult is one walk of (part of) the tree.
type scanResult struct {
	dirs   []string // folders, parents first; company roots included
	files  []fileStat
	failed []string // directories that could not be listed
	temps  []string // ipsd temp files seen (live or orphaned)
}

// Reconcile scans the whole tree and brings the catalog in line with it. It
// is safe to run while another process uses the same catalog.
func (s *Store) Reconcile(ctx context.Context) error {
	return s.reconcile(ctx, "manual")
}

func (s *Store) reconcile(ctx context.Context, reason string) error {
	if s.cfg.ReadOnly {
		return ErrReadOnly
	}
	if f := s.cfg.Hooks.OnRescan; f != nil {
		f(reason)
	}
	start := time.Now()
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if err := s.syncTreeLocked(ctx, ""); err != nil {
		return fmt.Errorf("reconciling catalog: %w", err)
	}
	c, f, a := s.Stats()
	s.logger.Debug("catalog reconciled", "reason", reason, "companies", c, "folders", f, "assets", a,
		"duration", time.Since(start))
	return nil
}

// syncTreeLocked reconciles the catalog below top ("" for everything) with
// the tree. s.syncMu must be held.
func (s *Store) syncTreeLocked(ctx context.Context, top string) error {
	// the snapshot must predate the walk: only rows that existed before it
	// and that it did not see may be marked gone
	snapAssets, snapFolders, err := s.snapshot(ctx, top)
	if err != nil {
		return err
	}
	res, err := s.walk(ctx, top)
	if err != nil {
		return err
	}
	s.removeOrphanTemps(res.temps)
	// folders and companies
	err = s.inTx(ctx, func(t *txn) error {
		for _, d := range res.dirs {
			if _, err := t.ensureFolder(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	// new and changed files
	var changed []fileStat
	seen := make(map[string]bool, len(res.files))
	for _, st := range res.files {
		seen[st.rel] = true
		if r, ok := snapAssets[st.rel]; !ok || !r.sameStat(st) {
			changed = append(changed, st)
		}
	}
	for chunk := range slices.Chunk(changed, batchSize) {
		err := s.inTx(ctx, func(t *txn) error {
			for _, st := range chunk {
				if err := t.upsertFile(st.rel); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}

	// what the walk did not see is gone, unless its directory could not
	// be read
	under := func(p string) bool {
		for _, f := range res.failed {
			if p == f || strings.HasPrefix(p, f+"/") {
				return true
			}
		}
		return false
	}
	var goneAssets []assetRow
	for p, r := range snapAssets {
		if !seen[p] && !under(path.Dir(p)) {
			goneAssets = append(goneAssets, r)
		}
	}
	dirSeen := make(map[string]bool, len(res.dirs))
	for _, d := range res.dirs {
		dirSeen[d] = true
	}
	var goneDirs []string
	for p := range snapFolders {
		if !dirSeen[p] && !under(p) {
			goneDirs = append(goneDirs, p)
		}
	}
	if len(goneAssets) == 0 && len(goneDirs) == 0 && top != "" {
		return nil
	}
	slices.Sort(goneDirs)
	return s.inTx(ctx, func(t *txn) error {
		for _, r := range goneAssets {
			if t.isRegular(r.path) {
				continue // appeared again since the walk
			}
			if _, err := t.tx.ExecContext(ctx, `UPDATE assets SET present = 0, gone_at = ?
				WHERE asset_id = ? AND path = ? AND present = 1`, time.Now().UnixNano(), r.assetID, r.path); err != nil {
				return err
			}
		}
		for _, d := range goneDirs {
			if t.isDir(d) {
				continue
			}
			if err := t.removeFolder(d); err != nil {
				return err
			}
		}
		if top == "" {
			// companies whose directory is gone
			rows, err := t.tx.QueryContext(ctx, "SELECT name FROM companies WHERE present = 1")
			if err != nil {
				return err
			}
			var names []string
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					rows.Close()
					return err
				}
				names = append(names, n)
			}
			rows.Close()
			for _, n := range names {
				if !dirSeen[n] && !t.isDir(n) && !under(n) {
					if _, err := t.tx.ExecContext(ctx, "UPDATE companies SET present = 0 WHERE name = ?", n); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// snapshot reads the catalog's present assets and folders below top.
func (s *Store) snapshot(ctx context.Context, top string) (map[string]assetRow, map[string]bool, error) {
	where, args := "WHERE present = 1", []any{}
	fwhere := ""
	if top != "" {
		lo, hi := subtreeRange(top)
		where += " AND path >= ? AND path < ?"
		args = []any{lo, hi}
		fwhere = " WHERE path = ? OR (path >= ? AND path < ?)"
	}
	rows, err := queryAssets(ctx, s.db, where, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("reading catalog: %w", err)
	}
	assets := make(map[string]assetRow, len(rows))
	for _, r := range rows {
		assets[r.path] = r
	}
	fargs := []any{}
	if top != "" {
		fargs = append([]any{top}, args...)
	}
	frows, err := s.db.QueryContext(ctx, "SELECT path FROM folders"+fwhere, fargs...)
	if err != nil {
		return nil, nil, fmt.Errorf("reading catalog: %w", err)
	}
	defer frows.Close()
	folders := map[string]bool{}
	for frows.Next() {
		var p string
		if err := frows.Scan(&p); err != nil {
			return nil, nil, fmt.Errorf("reading catalog: %w", err)
		}
		folders[p] = true
	}
	return assets, folders, frows.Err()
}

// walk lists the tree below top ("" for all companies) through the root,
// never following symlinks. Each directory is watched (when Run watches)
// before it is listed, so nothing created meanwhile is missed.
func (s *Store) walk(ctx context.Context, top string) (scanResult, error) {
	var res scanResult
	var visit func(dir string) error
	visit = func(dir string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.watchDir(dir)
		f, err := s.root.OpenFile(dir, os.O_RDONLY|openFlags, 0)
		var ents []fs.DirEntry
		if err == nil {
			ents, err = f.ReadDir(-1)
			f.Close()
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone meanwhile; its own event or the next scan handles it
		}
		res.dirs = append(res.dirs, dir)
		if err != nil {
			s.logger.Warn("listing folder", "path", dir, "err", err)
			res.failed = append(res.failed, dir)
			return nil
		}
		for _, e := range ents {
			name := e.Name()
			rel := path.Join(dir, name)
			switch {
			case e.Type().IsDir():
				if ignoredDir(name) {
					continue
				}
				if err := visit(rel); err != nil {
					return err
				}
			case e.Type().IsRegular():
				if ignoredFile(name) {
					if strings.HasPrefix(name, tempPrefix) {
						res.temps = append(res.temps, rel)
					}
					continue
				}
				fi, err := e.Info()
				if err != nil {
					continue // removed meanwhile
				}
				res.files = append(res.files, statOf(rel, fi))
			}
		}
		return nil
	}

	if top != "" {
		return res, visit(top)
	}
	s.watchDir(".")
	f, err := s.root.Open(".")
	if err != nil {
		return res, fmt.Errorf("listing root: %w", err)
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return res, fmt.Errorf("listing root: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() && isCompanyName(e.Name()) {
			if err := visit(e.Name()); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// isCompanyName reports whether a top-level directory called name is a
// company.
func isCompanyName(name string) bool {
	return !ignoredDir(name) && name != "lost+found"
}

// txn is one write transaction of the store.
type txn struct {
	s         *Store
	ctx       context.Context
	tx        *sql.Tx
	companies map[string]int64
	clashes   []clash // reported after commit
}

// clash is an asset name shared by several files of a company: files of
// them, the first paths (at most maxClashPaths) named.
type clash struct {
	company, name string
	paths         []string
	files         int
}

// maxClashPaths bounds the paths a clash report names: a name in every
// folder of a large company (front.jpg) would otherwise log every path
// again for each file found, the square of the files.
const maxClashPaths = 10

// inTx runs fn in a write transaction (BEGIN IMMEDIATE).
func (s *Store) inTx(ctx context.Context, fn func(t *txn) error) error {
	if s.txFault != nil {
		if err := s.txFault(); err != nil {
			return fmt.Errorf("starting catalog transaction: %w", err)
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("starting catalog transaction: %w", err)
	}
	t := &txn{s: s, ctx: ctx, tx: tx, companies: map[string]int64{}}
	if err := fn(t); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing catalog transaction: %w", err)
	}
	for _, c := range t.clashes {
		s.logger.Warn("asset name clash", "company", c.company, "name", c.name, "files", c.files, "paths", c.paths)
		if f := s.cfg.Hooks.OnClash; f != nil {
			f(c.company, c.name)
		}
	}
	return nil
}

func (t *txn) isRegular(rel string) bool {
	fi, err := t.s.root.Lstat(rel)
	return err == nil && fi.Mode().IsRegular()
}

func (t *txn) isDir(rel string) bool {
	fi, err := t.s.root.Lstat(rel)
	return err == nil && fi.IsDir()
}

// ensureCompany returns the id of company name, creating or reviving it.
// A new company takes the handle recorded in its directory's xattr when
// that id is free, so a rebuilt catalog keeps company handles.
func (t *txn) ensureCompany(name string) (int64, error) {
	if id, ok := t.companies[name]; ok {
		return id, nil
	}
	var id int64
	var present bool
	err := t.tx.QueryRowContext(t.ctx, "SELECT id, present FROM companies WHERE name = ?", name).Scan(&id, &present)
	switch {
	case err == nil:
		if !present {
			if _, err := t.tx.ExecContext(t.ctx, "UPDATE companies SET present = 1 WHERE id = ?", id); err != nil {
				return 0, err
			}
		}
	case errors.Is(err, sql.ErrNoRows):
		id, err = t.newCompany(name)
		if err != nil {
			return 0, err
		}
	default:
		return 0, err
	}
	t.companies[name] = id
	return id, nil
}

func (t *txn) newCompany(name string) (int64, error) {
	d, err := t.s.root.OpenFile(name, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return 0, fmt.Errorf("opening company directory: %w", err)
	}
	defer d.Close()
	old, _ := getXattr(d, xattrHandle)
	if id, err := parseCompanyHandle(old); err == nil {
		var n int
		if err := t.tx.QueryRowContext(t.ctx, "SELECT count(*) FROM companies WHERE id = ?", id).Scan(&n); err != nil {
			return 0, err
		}
		if n == 0 {
			if err := bumpSeq(t.ctx, t.tx, "company", id); err != nil {
				return 0, err
			}
			_, err := t.tx.ExecContext(t.ctx, "INSERT INTO companies (id, name, present) VALUES (?, ?, 1)", id, name)
			return id, err
		}
	}
	id, err := nextID(t.ctx, t.tx, "company")
	if err != nil {
		return 0, err
	}
	if _, err := t.tx.ExecContext(t.ctx, "INSERT INTO companies (id, name, present) VALUES (?, ?, 1)", id, name); err != nil {
		return 0, err
	}
	t.s.setHandleXattr(d, companyHandle(id))
	t.s.logger.Info("company added", "company", name, "handle", companyHandle(id))
	return id, nil
}

// ensureFolder records the folder at rel (and its company) and returns the
// company id.
func (t *txn) ensureFolder(rel string) (int64, error) {
	cid, err := t.ensureCompany(companyOf(rel))
	if err != nil {
		return 0, err
	}
	_, err = t.tx.ExecContext(t.ctx, `INSERT INTO folders (path, company_id) VALUES (?, ?)
		ON CONFLICT (path) DO UPDATE SET company_id = excluded.company_id`, rel, cid)
	return cid, err
}

// removeFolder forgets the folder at rel and everything below it; a
// company root also marks the company absent.
func (t *txn) removeFolder(rel string) error {
	lo, hi := subtreeRange(rel)
	now := time.Now().UnixNano()
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE assets SET present = 0, gone_at = ?
		WHERE present = 1 AND path >= ? AND path < ?`, now, lo, hi); err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM folders WHERE path = ? OR (path >= ? AND path < ?)`,
		rel, lo, hi); err != nil {
		return err
	}
	if !strings.Contains(rel, "/") {
		if _, err := t.tx.ExecContext(t.ctx, "UPDATE companies SET present = 0 WHERE name = ?", rel); err != nil {
			return err
		}
	}
	return nil
}

// tombstone marks asset row r gone.
func (t *txn) tombstone(r assetRow) error {
	_, err := t.tx.ExecContext(t.ctx, "UPDATE assets SET present = 0, gone_at = ? WHERE asset_id = ?",
		time.Now().UnixNano(), r.assetID)
	return err
}

// probeResult is what opening a candidate asset file tells.
type probeResult struct {
	f       *os.File
	st      fileStat
	format  string
	short   bool // too short to tell; maybe still being written
	handle  string
	request string
}

// probe opens the file at rel without following symlinks and reads its
// identity, magic bytes and ipsd xattrs. The caller closes pr.f.
func (s *Store) probe(rel string) (probeResult, error) {
	f, err := s.root.OpenFile(rel, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return probeResult{}, err
	}
	pr := probeResult{f: f}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return probeResult{}, err
	}
	pr.st = statOf(rel, fi)
	if !fi.Mode().IsRegular() {
		return pr, nil
	}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		f.Close()
		return probeResult{}, err
	}
	pr.format, pr.short = sniff(head[:n])
	if pr.format != "" {
		pr.handle, _ = getXattr(f, xattrHandle)
		pr.request, _ = getXattr(f, xattrRequest)
	}
	return pr, nil
}

// setHandleXattr records handle on f where the file system allows.
func (s *Store) setHandleXattr(f *os.File, handle string) {
	if err := setXattr(f, xattrHandle, handle); err != nil && !xattrUnsupported(err) {
		s.logger.Debug("recording handle in xattr", "path", f.Name(), "err", err)
	}
}

// upsertFile brings the catalog in line with the file at rel: records a
// new asset, follows a moved one, updates a changed one, or forgets one
// that is no longer an image.
func (t *txn) upsertFile(rel string) error {
	ctx := t.ctx
	row, hasRow, err := queryAsset(ctx, t.tx, "WHERE path = ? AND present = 1", rel)
	if err != nil {
		return err
	}
	if hasRow {
		// unchanged since it was recorded (an event about a file this
		// store just created, say): nothing to read
		if fi, err := t.s.root.Lstat(rel); err == nil && fi.Mode().IsRegular() && row.sameStat(statOf(rel, fi)) {
			return nil
		}
	}
	pr, err := t.s.probe(rel)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || isLoop(err) {
		if hasRow {
			return t.tombstone(row)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("probing %s: %w", rel, err)
	}
	defer pr.f.Close()
	st := pr.st

	if pr.format == "" {
		switch {
		case hasRow && pr.short:
			// truncated for a rewrite; keep the asset while it refills
			_, err := t.tx.ExecContext(ctx, "UPDATE assets SET size = ?, dev = ?, ino = ?, mtime = ? WHERE asset_id = ?",
				st.size, int64(st.dev), int64(st.ino), st.mtime, row.assetID)
			return err
		case hasRow:
			return t.tombstone(row)
		}
		return nil
	}
	if hasRow && row.sameStat(st) {
		return nil
	}

	// which catalog row does this file continue?
	var cand *assetRow
	ref, refErr := parseAssetHandle(pr.handle)
	if refErr == nil && ref.imageID != 0 {
		r2, ok, err := queryAsset(ctx, t.tx, "WHERE asset_id = ?", ref.assetID)
		if err != nil {
			return err
		}
		switch {
		case !ok || r2.imageID != ref.imageID:
		case hasRow && r2.assetID == row.assetID:
			cand = &row
		case !r2.present:
			cand = &r2 // came back: restored or moved while we were not looking
		case !t.holds(r2, st):
			cand = &r2 // moved here
		}
	}
	if cand == nil && hasRow {
		cand = &row // replaced in place (rsync, editors): the path keeps its handle
	}
	if cand == nil && st.ino != 0 {
		rows, err := queryAssets(ctx, t.tx, `WHERE dev = ? AND ino = ? AND size = ? AND path <> ?
			AND (present = 1 OR gone_at > ?) ORDER BY present DESC, gone_at DESC`,
			int64(st.dev), int64(st.ino), st.size, rel, time.Now().Add(-moveWindow).UnixNano())
		if err != nil {
			return err
		}
		for _, r := range rows {
			if !r.present || !t.isRegular(r.path) {
				cand = &r
				break
			}
		}
	}
	if hasRow && (cand == nil || cand.assetID != row.assetID) {
		if err := t.tombstone(row); err != nil {
			return err
		}
	}

	cid, err := t.ensureFolder(path.Dir(rel))
	if err != nil {
		return err
	}
	name := assetName(rel)
	var aid, iid int64
	if cand != nil {
		aid, iid = cand.assetID, cand.imageID
		_, err = t.tx.ExecContext(ctx, `UPDATE assets SET company_id = ?, name = ?, path = ?, format = ?,
			size = ?, dev = ?, ino = ?, mtime = ?, present = 1, gone_at = 0 WHERE asset_id = ?`,
			cid, name, rel, pr.format, st.size, int64(st.dev), int64(st.ino), st.mtime, aid)
		if err != nil {
			return err
		}
		if cand.path != rel {
			t.s.logger.Debug("asset moved", "handle", assetHandle(aid, iid), "from", cand.path, "to", rel)
		}
	} else {
		aid, iid, err = t.newIDs(ref, refErr == nil && ref.imageID != 0)
		if err != nil {
			return err
		}
		_, err = t.tx.ExecContext(ctx, `INSERT INTO assets (asset_id, image_id, company_id, name, path, format,
			size, dev, ino, mtime, present, request_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
			aid, iid, cid, name, rel, pr.format, st.size, int64(st.dev), int64(st.ino), st.mtime,
			pr.request, time.Now().UnixNano())
		if err != nil {
			return err
		}
	}
	if h := assetHandle(aid, iid); pr.handle != h {
		t.s.setHandleXattr(pr.f, h)
	}
	if cand == nil || cand.name != name || cand.companyID != cid || !cand.present {
		return t.checkClash(cid, name)
	}
	return nil
}

// holds reports whether the file recorded in r is still at r.path and is
// not the file st (a copy that kept the xattr, not a move).
func (t *txn) holds(r assetRow, st fileStat) bool {
	fi, err := t.s.root.Lstat(r.path)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	dev, ino, _ := fileKey(fi)
	if dev == st.dev && ino == st.ino {
		return true // a hard link: both names stay
	}
	return dev == r.dev && ino == r.ino
}

// newIDs allocates handle numbers for a new asset, reusing the ones from
// its xattr when they are free (catalog rebuilt, or file restored).
func (t *txn) newIDs(ref assetRef, useRef bool) (aid, iid int64, err error) {
	if useRef {
		var n int
		err := t.tx.QueryRowContext(t.ctx, "SELECT count(*) FROM assets WHERE asset_id = ? OR image_id = ?",
			ref.assetID, ref.imageID).Scan(&n)
		if err != nil {
			return 0, 0, err
		}
		if n == 0 {
			if err := bumpSeq(t.ctx, t.tx, "asset", ref.assetID); err != nil {
				return 0, 0, err
			}
			if err := bumpSeq(t.ctx, t.tx, "image", ref.imageID); err != nil {
				return 0, 0, err
			}
			return ref.assetID, ref.imageID, nil
		}
	}
	if aid, err = nextID(t.ctx, t.tx, "asset"); err != nil {
		return 0, 0, err
	}
	if iid, err = nextID(t.ctx, t.tx, "image"); err != nil {
		return 0, 0, err
	}
	return aid, iid, nil
}

// checkClash queues a clash report when name is now shared in company cid;
// a transaction reports each name once, with its last count.
func (t *txn) checkClash(cid int64, name string) error {
	var files int
	if err := t.tx.QueryRowContext(t.ctx, "SELECT count(*) FROM assets WHERE present = 1 AND company_id = ? AND name = ?",
		cid, name).Scan(&files); err != nil {
		return err
	}
	if files < 2 {
		return nil
	}
	rows, err := t.tx.QueryContext(t.ctx, "SELECT path FROM assets WHERE present = 1 AND company_id = ? AND name = ? ORDER BY path LIMIT ?",
		cid, name, maxClashPaths)
	if err != nil {
		return err
	}
	defer rows.Close()
	var paths []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return err
		}
		paths = append(paths, p)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(paths) == 0 {
		return nil
	}
	c := clash{company: companyOf(paths[0]), name: name, paths: paths, files: files}
	for i := range t.clashes {
		if t.clashes[i].company == c.company && t.clashes[i].name == name {
			t.clashes[i] = c
			return nil
		}
	}
	t.clashes = append(t.clashes, c)
	return nil
}

// removePath forgets whatever the catalog has at rel (an asset, or a
// folder and everything below it).
func (t *txn) removePath(rel string) error {
	row, ok, err := queryAsset(t.ctx, t.tx, "WHERE path = ? AND present = 1", rel)
	if err != nil {
		return err
	}
	if ok {
		if err := t.tombstone(row); err != nil {
			return err
		}
	}
	return t.removeFolder(rel)
}

func isLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
