//go:build !linux

package daemon

import "time"

// Notify does nothing off Linux: there is no systemd to tell. It reports
// (false, nil), the same as when NOTIFY_SOCKET is unset.
func Notify(state string) (bool, error) { return false, nil }

// WatchdogInterval returns 0 off Linux: there is no service watchdog.
func WatchdogInterval() (time.Duration, error) { return 0, nil }
