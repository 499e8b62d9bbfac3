package fsstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// tempPrefix starts the names of ipsd's temp files in the tree:
	// .ipsd-tmp-<host hash>-<pid>-<random>.
	tempPrefix = ".ipsd-tmp-"

	// reservationTTL bounds how long a reservation of a crashed process on
	// another host blocks its name. Reservations of dead processes on this
	// host are dropped at Open.
	reservationTTL = time.Hour

	// orphanAge is how old a temp file of another host must be before
	// CleanTemps removes it.
	orphanAge = time.Hour
)

// Reservation holds an asset name in a company until Create uses it or
// Release gives it up. It is safe for concurrent use.
type Reservation struct {
	s       *Store
	company Company
	name    string
	token   string
	aid     int64 // handle numbers for the new asset
	iid     int64

	mu   sync.Mutex
	done bool // created or released
}

// Name returns the reserved asset name.
func (r *Reservation) Name() string { return r.name }

// Company returns the company the name is reserved in.
func (r *Reservation) Company() Company { return r.company }

func randomToken() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func hostTag(host string) string {
	h := fnv.New32a()
	h.Write([]byte(host))
	return fmt.Sprintf("%08x", h.Sum32())
}

// Reserve reserves name in company c, so that no other worker or process
// can create an asset with that name until the reservation is used or
// released. The error wraps ErrNameInUse when an asset or a live
// reservation in c has the name, and ErrInvalidName for a bad name.
func (s *Store) Reserve(ctx context.Context, c Company, name string) (*Reservation, error) {
	if s.cfg.ReadOnly {
		return nil, ErrReadOnly
	}
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	r := &Reservation{s: s, company: c, name: name, token: randomToken()}
	err := s.inTx(ctx, func(t *txn) error {
		now := time.Now()
		if _, err := t.tx.ExecContext(ctx, "DELETE FROM reservations WHERE company_id = ? AND name = ? AND expires < ?",
			c.ID, name, now.UnixNano()); err != nil {
			return err
		}
		var inUse, reserved int
		count := func() error {
			return t.tx.QueryRowContext(ctx, `SELECT
				(SELECT count(*) FROM assets WHERE present = 1 AND company_id = ? AND name = ?),
				(SELECT count(*) FROM reservations WHERE company_id = ? AND name = ?)`,
				c.ID, name, c.ID, name).Scan(&inUse, &reserved)
		}
		if err := count(); err != nil {
			return err
		}
		if inUse == 0 && reserved > 0 {
			// held by a peer process on this host that may have died
			if err := t.dropDeadReservations(c.ID, name); err != nil {
				return err
			}
			if err := count(); err != nil {
				return err
			}
		}
		if inUse+reserved > 0 {
			return fmt.Errorf("reserving %q in %s: %w", name, c.Name, ErrNameInUse)
		}
		// the handle numbers are allocated here, in the same transaction,
		// and burnt if the reservation is not used
		var err error
		if r.aid, r.iid, err = t.newIDs(assetRef{}, false); err != nil {
			return err
		}
		_, err = t.tx.ExecContext(ctx, `INSERT INTO reservations (company_id, name, token, owner_host, owner_pid, expires)
			VALUES (?, ?, ?, ?, ?, ?)`, c.ID, name, r.token, s.host, os.Getpid(), now.Add(reservationTTL).UnixNano())
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNameInUse) {
			return nil, err
		}
		return nil, fmt.Errorf("reserving %q in %s: %w", name, c.Name, err)
	}
	return r, nil
}

// Release gives the name up. It is a no-op after Create succeeded or a
// previous Release.
func (r *Reservation) Release() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	_, err := r.s.db.Exec("DELETE FROM reservations WHERE token = ?", r.token)
	if err != nil {
		return fmt.Errorf("releasing reservation of %q: %w", r.name, err)
	}
	r.done = true
	return nil
}

// dropDeadReservations deletes the reservations of name in company cid
// held by processes of this host that no longer exist: a peer daemon that
// was killed must not block the name until its reservation expires.
func (t *txn) dropDeadReservations(cid int64, name string) error {
	ctx := t.ctx
	rows, err := t.tx.QueryContext(ctx, `SELECT owner_pid FROM reservations
		WHERE company_id = ? AND name = ? AND owner_host = ?`, cid, name, t.s.host)
	if err != nil {
		return err
	}
	var dead []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			rows.Close()
			return err
		}
		if pid != os.Getpid() && !processAlive(pid) {
			dead = append(dead, pid)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, pid := range dead {
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM reservations
			WHERE company_id = ? AND name = ? AND owner_host = ? AND owner_pid = ?`,
			cid, name, t.s.host, pid); err != nil {
			return err
		}
		t.s.logger.Info("dropped reservation of a dead process", "name", name, "pid", pid)
	}
	return nil
}

// dropStaleReservations deletes expired reservations and those held by
// processes of this host that no longer exist.
func (s *Store) dropStaleReservations(ctx context.Context) error {
	return s.inTx(ctx, func(t *txn) error {
		if _, err := t.tx.ExecContext(ctx, "DELETE FROM reservations WHERE expires < ?", time.Now().UnixNano()); err != nil {
			return err
		}
		rows, err := t.tx.QueryContext(ctx, "SELECT DISTINCT owner_pid FROM reservations WHERE owner_host = ?", s.host)
		if err != nil {
			return err
		}
		var dead []int
		for rows.Next() {
			var pid int
			if err := rows.Scan(&pid); err != nil {
				rows.Close()
				return err
			}
			if pid != os.Getpid() && !processAlive(pid) {
				dead = append(dead, pid)
			}
		}
		rows.Close()
		for _, pid := range dead {
			if _, err := t.tx.ExecContext(ctx, "DELETE FROM reservations WHERE owner_host = ? AND owner_pid = ?",
				s.host, pid); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// Create writes the new asset folder/<name><ext> for reservation r. It
// creates a dot-temp file in the folder (O_EXCL, Config.FileMode, the
// folder's group), lets fill write it, syncs it, links it to the final
// name (never replacing: an existing name gives ErrNameInUse), removes the
// temp name and syncs the folder; then records the asset and p in the
// catalog and consumes r. On error it removes only the temp file it
// created; once the final name exists it is never removed.
func (s *Store) Create(
	ctx context.Context,
	r *Reservation,
	f Folder,
	ext string,
	fill func(w *os.File) error,
	p Provenance,
) (Asset, error) {
	if s.cfg.ReadOnly {
		return Asset{}, ErrReadOnly
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done || r.s != s {
		return Asset{}, errors.New("creating asset: reservation already used or released")
	}
	if f.Company.ID != r.company.ID || companyOf(f.Path) != r.company.Name {
		return Asset{}, fmt.Errorf("creating asset: folder %s is not in company %s: %w", f.Path, r.company.Name, ErrNotFound)
	}
	fileName := r.name + ext
	if !validExt(ext) || len(fileName) > 255 || ignoredFile(fileName) {
		return Asset{}, fmt.Errorf("creating asset %q: bad extension %q: %w", r.name, ext, ErrInvalidName)
	}
	if err := s.checkDir(f.Path); err != nil {
		return Asset{}, fmt.Errorf("creating asset %q: %w", r.name, err)
	}
	final := path.Join(f.Path, fileName)

	// the numbers came with the reservation; they are burnt if the write
	// fails, never reused
	aid, iid := r.aid, r.iid
	handle := assetHandle(aid, iid)

	st, err := s.writeNew(ctx, f.Path, final, handle, p.RequestKey, fill)
	if err != nil {
		return Asset{}, fmt.Errorf("creating asset %q: %w", final, err)
	}

	// record it; the live sync may have adopted it already from its xattr
	if p.Time.IsZero() {
		p.Time = time.Now()
	}
	format := ""
	if pr, err := s.probe(final); err == nil {
		format = pr.format
		pr.f.Close()
	}
	err = s.inTx(ctx, func(t *txn) error {
		cid, err := t.ensureFolder(f.Path)
		if err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE assets SET present = 0, gone_at = ?
			WHERE path = ? AND present = 1 AND asset_id <> ?`, time.Now().UnixNano(), final, aid); err != nil {
			return err
		}
		_, err = t.tx.ExecContext(ctx, `INSERT INTO assets (asset_id, image_id, company_id, name, path, format,
			size, dev, ino, mtime, present, source, modifier, caller, request_key, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
			ON CONFLICT (asset_id) DO UPDATE SET company_id = excluded.company_id, name = excluded.name,
			path = excluded.path, format = excluded.format, size = excluded.size, dev = excluded.dev,
			ino = excluded.ino, mtime = excluded.mtime, present = 1, gone_at = 0, source = excluded.source,
			modifier = excluded.modifier, caller = excluded.caller, request_key = excluded.request_key,
			created_at = excluded.created_at`,
			aid, iid, cid, r.name, final, format, st.size, int64(st.dev), int64(st.ino), st.mtime,
			p.Source, p.Modifier, p.Caller, p.RequestKey, p.Time.UnixNano())
		if err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(ctx, "DELETE FROM reservations WHERE token = ?", r.token); err != nil {
			return err
		}
		return t.checkClash(cid, r.name)
	})
	if err != nil {
		// the file stays: the next scan catalogs it from its xattr
		return Asset{}, fmt.Errorf("recording asset %s: %w", final, err)
	}
	r.done = true
	s.logger.Debug("asset created", "handle", handle, "path", final, "source", p.Source)
	return Asset{
		Handle:  handle,
		Name:    r.name,
		Company: r.company,
		Path:    final,
		Format:  format,
		Size:    st.size,
	}, nil
}

// writeNew writes final atomically through a temp file in dir and returns
// the final file's identity.
func (s *Store) writeNew(
	ctx context.Context,
	dir, final, handle, requestKey string,
	fill func(w *os.File) error,
) (st fileStat, err error) {
	// the temp file is made and removed through a handle on the folder,
	// so that it is removed even when the folder is moved meanwhile (the
	// link to the final name, by path, then fails)
	dr, err := s.root.OpenRoot(dir)
	if err != nil {
		return fileStat{}, err
	}
	defer dr.Close()
	tmpName := tempPrefix + hostTag(s.host) + "-" + strconv.Itoa(os.Getpid()) + "-" + randomToken()
	tmp := path.Join(dir, tmpName)
	w, err := dr.OpenFile(tmpName, os.O_WRONLY|os.O_CREATE|os.O_EXCL|openFlags, 0o600)
	if err != nil {
		return fileStat{}, err
	}
	closed := false
	defer func() {
		if !closed {
			w.Close()
		}
		if err != nil {
			dr.Remove(tmpName)
		}
	}()

	// group follows the directory, as a setgid directory would have it
	if dfi, err := s.root.Lstat(dir); err == nil {
		if _, _, dgid := fileKey(dfi); dgid >= 0 {
			if wfi, err := w.Stat(); err == nil {
				if _, _, gid := fileKey(wfi); gid != dgid {
					if err := w.Chown(-1, dgid); err != nil {
						s.logger.Debug("setting group of new file", "path", final, "err", err)
					}
				}
			}
		}
	}
	if err := w.Chmod(s.cfg.FileMode); err != nil {
		return fileStat{}, err
	}
	s.setHandleXattr(w, handle)
	if requestKey != "" {
		setXattr(w, xattrRequest, requestKey) // best effort, like the handle
	}
	if err := ctx.Err(); err != nil {
		return fileStat{}, err
	}
	if err := fill(w); err != nil {
		return fileStat{}, fmt.Errorf("writing: %w", err)
	}
	if err := w.Sync(); err != nil {
		return fileStat{}, err
	}
	closed = true
	if err := w.Close(); err != nil {
		return fileStat{}, err
	}

	// link(2) fails when final exists, unlike rename(2), which replaces it
	if err := linkFile(s.root, tmp, final); err != nil {
		if linkUnsupported(err) {
			// vfat, exfat and some SMB servers have no hard links: rename
			// the temp file without replacing instead
			err = renameNoReplace(dr, tmpName, path.Base(final))
		}
		if errors.Is(err, fs.ErrExist) {
			return fileStat{}, fmt.Errorf("%s exists: %w", final, ErrNameInUse)
		}
		if err != nil {
			return fileStat{}, err
		}
	}
	fi, statErr := s.root.Lstat(final)
	if rmErr := dr.Remove(tmpName); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		s.logger.Warn("removing temp file", "path", tmp, "err", rmErr)
	}
	if d, err := dr.OpenFile(".", os.O_RDONLY|openFlags, 0); err == nil {
		if err := d.Sync(); err != nil {
			s.logger.Warn("syncing folder", "path", dir, "err", err)
		}
		d.Close()
	}
	if statErr != nil {
		// the file is in place; return what we know so the caller records it
		s.logger.Warn("reading new file", "path", final, "err", statErr)
		return fileStat{rel: final}, nil
	}
	return statOf(final, fi), nil
}

// CopyFrom returns a fill func for Create that copies src byte for byte:
// a reflink (FICLONE) where the file system has one, else the kernel's
// copy path (copy_file_range through io.Copy).
func (s *Store) CopyFrom(src Asset) func(w *os.File) error {
	return func(w *os.File) error {
		in, err := s.openAsset(src)
		if err != nil {
			return err
		}
		defer in.Close()
		fi, err := in.Stat()
		if err != nil {
			return err
		}
		if err := cloneFile(w, in); err != nil {
			if _, err := io.Copy(w, in); err != nil {
				return fmt.Errorf("copying %s: %w", src.Path, err)
			}
		}
		wfi, err := w.Stat()
		if err != nil {
			return err
		}
		if wfi.Size() != fi.Size() {
			return fmt.Errorf("copying %s: wrote %d bytes of %d", src.Path, wfi.Size(), fi.Size())
		}
		return nil
	}
}

// isOrphanTemp reports whether the temp file called name (which starts
// with tempPrefix) was left by a crashed writer: a dead process of this host
// (myTag), or another host's temp file older than orphanAge.
func isOrphanTemp(name, myTag string, info func() (fs.FileInfo, error)) bool {
	parts := strings.SplitN(strings.TrimPrefix(name, tempPrefix), "-", 3)
	if len(parts) == 3 && parts[0] == myTag {
		pid, err := strconv.Atoi(parts[1])
		return err == nil && pid != os.Getpid() && !processAlive(pid)
	}
	fi, err := info()
	return err == nil && time.Since(fi.ModTime()) > orphanAge
}

// removeOrphanTemps removes the temp files among temps (root-relative
// paths) that crashed writers left behind; scans call it, so a peer's
// crash is cleaned up without a restart of this process.
func (s *Store) removeOrphanTemps(temps []string) {
	myTag := hostTag(s.host)
	for _, p := range temps {
		info := func() (fs.FileInfo, error) { return s.root.Lstat(p) }
		if !isOrphanTemp(path.Base(p), myTag, info) {
			continue
		}
		if err := s.root.Remove(p); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				s.logger.Warn("removing orphaned temp file", "path", p, "err", err)
			}
			continue
		}
		s.logger.Info("removed orphaned temp file", "path", p)
	}
}

// CleanTemps removes ipsd's orphaned temp files under the root: those of
// dead processes on this host, and those of other hosts older than an
// hour. It returns how many it removed.
func (s *Store) CleanTemps(ctx context.Context) (int, error) {
	if s.cfg.ReadOnly {
		return 0, ErrReadOnly
	}
	myTag := hostTag(s.host)
	removed := 0
	var errs []error
	err := fs.WalkDir(s.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable or vanished: skip
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		name := d.Name()
		if d.IsDir() {
			if p != "." && ignoredDir(name) {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(name, tempPrefix) || !d.Type().IsRegular() || !isOrphanTemp(name, myTag, d.Info) {
			return nil
		}
		if err := s.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			return nil
		}
		removed++
		s.logger.Info("removed orphaned temp file", "path", p)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("cleaning temp files: %w", err)
	}
	return removed, nil
}
