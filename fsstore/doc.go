// Package fsstore is ipsd's store: a plain directory tree of images and a
// SQLite catalog that maps handles to paths.
//
// # Tree
//
// The root holds one directory per company; every directory below a company
// is a folder, and every regular file whose content starts like a JPEG, PNG,
// GIF, WebP, TIFF or BMP image is an asset. Names starting with "." are never
// assets or folders (ipsd's own temp files are ".ipsd-tmp-*"), and neither
// are files that look like partial downloads or editor droppings (*.tmp,
// *.part, *.partial, *.crdownload, *.download, ~$*, *.swp, *~). Symlinks are
// never followed: a symlink is neither a folder nor an asset. A top-level
// "lost+found" is not a company. All file access goes through os.Root, so no
// path can leave the root.
//
// # Catalog
//
// The catalog lives in <state_dir>/catalog.db (SQLite in WAL mode with a busy
// timeout; write transactions are BEGIN IMMEDIATE), so several processes on
// one host may share it and a read-only Store (ipsd ls) may read it while a
// daemon writes. It is derived state: an asset's handle is also stored in the
// extended attribute user.ipsd.handle on the file, and a company's handle on
// its directory, so a rebuilt catalog hands out the same handles. Handles are
// numbered from three sequences (companies, assets, images) and never
// reused. Rows of vanished assets stay in the catalog as tombstones, so a file
// that comes back (moved, restored) gets its old handle again when its xattr
// or its device+inode+size says it is the same file.
//
// Asset names (file name without extension) are unique within a company.
// Clashes made outside ipsd are kept and served, logged at Warn, reported to
// Hooks.OnClash, counted by Clashes and flagged in List; Reserve refuses the
// name.
//
// # Sync
//
// Open reconciles the catalog with the tree (unless read-only). Run keeps it
// in sync: with inotify (fsnotify) watches on every folder, added before the
// folder is listed, or by polling when Config.Poll is set; plus a periodic
// full rescan and a full rescan after an event-queue overflow. A path (or a
// rescan) whose sync failed because the catalog did (busy, its disk full)
// is tried again every 10 s, up to 30 times in a row. A folder the
// kernel refuses to watch (ENOSPC or EMFILE: the inotify limits) is polled
// with everything below it, while the rest of the tree keeps its watches;
// each such subtree is logged and reported to Hooks.OnPollFallback, and
// each poll tries to watch it again. A folder renamed under a running store
// is watched afresh under its new name (inotify watches follow the inode,
// and fsnotify would go on reporting the old name).
//
// Before watching, Run compares the number of directories (one inotify
// watch each) with the watch limit, fs.inotify.max_user_watches or, when
// lower, user.max_inotify_watches of the user namespace ipsd runs in (a
// container's), and logs both numbers, at Warn when the tree needs more than
// three quarters of the limit.
//
// # Crashes and peers
//
// Several processes on one host may share the tree and the catalog. A name
// reserved by a process of this host that no longer exists is taken over by
// the next Reserve of that name, and every scan (at Open, periodic, after an
// overflow, each poll) removes the temp files of writers that are gone, so a
// peer killed mid-write leaves nothing behind in the tree while the others
// keep running. Handle numbers are allocated with the reservation.
//
// A Store is safe for concurrent use. This package exists for ipsd; its API
// may change without notice.
package fsstore

// BUG(ipsd): hard links are not modelled: two names of one inode share one
// user.ipsd.handle xattr, so after a catalog rebuild one of them gets a new
// handle.
