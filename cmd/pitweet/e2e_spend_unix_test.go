//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pitweet/budget"
	"pitweet/daemon"
	"pitweet/fakex"
)

// runAs runs the pitweet binary as uid and gid with env, and returns its
// stdout, stderr and exit status. It needs root.
func runAs(t testing.TB, uid, gid uint32, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pitweetBin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("pitweet %v as %d: %v", args, uid, err)
	}
	return out.String(), errOut.String(), code
}

// pitweet post and check --online charge the month: directly when the
// state directory is writable (root), through the daemon when it is not
// (another user), and say so when neither can.
func TestE2EOneShotCharges(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("runs pitweet as another user")
	}
	e := newE2E(t, "127.0.0.1:0", "")
	// The socket and a config another user (nobody, in group root) can
	// read, the state directory it cannot write.
	shared, err := os.MkdirTemp("", "pitweet-spend-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	os.Chmod(shared, 0o750)
	e.socket = filepath.Join(shared, daemon.SocketName)
	ca := filepath.Join(shared, "ca.pem")
	if err := e.x.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	os.Chmod(ca, 0o640)
	cfg := filepath.Join(shared, "pitweet.toml")
	text := "state_dir = \"" + filepath.Join(e.dir, "state") + "\"\n[x]\nbase_url = \"" + e.x.URL() + "\"\nca_file = \"" + ca + "\"\ncredentials = \"" + filepath.Join(shared, "none") + "\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o640); err != nil {
		t.Fatal(err)
	}
	keys := []string{"PITWEET_API_KEY=" + fakex.DemoCredentials.ConsumerKey, "PITWEET_API_SECRET=" + fakex.DemoCredentials.ConsumerSecret,
		"PITWEET_ACCESS_TOKEN=" + fakex.DemoCredentials.Token, "PITWEET_ACCESS_SECRET=" + fakex.DemoCredentials.TokenSecret}
	asNobody := func(args ...string) (string, string, int) {
		t.Helper()
		return runAs(t, 65534, 0, append(e2eEnv(keys...), "RUNTIME_DIRECTORY="+shared), args...)
	}

	// No daemon, a state directory nobody may write: posted, and said.
	out, errOut, code := asNobody("post", "--config", cfg, "before the daemon")
	if code != 0 || errOut != "" || !strings.HasSuffix(out, "; the X spend was not recorded: this user may not write the state directory "+filepath.Join(e.dir, "state")+
		", and no daemon runs to record it; run as root (sudo), or while the daemon runs\n") {
		t.Fatalf("post: %d\n%s%s", code, out, errOut)
	}
	e.start()
	// nobody cannot write the state directory: through the daemon.
	out, errOut, code = asNobody("post", "--config", cfg, "through the daemon")
	if code != 0 || errOut != "" {
		t.Fatalf("post as nobody with the daemon: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = asNobody("check", "--config", cfg, "--online")
	if code != 0 || !strings.Contains(out, "ok    spend check --online: GET /2/users/me costs one user read, $0.01; charged to X's spend of "+budget.MonthOf(time.Now())+
		" (UTC), $0.025 with it (recorded in the daemon's record, through "+e.socket+")") {
		t.Fatalf("check --online as nobody: %d\n%s%s", code, out, errOut)
	}
	// root writes the state directory itself.
	out, errOut, code = execPitweet(t, "", append(e2eEnv(keys...), "RUNTIME_DIRECTORY="+shared), "post", "--config", cfg, "as root")
	if code != 0 || errOut != "" {
		t.Fatalf("post as root: %d\n%s%s", code, out, errOut)
	}
	m := ledgerMonth(t, e)
	if m.Posts() != 2 || m.Requests[budget.ItemUserRead] != 1 || m.Spent != 2*budget.Published.Post+budget.Published.UserRead {
		t.Fatalf("ledger %+v; want the two posts made while it existed and the user read", m)
	}
	if st := e.status(); st.Spend.Posts != 2 || st.Spend.UserReads != 1 {
		t.Fatalf("status %+v", st.Spend)
	}
	if len(e.x.Tweets()) != 3 {
		t.Fatalf("%d tweets", len(e.x.Tweets()))
	}
}
