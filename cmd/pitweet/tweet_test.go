package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pitweet/fakex"
	"pitweet/oauth"
)

// xSetup is a fakex server on loopback TLS and a config pointing at it.
type xSetup struct {
	srv    *fakex.Server
	config string
}

func startX(t *testing.T, api string, creds oauth.Credentials) *xSetup {
	t.Helper()
	srv := fakex.New(fakex.DemoCredentials)
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	credFile := writeTestCredentials(t, dir, creds, 0o600)
	config := filepath.Join(dir, "pitweet.toml")
	body := fmt.Sprintf("state_dir = %q\n[x]\napi = %q\nbase_url = %q\nca_file = %q\ncredentials = %q\n",
		filepath.Join(dir, "state"), api, srv.URL(), ca, credFile)
	if err := os.WriteFile(config, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return &xSetup{srv: srv, config: config}
}

func writeTestCredentials(t *testing.T, dir string, c oauth.Credentials, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, "credentials")
	body := fmt.Sprintf("api_key=%s\napi_secret=%s\naccess_token=%s\naccess_secret=%s\n",
		c.ConsumerKey, c.ConsumerSecret, c.Token, c.TokenSecret)
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// runPitweet runs the binary with args in a clean environment and returns
// its exit code and output.
func runPitweet(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	stdout, stderr, code = execPitweet(t, "", e2eEnv(), args...)
	return code, stdout, stderr
}

func TestTweetPosts(t *testing.T) {
	for _, api := range []string{"v2", "v1.1"} {
		t.Run(api, func(t *testing.T) {
			x := startX(t, api, fakex.DemoCredentials)
			text := "Hello Ladies + Gentlemen, a signed OAuth request! ünïcode 🐍 & 100% <ok>"
			code, out, errOut := runPitweet(t, "tweet", "--config", x.config, text)
			if code != 0 {
				t.Fatalf("exit %d, stderr %s", code, errOut)
			}
			tweets := x.srv.Tweets()
			if len(tweets) != 1 || tweets[0].Text != text || tweets[0].API != api {
				t.Fatalf("emulator accepted %+v, want one %s tweet %q", tweets, api, text)
			}
			if strings.TrimSpace(out) != tweets[0].ID {
				t.Errorf("printed %q, want the id %s", out, tweets[0].ID)
			}
		})
	}
}

// TestTweetFaults runs the binary against each way X can refuse or fail,
// checking the exit status, the one-line message, and what X recorded.
func TestTweetFaults(t *testing.T) {
	for _, tc := range []struct {
		fault   fakex.Fault
		api     string
		args    []string
		code    int
		stderr  []string // all must appear
		tweets  int
		reqs    int // posting requests the emulator saw
		stdoutN bool
	}{
		{fault: fakex.Fault{Mode: fakex.Mode429, Reset: 10 * time.Minute}, code: 1, stderr: []string{"429", "rate limited until"}, reqs: 1},
		{fault: fakex.Fault{Mode: fakex.Mode403Dup}, code: 1, stderr: []string{"403", "duplicate"}, reqs: 1},
		{fault: fakex.Fault{Mode: fakex.Mode401}, code: 1, stderr: []string{"401"}, reqs: 1},
		{fault: fakex.Fault{Mode: fakex.Mode503}, code: 1, stderr: []string{"503"}, reqs: 1},
		{fault: fakex.Fault{Mode: fakex.Mode453}, api: "v1.1", code: 1, stderr: []string{"453", `api = "v2"`}, reqs: 1},
		{fault: fakex.Fault{Mode: fakex.Mode453}, code: 1, stderr: []string{"453", "access level does not include POST /2/tweets"}, reqs: 1},
		{fault: fakex.Fault{Mode: fakex.ModeSlow, Delay: 300 * time.Millisecond}, code: 0, tweets: 1, reqs: 1, stdoutN: true},
		{fault: fakex.Fault{Mode: fakex.ModeChunked}, code: 0, tweets: 1, reqs: 1, stdoutN: true},
		{fault: fakex.Fault{Mode: fakex.ModeChunked}, api: "v1.1", code: 0, tweets: 1, reqs: 1, stdoutN: true},
		// A server clock 1 hour ahead: refused once, corrected from Date, posted.
		{fault: fakex.Fault{Mode: fakex.ModeSkew, Skew: time.Hour}, code: 0, tweets: 1, reqs: 2, stderr: []string{"clock is off"}, stdoutN: true},
		{fault: fakex.Fault{Mode: fakex.ModeSkew, Skew: -2 * time.Hour}, api: "v1.1", code: 0, tweets: 1, reqs: 2, stderr: []string{"clock is off"}, stdoutN: true},
		// X took the tweet but the answer was lost: a clear word on what to do.
		{fault: fakex.Fault{Mode: fakex.ModeResetAfterAccept, Count: 1}, code: 1, tweets: 1, reqs: 1, stderr: []string{"may or may not have the tweet"}},
		{fault: fakex.Fault{Mode: fakex.ModeHang}, args: []string{"--timeout", "1s"}, code: 1, stderr: []string{"deadline"}, reqs: 1},
	} {
		api := tc.api
		if api == "" {
			api = "v2"
		}
		name := tc.fault.Mode + "/" + api
		t.Run(name, func(t *testing.T) {
			x := startX(t, api, fakex.DemoCredentials)
			if err := x.srv.SetFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"tweet", "--config", x.config}, tc.args...)
			code, out, errOut := runPitweet(t, append(args, "fault "+name)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr %q lacks %q", errOut, want)
				}
			}
			if tc.code != 0 && strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("a failure must be one line on stderr, got %q", errOut)
			}
			if got := len(x.srv.Tweets()); got != tc.tweets {
				t.Errorf("emulator accepted %d tweets, want %d", got, tc.tweets)
			}
			if got := countPosts(x.srv.Requests()); got != tc.reqs {
				t.Errorf("emulator saw %d posting requests, want %d", got, tc.reqs)
			}
			if tc.stdoutN && strings.TrimSpace(out) != x.srv.Tweets()[0].ID {
				t.Errorf("stdout %q, want the tweet id", out)
			}
		})
	}
}

func countPosts(reqs []fakex.Request) int {
	n := 0
	for _, r := range reqs {
		if r.Method == "POST" {
			n++
		}
	}
	return n
}

func TestTweetRefusals(t *testing.T) {
	x := startX(t, "v2", fakex.DemoCredentials)
	dir := filepath.Dir(x.config)

	// Wrong keys: X's 401, one line.
	wrong := fakex.DemoCredentials
	wrong.ConsumerSecret = "not-the-secret"
	writeTestCredentials(t, dir, wrong, 0o600)
	code, _, errOut := runPitweet(t, "tweet", "--config", x.config, "hello")
	if code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("wrong secret: exit %d, stderr %q", code, errOut)
	}

	// A credentials file others can read is refused before anything is sent.
	writeTestCredentials(t, dir, fakex.DemoCredentials, 0o644)
	code, _, errOut = runPitweet(t, "tweet", "--config", x.config, "hello")
	if code != 1 || !strings.Contains(errOut, "chmod") {
		t.Errorf("world-readable credentials: exit %d, stderr %q", code, errOut)
	}
	writeTestCredentials(t, dir, fakex.DemoCredentials, 0o600)

	// A CA that did not sign the server's certificate: a TLS error.
	other := fakex.New(fakex.DemoCredentials)
	if err := other.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	wrongCA := filepath.Join(dir, "wrong-ca.pem")
	if err := other.WriteCA(wrongCA); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(x.config)
	if err != nil {
		t.Fatal(err)
	}
	badCfg := filepath.Join(dir, "wrong-ca.toml")
	if err := os.WriteFile(badCfg, bytes.Replace(cfg, []byte(filepath.Join(dir, "ca.pem")), []byte(wrongCA), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runPitweet(t, "tweet", "--config", badCfg, "hello")
	if code != 1 || !strings.Contains(errOut, "certificate is not trusted") {
		t.Errorf("wrong CA: exit %d, stderr %q", code, errOut)
	}

	// Too long, as X counts it: refused before signing.
	code, _, errOut = runPitweet(t, "tweet", "--config", x.config, strings.Repeat("é", 281))
	if code != 1 || !strings.Contains(errOut, "limit is 280") {
		t.Errorf("too long: exit %d, stderr %q", code, errOut)
	}
	// No text: bad usage.
	if code, _, _ = runPitweet(t, "tweet", "--config", x.config); code != 2 {
		t.Errorf("no text: exit %d, want 2", code)
	}
	if n := len(x.srv.Tweets()); n != 0 {
		t.Errorf("emulator accepted %d tweets from refused commands", n)
	}
}

func TestExplain(t *testing.T) {
	x := startX(t, "v1.1", fakex.DemoCredentials)
	nonce, ts := "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", "1318622958"
	code, out, errOut := runPitweet(t, "explain", "--config", x.config, "--json", "--nonce", nonce, "--timestamp", ts, "hello world")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var e explanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("explain --json: %v\n%s", err, out)
	}
	// The printed steps must agree with an independent signing of the same request.
	s := oauth.Signer{Credentials: fakex.DemoCredentials}
	b, err := s.SignWith(oauth.Request{Method: "POST", URL: x.srv.URL() + "/1.1/statuses/update.json",
		Form: []oauth.Param{{Name: "status", Value: "hello world"}}}, nonce, ts)
	if err != nil {
		t.Fatal(err)
	}
	if e.Signature != b.Signature || e.BaseString != b.BaseString || e.Authorization != b.Header {
		t.Errorf("explain signature %q base %q; want %q %q", e.Signature, e.BaseString, b.Signature, b.BaseString)
	}
	if strings.Contains(out, fakex.DemoCredentials.ConsumerSecret) || strings.Contains(out, fakex.DemoCredentials.TokenSecret) {
		t.Errorf("explain printed a secret without --show-secrets")
	}
	if !strings.HasPrefix(e.Request, "POST /1.1/statuses/update.json HTTP/1.1\r\n") || !strings.HasSuffix(e.Request, "\r\n\r\nstatus=hello%20world") {
		t.Errorf("request bytes:\n%s", e.Request)
	}
	if len(x.srv.Requests()) != 0 {
		t.Errorf("explain sent a request")
	}

	// The bytes explain shows are the bytes X accepts: send them raw.
	// (The nonce and timestamp are fresh so the emulator's window accepts them.)
	code, out, errOut = runPitweet(t, "explain", "--config", x.config, "--api", "v2", "hi")
	if code != 0 || !strings.Contains(out, "POST /2/tweets HTTP/1.1⏎") || !strings.Contains(out, "not signed") {
		t.Errorf("explain text: exit %d %s\n%s", code, errOut, out)
	}
}

// Keys that are configured but do not load are an error for explain, the
// same line as for tweet; the example keys are only for when no keys are
// configured at all.
func TestExplainNeverFallsBackFromConfiguredKeys(t *testing.T) {
	x := startX(t, "v2", fakex.DemoCredentials)
	dir := filepath.Dir(x.config)
	creds := filepath.Join(dir, "credentials")
	for _, tc := range []struct {
		name  string
		setup func()
		env   []string
	}{
		{name: "readable by others", setup: func() { writeTestCredentials(t, dir, fakex.DemoCredentials, 0o644) }},
		{name: "writable by its group", setup: func() { writeTestCredentials(t, dir, fakex.DemoCredentials, 0o660) }},
		{name: "incomplete", setup: func() {
			if err := os.WriteFile(creds, []byte("api_key=k\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a link to nowhere", setup: func() {
			os.Remove(creds)
			if err := os.Symlink(filepath.Join(dir, "nowhere"), creds); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "one key in the environment", setup: func() { os.Remove(creds) }, env: []string{"PITWEET_API_KEY=k"}},
		{name: "systemd's directory without the keys", setup: func() { os.Remove(creds) }, env: []string{"CREDENTIALS_DIRECTORY=" + t.TempDir()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			_, errTweet, code := execPitweet(t, "", e2eEnv(tc.env...), "tweet", "--config", x.config, "hello")
			if code != 1 {
				t.Fatalf("tweet: exit %d, %q", code, errTweet)
			}
			out, errExplain, code := execPitweet(t, "", e2eEnv(tc.env...), "explain", "--config", x.config, "hello")
			if code != 1 || out != "" || strings.Count(errExplain, "\n") != 1 ||
				strings.TrimPrefix(errExplain, "pitweet explain: ") != strings.TrimPrefix(errTweet, "pitweet tweet: ") {
				t.Errorf("explain: exit %d, stdout %q, stderr %q; want 1 and tweet's line %q", code, out, errExplain, errTweet)
			}
		})
	}
	// Nothing configured: the example keys, said so.
	os.Remove(creds)
	code, out, errOut := runPitweet(t, "explain", "--config", x.config, "hello")
	if code != 0 || !strings.Contains(out, `Credentials: the example keys of X's "Creating a signature" guide (no credentials configured`) {
		t.Errorf("no credentials: exit %d, %s\n%s", code, errOut, out)
	}
	if len(x.srv.Requests()) != 0 {
		t.Errorf("a request was sent")
	}
}
