package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"pitweet/daemon"
	"pitweet/fakex"
)

// A bench rig is a local X API emulator over TLS and a directory holding
// its CA, the credentials and a config pointing at it.
type benchRig struct {
	dir   string
	x     *fakex.Server
	ca    string
	creds string
}

// newBenchRig starts the emulator on a loopback port.
func newBenchRig() (*benchRig, error) {
	dir, err := os.MkdirTemp("", "pitbench-")
	if err != nil {
		return nil, fmt.Errorf("pitbench: %w", err)
	}
	r := &benchRig{dir: dir, x: fakex.New(fakex.DemoCredentials)}
	if err := r.x.StartTLS("127.0.0.1:0"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r.ca = filepath.Join(dir, "ca.pem")
	r.creds = filepath.Join(dir, "credentials")
	c := fakex.DemoCredentials
	credText := fmt.Sprintf("api_key=%s\napi_secret=%s\naccess_token=%s\naccess_secret=%s\n",
		c.ConsumerKey, c.ConsumerSecret, c.Token, c.TokenSecret)
	if err := errors.Join(r.x.WriteCA(r.ca), os.WriteFile(r.creds, []byte(credText), 0o600)); err != nil {
		r.close()
		return nil, fmt.Errorf("pitbench: %w", err)
	}
	return r, nil
}

func (r *benchRig) close() {
	r.x.Close()
	os.RemoveAll(r.dir)
}

// keyEnv is the environment that gives peers the emulator's keys.
func (r *benchRig) keyEnv() []string {
	c := fakex.DemoCredentials
	return []string{"PITWEET_API_KEY=" + c.ConsumerKey, "PITWEET_API_SECRET=" + c.ConsumerSecret,
		"PITWEET_ACCESS_TOKEN=" + c.Token, "PITWEET_ACCESS_SECRET=" + c.TokenSecret}
}

// writeConfig writes a daemon config with the given rules (TOML after the
// [x] and [hardware] tables) and a state directory of its own, and returns
// its path and the state directory.
func (r *benchRig) writeConfig(name, rules string) (cfg, state string, err error) {
	return r.writeConfigCA(name, rules, r.ca)
}

// writeConfigCA is writeConfig with ca_file set to caFile, or left out
// when caFile is "".
func (r *benchRig) writeConfigCA(name, rules, caFile string) (cfg, state string, err error) {
	state = filepath.Join(r.dir, name+"-state")
	cfg = filepath.Join(r.dir, name+".toml")
	ca := ""
	if caFile != "" {
		ca = fmt.Sprintf("ca_file = %q\n", caFile)
	}
	text := fmt.Sprintf(`state_dir = %q

[x]
base_url = %q
%scredentials = %q

[hardware]
mode = "fake"

%s`, state, r.x.URL(), ca, r.creds, rules)
	return cfg, state, os.WriteFile(cfg, []byte(text), 0o600)
}

// A daemonProc is a running `pitweet run --fake`.
type daemonProc struct {
	cmd    *exec.Cmd
	pid    int // the daemon's own pid (not strace's)
	socket string
	log    string
	done   chan error

	stopOnce sync.Once
	stopErr  error
}

// startDaemon starts `pitweet run --fake --config cfg`, with wrap (e.g.
// strace and its flags) in front when not empty, and waits until its
// control socket answers.
func startDaemon(bin, cfg string, wrap []string) (*daemonProc, error) {
	dir := filepath.Dir(cfg)
	base := strings.TrimSuffix(filepath.Base(cfg), ".toml")
	runDir := filepath.Join(dir, base+"-run")
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return nil, fmt.Errorf("pitbench: %w", err)
	}
	p := &daemonProc{socket: filepath.Join(runDir, daemon.SocketName), log: filepath.Join(dir, base+".log"), done: make(chan error, 1)}
	logf, err := os.Create(p.log)
	if err != nil {
		return nil, fmt.Errorf("pitbench: %w", err)
	}
	argv := append(append([]string{}, wrap...), bin, "run", "--fake", "--config", cfg)
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), "RUNTIME_DIRECTORY="+runDir)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("pitbench: start the daemon: %w", err)
	}
	go func() { p.done <- p.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := daemon.Call(p.socket, daemon.ControlRequest{Op: "status"})
		if err == nil && resp.OK && resp.Status != nil {
			p.pid = resp.Status.PID
			return p, nil
		}
		select {
		case err := <-p.done:
			b, _ := os.ReadFile(p.log)
			return nil, fmt.Errorf("pitbench: the daemon exited (%v) before answering; it said:\n%s", err, b)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			return nil, fmt.Errorf("pitbench: the daemon did not answer on %s within 30s; see %s", p.socket, p.log)
		}
	}
}

// stop sends the daemon SIGTERM and waits for it (and its wrapper) to
// exit. Only the first call acts; later ones return its result.
func (p *daemonProc) stop() error {
	p.stopOnce.Do(func() {
		syscall.Kill(p.pid, syscall.SIGTERM)
		select {
		case p.stopErr = <-p.done:
		case <-time.After(40 * time.Second):
			p.cmd.Process.Kill()
			p.stopErr = fmt.Errorf("pitbench: the daemon did not stop within 40s of SIGTERM")
		}
	})
	return p.stopErr
}

// waitTweets waits until the emulator has accepted n tweets in all.
func (r *benchRig) waitTweets(n int, within time.Duration) ([]fakex.Tweet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	t, err := r.x.WaitTweets(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("pitbench: the emulator has %d of %d tweets after %s", len(r.x.Tweets()), n, within)
	}
	return t, nil
}

// procStatus reads VmRSS and VmHWM (KiB) of pid.
func procStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("pitbench: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm, nil
}

// cpuTicks reads utime+stime of pid, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("pitbench: %w", err)
	}
	s := string(b)
	// The command name may hold spaces; fields start after its ')'.
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	// After ')': state is field 3 of stat(5), utime 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("pitbench: short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, nil
}
