package fsstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config configures a Store.
type Config struct {
	// Root is the tree: one directory per company. Required.
	Root string
	// StateDir holds catalog.db. Required; must be on a local disk.
	StateDir string
	// FileMode is the mode of new files; zero means 0644. Their group
	// follows the directory.
	FileMode fs.FileMode
	// Rescan is the interval of the periodic full rescan in Run; zero
	// turns it off.
	Rescan time.Duration
	// Poll, when positive, makes Run poll the tree at this interval instead
	// of using inotify. Zero means inotify.
	Poll time.Duration
	// ReadOnly opens the catalog read-only (for ipsd ls): Open does not
	// scan, and Run, Reconcile, Reserve, Create and CleanTemps fail with
	// ErrReadOnly.
	ReadOnly bool
	// Hooks receive events for metrics; nil funcs are skipped.
	Hooks Hooks
}

// Hooks are optional callbacks for metrics. They are called synchronously
// from the store's goroutines and must not block or call back into the
// Store.
type Hooks struct {
	// OnClash is called when an asset name in a company becomes shared by
	// more than one file.
	OnClash func(company, name string)
	// OnRescan is called when a full rescan starts; reason is "open",
	// "start", "periodic", "overflow", "poll" or "manual".
	OnRescan func(reason string)
	// OnOverflow is called when the kernel's event queue overflowed.
	OnOverflow func()
	// OnPollFallback is called when inotify cannot be used (watch limits
	// reached) and Run falls back to polling; the cause is logged.
	OnPollFallback func()
	// OnWatchEvent is called for each file-system event Run receives.
	OnWatchEvent func()
	// OnWatches is called with the number of watched directories whenever
	// it changes.
	OnWatches func(n int)
}

// Company is a top-level directory of the tree.
type Company struct {
	ID     int64
	Handle string // "c|6"
	Name   string // "ApiTestCo"
}

// Folder is a directory in a company.
type Folder struct {
	Company Company
	Path    string // relative to root: "ApiTestCo/shoes"; "ApiTestCo" for the company root
}

// Handle returns the folder's handle, its path with a trailing slash:
// "ApiTestCo/shoes/".
func (f Folder) Handle() string { return folderHandle(f.Path) }

// Asset is an image file in a company.
type Asset struct {
	Handle  string // "a|739|1|537"
	Name    string // file name without extension; the Asset ID
	Company Company
	Path    string // relative to root: "ApiTestCo/shoes/red.jpg"
	Format  string // "jpeg", "png", "gif", "webp", "tiff" or "bmp"
	Size    int64  // bytes, as last seen
}

// Entry is one line of ipsd ls.
type Entry struct {
	Handle string
	Path   string
	// Clash is set on assets whose name another asset in the company
	// shares.
	Clash bool
}

// Provenance records where a created asset came from.
type Provenance struct {
	Source     string // source asset handle
	Modifier   string // Image Serving modifier; "" for a byte copy
	Caller     string // user the request acted as
	RequestKey string // idempotency key of the request; may be empty
	Time       time.Time
}

// Store is a tree of images and its catalog. It is safe for concurrent
// use.
type Store struct {
	cfg    Config
	logger *slog.Logger
	root   *os.Root // nil only for a read-only store whose root is missing
	db     *sql.DB
	host   string

	// syncMu serialises scans and event processing of this process.
	syncMu sync.Mutex

	// wmu guards watch. Lock order: syncMu, then wmu.
	wmu   sync.Mutex
	watch *watchState // nil unless Run is using inotify

	// newWatcher makes Run's watcher; tests replace it.
	newWatcher func() (watcher, error)
	// fallbackPoll is the poll interval after inotify failed, and the
	// delay before a failed sync is tried again.
	fallbackPoll time.Duration
	// txFault, when set, fails catalog transactions; tests set it.
	txFault func() error
	// watchLimitFiles hold the inotify watch limits that apply (the
	// system's and the user namespace's); tests replace them.
	watchLimitFiles []string
}

// Open opens the store. Unless cfg.ReadOnly it creates the catalog if
// needed, drops reservations of dead processes and reconciles the catalog
// with the tree.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	if cfg.Root == "" || cfg.StateDir == "" {
		return nil, errors.New("opening store: root and state dir are required")
	}
	if cfg.FileMode == 0 {
		cfg.FileMode = 0o644
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, logger: logger, newWatcher: newFSWatcher, fallbackPoll: fallbackPoll,
		watchLimitFiles: []string{maxUserWatchesFile, userNSWatchesFile}}
	if cfg.Poll > 0 {
		s.fallbackPoll = cfg.Poll
	}
	s.host, _ = os.Hostname()

	root, err := os.OpenRoot(cfg.Root)
	if err != nil && !cfg.ReadOnly {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	s.root = root

	if !cfg.ReadOnly {
		if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
			s.closeRoot()
			return nil, fmt.Errorf("opening store: %w", err)
		}
	}
	s.db, err = openCatalog(ctx, cfg.StateDir, cfg.ReadOnly)
	if err != nil {
		s.closeRoot()
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if cfg.ReadOnly {
		return s, nil
	}

	if err := s.dropStaleReservations(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("opening store: %w", err)
	}
	// temp files of crashed writers (ipsd's own, or another process's on
	// this host) go before anything else looks at the tree
	if _, err := s.CleanTemps(ctx); err != nil {
		logger.Warn("cleaning temp files", "err", err)
	}
	if err := s.reconcile(ctx, "open"); err != nil {
		s.Close()
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if n := s.Clashes(); n > 0 {
		logger.Warn("asset names clash", "names", n)
	}
	return s, nil
}

func (s *Store) closeRoot() {
	if s.root != nil {
		s.root.Close()
	}
}

// Close closes the catalog and the root. Run must have returned.
func (s *Store) Close() error {
	var errs []error
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	if s.root != nil {
		errs = append(errs, s.root.Close())
	}
	return errors.Join(errs...)
}

// Ping reports whether the catalog answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM seq").Scan(&n); err != nil {
		return fmt.Errorf("pinging catalog: %w", err)
	}
	return nil
}

// Stats returns how many companies, folders (company roots included) and
// assets the catalog holds. It returns zeros when the catalog cannot be
// read.
func (s *Store) Stats() (companies, folders, assets int) {
	err := s.db.QueryRow(`SELECT
		(SELECT count(*) FROM companies WHERE present = 1),
		(SELECT count(*) FROM folders),
		(SELECT count(*) FROM assets WHERE present = 1)`).Scan(&companies, &folders, &assets)
	if err != nil {
		s.logger.Warn("reading catalog stats", "err", err)
		return 0, 0, 0
	}
	return companies, folders, assets
}

// Clashes returns how many asset names are currently shared by more than
// one asset in a company.
func (s *Store) Clashes() int {
	var n int
	err := s.db.QueryRow(`SELECT count(*) FROM (SELECT 1 FROM assets WHERE present = 1
		GROUP BY company_id, name HAVING count(*) > 1)`).Scan(&n)
	if err != nil {
		s.logger.Warn("counting name clashes", "err", err)
	}
	return n
}

func mkCompany(id int64, name string) Company {
	return Company{ID: id, Handle: companyHandle(id), Name: name}
}

// Companies returns the companies present in the tree, sorted by name.
func (s *Store) Companies() ([]Company, error) {
	rows, err := s.db.Query("SELECT id, name FROM companies WHERE present = 1 ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("listing companies: %w", err)
	}
	defer rows.Close()
	var out []Company
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("listing companies: %w", err)
		}
		out = append(out, mkCompany(id, name))
	}
	return out, rows.Err()
}

func (s *Store) companyWhere(what, where string, arg any) (Company, error) {
	var id int64
	var name string
	err := s.db.QueryRow("SELECT id, name FROM companies WHERE present = 1 AND "+where, arg).Scan(&id, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return Company{}, fmt.Errorf("looking up company %q: %w", what, ErrNotFound)
	}
	if err != nil {
		return Company{}, fmt.Errorf("looking up company %q: %w", what, err)
	}
	return mkCompany(id, name), nil
}

// Company returns the company with handle "c|<n>".
func (s *Store) Company(handle string) (Company, error) {
	id, err := parseCompanyHandle(handle)
	if err != nil {
		return Company{}, err
	}
	return s.companyWhere(handle, "id = ?", id)
}

// CompanyByName returns the company whose directory is called name
// (case-sensitive).
func (s *Store) CompanyByName(name string) (Company, error) {
	return s.companyWhere(name, "name = ?", name)
}

func (s *Store) companyByID(ctx context.Context, id int64) (Company, error) {
	var name string
	err := s.db.QueryRowContext(ctx, "SELECT name FROM companies WHERE id = ?", id).Scan(&name)
	if err != nil {
		return Company{}, fmt.Errorf("looking up company %d: %w", id, err)
	}
	return mkCompany(id, name), nil
}

func (s *Store) toAsset(ctx context.Context, r assetRow, companies map[int64]Company) (Asset, error) {
	c, ok := companies[r.companyID]
	if !ok {
		var err error
		if c, err = s.companyByID(ctx, r.companyID); err != nil {
			return Asset{}, err
		}
		if companies != nil {
			companies[r.companyID] = c
		}
	}
	return Asset{
		Handle:  assetHandle(r.assetID, r.imageID),
		Name:    r.name,
		Company: c,
		Path:    r.path,
		Format:  r.format,
		Size:    r.size,
	}, nil
}

func (s *Store) toAssets(ctx context.Context, rows []assetRow) ([]Asset, error) {
	out := make([]Asset, 0, len(rows))
	cache := map[int64]Company{}
	for _, r := range rows {
		a, err := s.toAsset(ctx, r, cache)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Asset returns the asset with handle "a|<assetID>|1|<imageID>" or
// "a|<assetID>".
func (s *Store) Asset(handle string) (Asset, error) {
	ref, err := parseAssetHandle(handle)
	if err != nil {
		return Asset{}, err
	}
	ctx := context.Background()
	r, ok, err := queryAsset(ctx, s.db, "WHERE asset_id = ? AND present = 1", ref.assetID)
	if err != nil {
		return Asset{}, fmt.Errorf("looking up asset %s: %w", handle, err)
	}
	if !ok || (ref.imageID != 0 && ref.imageID != r.imageID) {
		return Asset{}, fmt.Errorf("looking up asset %s: %w", handle, ErrNotFound)
	}
	return s.toAsset(ctx, r, nil)
}

// Folder returns the folder of company c named by handle ("Co/sub/",
// "f|Co/sub/", "/sub/" relative to the company root). The folder must
// exist in the tree as a real directory (no symlink on the way) and lie in
// c: otherwise the error wraps ErrNotFound, or ErrInvalidHandle for a
// malformed handle.
func (s *Store) Folder(c Company, handle string) (Folder, error) {
	rel, err := parseFolderHandle(c.Name, handle)
	if err != nil {
		return Folder{}, err
	}
	if companyOf(rel) != c.Name {
		return Folder{}, fmt.Errorf("looking up folder %q in company %s: %w", handle, c.Name, ErrNotFound)
	}
	if err := s.checkDir(rel); err != nil {
		return Folder{}, fmt.Errorf("looking up folder %q: %w", handle, err)
	}
	return Folder{Company: c, Path: rel}, nil
}

// checkDir reports an error wrapping ErrNotFound unless every component of
// rel is a real directory.
func (s *Store) checkDir(rel string) error {
	if s.root == nil {
		return fmt.Errorf("tree not available: %w", ErrNotFound)
	}
	p := ""
	for c := range strings.SplitSeq(rel, "/") {
		p = path.Join(p, c)
		fi, err := s.root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", p, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory: %w", p, ErrNotFound)
		}
	}
	return nil
}

// Folders returns the folders of company c known to the catalog, the
// company root first, sorted by path.
func (s *Store) Folders(c Company) ([]Folder, error) {
	lo, hi := subtreeRange(c.Name)
	rows, err := s.db.Query(`SELECT path FROM folders WHERE path = ? OR (path >= ? AND path < ?)
		ORDER BY path`, c.Name, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("listing folders of %s: %w", c.Name, err)
	}
	defer rows.Close()
	var out []Folder
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("listing folders of %s: %w", c.Name, err)
		}
		out = append(out, Folder{Company: c, Path: p})
	}
	return out, rows.Err()
}

// Assets returns the assets in folder f, or below it when recursive,
// sorted by path.
func (s *Store) Assets(f Folder, recursive bool) ([]Asset, error) {
	ctx := context.Background()
	lo, hi := subtreeRange(f.Path)
	rows, err := queryAssets(ctx, s.db, "WHERE present = 1 AND path >= ? AND path < ? ORDER BY path", lo, hi)
	if err != nil {
		return nil, fmt.Errorf("listing assets of %s: %w", f.Path, err)
	}
	if !recursive {
		rows = slices.DeleteFunc(rows, func(r assetRow) bool { return path.Dir(r.path) != f.Path })
	}
	return s.toAssets(ctx, rows)
}

// AssetsByName returns the assets of company c with any of names, sorted
// by path. A clashing name yields all its assets.
func (s *Store) AssetsByName(c Company, names []string) ([]Asset, error) {
	ctx := context.Background()
	var all []assetRow
	for _, n := range names {
		rows, err := queryAssets(ctx, s.db, "WHERE present = 1 AND company_id = ? AND name = ?", c.ID, n)
		if err != nil {
			return nil, fmt.Errorf("looking up assets by name in %s: %w", c.Name, err)
		}
		all = append(all, rows...)
	}
	slices.SortFunc(all, func(a, b assetRow) int { return strings.Compare(a.path, b.path) })
	all = slices.CompactFunc(all, func(a, b assetRow) bool { return a.assetID == b.assetID })
	return s.toAssets(ctx, all)
}

// AssetByRequestKey returns the present asset created with
// Provenance.RequestKey key.
func (s *Store) AssetByRequestKey(key string) (Asset, bool, error) {
	if key == "" {
		return Asset{}, false, nil
	}
	ctx := context.Background()
	r, ok, err := queryAsset(ctx, s.db, `WHERE request_key = ? AND request_key <> '' AND present = 1
		ORDER BY asset_id DESC`, key) // the second term lets SQLite use the partial index
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("looking up request key: %w", err)
		}
		return Asset{}, false, err
	}
	a, err := s.toAsset(ctx, r, nil)
	return a, err == nil, err
}

// List returns the lines of ipsd ls. For "" it lists the companies (handle
// "c|6", path "ApiTestCo"); for a folder handle everything below that
// folder, recursively: folders (handle "Co/sub/", path "Co/sub") and assets,
// sorted by path. An unknown folder gives ErrNotFound.
func (s *Store) List(handle string) ([]Entry, error) {
	if handle == "" {
		cs, err := s.Companies()
		if err != nil {
			return nil, err
		}
		out := make([]Entry, 0, len(cs))
		for _, c := range cs {
			out = append(out, Entry{Handle: c.Handle, Path: c.Name})
		}
		return out, nil
	}
	rel, err := parseFolderHandle("", handle)
	if err != nil {
		return nil, err
	}
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM folders WHERE path = ?", rel).Scan(&n); err != nil {
		return nil, fmt.Errorf("listing %s: %w", rel, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("listing %s: %w", handle, ErrNotFound)
	}

	lo, hi := subtreeRange(rel)
	var out []Entry
	rows, err := s.db.Query("SELECT path FROM folders WHERE path >= ? AND path < ?", lo, hi)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", rel, err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, fmt.Errorf("listing %s: %w", rel, err)
		}
		out = append(out, Entry{Handle: folderHandle(p), Path: p})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing %s: %w", rel, err)
	}

	rows, err = s.db.Query(`SELECT a.asset_id, a.image_id, a.path,
		(SELECT count(*) FROM assets b WHERE b.present = 1 AND b.company_id = a.company_id AND b.name = a.name)
		FROM assets a WHERE a.present = 1 AND a.path >= ? AND a.path < ?`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", rel, err)
	}
	defer rows.Close()
	for rows.Next() {
		var aid, iid int64
		var p string
		var same int
		if err := rows.Scan(&aid, &iid, &p, &same); err != nil {
			return nil, fmt.Errorf("listing %s: %w", rel, err)
		}
		out = append(out, Entry{Handle: assetHandle(aid, iid), Path: p, Clash: same > 1})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing %s: %w", rel, err)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// ReadAsset returns the content of a's file, read through the root: paths
// that leave the root and symlinks are refused. A file of more than max
// bytes (when max > 0) is refused with an error wrapping ErrTooLarge before
// anything is read, so that a huge (or sparse) file in the tree cannot make
// the caller allocate without bound; the buffer is sized from the file, not
// grown while reading.
func (s *Store) ReadAsset(a Asset, max int64) ([]byte, error) {
	f, err := s.openAsset(a)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading asset %s: %w", a.Handle, err)
	}
	size := fi.Size()
	if max > 0 && size > max {
		return nil, fmt.Errorf("reading asset %s: the file has %d bytes, more than %d: %w", a.Handle, size, max, ErrTooLarge)
	}
	limit := max
	if limit <= 0 {
		limit = math.MaxInt64 - 1
	}
	// room for the whole file and the one byte that tells it grew, so that
	// ReadFrom never has to grow the buffer for a file of the size seen
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, fmt.Errorf("reading asset %s: %w", a.Handle, err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("reading asset %s: the file grew past %d bytes while being read: %w", a.Handle, max, ErrTooLarge)
	}
	return buf.Bytes(), nil
}

// openAsset opens a's file for reading; it must be a regular file.
func (s *Store) openAsset(a Asset) (*os.File, error) {
	if s.root == nil {
		return nil, fmt.Errorf("opening asset %s: tree not available: %w", a.Handle, ErrNotFound)
	}
	if a.Path == "" || !filepath.IsLocal(a.Path) {
		return nil, fmt.Errorf("opening asset %s: bad path %q: %w", a.Handle, a.Path, ErrNotFound)
	}
	f, err := s.root.OpenFile(a.Path, os.O_RDONLY|openFlags, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("opening asset %s: %w", a.Handle, errors.Join(ErrNotFound, err))
	}
	if err != nil {
		return nil, fmt.Errorf("opening asset %s: %w", a.Handle, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", a.Path)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening asset %s: %w", a.Handle, err)
	}
	return f, nil
}
