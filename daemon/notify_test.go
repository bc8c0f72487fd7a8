//go:build linux

package daemon

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listenNotify opens a unixgram socket and points NOTIFY_SOCKET at it, as
// systemd does for a Type=notify service.
func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return conn
}

func readNotify(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification arrived: %v", err)
	}
	return string(buf[:n])
}

// logRunner is a runner whose log goes to the returned buffer.
func logRunner() (*runner, *bytes.Buffer) {
	var buf bytes.Buffer
	return &runner{log: slog.New(slog.NewTextHandler(&buf, nil))}, &buf
}

// TestNotifyOutcomes covers SdNotify's three outcomes as the daemon meets
// them: sent (to a path or an abstract socket), nobody to tell (silent),
// and a failure (logged as a warning).
func TestNotifyOutcomes(t *testing.T) {
	t.Run("unset", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		d, log := logRunner()
		d.notify("READY=1")
		if log.Len() != 0 {
			t.Fatalf("with NOTIFY_SOCKET unset the daemon logged %q; want nothing", log)
		}
	})
	t.Run("path", func(t *testing.T) {
		conn := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
		d, log := logRunner()
		d.notify("READY=1\nSTATUS=ok")
		if got := readNotify(t, conn); got != "READY=1\nSTATUS=ok" {
			t.Fatalf("socket got %q", got)
		}
		if log.Len() != 0 {
			t.Fatalf("logged %q after a notification that was sent", log)
		}
	})
	t.Run("abstract", func(t *testing.T) {
		conn := listenNotify(t, "@pitweet-test-"+strconv.Itoa(os.Getpid()))
		d, _ := logRunner()
		d.notify("WATCHDOG=1")
		if got := readNotify(t, conn); got != "WATCHDOG=1" {
			t.Fatalf("socket got %q", got)
		}
	})
	t.Run("reloading", func(t *testing.T) {
		conn := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
		d, _ := logRunner()
		d.notify(reloading())
		got := readNotify(t, conn)
		lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
		if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
			t.Fatalf("socket got %q; want RELOADING=1 and MONOTONIC_USEC=", got)
		}
		if n, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64); err != nil || n <= 0 {
			t.Fatalf("MONOTONIC_USEC in %q is not a positive number of microseconds", got)
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing.sock"))
		d, log := logRunner()
		d.notify("READY=1")
		if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "notification=READY") {
			t.Fatalf("a notification that could not be sent logged %q; want a warning naming READY", log)
		}
	})
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		warn      bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, false},
		{"30000000", strconv.Itoa(os.Getpid()), 30 * time.Second, false},
		{"30000000", strconv.Itoa(os.Getpid() + 1), 0, false},
		{"soon", "", 0, true},
		{"-5", "", 0, true},
		{"30000000", "me", 0, true},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		d, log := logRunner()
		got := d.watchdogInterval()
		warned := strings.Contains(log.String(), "level=WARN")
		if got != tc.want || warned != tc.warn {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: got %v, warning %v (%q); want %v, warning %v", tc.usec, tc.pid, got, warned, log, tc.want, tc.warn)
		}
	}
}
