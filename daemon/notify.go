package daemon

import (
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// notify tells the service manager state ("READY=1", "STATUS=…") through
// go-systemd's SdNotify, which has three outcomes: sent; not sent because
// NOTIFY_SOCKET is unset (pitweet was started by hand: nobody to tell);
// or NOTIFY_SOCKET is set and sending failed. Only the last is logged;
// the daemon goes on either way.
func (d *runner) notify(state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		name, _, _ := strings.Cut(state, "=")
		d.log.Warn("daemon: systemd notification failed", "notification", name, "err", err)
	}
}

// reloading is the notification that a reload begins: RELOADING=1 with
// the monotonic time, as sd_notify(3) asks since systemd 253 (older
// versions ignore the time).
func reloading() string {
	return sd.SdNotifyReloading + "\n" + sd.SdNotifyMonotonicUsec()
}

// watchdogInterval is how often the service manager expects WATCHDOG=1
// (WATCHDOG_USEC), or 0 when the watchdog is off or is meant for another
// process (WATCHDOG_PID). A malformed setting is logged and treated as off.
// The main loop pings at half the interval.
func (d *runner) watchdogInterval() time.Duration {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		d.log.Warn("daemon: ignoring the watchdog setting (WATCHDOG_USEC, WATCHDOG_PID)", "err", err)
		return 0
	}
	return interval
}
