//go:build unix

package main

// The daemon under systemd: the unit's LoadCredential=x:FILE gives it a
// copy of the keys in $CREDENTIALS_DIRECTORY/x, and the daemon checks FILE
// (the config's credentials) with stat before it uses the copy.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/fakex"
)

// systemdCopy makes a credentials directory as systemd does, with the real
// keys in x, and returns it. The daemon posts only with these: the source
// file the config names holds other keys, which X would refuse.
func systemdCopy(t *testing.T, source string) string {
	t.Helper()
	dir := t.TempDir()
	if err := writeCredentials(filepath.Join(dir, "x"), fakex.DemoCredentials); err != nil {
		t.Fatal(err)
	}
	wrong := fakex.DemoCredentials
	wrong.TokenSecret = "not-the-secret"
	if err := writeCredentials(source, wrong); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestE2ECredentialsFromSystemd(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	source := filepath.Join(e.dir, "credentials")
	e.env = []string{"CREDENTIALS_DIRECTORY=" + systemdCopy(t, source)}
	run := func() (string, int) {
		t.Helper()
		_, stderr, code := execPitweet(t, "", e2eEnv(append([]string{"RUNTIME_DIRECTORY=" + e.dir}, e.env...)...), "run", "--fake", "--config", e.config)
		return stderr, code
	}

	// The source as the first release made it (group pitweet may read it),
	// or open to others: the daemon does not start, and says how to fix it.
	for mode, what := range map[os.FileMode]string{0o640: "readable by group ", 0o644: "readable by group "} {
		if err := os.Chmod(source, mode); err != nil {
			t.Fatal(err)
		}
		stderr, code := run()
		want := "pitweet run: config: credentials " + source + ", which systemd passes in, is " + what
		fix := "make the keys root's alone: sudo chown root:root " + source + " && sudo chmod 0600 " + source + "; the daemon does not start until then\n"
		if code != 1 || !strings.HasPrefix(stderr, want) || !strings.HasSuffix(stderr, fix) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("source mode %04o: exit %d, stderr %q; want 1 and one line %q ... %q", mode, code, stderr, want, fix)
		}
	}
	if os.Geteuid() == 0 {
		os.Chmod(source, 0o600)
		if err := os.Chown(source, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		stderr, code := run()
		if want := "pitweet run: config: credentials " + source + ", which systemd passes in, is owned by "; code != 1 || !strings.HasPrefix(stderr, want) {
			t.Errorf("source of another user: exit %d, stderr %q; want 1, %q...", code, stderr, want)
		}
		os.Chown(source, 0, 0)
	}

	// Root's alone: the daemon starts and posts with systemd's copy.
	if err := os.Chmod(source, 0o600); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.press("doorbell")
	e.waitTweets(1)
	if strings.Contains(e.log.String(), "not checked") {
		t.Errorf("the daemon could not check a source it may stat:\n%s", e.log.String())
	}
}

// The daemon runs as user pitweet, who may not be allowed into the source's
// directory: it cannot check the file then, says so in the log, and starts
// (its user, and so the group of the control socket, cannot reach the keys
// through that directory either).
func TestE2ECredentialsSourceOutOfReach(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the daemon as another user")
	}
	x := fakex.New(fakex.DemoCredentials)
	if err := x.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	// Everything the daemon's user (nobody here) needs is in a directory it
	// may enter and own; the source is in one it may not.
	dir, err := os.MkdirTemp("", "pitweet-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	private := filepath.Join(dir, "etc")
	creds := filepath.Join(dir, "creds")
	for _, d := range []string{private, creds} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	source := filepath.Join(private, "credentials")
	copyDir := systemdCopy(t, source)
	data, err := os.ReadFile(filepath.Join(copyDir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(creds, "x"), data, 0o400); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := x.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "pitweet.toml")
	text := fmt.Sprintf("state_dir = %q\n[x]\nbase_url = %q\nca_file = %q\ncredentials = %q\n[hardware]\nmode = \"fake\"\n",
		filepath.Join(dir, "state"), x.URL(), ca, source) + e2eRules
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, creds, filepath.Join(creds, "x"), ca} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(dir, 0o755)
	socket := filepath.Join(dir, daemon.SocketName)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, pitweetBin, "run", "--fake", "--config", config)
	cmd.Env = e2eEnv("RUNTIME_DIRECTORY="+dir, "CREDENTIALS_DIRECTORY="+creds)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("daemon log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := daemon.Call(socket, daemon.ControlRequest{Op: "press", Button: "doorbell"})
		if err == nil && resp.OK {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the daemon exited: %v", err)
		case <-time.After(25 * time.Millisecond): // polling interval, not synchronisation
		}
		if time.Now().After(deadline) {
			t.Fatalf("no press accepted within 20s: %v %+v", err, resp)
		}
	}
	waitTweetsOn(t, x, 1)
	want := `msg="daemon: the credentials file was not checked" err="config: cannot check the mode of ` + source + `, which systemd passes in as the keys: stat ` + source + `: permission denied; a directory on its path keeps this user out; check it with sudo pitweet check"`
	if !strings.Contains(log.String(), want) {
		t.Errorf("the log lacks %s", want)
	}
}
