//go:build linux

package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pitweet/fakex"
	"pitweet/hw/fakehw"
)

// liveDaemon is a daemon running in the test process on a simulated board,
// posting to a fakex server over TLS on loopback.
type liveDaemon struct {
	x       *fakex.Server
	board   *fakehw.Board
	socket  string
	cancel  context.CancelFunc
	stopped chan error
	config  string        // the config file
	header  string        // its [x] and [hardware] part
	reload  chan struct{} // SIGHUP
}

// startDaemon writes a config with rules appended and runs the daemon on a
// new simulated board until the test ends.
func startDaemon(t *testing.T, rules string) *liveDaemon {
	t.Helper()
	return startDaemonWith(t, "fake", rules, nil, nil)
}

// startDaemonWith is startDaemon with [hardware] mode, on board (nil: a new
// simulated one; the daemon closes neither), with opts changed by change
// (if not nil).
func startDaemonWith(t *testing.T, mode, rules string, board *fakehw.Board, change func(*Options)) *liveDaemon {
	t.Helper()
	dir := t.TempDir()
	x := fakex.New(fakex.DemoCredentials)
	if err := x.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	ca := filepath.Join(dir, "ca.pem")
	if err := x.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	c := fakex.DemoCredentials
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, fmt.Appendf(nil, "api_key=%s\napi_secret=%s\naccess_token=%s\naccess_secret=%s\n",
		c.ConsumerKey, c.ConsumerSecret, c.Token, c.TokenSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "pitweet.toml")
	text := fmt.Sprintf("state_dir = %q\n[x]\nbase_url = %q\nca_file = %q\ncredentials = %q\n[hardware]\nmode = %q\n",
		filepath.Join(dir, "state"), x.URL(), ca, creds, mode) + rules
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if board == nil {
		board = fakehw.New(fakehw.Options{RealTime: true, Dir: dir})
		t.Cleanup(func() { board.Close() })
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &liveDaemon{x: x, board: board, socket: filepath.Join(dir, "control.sock"), cancel: cancel, stopped: make(chan error, 1),
		config: config, header: text[:len(text)-len(rules)], reload: make(chan struct{})}
	ready := make(chan struct{})
	opts := Options{ConfigPath: config, Board: board, Socket: d.socket, Log: testLog(t), Reload: d.reload,
		Ready: func() { close(ready) }}
	if change != nil {
		change(&opts)
	}
	go func() { d.stopped <- Run(ctx, opts) }()
	t.Cleanup(func() { d.stop(t) })
	select {
	case <-ready:
	case err := <-d.stopped:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready after 10s")
	}
	return d
}

// stop cancels the daemon and waits for Run to return.
func (d *liveDaemon) stop(t *testing.T) {
	t.Helper()
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	select {
	case err := <-d.stopped:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("daemon did not stop within 15s")
	}
}

func waitTweets(t *testing.T, x *fakex.Server, n int) []fakex.Tweet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tweets, err := x.WaitTweets(ctx, n)
	if err != nil {
		t.Fatalf("%v; got %d: %+v", err, len(x.Tweets()), x.Tweets())
	}
	return tweets
}

const testButton = `
[[button]]
name = "doorbell"
pin = "GPIO17"
text = "Ding dong from {{.Button}} at {{.Time.Format \"15:04:05.000000\"}}"
`

func TestDaemonNotifiesSystemd(t *testing.T) {
	conn := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
	t.Setenv("WATCHDOG_USEC", "100000") // ping every 50ms
	t.Setenv("WATCHDOG_PID", "")
	d := startDaemon(t, testButton)

	seen := map[string]bool{}
	waitFor := func(want string) {
		t.Helper()
		for !seen[want] {
			for _, line := range strings.Split(readNotify(t, conn), "\n") {
				seen[line] = true
				if strings.HasPrefix(line, "STATUS=") {
					seen["STATUS="] = true
				}
			}
		}
	}
	waitFor("READY=1")
	waitFor("STATUS=")
	waitFor("WATCHDOG=1")
	if err := d.board.Press("GPIO17"); err != nil {
		t.Fatal(err)
	}
	waitTweets(t, d.x, 1)
	d.stop(t)
	waitFor("STOPPING=1")
}

func TestDaemonButtonPress(t *testing.T) {
	d := startDaemon(t, testButton+`
[[sensor]]
name = "room"
type = "bme280"
[[button]]
name = "temp"
pin = "GPIO22"
text = "It is {{.Sensors.room.Temperature}}"
long_press = "300ms"
long_text = "Long press on {{.Host}}: {{.Sensors.room.Humidity}}"
`)
	waitSensor(t, d.socket, "room")
	if err := d.board.Press("GPIO22"); err != nil {
		t.Fatal(err)
	}
	tweets := waitTweets(t, d.x, 1)
	if tweets[0].Text != "It is 21.5 °C" {
		t.Fatalf("tweet %q, want %q", tweets[0].Text, "It is 21.5 °C")
	}
	if err := d.board.Hold("GPIO22", 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	tweets = waitTweets(t, d.x, 2)
	if want := "Long press on " + host + ": 45 %"; tweets[1].Text != want {
		t.Fatalf("tweet %q, want %q", tweets[1].Text, want)
	}
}

// waitSensorState polls the control socket until sensor's state satisfies
// ok, failing the test with what after 10 s.
func waitSensorState(t *testing.T, socket, sensor, what string, ok func(SensorState) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := Call(socket, ControlRequest{Op: "status"})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range resp.Status.Sensors {
			if s.Name == sensor && ok(s) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatalf("sensor %s %s after 10s", sensor, what)
}

// waitSensor waits until sensor has a reading.
func waitSensor(t *testing.T, socket, sensor string) {
	t.Helper()
	waitSensorState(t, socket, sensor, "has no reading", func(s SensorState) bool { return !s.At.IsZero() })
}

func TestDaemonAlertOncePerCooldown(t *testing.T) {
	d := startDaemon(t, `
[[sensor]]
name = "room"
type = "bme280"
[[alert]]
when = "room.Temperature > 30"
every = "1s"
cooldown = "1h"
text = "Hot at {{.Time.Format \"15:04:05.000\"}}: {{.Sensors.room.Temperature}}"
`)
	env := fakehw.DefaultEnv
	env.Temperature = 35
	if err := d.board.SetEnv(env); err != nil {
		t.Fatal(err)
	}
	first := waitTweets(t, d.x, 1)
	if !strings.HasSuffix(first[0].Text, ": 35.0 °C") {
		t.Fatalf("alert text %q", first[0].Text)
	}
	// Cool down and heat up again inside the cooldown: the alert re-arms
	// but must not fire. The daemon reads the sensor every second; wait
	// for it to see the cool reading, then the hot one.
	env.Temperature = 20
	d.board.SetEnv(env)
	waitReading(t, d.socket, "room", 20)
	env.Temperature = 36
	d.board.SetEnv(env)
	waitReading(t, d.socket, "room", 36)
	// One more read cycle so the alert has been evaluated on 36 °C.
	waitSensorAfter(t, d.socket, "room", time.Now())
	resp, err := Call(d.socket, ControlRequest{Op: "status"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.x.Tweets()); n != 1 || resp.Status.Queue != 0 {
		t.Fatalf("%d alert tweets and %d queued within the cooldown, want 1 and 0: %+v", n, resp.Status.Queue, d.x.Tweets())
	}
}

func waitReading(t *testing.T, socket, sensor string, temp float64) {
	t.Helper()
	waitSensorState(t, socket, sensor, fmt.Sprintf("never read %v °C", temp), func(s SensorState) bool { return s.Values["Temperature"] == temp })
}

func waitSensorAfter(t *testing.T, socket, sensor string, after time.Time) {
	t.Helper()
	waitSensorState(t, socket, sensor, "not read again", func(s SensorState) bool { return s.At.After(after) })
}

func TestDaemonReload(t *testing.T) {
	conn := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
	d := startDaemon(t, testButton)
	press := func() string {
		t.Helper()
		resp, err := Call(d.socket, ControlRequest{Op: "press", Button: "doorbell"})
		if err != nil || !resp.OK {
			t.Fatalf("press: %v %+v", err, resp)
		}
		return resp.Text
	}
	// A good new config: the new text is used.
	rules := strings.Replace(testButton, "Ding dong from", "Knock knock from", 1)
	if err := os.WriteFile(d.config, []byte(d.header+rules), 0o644); err != nil {
		t.Fatal(err)
	}
	d.reload <- struct{}{}
	waitNotify(t, conn, "RELOADING=1")
	waitNotify(t, conn, "READY=1")
	if text := press(); !strings.HasPrefix(text, "Knock knock from doorbell") {
		t.Fatalf("after reload a press queued %q", text)
	}
	// A broken config is refused and the running one kept.
	if err := os.WriteFile(d.config, []byte(d.header+"[[button]]\nname = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.reload <- struct{}{}
	waitNotify(t, conn, "RELOADING=1")
	waitNotify(t, conn, "READY=1")
	if text := press(); !strings.HasPrefix(text, "Knock knock from doorbell") {
		t.Fatalf("after a refused reload a press queued %q", text)
	}
	waitTweets(t, d.x, 2)
}

// waitNotify reads notifications until one has the line want.
func waitNotify(t *testing.T, conn *net.UnixConn, want string) {
	t.Helper()
	for {
		for _, line := range strings.Split(readNotify(t, conn), "\n") {
			if line == want {
				return
			}
		}
	}
}

func TestDaemonSensorFailureKeepsLastReading(t *testing.T) {
	d := startDaemon(t, `
[[sensor]]
name = "room"
type = "bme280"
address = 0x76
[[alert]]
when = "room.Temperature > 100"
every = "1s"
text = "never"
`)
	waitSensor(t, d.socket, "room")
	d.board.SetFault(0x76, fakehw.NACK)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := Call(d.socket, ControlRequest{Op: "status"})
		if err != nil {
			t.Fatal(err)
		}
		s := resp.Status.Sensors[0]
		if s.Error != "" {
			if s.Values["Temperature"] != 21.5 || s.At.IsZero() {
				t.Fatalf("after a failed read the status lost the last reading: %+v", s)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the failed read never showed in status")
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}
