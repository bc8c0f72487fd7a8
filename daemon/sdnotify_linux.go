//go:build linux

package daemon

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Notify sends state (for example "READY=1" or "STATUS=3 queued") to the
// service manager, as sd_notify(3) does. It has three outcomes:
//
//   - (true, nil): the message was sent;
//   - (false, nil): NOTIFY_SOCKET is unset, so no service manager listens
//     (pitweet was started by hand, or by systemd without Type=notify);
//   - (false, err): NOTIFY_SOCKET is set but the message could not be sent.
//
// A socket name starting with '@' is an abstract socket; Go maps the '@'
// to the leading NUL byte the kernel expects.
func Notify(state string) (bool, error) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return false, nil
	}
	addr := &net.UnixAddr{Name: name, Net: "unixgram"}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return false, fmt.Errorf("daemon: notify the service manager: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("daemon: notify the service manager: %w", err)
	}
	return true, nil
}

// WatchdogInterval returns how often the service manager expects
// "WATCHDOG=1" (WATCHDOG_USEC), or 0 when the watchdog is off or meant for
// another process (WATCHDOG_PID names a different pid). Callers should
// ping at half the interval.
func WatchdogInterval() (time.Duration, error) {
	usec := os.Getenv("WATCHDOG_USEC")
	if usec == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("daemon: WATCHDOG_USEC=%q is not a positive number of microseconds", usec)
	}
	if p := os.Getenv("WATCHDOG_PID"); p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil {
			return 0, fmt.Errorf("daemon: WATCHDOG_PID=%q is not a process id", p)
		}
		if pid != os.Getpid() {
			return 0, nil
		}
	}
	return time.Duration(n) * time.Microsecond, nil
}
