package watch

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// TestPollTimingSynctest checks Settle and Incomplete in poll mode on a fake
// clock: nothing is taken before its time, everything right after.
func TestPollTimingSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		cfg := Config{
			Dir:        dir,
			Poll:       time.Second,
			Settle:     5 * time.Second,
			Incomplete: time.Minute,
			Rescan:     time.Hour,
		}
		rec := &recorder{}
		w, err := New(cfg, rec.handle, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- w.Run(ctx) }()
		synctest.Wait() // start scan done

		writeFile(t, filepath.Join(dir, "good.xml"), requestBody("g"))
		writeFile(t, filepath.Join(dir, "trunc.xml"), []byte("<copyImageParam><a>"))

		// first seen by the poll at 1s; settled 5s later, at 6s
		time.Sleep(5500 * time.Millisecond)
		synctest.Wait()
		if fileExists(t, filepath.Join(dir, DoneDir, "good.xml")) || len(rec.requests()) != 0 {
			t.Fatal("request taken before Settle passed")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !fileExists(t, filepath.Join(dir, DoneDir, "good.xml")) {
			t.Fatal("request not taken once Settle passed")
		}

		// trunc.xml last changed (as far as polling knows) at 1s: fails at 61s
		time.Sleep(54 * time.Second) // now 60.5s
		synctest.Wait()
		if !fileExists(t, filepath.Join(dir, "trunc.xml")) {
			t.Fatal("truncated request failed before Incomplete passed")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !fileExists(t, filepath.Join(dir, FailedDir, "trunc.xml")) {
			t.Fatal("truncated request not failed once Incomplete passed")
		}
		if got := rec.counts(); len(got) != 1 || got["good.xml"] != 1 {
			t.Errorf("handler calls = %v; want good.xml once", got)
		}

		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v; want context.Canceled", err)
		}
	})
}
