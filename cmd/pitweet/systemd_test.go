//go:build linux

package main

// The daemon as systemd runs it: `pitweet reload` as ExecReload=, the log
// on a journal stream, the control socket's permissions, status --json.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pitweet/daemon"
)

// startWith runs `pitweet run --fake` with env added and its stderr on
// stderr, and waits until its control socket answers with the room
// sensor read.
func (e *e2e) startWith(stderr io.Writer, env ...string) {
	e.t.Helper()
	e.cmd = exec.Command(pitweetBin, "run", "--fake", "--config", e.config)
	e.cmd.Env = e2eEnv(append([]string{"RUNTIME_DIRECTORY=" + e.dir}, env...)...)
	e.cmd.Stderr = stderr
	e.cmd.Stdout = stderr
	if err := e.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.exited = make(chan error, 1)
	go func() { e.exited <- e.cmd.Wait() }()
	e.waitStatus("the daemon to start", func(s *daemon.Status) bool {
		return len(s.Sensors) > 0 && !s.Sensors[0].At.IsZero()
	})
}

// pressText presses doorbell through `pitweet press` and returns the text
// the daemon queued.
func (e *e2e) pressText() string {
	e.t.Helper()
	out, errOut, code := e.pitweet("press", "doorbell")
	if code != 0 {
		e.t.Fatalf("pitweet press doorbell: exit %d\n%s%s", code, out, errOut)
	}
	_, text, _ := strings.Cut(strings.TrimSuffix(out, "\n"), ": ")
	return text
}

// setRules rewrites the config's rules (from the first [[button]] on).
func (e *e2e) setRules(rules string) {
	e.t.Helper()
	old, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	header, _, ok := strings.Cut(string(old), "\n[[button]]")
	if !ok {
		e.t.Fatalf("config %s has no [[button]]", e.config)
	}
	if err := os.WriteFile(e.config, []byte(header+rules), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// listenNotify listens where NOTIFY_SOCKET will point, as systemd does for
// a Type=notify service, and reads every notification as it comes (a
// sender blocks once a few are left unread), passing on their lines.
func listenNotify(t *testing.T, dir string) (<-chan string, string) {
	t.Helper()
	name := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	lines := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(buf[:n]), "\n") {
				select {
				case lines <- line:
				default: // nobody waits for it
				}
			}
		}
	}()
	return lines, name
}

// waitNotify waits for the notification line want.
func waitNotify(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line := <-lines:
			if line == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %s from the daemon within 20s", want)
		}
	}
}

func TestE2EReloadOutcome(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	notify, notifySocket := listenNotify(t, e.dir)
	e.startWith(e.log, "NOTIFY_SOCKET="+notifySocket)
	waitNotify(t, notify, "READY=1")
	if text := e.pressText(); !strings.HasPrefix(text, "Ding dong at ") {
		t.Fatalf("before any reload a press queued %q", text)
	}

	// SIGHUP reloads, as before; its outcome goes to the log only.
	e.setRules(strings.Replace(e2eRules, "Ding dong at", "Hello at", 1))
	if err := e.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitNotify(t, notify, "RELOADING=1")
	waitNotify(t, notify, "READY=1")
	if text := e.pressText(); !strings.HasPrefix(text, "Hello at ") {
		t.Fatalf("after SIGHUP a press queued %q", text)
	}

	// pitweet reload, a good config: it succeeds and the new text is used
	// at once.
	e.setRules(strings.Replace(e2eRules, "Ding dong at", "Knock knock at", 1))
	out, errOut, code := e.pitweet("reload")
	if want := "reloaded " + e.config + ": 2 buttons, 1 sensor, 0 reports, 0 alerts, 0 leds\n"; code != 0 || out != want || errOut != "" {
		t.Fatalf("pitweet reload of a good config: exit %d, stdout %q, stderr %q; want 0, %q", code, out, errOut, want)
	}
	if text := e.pressText(); !strings.HasPrefix(text, "Knock knock at ") {
		t.Fatalf("after pitweet reload a press queued %q", text)
	}

	// A config with two errors: reload fails with one line naming both,
	// and the daemon goes on with the config it had.
	e.setRules(e2eRules + "[[button]]\nname = \"gate\"\n")
	out, errOut, code = e.pitweet("reload")
	wantPrefix := "pitweet reload: reload refused, the running config stays: " + e.config + ":"
	if code != 1 || out != "" || !strings.HasPrefix(errOut, wantPrefix) || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "needs a pin") || !strings.Contains(errOut, "needs a text") {
		t.Fatalf("pitweet reload of a broken config: exit %d, stdout %q, stderr %q; want 1 and one line starting %q naming both errors", code, out, errOut, wantPrefix)
	}
	if text := e.pressText(); !strings.HasPrefix(text, "Knock knock at ") {
		t.Fatalf("after a refused reload a press queued %q", text)
	}

	// A change that needs a restart is refused the same way.
	e.setRules(e2eRules)
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(string(cfg), filepath.Join(e.dir, "state"), filepath.Join(e.dir, "elsewhere"), 1)
	if err := os.WriteFile(e.config, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = e.pitweet("reload")
	if want := "pitweet reload: reload refused, the running config stays: state_dir changed; restart pitweet for that\n"; code != 1 || errOut != want {
		t.Fatalf("pitweet reload with state_dir changed: exit %d, %q; want 1, %q", code, errOut, want)
	}
	if text := e.pressText(); !strings.HasPrefix(text, "Knock knock at ") {
		t.Fatalf("after a refused reload a press queued %q", text)
	}
	e.waitTweets(5)
}

// journalFile creates a file to stand for the journal's stream and returns
// it with its JOURNAL_STREAM value (device:inode), as systemd sets it.
func journalFile(t *testing.T, dir, name string) (*os.File, string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return f, fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// journalRun runs a daemon whose stderr is a file; JOURNAL_STREAM names
// that file when match is true, another file otherwise. A notify socket
// nobody listens on makes warnings, a reload of a broken config an error.
// It returns the daemon's stderr, and that of `pitweet reload` run the
// same way.
func journalRun(t *testing.T, match bool) (daemonLog, reloadErr string) {
	e := newE2E(t, "127.0.0.1:0", "")
	logFile, stream := journalFile(t, e.dir, "daemon.log")
	reloadFile, reloadStream := journalFile(t, e.dir, "reload.log")
	if !match {
		_, stream = journalFile(t, e.dir, "other")
		reloadStream = stream
	}
	e.startWith(logFile, "JOURNAL_STREAM="+stream, "NOTIFY_SOCKET="+filepath.Join(e.dir, "nobody-listens.sock"))

	e.setRules(e2eRules + "[[button]]\nname = \"gate\"\n")
	reload := exec.Command(pitweetBin, "reload")
	reload.Env = e2eEnv("RUNTIME_DIRECTORY="+e.dir, "JOURNAL_STREAM="+reloadStream)
	reload.Stderr = reloadFile
	if err := reload.Run(); err == nil {
		t.Fatal("pitweet reload of a broken config succeeded")
	}
	if err := e.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	return readFile(t, logFile.Name()), readFile(t, reloadFile.Name())
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// logLine is one line of slog's text format, after an optional priority.
var logLine = regexp.MustCompile(`^(<[0-7]>)?time=\S+ level=(DEBUG|INFO|WARN|ERROR) msg=`)

func TestE2EJournalPriorities(t *testing.T) {
	t.Parallel()
	daemonLog, reloadErr := journalRun(t, true)
	// Every line carries the priority of its level, so `journalctl -p
	// warning` (priorities 0 to 4) shows the WARN and ERROR lines and no
	// other.
	prio := map[string]string{"DEBUG": "<7>", "INFO": "<6>", "WARN": "<4>", "ERROR": "<3>"}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(daemonLog, "\n"), "\n") {
		m := logLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("log line is not a prefixed slog line: %q", line)
			continue
		}
		if m[1] != prio[m[2]] {
			t.Errorf("%s line has priority %q, want %q: %q", m[2], m[1], prio[m[2]], line)
		}
		seen[m[2]]++
	}
	for _, want := range []string{
		`<6>time=\S+ level=INFO msg="daemon: started"`,
		`<4>time=\S+ level=WARN msg="daemon: systemd notification failed" notification=READY`,
		`<3>time=\S+ level=ERROR msg="daemon: reload refused; keeping the running config" err=".*needs a pin.*needs a text`,
	} {
		if !regexp.MustCompile(`(?m)^` + want).MatchString(daemonLog) {
			t.Errorf("no log line matching %s in\n%s", want, daemonLog)
		}
	}
	// The failing command's line, as ExecReload= writes it, is an error too.
	if !strings.HasPrefix(reloadErr, "<3>pitweet reload: reload refused, the running config stays: ") || strings.Count(reloadErr, "\n") != 1 {
		t.Errorf("pitweet reload's stderr on the journal is %q; want one line with priority <3>", reloadErr)
	}
}

func TestE2ELogPlainOffJournal(t *testing.T) {
	t.Parallel()
	daemonLog, reloadErr := journalRun(t, false)
	for _, line := range strings.Split(strings.TrimSuffix(daemonLog, "\n"), "\n") {
		if m := logLine.FindStringSubmatch(line); m == nil || m[1] != "" {
			t.Errorf("with JOURNAL_STREAM naming another file, log line %q is not plain slog text", line)
		}
	}
	if !strings.Contains(daemonLog, `level=WARN msg="daemon: systemd notification failed"`) || !strings.Contains(daemonLog, `level=ERROR msg="daemon: reload refused`) {
		t.Errorf("the warning and the error are missing from the log:\n%s", daemonLog)
	}
	if !strings.HasPrefix(reloadErr, "pitweet reload: reload refused, the running config stays: ") || strings.Count(reloadErr, "\n") != 1 {
		t.Errorf("pitweet reload's stderr off the journal is %q; want one plain line", reloadErr)
	}
}

// TestE2EControlPermissionDenied: a user the control socket does not let
// in is told how to be let in, by press, status and reload alike.
func TestE2EControlPermissionDenied(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	e.start()
	bin, cred := pitweetBin, (*syscall.Credential)(nil)
	if os.Getuid() == 0 {
		// Root passes every permission check: ask as nobody instead, with
		// the socket's directory given to another user and group, 0750, as
		// systemd gives /run/pitweet to pitweet.
		parent := filepath.Dir(e.dir)
		if err := os.Chmod(parent, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(e.dir, 1, 1); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(e.dir, 0o750); err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(parent, "pitweet")
		b, err := os.ReadFile(pitweetBin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	} else if err := os.Chmod(e.socket, 0); err != nil {
		t.Fatal(err)
	}
	// The group the hint must name: the directory's (as root) or the
	// socket's.
	fi, err := os.Stat(e.socket)
	if cred != nil {
		fi, err = os.Stat(e.dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	group := strconv.FormatUint(uint64(fi.Sys().(*syscall.Stat_t).Gid), 10)
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	for _, args := range [][]string{{"press", "doorbell"}, {"status"}, {"reload"}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = e2eEnv("RUNTIME_DIRECTORY=" + e.dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Fatalf("pitweet %s refused by the socket: %v, %q; want exit 1", args[0], err, stderr.String())
		}
		got := stderr.String()
		want := fmt.Sprintf("pitweet %s: permission denied on %s; run pitweet as root (sudo) or as user ", args[0], e.socket)
		if !strings.HasPrefix(got, want) || !strings.Contains(got, ", or join group "+group+": sudo adduser ") || strings.Count(got, "\n") != 1 {
			t.Errorf("pitweet %s refused by the socket says %q; want one line starting %q that names group %s", args[0], got, want, group)
		}
	}
	if n := len(e.x.Tweets()) + e.status().Queue; n != 0 {
		t.Errorf("a refused press queued or posted %d messages", n)
	}
}

// TestE2EStatusJSONLeavesOutZeroTimes: with nothing pending and no rate
// limit, status --json has no next_attempt or rate_limited_until, and no
// time anywhere is the zero time.
func TestE2EStatusJSONLeavesOutZeroTimes(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	e.start()
	out, errOut, code := e.pitweet("status", "--json")
	if code != 0 {
		t.Fatalf("pitweet status --json: exit %d, %s", code, errOut)
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, key := range []string{"next_attempt", "rate_limited_until"} {
		if v, ok := s[key]; ok {
			t.Errorf("status --json has %s = %v with nothing pending", key, v)
		}
	}
	if strings.Contains(out, "0001-01-01") {
		t.Errorf("status --json shows a zero time:\n%s", out)
	}
	if _, ok := s["started"]; !ok || s["delivery"] != "idle" {
		t.Errorf("status --json lacks started, or delivery is not idle:\n%s", out)
	}
}
