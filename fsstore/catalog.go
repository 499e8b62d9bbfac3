package fsstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

const schema = `
CREATE TABLE IF NOT EXISTS seq (
	name TEXT PRIMARY KEY,
	last INTEGER NOT NULL
);
INSERT OR IGNORE INTO seq (name, last) VALUES ('company', 0), ('asset', 0), ('image', 0);
CREATE TABLE IF NOT EXISTS companies (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL UNIQUE,
	present INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS folders (
	path       TEXT PRIMARY KEY,
	company_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS assets (
	asset_id    INTEGER PRIMARY KEY,
	image_id    INTEGER NOT NULL UNIQUE,
	company_id  INTEGER NOT NULL,
	name        TEXT NOT NULL,
	path        TEXT NOT NULL,
	format      TEXT NOT NULL,
	size        INTEGER NOT NULL,
	dev         INTEGER NOT NULL,
	ino         INTEGER NOT NULL,
	mtime       INTEGER NOT NULL,
	present     INTEGER NOT NULL,
	gone_at     INTEGER NOT NULL DEFAULT 0,
	source      TEXT NOT NULL DEFAULT '',
	modifier    TEXT NOT NULL DEFAULT '',
	caller      TEXT NOT NULL DEFAULT '',
	request_key TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS assets_path ON assets (path) WHERE present = 1;
CREATE INDEX IF NOT EXISTS assets_name ON assets (company_id, name) WHERE present = 1;
CREATE INDEX IF NOT EXISTS assets_inode ON assets (dev, ino);
CREATE INDEX IF NOT EXISTS assets_request ON assets (request_key) WHERE request_key <> '';
CREATE TABLE IF NOT EXISTS reservations (
	company_id INTEGER NOT NULL,
	name       TEXT NOT NULL,
	token      TEXT NOT NULL UNIQUE,
	owner_host TEXT NOT NULL,
	owner_pid  INTEGER NOT NULL,
	expires    INTEGER NOT NULL,
	PRIMARY KEY (company_id, name)
);
PRAGMA user_version = 1;
`

// catalogDSN builds the DSN for the catalog at file. Write transactions are
// BEGIN IMMEDIATE so that a check-then-insert in one transaction is atomic
// across processes and never fails late with SQLITE_BUSY.
func catalogDSN(file string, readOnly, immutable bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	if readOnly {
		q.Set("mode", "ro")
		if immutable {
			q.Set("immutable", "1")
		}
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + q.Encode()
}

// openCatalog opens (and if writable creates and migrates) the catalog in
// stateDir.
func openCatalog(ctx context.Context, stateDir string, readOnly bool) (*sql.DB, error) {
	file, err := filepath.Abs(filepath.Join(stateDir, "catalog.db"))
	if err != nil {
		return nil, fmt.Errorf("opening catalog: %w", err)
	}
	if readOnly {
		db, err := openRO(ctx, file, false)
		if err != nil {
			// without write access to state_dir SQLite cannot create the
			// WAL index of a stopped daemon's database; read it as a
			// snapshot instead
			var err2 error
			db, err2 = openRO(ctx, file, true)
			if err2 != nil {
				return nil, fmt.Errorf("opening catalog %s read-only: %w", file, errors.Join(err, err2))
			}
		}
		return db, nil
	}

	db, err := sql.Open("sqlite", catalogDSN(file, false, false))
	if err != nil {
		return nil, fmt.Errorf("opening catalog %s: %w", file, err)
	}
	db.SetMaxOpenConns(4)
	tx, err := db.BeginTx(ctx, nil)
	if err == nil {
		_, err = tx.ExecContext(ctx, schema)
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("creating catalog schema in %s: %w", file, err)
	}
	return db, nil
}

func openRO(ctx context.Context, file string, immutable bool) (*sql.DB, error) {
	db, err := sql.Open("sqlite", catalogDSN(file, true, immutable))
	if err != nil {
		return nil, err
	}
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		db.Close()
		return nil, err
	}
	if v < 1 {
		db.Close()
		return nil, errors.New("catalog not initialised")
	}
	// make sure the tables are readable, not just the header
	if _, err := db.ExecContext(ctx, "SELECT 1 FROM assets LIMIT 1"); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// assetRow is one row of the assets table.
type assetRow struct {
	assetID, imageID, companyID int64
	name, path, format          string
	size, mtime                 int64
	dev, ino                    uint64
	present                     bool
	goneAt                      int64
}

const assetCols = `asset_id, image_id, company_id, name, path, format, size, dev, ino, mtime, present, gone_at`

func scanAsset(sc interface{ Scan(...any) error }) (assetRow, error) {
	var r assetRow
	var dev, ino int64
	err := sc.Scan(&r.assetID, &r.imageID, &r.companyID, &r.name, &r.path, &r.format,
		&r.size, &dev, &ino, &r.mtime, &r.present, &r.goneAt)
	r.dev, r.ino = uint64(dev), uint64(ino)
	return r, err
}

// queryAssets runs a query selecting assetCols.
func queryAssets(ctx context.Context, q querier, where string, args ...any) ([]assetRow, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+assetCols+" FROM assets "+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []assetRow
	for rows.Next() {
		r, err := scanAsset(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// queryAsset returns the first row matching where, or ok == false.
func queryAsset(ctx context.Context, q querier, where string, args ...any) (assetRow, bool, error) {
	r, err := scanAsset(q.QueryRowContext(ctx, "SELECT "+assetCols+" FROM assets "+where+" LIMIT 1", args...))
	if errors.Is(err, sql.ErrNoRows) {
		return assetRow{}, false, nil
	}
	return r, err == nil, err
}

// nextID allocates the next number of sequence name.
func nextID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, "UPDATE seq SET last = last + 1 WHERE name = ? RETURNING last", name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("allocating %s id: %w", name, err)
	}
	return id, nil
}

// bumpSeq makes sure sequence name never hands out id again.
func bumpSeq(ctx context.Context, q querier, name string, id int64) error {
	_, err := q.ExecContext(ctx, "UPDATE seq SET last = max(last, ?) WHERE name = ?", id, name)
	return err
}

// subtreeRange returns bounds for "path under dir" as a half-open string
// range, avoiding LIKE (case-insensitive, and % and _ are wildcards).
func subtreeRange(dir string) (lo, hi string) {
	return dir + "/", dir + "0" // '0' follows '/'
}
