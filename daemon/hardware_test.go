//go:build linux

package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"pitweet/config"
	"strings"
	"sync"
	"testing"
	"time"

	"pitweet/hw"
	"pitweet/hw/fakehw"
)

// waitStatus polls the control socket until ok holds for the status,
// failing the test with what after 10 s.
func waitStatus(t *testing.T, socket, what string, ok func(*Status) bool) *Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := Call(socket, ControlRequest{Op: "status"})
		if err != nil {
			t.Fatal(err)
		}
		if ok(resp.Status) {
			return resp.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s; status %+v", what, resp.Status)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// A button whose pin fails shows as failing in status and in check, and
// works again when the pin does.
func TestDaemonFailingButton(t *testing.T) {
	d := startDaemon(t, testButton)
	if err := d.board.SetPinFault("GPIO17", fakehw.EdgeFails); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, d.socket, "the button shows as failing", func(s *Status) bool { return len(s.ButtonErrors) > 0 })
	if e := st.ButtonErrors[0]; e.Name != "doorbell" || !strings.Contains(e.Error, "waiting for an edge on GPIO17 fails at once") {
		t.Errorf("button errors %+v", st.ButtonErrors)
	}
	rep := checkHardware(t, d.config, false, d.socket)
	f := rep.Failed()
	if f == nil || !strings.HasPrefix(f.Message(), `button doorbell: the running daemon reports: button "doorbell": waiting for an edge on GPIO17 fails at once`) {
		t.Errorf("check: %v\n%s", f, lines(rep))
	}

	if err := d.board.SetPinFault("GPIO17", fakehw.PinWorks); err != nil {
		t.Fatal(err)
	}
	// The first press after a pause may be lost, as on a real pin; one
	// after the button works again is posted.
	d.board.Press("GPIO17")
	waitStatus(t, d.socket, "the button works again", func(s *Status) bool { return len(s.ButtonErrors) == 0 })
	n := len(d.x.Tweets())
	d.board.Press("GPIO17")
	waitTweets(t, d.x, n+1)
}

// A sensor whose chip never finishes does not hang the daemon: the read
// ends at its deadline and the sensor shows as failed in status.
func TestDaemonStuckSensor(t *testing.T) {
	d := startDaemonWith(t, "fake", `
[[sensor]]
name = "room"
type = "bme280"
[[alert]]
when = "room.Temperature > 100"
every = "1s"
text = "never"
`, nil, func(o *Options) { o.SensorTimeout = 300 * time.Millisecond })
	waitSensor(t, d.socket, "room")
	d.board.SetFault(0x76, fakehw.Stuck)
	st := waitStatus(t, d.socket, "the sensor shows as failed", func(s *Status) bool { return s.Sensors[0].Error != "" })
	if s := st.Sensors[0]; !strings.Contains(s.Error, "did not finish in time") || s.Values["Temperature"] != 21.5 {
		t.Errorf("sensor state %+v, want the timeout and the last reading", s)
	}
	d.board.SetFault(0x76, fakehw.NoFault)
	waitStatus(t, d.socket, "the sensor reads again", func(s *Status) bool { return s.Sensors[0].Error == "" })
}

// Run by hand on a machine without GPIO, the daemon stops at once with the
// one line that says no GPIO chip was found and how to check.
func TestRunWithoutGPIOChip(t *testing.T) {
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		t.Skipf("this machine has %v", chips)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pitweet.toml")
	creds := writeTestCredentials(t, dir)
	text := "state_dir = \"" + filepath.Join(dir, "state") + "\"\n[x]\ncredentials = \"" + creds + "\"\n" + testButton
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), Options{ConfigPath: cfgPath, Socket: filepath.Join(dir, "control.sock")})
	if !errors.Is(err, hw.ErrNoGPIOChip) || !strings.Contains(err.Error(), "ls /dev/gpiochip*") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Run = %v, want one line saying no GPIO chip was found", err)
	}
}

// Under systemd, the daemon whose hardware does not open runs without it,
// says why in status and to systemd, still posts (a press through the
// control socket) and tries again later, instead of exiting to be
// restarted every few seconds.
func TestDaemonWithoutGPIOChipUnderSystemd(t *testing.T) {
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		t.Skipf("this machine has %v", chips)
	}
	conn := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
	d := startDaemonWith(t, "real", testButton, nil, func(o *Options) { o.Board = nil })
	st := waitStatus(t, d.socket, "status says the hardware is not open", func(s *Status) bool { return s.HardwareError != "" })
	if !strings.Contains(st.HardwareError, "no GPIO chip found") || st.HardwareRetry.Before(time.Now()) {
		t.Errorf("hardware error %q, retry at %v", st.HardwareError, st.HardwareRetry)
	}
	waitNotify(t, conn, "READY=1")
	for {
		if line := readNotify(t, conn); strings.Contains(line, "STATUS=") && strings.Contains(line, "hardware not open") {
			break
		}
	}
	resp, err := Call(d.socket, ControlRequest{Op: "press", Button: "doorbell"})
	if err != nil || !resp.OK {
		t.Fatalf("press: %v %+v", err, resp)
	}
	waitTweets(t, d.x, 1)
}

// The pauses between attempts to open the hardware double up to ten
// minutes; an error is logged once, not at every attempt.
func TestHardwareRetryBacksOff(t *testing.T) {
	var buf bytes.Buffer
	d := &runner{log: slog.New(slog.NewTextHandler(&buf, nil)), st: &state{}, hwPause: hardwareRetry}
	defer d.hardwareOpen()
	var pauses []time.Duration
	for range 9 {
		pauses = append(pauses, d.hwPause)
		d.hardwareFailed(hw.ErrNoGPIOChip)
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
		320 * time.Second, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	if !slicesEqual(pauses, want) {
		t.Errorf("pauses %v, want %v", pauses, want)
	}
	if n := strings.Count(buf.String(), "the hardware did not open"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, buf.String())
	}
	d.hardwareFailed(errors.New("another error"))
	if n := strings.Count(buf.String(), "the hardware did not open"); n != 2 {
		t.Errorf("a new error logged %d times in all, want 2", n)
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// runPi5Child runs TestPi5Child in a process of its own (the simulated Pi
// 5 closes file descriptor 0, as periph's gpioioctl does) with
// PITWEET_PI5_CHILD=mode.
func runPi5Child(t *testing.T, mode string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPi5Child$", "-test.v")
	cmd.Env = append(os.Environ(), "PITWEET_PI5_CHILD="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPi5Child") {
		t.Fatalf("child (%s): %v\n%s", mode, err, out)
	}
}

// On a simulated Pi 5 whose driver loading closes descriptor 0 (a current
// kernel's /dev/gpiochip4 link, dropped by gpioioctl), the daemon opens the
// board with descriptor 0 held (hw.LoadDrivers), so the button's line gets
// another descriptor and a reload, which configures the line again, keeps
// the button working.
func TestPi5ReloadKeepsButtons(t *testing.T) { runPi5Child(t, "daemon") }

// The control: the same board opened without the guard gives the line
// descriptor 0, and re-opening the rig, as a reload does, fails with EBUSY.
func TestPi5WithoutGuardLosesButtons(t *testing.T) { runPi5Child(t, "bare") }

func TestPi5Child(t *testing.T) {
	mode := os.Getenv("PITWEET_PI5_CHILD")
	if mode == "" {
		t.Skip("runs in a process of its own (TestPi5ReloadKeepsButtons, TestPi5WithoutGuardLosesButtons)")
	}
	pi5 := fakehw.Options{Board: "pi5", RealTime: true, ClosesFD0: true, Dir: t.TempDir()}
	switch mode {
	case "bare":
		board, err := fakehw.NewBoard(pi5)
		if err != nil {
			t.Fatal(err)
		}
		defer board.Close()
		cfg, err := config.Parse([]byte("[hardware]\nmode = \"fake\"\n"+testButton), "pitweet.toml")
		if err != nil {
			t.Fatal(err)
		}
		presses := make(chan hw.Press, 4)
		r, err := openRig(context.Background(), board, cfg, presses, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		pin, _ := board.Pin("GPIO17")
		if fd := pin.(*fakehw.Pin).LineFD(); fd != 0 {
			t.Fatalf("the line got descriptor %d, want 0", fd)
		}
		r.stop()
		_, err = openRig(context.Background(), board, cfg, presses, testLog(t))
		if err == nil || !strings.Contains(err.Error(), "device or resource busy") {
			t.Fatalf("re-opening the rig = %v, want EBUSY", err)
		}
	case "daemon":
		var board *fakehw.Board
		var mu sync.Mutex
		d := startDaemonWith(t, "fake", testButton, nil, func(o *Options) {
			o.Board = nil
			o.OpenBoard = func() (hw.Board, error) {
				b, err := fakehw.NewBoard(pi5)
				mu.Lock()
				board = b
				mu.Unlock()
				return b, err
			}
		})
		mu.Lock()
		b := board
		mu.Unlock()
		if len(b.Dropped()) != 1 {
			t.Fatalf("dropped %v, want the duplicate chip", b.Dropped())
		}
		b.Press("GPIO17")
		waitTweets(t, d.x, 1)
		pin, _ := b.Pin("GPIO17")
		if fd := pin.(*fakehw.Pin).LineFD(); fd <= 0 {
			t.Fatalf("the line has descriptor %d, want one above 0", fd)
		}
		d.reload <- struct{}{}
		// A press through the socket is answered by the main loop, so after
		// the reload.
		if resp, err := Call(d.socket, ControlRequest{Op: "press", Button: "doorbell"}); err != nil || !resp.OK {
			t.Fatalf("press: %v %+v", err, resp)
		}
		b.Press("GPIO17")
		waitTweets(t, d.x, 3)
	default:
		t.Fatalf("PITWEET_PI5_CHILD=%q", mode)
	}
}
