// Package watch takes copyImage request files from hot folders.
//
// A Watcher serves one folder. Clients drop request files (*.xml, a bare
// copyImageParam or a SOAP envelope) at its top level; the Watcher hands each
// finished file to a Handler exactly once and files the request and its
// result under done/ or failed/. The package does not interpret requests
// beyond checking that a file is complete, well-formed XML.
//
// # Which files are requests
//
// Only regular files at the top level whose names end in ".xml" (any case).
// Ignored, and never touched: dotfiles, names starting with "~$" or "#",
// everything without the .xml suffix (*.tmp, *.part, *.partial,
// *.crdownload, *.download, editor swap and backup files), ipsd's own
// *.result.xml, symbolic links, and subdirectories. Names longer than
// MaxNameLen bytes are ignored with a warning, because the claimed name
// would not fit the file system's limit.
//
// # When a file is finished
//
// A file is taken when it parses as complete, well-formed XML (one root
// element, read to EOF) and one of these holds (peers-and-failures.md R1):
//
//   - it arrived by rename: a create event that no write follows within a
//     short window (Settle/4, at most 250ms);
//   - its size and modification time have not changed for Settle, as
//     observed by the Watcher;
//   - in inotify mode only, when it is first seen (at start or by a scan):
//     its modification time is at least Settle old.
//
// A file that stays unparsable for Incomplete after its last change is
// claimed and filed under failed/ with an ipsApiFault 30003 naming the parse
// error; the Handler is not called. So is a file over MaxBytes, and (with
// fault 30000) a file with more than one hard link: Request.Owner may decide
// who the request acts as, and a link would let one user present another
// user's file.
//
// # Claim, outcome and crash safety
//
// A free worker claims a file by renaming it into .work/ as
// <name>.<host>.<pid>.<instance>-<random>-<attempt>. rename(2) is atomic, so
// of several Watchers (or daemons) only one wins; the losers see ENOENT. As
// a retransmitted rename on NFS can report ENOENT although it succeeded, a
// Watcher that sees ENOENT looks for its (unique) claimed name before it
// gives the file up.
// Files are claimed only when a worker is free, so a burst stays in the
// folder rather than in memory or .work/ (R12).
//
// The Handler's Result, stamped with an XML comment holding the time and
// attempt number, is first written durably into .work/ beside the claimed
// request (<work-name>.ok or <work-name>.failed). The result is then
// hard-linked into done/ or failed/ as <name>.result.xml and the request
// renamed beside it as <name>.xml (or <name>.N.result.xml and <name>.N.xml for
// the first N whose names are both free); link(2) and RENAME_NOREPLACE never
// replace anything. The directory is synced, then the stored result is
// removed from .work/. A crash at any point leaves a state the next start completes
// without calling the Handler again, or (before the result was stored)
// re-runs the request with Attempt+1 and the same Key. When storing or
// filing fails while the Watcher runs (a full disk, done/ unusable), the
// request stays claimed and every full rescan tries again: it files the
// stored result, or runs the request again with the same Key. done/,
// failed/ and .work/ must be directories themselves: one that a client
// replaced by a symlink (into another watch folder, whose requests run as
// another user, or into the tree) is never written through; claims or
// filing wait, logged, until it is a directory again.
//
// At start and at every full rescan the Watcher sweeps .work/: entries of
// this host whose process is gone (or whose process id is this process's
// but whose instance is not running here) are finished or re-run, and their
// temporary files removed. Entries of live processes and of other hosts are
// left alone.
//
// # Events and scans
//
// fsnotify (inotify) events on the folder are hints. The folder is scanned in
// full at start, every Rescan, after an event-queue overflow and after the
// folder was deleted and created again. inotify watches a directory, not a
// path, so the Watcher also notices when the path stops leading to the
// directory it watches: the folder or its parent is deleted or renamed (the
// parent is watched for that), or, found at a full scan, the path holds
// another directory. It then watches whatever folder is at the path once
// there is one (retried every Settle/4, at most 250ms) and scans it.
// With Poll > 0 no inotify is used at all: the folder is listed every Poll,
// as needed for NFS and SMB (R13). If inotify cannot be set up (watch or
// instance limits), the Watcher logs a warning, calls Hooks.OnPollFallback
// and polls every 5s.
//
// This package exists for ipsd; its API may change without notice.
package watch

// BUG(ipsd): on file systems without hard links the outcome falls back to
// rename (without replacing). A crash between moving the result and moving
// the request then re-runs the request, and done/ holds an extra result.

// BUG(ipsd): claims of hosts other than this one are never taken over, even
// if that host is gone for good; an operator has to move them back from
// .work/ by hand.

// BUG(ipsd): a process id reused by an unrelated live process keeps the dead
// daemon's claims in .work/ until that process exits.
