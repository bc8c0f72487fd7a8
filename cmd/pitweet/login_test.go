//go:build unix

package main

// The real `pitweet login` against fakex over TLS on loopback: the test
// plays the user, opening the authorize page as a browser would (net/http)
// and typing the PIN it shows on the binary's standard input.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"pitweet/fakex"
	"pitweet/oauth"
)

// loginCredentials is a credentials file as a user keeps it: comments,
// spacing, the app's keys, and an access token that fakex does not know
// (revoked, or another account's).
const loginCredentials = "# X keys for the kitchen Pi\n" +
	"api_key = pitweet-demo-api-key\n" +
	"api_secret=pitweet-demo-api-secret\n" +
	"\n" +
	"# the bot account (old)\n" +
	"access_token=1790000000000000000-revoked\n" +
	"access_secret=revoked-secret\n"

// loginRig is a fakex server, a config pointing at it, and a credentials
// file.
type loginRig struct {
	x      *fakex.Server
	dir    string
	config string
	creds  string
	client *http.Client // the user's browser
}

func newLoginRig(t *testing.T, creds string) *loginRig {
	t.Helper()
	r := &loginRig{x: fakex.New(fakex.DemoCredentials), dir: t.TempDir()}
	if err := r.x.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.x.Close() })
	ca := filepath.Join(r.dir, "ca.pem")
	if err := r.x.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	r.creds = filepath.Join(r.dir, "credentials")
	if err := os.WriteFile(r.creds, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	r.config = filepath.Join(r.dir, "pitweet.toml")
	body := fmt.Sprintf("state_dir = %q\n[x]\nbase_url = %q\nca_file = %q\ncredentials = %q\n", filepath.Join(r.dir, "state"), r.x.URL(), ca, r.creds)
	if err := os.WriteFile(r.config, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.x.CAPEM())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	r.client = &http.Client{Transport: tr}
	return r
}

var (
	authorizeURL = regexp.MustCompile(`https://\S+/oauth/authorize\?oauth_token=\S+`)
	shownPIN     = regexp.MustCompile(`<code>([0-9]+)</code>`)
)

// loginRun is one run of `pitweet login`.
type loginRun struct {
	stdout, stderr string
	code           int
	url            string // the authorize URL it printed
}

// login runs `pitweet login --config` with env. Once the binary prints
// the authorize URL, the test opens it, and types what typed returns for
// the PIN shown (nothing when typed is nil: standard input is closed).
func (r *loginRig) login(t *testing.T, env []string, typed func(pin string) string) loginRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pitweetBin, "login", "--config", r.config)
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var run loginRun
	var out bytes.Buffer
	sc := bufio.NewScanner(io.TeeReader(stdoutPipe, &out))
	for run.url == "" && sc.Scan() {
		run.url = authorizeURL.FindString(sc.Text())
	}
	if run.url != "" && typed != nil {
		fmt.Fprint(stdin, typed(r.pinFromPage(t, run.url)))
	}
	stdin.Close()
	io.Copy(io.Discard, io.TeeReader(stdoutPipe, &out))
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		run.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("pitweet login: %v", err)
	}
	run.stdout, run.stderr = out.String(), stderr.String()
	return run
}

// pinFromPage opens the authorize page as the user's browser would and
// returns the PIN it shows.
func (r *loginRig) pinFromPage(t *testing.T, url string) string {
	t.Helper()
	resp, err := r.client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := shownPIN.FindSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("authorize page %d:\n%s", resp.StatusCode, body)
	}
	return string(m[1])
}

// untouched checks that the credentials file is the one written at the
// start: same file, same bytes.
func (r *loginRig) untouched(t *testing.T, before os.FileInfo) {
	t.Helper()
	after, err := os.Stat(r.creds)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(r.creds)
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) || string(data) != loginCredentials {
		t.Errorf("credentials file changed:\n%s", data)
	}
	if n := len(r.x.AccessTokens()); n > 0 && string(data) != loginCredentials {
		t.Errorf("%d access tokens issued and the file changed", n)
	}
}

// oneLine checks that stderr is one line holding want, and the exit 1.
func oneLine(t *testing.T, run loginRun, want string) {
	t.Helper()
	if run.code != 1 || strings.Count(run.stderr, "\n") != 1 || !strings.HasPrefix(run.stderr, "pitweet login: ") || !strings.Contains(run.stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit 1 and one line saying %q\nstdout:\n%s", run.code, run.stderr, want, run.stdout)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	r := newLoginRig(t, loginCredentials)
	// The old access token does not post.
	if code, _, stderr := runPitweet(t, "tweet", "--config", r.config, "before the login"); code != 1 {
		t.Fatalf("tweet with the old token: exit %d %s", code, stderr)
	}
	before, _ := os.Stat(r.creds)

	// The PIN typed as people type it: spaces inside, a line end.
	run := r.login(t, e2eEnv("RUNTIME_DIRECTORY="+r.dir), func(pin string) string { return " " + pin[:3] + " " + pin[3:] + " \r\n" })
	if run.code != 0 || run.stderr != "" {
		t.Fatalf("pitweet login: exit %d\nstdout:\n%s\nstderr:\n%s", run.code, run.stdout, run.stderr)
	}
	issued := r.x.AccessTokens()
	if len(issued) != 1 {
		t.Fatalf("fakex issued %d access tokens, want 1", len(issued))
	}
	want := strings.Replace(strings.Replace(loginCredentials,
		"access_token=1790000000000000000-revoked", "access_token="+issued[0].Token, 1),
		"access_secret=revoked-secret", "access_secret="+issued[0].Secret, 1)
	data, _ := os.ReadFile(r.creds)
	if string(data) != want {
		t.Errorf("credentials file\n got %q\nwant %q", data, want)
	}
	after, _ := os.Stat(r.creds)
	if os.SameFile(before, after) {
		t.Error("the credentials file was written in place, not replaced")
	}
	st := after.Sys().(*syscall.Stat_t)
	if after.Mode().Perm() != 0o600 || int(st.Uid) != os.Geteuid() || (os.Geteuid() == 0 && st.Gid != 0) {
		t.Errorf("credentials file mode %04o owner %d:%d, want 0600 root:root", after.Mode().Perm(), st.Uid, st.Gid)
	}
	entries, _ := os.ReadDir(r.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	last := run.stdout[strings.LastIndex(strings.TrimRight(run.stdout, "\n"), "\n")+1:]
	if !strings.HasPrefix(last, "Logged in as @pitweet_demo; the keys are in "+r.creds+"; ") || !strings.Contains(last, "systemctl restart pitweet") {
		t.Errorf("last line %q", last)
	}
	// Nothing secret on the terminal.
	for _, secret := range []string{issued[0].Secret, issued[0].Token, "pitweet-demo-api-secret"} {
		if strings.Contains(run.stdout+run.stderr, secret) {
			t.Errorf("output shows a secret:\n%s", run.stdout)
		}
	}

	// pitweet tweet posts with the new keys.
	code, stdout, stderr := runPitweet(t, "tweet", "--config", r.config, "after the login")
	if code != 0 {
		t.Fatalf("tweet after login: exit %d %s", code, stderr)
	}
	if tw := r.x.Tweets(); len(tw) != 1 || tw[0].ID != strings.TrimSpace(stdout) {
		t.Errorf("fakex has %+v, tweet printed %s", tw, stdout)
	}
}

func TestLoginRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		fault string
		typed func(pin string) string
		want  string
	}{
		{"wrong PIN", "", func(pin string) string { return wrongPIN(pin) + "\n" }, "the PIN was not accepted; run pitweet login again and type the 7-digit PIN"},
		{"expired request token", fakex.ModeExpiredToken, func(pin string) string { return pin + "\n" }, "the authorization took too long or was already used; run pitweet login again"},
		{"read-only app", fakex.ModeReadOnly, func(pin string) string { return pin + "\n" }, "read-only permission (X answered x-access-level: read): set the app's permissions to Read and write"},
		{"not a PIN", "", func(string) string { return "the code\n" }, "that is not a PIN"},
		{"no PIN", "", nil, "no PIN on standard input"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newLoginRig(t, loginCredentials)
			if err := r.x.SetFault(fakex.Fault{Mode: c.fault}); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Stat(r.creds)
			run := r.login(t, e2eEnv("RUNTIME_DIRECTORY="+r.dir), c.typed)
			oneLine(t, run, c.want)
			r.untouched(t, before)
		})
	}
}

func wrongPIN(pin string) string {
	if pin == "0000000" {
		return "1111111"
	}
	return "0000000"
}

// TestLoginBeforeAsking refuses, before X is asked anything, what would
// keep the keys from being saved or the login from being signed.
func TestLoginBeforeAsking(t *testing.T) {
	t.Parallel()
	r := newLoginRig(t, "# no keys yet\n")
	run := r.login(t, e2eEnv(), nil)
	oneLine(t, run, "the app's api_key and api_secret are needed to log in: add both lines to "+r.creds)

	// The app's keys from the environment: the file gets all four.
	env := e2eEnv("PITWEET_API_KEY="+fakex.DemoCredentials.ConsumerKey, "PITWEET_API_SECRET="+fakex.DemoCredentials.ConsumerSecret)
	run = r.login(t, env, func(pin string) string { return pin + "\n" })
	if run.code != 0 {
		t.Fatalf("login with the app's keys from the environment: exit %d %s", run.code, run.stderr)
	}
	at := r.x.AccessTokens()[0]
	want := "# no keys yet\naccess_token=" + at.Token + "\naccess_secret=" + at.Secret + "\napi_key=" + fakex.DemoCredentials.ConsumerKey +
		"\napi_secret=" + fakex.DemoCredentials.ConsumerSecret + "\n"
	if data, _ := os.ReadFile(r.creds); string(data) != want {
		t.Errorf("credentials file %q, want %q", data, want)
	}

	// A file pitweet would not read is not rewritten.
	r = newLoginRig(t, "api_key=a\napi_secret=b\nsecretpastedalone\n")
	run = r.login(t, e2eEnv(), nil)
	oneLine(t, run, ":3: not a key=value line")
	if len(r.x.Requests()) != 0 {
		t.Errorf("X was asked: %+v", r.x.Requests())
	}

	// Extra arguments are bad usage.
	if code, _, stderr := runPitweet(t, "login", "--config", r.config, "1234567"); code != 2 || !strings.Contains(stderr, "the PIN is read from standard input") {
		t.Errorf("login with an argument: exit %d %s", code, stderr)
	}
}

// TestLoginNotRoot runs login as an unprivileged user against root's
// credentials file: one line saying to use sudo, nothing asked of X.
func TestLoginNotRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the binary as another user")
	}
	r := newLoginRig(t, loginCredentials)
	// The other user must reach the binary, the config and the directory.
	bin := filepath.Join(t.TempDir(), "pitweet")
	if err := os.Link(pitweetBin, bin); err != nil {
		data, err := os.ReadFile(pitweetBin)
		if err != nil || os.WriteFile(bin, data, 0o755) != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin)), r.dir, filepath.Dir(r.dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := os.Stat(r.creds)
	cmd := exec.Command(bin, "login", "--config", r.config)
	cmd.Env = e2eEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := loginRun{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		run.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	oneLine(t, run, "is root's; run pitweet login as root: sudo pitweet login")
	r.untouched(t, before)
	if len(r.x.Requests()) != 0 {
		t.Errorf("X was asked: %+v", r.x.Requests())
	}
}

// TestLoginWhileTheDaemonRuns logs in while the daemon runs on the same
// keys: the keys are written, and the last line says to restart it.
func TestLoginWhileTheDaemonRuns(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	e.start()
	r := &loginRig{x: e.x, dir: e.dir, config: e.config, creds: filepath.Join(e.dir, "credentials")}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.x.CAPEM())
	r.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	run := r.login(t, e2eEnv("RUNTIME_DIRECTORY="+e.dir), func(pin string) string { return pin + "\n" })
	if run.code != 0 || !strings.Contains(run.stdout, "the running daemon still has the old ones: restart it to use them: sudo systemctl restart pitweet") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", run.code, run.stdout, run.stderr)
	}
}

// TestExplainLogin shows login's two signed requests with the callback and
// the verifier signed, reproducibly, secrets masked; and the request
// token request it shows is one X accepts, byte for byte.
func TestExplainLogin(t *testing.T) {
	t.Parallel()
	r := newLoginRig(t, loginCredentials)
	nonce, ts := "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", "1318622958"
	code, out, errOut := runPitweet(t, "explain", "--login", "--config", r.config, "--json", "--nonce", nonce, "--timestamp", ts)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var e loginExplanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("explain --login --json: %v\n%s", err, out)
	}
	app := oauth.Credentials{ConsumerKey: fakex.DemoCredentials.ConsumerKey, ConsumerSecret: fakex.DemoCredentials.ConsumerSecret}
	s := oauth.Signer{Credentials: app}
	b, err := s.SignWith(oauth.Request{Method: "POST", URL: r.x.URL() + "/oauth/request_token", Callback: "oob"}, nonce, ts)
	if err != nil {
		t.Fatal(err)
	}
	if e.RequestToken.Signature != b.Signature || e.RequestToken.BaseString != b.BaseString || e.RequestToken.Authorization != b.Header {
		t.Errorf("request token: signature %q base %q; want %q %q", e.RequestToken.Signature, e.RequestToken.BaseString, b.Signature, b.BaseString)
	}
	if !strings.Contains(e.RequestToken.BaseString, "oauth_callback%3Doob") || e.RequestToken.SigningKey != "pitw*******************&" {
		t.Errorf("request token: base %q, signing key %q", e.RequestToken.BaseString, e.RequestToken.SigningKey)
	}
	if e.AuthorizeURL != r.x.URL()+"/oauth/authorize?oauth_token="+exampleRequestToken.Token {
		t.Errorf("authorize URL %s", e.AuthorizeURL)
	}
	s.Credentials.Token, s.Credentials.TokenSecret = exampleRequestToken.Token, exampleRequestToken.Secret
	b, err = s.SignWith(oauth.Request{Method: "POST", URL: r.x.URL() + "/oauth/access_token", Verifier: examplePIN}, nonce, ts)
	if err != nil {
		t.Fatal(err)
	}
	if e.AccessToken.Signature != b.Signature || e.AccessToken.Authorization != b.Header || !strings.Contains(e.AccessToken.NormalizedParams, "oauth_verifier="+examplePIN) {
		t.Errorf("access token: signature %q params %q; want %q", e.AccessToken.Signature, e.AccessToken.NormalizedParams, b.Signature)
	}
	if strings.Contains(out, fakex.DemoCredentials.ConsumerSecret) || strings.Contains(out, exampleRequestToken.Secret) {
		t.Errorf("explain --login printed a secret without --show-secrets")
	}
	if len(r.x.Requests()) != 0 {
		t.Errorf("explain sent a request")
	}

	// The text, and the bytes it shows sent as they are: fakex gives a
	// request token for them.
	code, out, errOut = runPitweet(t, "explain", "--login", "--config", r.config, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(r.x.URL(), "https://"), r.client.Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, e.RequestToken.Request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "oauth_callback_confirmed=true") {
		t.Errorf("the request explain shows, sent: %d %s", resp.StatusCode, body)
	}

	code, out, _ = runPitweet(t, "explain", "--login", "--config", r.config)
	for _, want := range []string{"1.6. Signature base string", "oauth_callback=oob", "2. The user opens the authorize page", "3.7. Signing key: encode(API key secret) & encode(request token secret)",
		"oauth_verifier=" + examplePIN, "Nothing was sent."} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("explain --login text lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := runPitweet(t, "explain", "--login", "--config", r.config, "hello"); code != 2 || !strings.Contains(errOut, "takes no TEXT") {
		t.Errorf("explain --login TEXT: exit %d %s", code, errOut)
	}
}

// TestLoginClockOff logs in with X's clock 10 minutes ahead: X refuses the
// timestamp, login corrects its clock from X's Date once, says so, and
// goes on.
func TestLoginClockOff(t *testing.T) {
	t.Parallel()
	r := newLoginRig(t, loginCredentials)
	if err := r.x.SetFault(fakex.Fault{Mode: fakex.ModeSkew, Skew: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	run := r.login(t, e2eEnv("RUNTIME_DIRECTORY="+r.dir), func(pin string) string { return pin + "\n" })
	if run.code != 0 || strings.Count(run.stderr, "\n") != 1 || !strings.Contains(run.stderr, "X says our clock is off") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", run.code, run.stdout, run.stderr)
	}
	at := r.x.AccessTokens()
	if data, _ := os.ReadFile(r.creds); len(at) != 1 || !strings.Contains(string(data), "access_token="+at[0].Token+"\n") {
		t.Errorf("credentials file:\n%s", data)
	}
}
