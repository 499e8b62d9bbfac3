package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// notify sends one sd_notify state line to systemd; outside systemd
// (no NOTIFY_SOCKET) it does nothing.
func notify(logger *slog.Logger, state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		logger.Debug("sd_notify failed", "state", state, "err", err)
	}
}

func status(logger *slog.Logger, format string, a ...any) {
	notify(logger, "STATUS="+fmt.Sprintf(format, a...))
}

// watchdog pings systemd at half of WatchdogSec while the catalog answers,
// so a wedged daemon is restarted. It returns when ctx is done.
func (d *Daemon) watchdog(ctx context.Context) error {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return nil
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := d.store.Ping(ctx); err != nil {
				d.logger.Warn("catalog not answering; skipping watchdog ping", "err", err)
				continue
			}
			notify(d.logger, "WATCHDOG=1")
		}
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, for RELOADING=1.
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}
