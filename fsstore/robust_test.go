package fsstore

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	return cmd.Process.Pid
}

func TestReserveTakesOverReservationOfDeadPeer(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a.jpg"), jpegBytes(t, 1))
	s := e.open(t)
	co, err := s.CompanyByName("Co")
	if err != nil {
		t.Fatal(err)
	}
	// a peer daemon on this host reserved two names and was killed; a
	// live one (this process) holds a third
	dead := deadPid(t)
	for _, name := range []string{"gone1", "gone2"} {
		if _, err := s.db.Exec(`INSERT INTO reservations (company_id, name, token, owner_host, owner_pid, expires)
			VALUES (?, ?, ?, ?, ?, ?)`, co.ID, name, randomToken(), s.host, dead, 1<<62); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Reserve(t.Context(), co, "held"); err != nil {
		t.Fatal(err)
	}
	// another live process on another host
	if _, err := s.db.Exec(`INSERT INTO reservations (company_id, name, token, owner_host, owner_pid, expires)
		VALUES (?, ?, ?, ?, ?, ?)`, co.ID, "remote", randomToken(), "elsewhere", dead, 1<<62); err != nil {
		t.Fatal(err)
	}

	if _, err := s.Reserve(t.Context(), co, "gone1"); err != nil {
		t.Errorf("Reserve(gone1) held by a dead process: %v; want it taken over", err)
	}
	for _, name := range []string{"held", "remote", "gone1"} {
		if _, err := s.Reserve(t.Context(), co, name); !errors.Is(err, ErrNameInUse) {
			t.Errorf("Reserve(%s) = %v; want ErrNameInUse", name, err)
		}
	}
	var n int
	s.db.QueryRow("SELECT count(*) FROM reservations WHERE name = 'gone2'").Scan(&n)
	if n != 1 {
		t.Errorf("gone2 reservations = %d; want 1 (only the conflicting name is cleaned)", n)
	}
}

func TestReservationCarriesHandleNumbers(t *testing.T) {
	e := newEnv(t)
	writeFile(t, filepath.Join(e.root, "Co/a.jpg"), jpegBytes(t, 1))
	s := e.open(t)
	co, _ := s.CompanyByName("Co")
	f, err := s.Folder(co, "Co/")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]string, 6)
	for i := range got {
		wg.Go(func() {
			r, err := s.Reserve(t.Context(), co, "x"+itoa(i))
			if err != nil {
				t.Error(err)
				return
			}
			a, err := s.Create(t.Context(), r, f, ".jpg", func(w *os.File) error {
				_, err := w.Write(jpegBytes(t, uint8(i)))
				return err
			}, Provenance{})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = a.Handle
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, h := range got {
		if seen[h] {
			t.Errorf("handle %s given twice: %v", h, got)
		}
		seen[h] = true
	}
	for p, h := range handles(t, s) {
		if strings.HasPrefix(p, "Co/x") && !seen[h] {
			t.Errorf("catalog has %s as %s, which Create did not return", p, h)
		}
	}
}

func TestScansRemoveOrphanedTemps(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	tag := hostTag(s.host)
	dead := filepath.Join(e.root, "Co/a", tempPrefix+tag+"-"+itoa(deadPid(t))+"-abc")
	live := filepath.Join(e.root, "Co/a", tempPrefix+tag+"-"+itoa(os.Getpid())+"-abc")
	writeFile(t, dead, []byte("partial"))
	writeFile(t, live, []byte("partial"))
	if err := s.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp file of a dead writer survived a rescan: %v", err)
	}
	if _, err := os.Lstat(live); err != nil {
		t.Errorf("temp file of a live writer removed: %v", err)
	}
}

func TestWatchLimitIsLogged(t *testing.T) {
	// the system's limit and the user namespace's: the lower one counts
	for _, tt := range []struct {
		sys, ns string // "" for a file that cannot be read
		limit   string
		level   string
		msg     string
	}{
		{"100000", "2147483647", "100000", "INFO", "watching the tree with inotify"},
		{"50", "8", "8", "WARN", "needs most of the inotify watches"},
		{"3", "2147483647", "3", "WARN", "more directories than inotify watches allowed"},
		{"", "100000", "100000", "INFO", "watching the tree with inotify"},
	} {
		t.Run(tt.sys+"-"+tt.ns, func(t *testing.T) {
			e := newEnv(t)
			for _, d := range []string{"Co/a", "Co/b", "Co/c/d", "Co2/x"} {
				if err := os.MkdirAll(filepath.Join(e.root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			var buf bytes.Buffer
			var mu sync.Mutex
			s, err := Open(t.Context(), e.cfg, slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tmp := t.TempDir()
			s.watchLimitFiles = []string{filepath.Join(tmp, "max_user_watches"), filepath.Join(tmp, "max_inotify_watches")}
			for i, v := range []string{tt.sys, tt.ns} {
				if v != "" {
					writeFile(t, s.watchLimitFiles[i], []byte(v+"\n"))
				}
			}
			s.checkWatchLimit()
			mu.Lock()
			out := buf.String()
			mu.Unlock()
			// root, Co, Co/a, Co/b, Co/c, Co/c/d, Co2, Co2/x
			want := "directories=8 max_user_watches=" + tt.limit
			if !strings.Contains(out, "level="+tt.level) || !strings.Contains(out, tt.msg) || !strings.Contains(out, want) {
				t.Errorf("log = %q; want %s %q with %q", out, tt.level, tt.msg, want)
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
