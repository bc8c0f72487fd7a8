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

	"pitweet/oauth"
)

func TestReadCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	got, err := readCredentials(write("good", "# X keys\napi_key = ck\napi_secret=\"c s\"\n\naccess_token=tk\naccess_secret=ts\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (oauth.Credentials{ConsumerKey: "ck", ConsumerSecret: "c s", Token: "tk", TokenSecret: "ts"}); got != want {
		t.Errorf("readCredentials = %+v, want %+v", got, want)
	}
	for name, tt := range map[string]struct{ text, want string }{
		"missing":   {"api_key=ck\napi_secret=cs\naccess_token=tk\n", "has no access_secret"},
		"unknown":   {"api_key=ck\nconsumer_key=x\n", ":2: want api_key="},
		"no equals": {"api_key ck\n", ":1: want api_key="},
	} {
		_, err := readCredentials(write(name, tt.text))
		if err == nil || !strings.HasPrefix(err.Error(), "fakex: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tt.want)
		}
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-fault", "teapot"}, {"extra"}, {"-creds", "/nonexistent/creds"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestCommand builds the command, starts it as a user would, posts a
// signed tweet to it, reads the accepted-tweet line, and stops it with
// SIGTERM.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "fakex")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	creds := oauth.Credentials{ConsumerKey: "ck", ConsumerSecret: "cs", Token: "1-tk", TokenSecret: "ts"}
	credsFile := filepath.Join(dir, "creds")
	if err := os.WriteFile(credsFile, []byte("api_key=ck\napi_secret=cs\naccess_token=1-tk\naccess_secret=ts\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")

	cmd := exec.Command(bin, "-ca-out", caFile, "-creds", credsFile, "-fault", "503", "-count", "1")
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
				t.Fatal("fakex closed its output")
			}
			return l
		case <-deadline:
			t.Fatal("fakex said nothing in time")
		}
		return ""
	}

	url, ok := strings.CutPrefix(next(), "fakex listening on ")
	if !ok || !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("first line gives no URL: %q", url)
	}
	if l := next(); l != "fakex fault 503 count=1" {
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
		sg := &oauth.Signer{Credentials: creds}
		b, err := sg.Sign(oauth.Request{Method: "POST", URL: url + "/2/tweets"})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"text": text})
		req, _ := http.NewRequest("POST", url+"/2/tweets", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", b.Header)
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
	if got := post("from the command test"); got != 201 {
		t.Errorf("second post: %d, want 201", got)
	}
	l := next()
	if f := strings.Fields(l); len(f) < 4 || f[0] != "tweet" || len(f[1]) != 19 || f[2] != "v2" || !strings.HasSuffix(l, ` "from the command test"`) {
		t.Errorf("tweet line %q", l)
	}

	resp, err := client.Post(url+"/fakex/fault", "application/x-www-form-urlencoded", strings.NewReader("mode=429"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := post("rate limited"); got != 429 {
		t.Errorf("post after POST /fakex/fault mode=429: %d, want 429", got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if l := next(); l != "fakex stopping after 1 tweets" {
		t.Errorf("last line %q", l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("fakex exited with %v after SIGTERM, want status 0", err)
	}
}
