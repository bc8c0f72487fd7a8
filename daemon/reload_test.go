//go:build linux

package daemon

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// queuedNotify returns the lines of the notifications already waiting on
// conn, without waiting for more.
func queuedNotify(t *testing.T, conn *net.UnixConn) []string {
	t.Helper()
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	buf := make([]byte, 4096)
	for {
		var n int
		var rerr error
		if err := raw.Read(func(fd uintptr) bool {
			n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if rerr == syscall.EAGAIN {
			return lines
		}
		if rerr != nil {
			t.Fatal(rerr)
		}
		lines = append(lines, strings.Split(string(buf[:n]), "\n")...)
	}
}

// TestDaemonReloadOverSocket: the "reload" request reloads in the main
// loop and answers with the outcome, after telling systemd RELOADING=1
// and READY=1, so that ExecReload= ends with the reload done.
func TestDaemonReloadOverSocket(t *testing.T) {
	conn := listenNotify(t, t.TempDir()+"/notify.sock")
	d := startDaemon(t, testButton)
	reload := func() *ControlResponse {
		t.Helper()
		queuedNotify(t, conn)
		resp, err := Call(d.socket, ControlRequest{Op: "reload"})
		if err != nil {
			t.Fatal(err)
		}
		var reloading, ready bool
		for _, line := range queuedNotify(t, conn) {
			switch line {
			case "RELOADING=1":
				reloading = true
			case "READY=1":
				ready = reloading
			}
		}
		if !ready {
			t.Fatalf("the reload answered before sending RELOADING=1 then READY=1")
		}
		return resp
	}

	rules := strings.Replace(testButton, "Ding dong from", "Knock knock from", 1)
	if err := os.WriteFile(d.config, []byte(d.header+rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if resp := reload(); !resp.OK || resp.Text != "reloaded "+d.config+": 1 button, 0 sensors, 0 reports, 0 alerts, 0 leds" {
		t.Fatalf("reload of a good config answered %+v", resp)
	}
	if resp, err := Call(d.socket, ControlRequest{Op: "press", Button: "doorbell"}); err != nil || !strings.HasPrefix(resp.Text, "Knock knock from") {
		t.Fatalf("after the reload a press answered %+v, %v", resp, err)
	}

	if err := os.WriteFile(d.config, []byte(d.header+rules+"[[button]]\nname = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp := reload()
	if want := "reload refused, the running config stays: " + d.config + ":"; resp.OK || !strings.HasPrefix(resp.Error, want) ||
		strings.Contains(resp.Error, "\n") || !strings.Contains(resp.Error, "needs a pin") || !strings.Contains(resp.Error, "needs a text") {
		t.Fatalf("reload of a broken config answered %+v; want an error starting %q, on one line, naming both problems", resp, want)
	}
	if resp, err := Call(d.socket, ControlRequest{Op: "press", Button: "doorbell"}); err != nil || !strings.HasPrefix(resp.Text, "Knock knock from") {
		t.Fatalf("after a refused reload a press answered %+v, %v", resp, err)
	}
	waitTweets(t, d.x, 2)

	if resp, err := Call(d.socket, ControlRequest{Op: "restart"}); err != nil || resp.OK || !strings.Contains(resp.Error, `"reload"`) {
		t.Fatalf("an unknown request answered %+v, %v; want an error listing reload", resp, err)
	}
}
