package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-fault", "teapot"}, {"extra"}, {"-handle", ""}, {"-duplicate", "418"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestCommand builds the command, starts it as a user would, logs in,
// posts, reads the post line, changes the fault through the control
// endpoint, and stops it with SIGTERM.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "fakebsky")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	caFile := filepath.Join(dir, "ca.pem")
	cmd := exec.Command(bin, "-ca-out", caFile, "-handle", "pi.test", "-app-password", "abcd-efgh-ijkl-mnop", "-fault", "503", "-count", "1", "-duplicate", "400")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("fakebsky closed its output")
			}
			return l
		case <-deadline:
			t.Fatal("fakebsky said nothing in time")
		}
		return ""
	}

	url, ok := strings.CutPrefix(next(), "fakebsky listening on ")
	if !ok || !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("first line gives no URL: %q", url)
	}
	if l := next(); l != "fakebsky fault 503 count=1" {
		t.Errorf("second line %q, want the fault", l)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	call := func(nsid, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"/xrpc/"+nsid, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, sess := call("com.atproto.server.createSession", "", `{"identifier":"pi.test","password":"abcd-efgh-ijkl-mnop"}`)
	if status != 200 {
		t.Fatalf("createSession: %d %v", status, sess)
	}
	access, _ := sess["accessJwt"].(string)
	record := `{"repo":"pi.test","collection":"app.bsky.feed.post","rkey":"3lq2xk5j4hc2a","record":{"text":"from the command test","createdAt":"2026-05-01T12:00:00Z"}}`
	if status, _ := call("com.atproto.repo.createRecord", access, record); status != 503 {
		t.Errorf("first post: %d, want the 503 fault", status)
	}
	if status, out := call("com.atproto.repo.createRecord", access, record); status != 200 {
		t.Errorf("second post: %d %v, want 200", status, out)
	}
	if l := next(); l != `post at://did:plc:pitweetdemoaaaaaaaaaaaaa/app.bsky.feed.post/3lq2xk5j4hc2a images=0 "from the command test"` {
		t.Errorf("post line %q", l)
	}
	if status, out := call("com.atproto.repo.createRecord", access, record); status != 400 || out["error"] != "RecordAlreadyExists" {
		t.Errorf("same rkey with -duplicate 400: %d %v", status, out)
	}

	resp, err := client.Post(url+"/fakebsky/fault", "application/x-www-form-urlencoded", strings.NewReader("mode=429"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if status, _ := call("com.atproto.repo.createRecord", access, record); status != 429 {
		t.Errorf("post after POST /fakebsky/fault mode=429: %d, want 429", status)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if l := next(); l != "fakebsky stopping after 1 posts" {
		t.Errorf("last line %q", l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("fakebsky exited with %v after SIGTERM, want status 0", err)
	}
}
