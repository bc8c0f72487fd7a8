package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	for _, args := range [][]string{{"-fault", "teapot"}, {"extra"}, {"-token", ""}, {"-fault", "503", "-path", "relative"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestCommand builds the command, starts it as a user would, posts a
// status to it, reads the status line, changes the fault through the
// control endpoint, and stops it with SIGTERM.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "fakemastodon")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	caFile := filepath.Join(dir, "ca.pem")
	cmd := exec.Command(bin, "-ca-out", caFile, "-token", "tk", "-username", "pi", "-fault", "503", "-count", "1")
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
				t.Fatal("fakemastodon closed its output")
			}
			return l
		case <-deadline:
			t.Fatal("fakemastodon said nothing in time")
		}
		return ""
	}

	url, ok := strings.CutPrefix(next(), "fakemastodon listening on ")
	if !ok || !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("first line gives no URL: %q", url)
	}
	if l := next(); l != "fakemastodon fault 503 count=1" {
		t.Errorf("second line %q, want the fault", l)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	post := func(text string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"/api/v1/statuses", strings.NewReader(`{"status":"`+text+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer tk")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("from the command test"); got != 503 {
		t.Errorf("first post: %d, want the 503 fault", got)
	}
	if got := post("from the command test"); got != 200 {
		t.Errorf("second post: %d, want 200", got)
	}
	if l := next(); !strings.HasPrefix(l, "status ") || !strings.HasSuffix(l, ` @pi public media=0 "from the command test"`) {
		t.Errorf("status line %q", l)
	}

	resp, err := client.Post(url+"/fakemastodon/fault", "application/x-www-form-urlencoded", strings.NewReader("mode=429"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := post("rate limited"); got != 429 {
		t.Errorf("post after POST /fakemastodon/fault mode=429: %d, want 429", got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if l := next(); l != "fakemastodon stopping after 1 statuses" {
		t.Errorf("last line %q", l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("fakemastodon exited with %v after SIGTERM, want status 0", err)
	}
}
