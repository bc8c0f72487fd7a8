//go:build linux

package daemon

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// listenNotify opens a unixgram socket and points NOTIFY_SOCKET at it.
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

func TestNotify(t *testing.T) {
	t.Run("unset", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		sent, err := Notify("READY=1")
		if sent || err != nil {
			t.Fatalf("Notify with NOTIFY_SOCKET unset = %v, %v; want false, nil", sent, err)
		}
	})
	t.Run("path", func(t *testing.T) {
		conn := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
		sent, err := Notify("READY=1\nSTATUS=ok")
		if !sent || err != nil {
			t.Fatalf("Notify = %v, %v; want true, nil", sent, err)
		}
		if got := readNotify(t, conn); got != "READY=1\nSTATUS=ok" {
			t.Fatalf("socket got %q", got)
		}
	})
	t.Run("abstract", func(t *testing.T) {
		conn := listenNotify(t, "@pitweet-test-"+strconv.Itoa(os.Getpid()))
		if sent, err := Notify("WATCHDOG=1"); !sent || err != nil {
			t.Fatalf("Notify = %v, %v; want true, nil", sent, err)
		}
		if got := readNotify(t, conn); got != "WATCHDOG=1" {
			t.Fatalf("socket got %q", got)
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing.sock"))
		sent, err := Notify("READY=1")
		if sent || err == nil {
			t.Fatalf("Notify to a missing socket = %v, %v; want false and an error", sent, err)
		}
	})
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, false},
		{"30000000", strconv.Itoa(os.Getpid()), 30 * time.Second, false},
		{"30000000", strconv.Itoa(os.Getpid() + 1), 0, false},
		{"soon", "", 0, true},
		{"-5", "", 0, true},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		got, err := WatchdogInterval()
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: got %v, %v; want %v, error %v", tc.usec, tc.pid, got, err, tc.want, tc.err)
		}
	}
}
