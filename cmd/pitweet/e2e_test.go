package main

// End-to-end tests: the real pitweet binary runs the daemon on the
// simulated board (--fake) and posts over TLS on loopback to a fakex server
// in the test process. Tests wait on events (fakex.WaitTweets, the status
// socket) with deadlines, never on fixed sleeps.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/fakex"
)

// pitweetBin is the binary built once for the whole run.
var pitweetBin string

// binDir holds the binaries built for the run.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "pitweet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Other users may run it too (tests of a hostile local user).
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binDir = dir
	pitweetBin = filepath.Join(dir, "pitweet")
	out, err := exec.Command("go", "build", "-o", pitweetBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// e2eRules are the buttons and sensor every end-to-end daemon has. Each
// press's text carries the time to the microsecond, so no two are
// duplicates.
const e2eRules = `
[[button]]
name = "doorbell"
pin = "GPIO17"
text = "Ding dong at {{.Time.Format \"15:04:05.000000\"}}"

[[button]]
name = "mailbox"
pin = "GPIO22"
text = "Mail for {{.Host}}, room at {{.Sensors.room.Temperature}}"

[[sensor]]
name = "room"
type = "bme280"
`

// e2e is one daemon process with its own directory, config and fakex.
type e2e struct {
	t      testing.TB
	dir    string
	config string
	socket string
	ca     string
	x      *fakex.Server
	setupX func(*fakex.Server) // applied to every fakex before it starts; nil: none
	bin    string              // the pitweet binary; pitweetBin unless a test needs another build
	both   []string            // added to the daemon's and the commands' environment

	cmd    *exec.Cmd
	exited chan error
	log    *lockedBuffer

	// wrap goes before the daemon's command line (a shell that sets a
	// limit, say); env is added to its environment.
	wrap []string
	env  []string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newE2E writes a config (e2eRules plus extra) pointing at a new fakex
// server at addr ("127.0.0.1:0" for any port) and returns the rig; the
// daemon is not started yet.
func newE2E(t testing.TB, addr, extra string) *e2e {
	t.Helper()
	return newE2EWith(t, addr, extra, nil)
}

// newE2EWith is newE2E with setupX applied to the fakex server before it
// starts (to set its clock, for instance).
func newE2EWith(t testing.TB, addr, extra string, setupX func(*fakex.Server)) *e2e {
	t.Helper()
	e := &e2e{t: t, dir: t.TempDir(), log: &lockedBuffer{}, setupX: setupX, bin: pitweetBin}
	e.socket = filepath.Join(e.dir, daemon.SocketName)
	e.ca = filepath.Join(e.dir, "ca.pem")
	e.x = e.startX(addr)
	creds := filepath.Join(e.dir, "credentials")
	if err := writeCredentials(creds, fakex.DemoCredentials); err != nil {
		t.Fatal(err)
	}
	e.config = filepath.Join(e.dir, "pitweet.toml")
	// A fixed simulated room, so texts carry known readings.
	text := fmt.Sprintf("state_dir = %q\n[x]\nbase_url = %q\nca_file = %q\ncredentials = %q\n[hardware]\nmode = \"fake\"\nenvironment = \"fixed\"\n",
		filepath.Join(e.dir, "state"), e.x.URL(), e.ca, creds) + e2eRules + extra
	if err := os.WriteFile(e.config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.kill()
		if t.Failed() {
			t.Logf("daemon log:\n%s", e.log.String())
		}
	})
	return e
}

// startX starts a fakex server on addr and writes its CA where the config
// says.
func (e *e2e) startX(addr string) *fakex.Server {
	e.t.Helper()
	x := fakex.New(fakex.DemoCredentials)
	if e.setupX != nil {
		e.setupX(x)
	}
	if err := x.StartTLS(addr); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { x.Close() })
	if err := x.WriteCA(e.ca); err != nil {
		e.t.Fatal(err)
	}
	return x
}

// start runs `pitweet run --fake` and waits until its control socket
// answers with the room sensor read.
func (e *e2e) start() {
	e.t.Helper()
	argv := append(append([]string{}, e.wrap...), e.bin, "run", "--fake", "--config", e.config)
	e.cmd = exec.Command(argv[0], argv[1:]...)
	e.cmd.Env = e2eEnv(append(append([]string{"RUNTIME_DIRECTORY=" + filepath.Dir(e.socket)}, e.both...), e.env...)...)
	e.cmd.Stderr = e.log
	e.cmd.Stdout = e.log
	if err := e.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.exited = make(chan error, 1)
	go func() { e.exited <- e.cmd.Wait() }()
	e.waitStatus("the daemon to start", func(s *daemon.Status) bool {
		return len(s.Sensors) > 0 && !s.Sensors[0].At.IsZero()
	})
}

// e2eEnv is the environment without anything that would change where the
// daemon finds its files, plus extra.
func e2eEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PITWEET_"), k == "NOTIFY_SOCKET", k == "WATCHDOG_USEC",
			k == "STATE_DIRECTORY", k == "RUNTIME_DIRECTORY", k == "CREDENTIALS_DIRECTORY":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// signal sends sig and waits for the process to end.
func (e *e2e) signal(sig syscall.Signal) error {
	e.t.Helper()
	if err := e.cmd.Process.Signal(sig); err != nil {
		e.t.Fatal(err)
	}
	select {
	case err := <-e.exited:
		e.cmd = nil
		return err
	case <-time.After(40 * time.Second):
		e.t.Fatalf("pitweet did not exit after %v", sig)
		return nil
	}
}

func (e *e2e) kill() {
	if e.cmd != nil && e.cmd.Process != nil {
		e.cmd.Process.Kill()
		<-e.exited
		e.cmd = nil
	}
}

// pitweet runs a pitweet subcommand and returns its stdout, stderr and exit
// status.
func (e *e2e) pitweet(args ...string) (string, string, int) {
	e.t.Helper()
	return execBinary(e.t, e.bin, "", e2eEnv(append([]string{"RUNTIME_DIRECTORY=" + filepath.Dir(e.socket)}, e.both...)...), args...)
}

// execPitweet runs the built binary in dir (the current one if empty) with
// env, and returns its stdout, stderr and exit status.
func execPitweet(t testing.TB, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	return execBinary(t, pitweetBin, dir, env, args...)
}

// execBinary is execPitweet with the pitweet binary bin.
func execBinary(t testing.TB, bin, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("pitweet %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// press presses button NAME through `pitweet press`.
func (e *e2e) press(name string) {
	e.t.Helper()
	if out, errOut, code := e.pitweet("press", name); code != 0 {
		e.t.Fatalf("pitweet press %s: exit %d\n%s%s", name, code, out, errOut)
	}
}

func (e *e2e) status() *daemon.Status {
	e.t.Helper()
	out, errOut, code := e.pitweet("status", "--json")
	if code != 0 {
		e.t.Fatalf("pitweet status: exit %d: %s", code, errOut)
	}
	var s daemon.Status
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("pitweet status --json: %v\n%s", err, out)
	}
	return &s
}

// waitStatus polls the control socket until ok holds, for up to 20s.
func (e *e2e) waitStatus(what string, ok func(*daemon.Status) bool) *daemon.Status {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := daemon.Call(e.socket, daemon.ControlRequest{Op: "status"})
		if err == nil && resp.Status != nil && ok(resp.Status) {
			return resp.Status
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("waiting for %s: gave up after 20s (last error %v)", what, err)
		}
		select {
		case err := <-e.exited:
			e.t.Fatalf("waiting for %s: pitweet exited: %v", what, err)
		case <-time.After(25 * time.Millisecond): // polling interval, not synchronisation
		}
	}
}

func (e *e2e) waitTweets(n int) []fakex.Tweet {
	e.t.Helper()
	return waitTweetsOn(e.t, e.x, n)
}

func waitTweetsOn(t testing.TB, x *fakex.Server, n int) []fakex.Tweet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tweets, err := x.WaitTweets(ctx, n)
	if err != nil {
		t.Fatalf("%v; accepted so far: %+v", err, x.Tweets())
	}
	return tweets
}

// postRequests are the posting requests fakex saw.
func postRequests(x *fakex.Server) []fakex.Request {
	var out []fakex.Request
	for _, r := range x.Requests() {
		if r.Method == "POST" {
			out = append(out, r)
		}
	}
	return out
}

func TestE2EPressesBecomeTweets(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	e.start()
	e.press("doorbell")
	e.press("mailbox")
	tweets := e.waitTweets(2)
	host, _ := os.Hostname()
	if !strings.HasPrefix(tweets[0].Text, "Ding dong at ") {
		t.Errorf("first tweet %q, want the doorbell's text", tweets[0].Text)
	}
	if want := "Mail for " + host + ", room at 21.5 °C"; tweets[1].Text != want {
		t.Errorf("second tweet %q, want %q", tweets[1].Text, want)
	}
	s := e.waitStatus("the last success", func(s *daemon.Status) bool {
		return s.Queue == 0 && s.LastSuccess != nil && s.LastSuccess.TweetID == tweets[1].ID
	})
	if s.Hardware != "fake" || s.LastSuccess.Source != "button mailbox" {
		t.Errorf("status last success %+v, hardware %q; want tweet %s on fake hardware", s.LastSuccess, s.Hardware, tweets[1].ID)
	}
	out, _, code := e.pitweet("status")
	if code != 0 || !strings.Contains(out, "tweet "+tweets[1].ID) || !strings.Contains(out, "room (bme280)") {
		t.Errorf("pitweet status exit %d:\n%s", code, out)
	}

	_, errOut, code := e.pitweet("press", "gate")
	if code != 1 || !strings.Contains(errOut, "doorbell, mailbox") {
		t.Errorf("press of an unknown button: exit %d, %q; want 1 and the known buttons", code, errOut)
	}
	if err := e.signal(syscall.SIGTERM); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	_, errOut, code = e.pitweet("status")
	want := fmt.Sprintf("pitweet status: no daemon is listening on %s (is pitweet running? systemctl status pitweet)\n", e.socket)
	if code != 1 || errOut != want {
		t.Errorf("status with no daemon: exit %d, %q; want 1, %q", code, errOut, want)
	}
}

func TestE2EReportEveryInterval(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", `
[[report]]
every = "2s"
text = "Report {{.Time.Format \"15:04:05\"}}: {{.Sensors.room.Temperature}}, {{.Sensors.room.Pressure}}"
`)
	e.start()
	tweets := e.waitTweets(2)
	var times []time.Time
	for _, tw := range tweets[:2] {
		stamp, rest, ok := strings.Cut(strings.TrimPrefix(tw.Text, "Report "), ": ")
		if !ok || rest != "21.5 °C, 1013.2 hPa" {
			t.Fatalf("report text %q", tw.Text)
		}
		at, err := time.Parse("15:04:05", stamp)
		if err != nil {
			t.Fatal(err)
		}
		if at.Second()%2 != 0 {
			t.Errorf("report at %s is not aligned to its 2s interval", stamp)
		}
		times = append(times, at)
	}
	if d := times[1].Sub(times[0]); d != 2*time.Second {
		t.Errorf("reports %v apart, want one every 2s", d)
	}
}

func TestE2EOutageAndKill(t *testing.T) {
	t.Parallel()
	// Reserve a port, then take the emulator down: the daemon's requests
	// are refused while the presses happen.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := newE2E(t, addr, "")
	e.x.Close()
	e.start()
	for range 5 {
		e.press("doorbell")
	}
	e.waitStatus("a failed attempt", func(s *daemon.Status) bool { return s.Queue == 5 && s.LastError != nil })
	if err := e.signal(syscall.SIGKILL); err == nil {
		t.Fatal("pitweet exited cleanly after SIGKILL")
	}
	x := e.startX(addr)
	e.start()
	tweets := waitTweetsOn(t, x, 5)
	e.waitStatus("the queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	seen := map[string]bool{}
	for _, tw := range x.Tweets() {
		if seen[tw.Text] {
			t.Errorf("tweet %q posted twice", tw.Text)
		}
		seen[tw.Text] = true
	}
	if n := len(x.Tweets()); n != 5 {
		t.Fatalf("%d tweets, want exactly 5: %+v", n, tweets)
	}
}

func TestE2ERateLimitWaitsForReset(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	if err := e.x.SetFault(fakex.Fault{Mode: fakex.Mode429, Count: 1, Reset: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.press("doorbell")
	s := e.waitStatus("the rate-limit wait", func(s *daemon.Status) bool { return !s.RateLimited.IsZero() })
	e.press("mailbox")
	e.waitTweets(2)
	reqs := postRequests(e.x)
	if len(reqs) != 3 || reqs[0].Status != 429 {
		t.Fatalf("requests %+v; want a 429 then two posts", reqs)
	}
	for _, r := range reqs[1:] {
		if r.At.Before(s.RateLimited) {
			t.Errorf("request at %v, before the rate-limit reset %v", r.At, s.RateLimited)
		}
	}
}

// A server cannot stall the queue for days: a rate-limit reset two days
// away is waited out for 24 hours at most, and pitweet status says the
// wait was cut.
func TestE2ERateLimitResetCappedAt24h(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	if err := e.x.SetFault(fakex.Fault{Mode: fakex.Mode429, Count: 1, Reset: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.press("doorbell")
	s := e.waitStatus("the rate-limit wait", func(s *daemon.Status) bool { return !s.RateLimited.IsZero() })
	if wait := time.Until(s.RateLimited); wait < 23*time.Hour || wait > 24*time.Hour {
		t.Errorf("rate limited until %v, %v from now; want the 48 h reset cut to 24 h", s.RateLimited, wait)
	}
	out, errOut, code := e.pitweet("status")
	if code != 0 || !strings.Contains(out, "rate limit:   waiting until ") || !strings.Contains(out, "asked to wait 48h0m0s; capped at 24h") {
		t.Errorf("pitweet status: exit %d\n%s%s\nwant the wait and the cap", code, out, errOut)
	}
	if s.Queue != 1 || len(e.x.Tweets()) != 0 {
		t.Errorf("queue %d, %d tweets; want the press waiting", s.Queue, len(e.x.Tweets()))
	}
}

func TestE2EResetAfterAccept(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	if err := e.x.SetFault(fakex.Fault{Mode: fakex.ModeResetAfterAccept, Count: 1}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.press("doorbell")
	e.waitStatus("the retry to settle", func(s *daemon.Status) bool { return s.Queue == 0 && s.LastSuccess != nil })
	if n := len(e.x.Tweets()); n != 1 {
		t.Fatalf("%d tweets, want exactly 1", n)
	}
	if s := e.status(); s.DeadLetters != 0 {
		t.Fatalf("%d dead letters, want 0: the duplicate answer counts as delivered", s.DeadLetters)
	}
	if n := len(postRequests(e.x)); n != 2 {
		t.Fatalf("%d posting requests, want 2 (the lost answer and the retry)", n)
	}
}

func TestE2EServiceUnavailableBacksOff(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	if err := e.x.SetFault(fakex.Fault{Mode: fakex.Mode503, Count: 2}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.press("doorbell")
	e.waitTweets(1)
	reqs := postRequests(e.x)
	if len(reqs) != 3 || reqs[0].Status != 503 || reqs[1].Status != 503 {
		t.Fatalf("requests %+v; want two 503s then the post", reqs)
	}
	// Backoff is 1s then 2s, each with up to half taken off by jitter.
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 500*time.Millisecond {
		t.Errorf("first retry after %v, want at least 500ms", gap)
	}
	if gap := reqs[2].At.Sub(reqs[1].At); gap < time.Second {
		t.Errorf("second retry after %v, want at least 1s", gap)
	}
}

func TestE2EClockSkewCorrected(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	if err := e.x.SetFault(fakex.Fault{Mode: fakex.ModeSkew, Skew: time.Hour}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.press("doorbell")
	e.waitTweets(1)
	reqs := postRequests(e.x)
	if len(reqs) != 2 || reqs[0].Status != 401 {
		t.Fatalf("requests %+v; want a 401 then the post", reqs)
	}
	s := e.status()
	if off := time.Duration(s.Clock.Offset); off < 59*time.Minute || off > 61*time.Minute {
		t.Fatalf("status clock offset %v, want about 1h", off)
	}
}

func TestE2ESigtermMidDelivery(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	if err := e.x.SetFault(fakex.Fault{Mode: fakex.ModeSlow, Delay: 2 * time.Second, Count: 1}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.press("doorbell")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.x.WaitRequests(ctx, 1); err != nil {
		t.Fatal(err)
	}
	e.press("mailbox") // queued behind the request in flight
	if err := e.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if n := len(e.x.Tweets()); n != 1 {
		t.Fatalf("%d tweets after SIGTERM, want the one in flight", n)
	}
	if !strings.Contains(e.log.String(), "stopped") {
		t.Errorf("no shutdown line in the log")
	}
	// The press that was still queued is posted by the next run.
	e.start()
	tweets := e.waitTweets(2)
	e.waitStatus("the queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	if len(e.x.Tweets()) != 2 || !strings.HasPrefix(tweets[1].Text, "Mail for") {
		t.Fatalf("tweets %+v; want the doorbell then the mailbox", e.x.Tweets())
	}
}

// dropAnswers listens on a socket of its own in front of the daemon's: it
// passes each request on, waits for the daemon's answer, and then closes
// the client's connection without passing the answer back, as when the
// daemon dies between queueing a press and answering.
func dropAnswers(t *testing.T, daemonSocket string) (socket string) {
	t.Helper()
	socket = filepath.Join(t.TempDir(), "front.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadBytes('\n')
				if err != nil {
					return
				}
				d, err := net.Dial("unix", daemonSocket)
				if err != nil {
					return
				}
				defer d.Close()
				d.Write(line)
				bufio.NewReader(d).ReadBytes('\n') // the answer, dropped
			}()
		}
	}()
	return socket
}

func TestE2EPressWithLostAnswer(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	e.start()
	front := dropAnswers(t, e.socket)
	out, errOut, code := e.pitweet("press", "--socket", front, "doorbell")
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "whether it was queued is unknown") || !strings.Contains(errOut, "pitweet status") {
		t.Fatalf("press with its answer lost: exit %d, stdout %q, stderr %q; want 1 and one line saying the outcome is unknown and to see pitweet status", code, out, errOut)
	}
	// It was queued: posted once, and status shows it.
	tweets := e.waitTweets(1)
	s := e.waitStatus("the press to be posted", func(s *daemon.Status) bool { return s.Queue == 0 && s.LastSuccess != nil })
	if len(e.x.Tweets()) != 1 || s.LastSuccess.TweetID != tweets[0].ID || s.LastSuccess.Source != "button doorbell" {
		t.Fatalf("tweets %+v, last success %+v; want the press posted once", e.x.Tweets(), s.LastSuccess)
	}
}
