package sender

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pitweet/fakex"
	"pitweet/oauth"
)

// newPipeLogin returns a Login for https://api.x.test whose connections
// are answered, in turn, with answers.
func newPipeLogin(t testing.TB, answers ...string) (*Login, *pipeDialer) {
	t.Helper()
	ca := newTestCA(t)
	l, err := NewLogin(Config{BaseURL: "https://api.x.test", CAFile: ca.caFile, Proxy: "none"}, testCreds.ConsumerKey, testCreds.ConsumerSecret)
	if err != nil {
		t.Fatal(err)
	}
	d := &pipeDialer{cfg: ca.serverConfig(), answers: answers, seen: make(chan seen, len(answers))}
	l.c.tr.dialer = d
	return l, d
}

var testRequestToken = &RequestToken{Token: "Z6eEdO8MOmk394WozF5oKyuAv855l4Mlqo7hhlSLik", Secret: "Kd75W4OQfb2oJTV0vzGzeXftVAwgMnEK9MumzYcM"}

// TestLoginRequestBytes pins the two signed requests byte for byte.
func TestLoginRequestBytes(t *testing.T) {
	l, _ := newPipeLogin(t)
	p, err := l.BuildRequestToken("ea9ec8429b68d6b77cd5600adbbb0456", "1318467427")
	if err != nil {
		t.Fatal(err)
	}
	want := "POST /oauth/request_token HTTP/1.1\r\n" +
		"Host: api.x.test\r\n" +
		"User-Agent: pitweet/dev\r\n" +
		"Accept: application/json\r\n" +
		"Content-Length: 0\r\n" +
		`Authorization: OAuth oauth_callback="oob", oauth_consumer_key="xvz1evFTYgLQxtP3N72r0n3c", oauth_nonce="ea9ec8429b68d6b77cd5600adbbb0456", ` +
		`oauth_signature="` + oauth.Encode(p.Breakdown.Signature) + `", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318467427", oauth_version="1.0"` + "\r\n" +
		"Connection: close\r\n\r\n"
	if string(p.Request) != want {
		t.Errorf("request token bytes\n got %q\nwant %q", p.Request, want)
	}
	if p.Breakdown.SigningKey != oauth.Encode(testCreds.ConsumerSecret)+"&" {
		t.Errorf("signing key %q: want the app's secret and an empty token secret", p.Breakdown.SigningKey)
	}
	// The signature is the one oauth computes for the same inputs, and a
	// server verifies it with the app's secret alone.
	if _, err := oauth.Verify("POST", "https://api.x.test/oauth/request_token", p.Breakdown.Header, nil, testCreds.ConsumerSecret, ""); err != nil {
		t.Errorf("Verify: %v", err)
	}

	p, err = l.BuildAccessToken(testRequestToken, "4868795", "n2", "1318467487")
	if err != nil {
		t.Fatal(err)
	}
	wantAuth := `Authorization: OAuth oauth_consumer_key="xvz1evFTYgLQxtP3N72r0n3c", oauth_nonce="n2", oauth_signature="` + oauth.Encode(p.Breakdown.Signature) +
		`", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318467487", oauth_token="` + testRequestToken.Token +
		`", oauth_verifier="4868795", oauth_version="1.0"` + "\r\n"
	if !strings.HasPrefix(string(p.Request), "POST /oauth/access_token HTTP/1.1\r\n") || !strings.Contains(string(p.Request), wantAuth) ||
		!strings.Contains(string(p.Request), "Content-Length: 0\r\n") {
		t.Errorf("access token bytes %q", p.Request)
	}
	if _, err := oauth.Verify("POST", "https://api.x.test/oauth/access_token", p.Breakdown.Header, nil, testCreds.ConsumerSecret, testRequestToken.Secret); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if got := l.AuthorizeURL(testRequestToken); got != "https://api.x.test/oauth/authorize?oauth_token="+testRequestToken.Token {
		t.Errorf("AuthorizeURL = %s", got)
	}
}

// TestLoginAgainstFakex runs the flow over TLS on loopback against the
// emulator, then posts with the access token it gave.
func TestLoginAgainstFakex(t *testing.T) {
	x := fakex.New(fakex.DemoCredentials)
	if err := x.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := x.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	cfg := Config{BaseURL: x.URL(), CAFile: ca, Proxy: "none"}
	l, err := NewLogin(cfg, fakex.DemoCredentials.ConsumerKey, fakex.DemoCredentials.ConsumerSecret)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt, err := l.RequestToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u := l.AuthorizeURL(rt); !strings.HasPrefix(u, x.URL()+"/oauth/authorize?oauth_token=") {
		t.Errorf("AuthorizeURL %s", u)
	}
	pin, err := x.Authorize(rt.Token)
	if err != nil {
		t.Fatal(err)
	}
	at, err := l.AccessToken(ctx, rt, pin)
	if err != nil {
		t.Fatal(err)
	}
	if at.ScreenName != x.User.Username || at.UserID != x.User.ID || at.Meta.AccessLevel != "read-write" {
		t.Errorf("access token for %+v", at)
	}
	issued := x.AccessTokens()
	if len(issued) != 1 || issued[0].Token != at.Token || issued[0].Secret != at.Secret {
		t.Errorf("fakex issued %+v, client got %s", issued, at.Token)
	}
	// The same PIN again: the request token is used up.
	if _, err := l.AccessToken(ctx, rt, pin); !errors.Is(err, ErrRequestTokenExpired) {
		t.Errorf("second exchange: %v, want ErrRequestTokenExpired", err)
	}

	c, err := New(cfg, oauth.Credentials{ConsumerKey: fakex.DemoCredentials.ConsumerKey, ConsumerSecret: fakex.DemoCredentials.ConsumerSecret,
		Token: at.Token, TokenSecret: at.Secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Post(ctx, "posted as the account that logged in"); err != nil {
		t.Errorf("post with the new token: %v", err)
	}

	// Each refusal, as fakex gives it.
	for _, f := range []struct {
		mode string
		want error
	}{{fakex.ModeWrongPIN, ErrPINRefused}, {fakex.ModeExpiredToken, ErrRequestTokenExpired}, {fakex.ModeReadOnly, ErrReadOnlyApp}} {
		if err := x.SetFault(fakex.Fault{Mode: f.mode}); err != nil {
			t.Fatal(err)
		}
		rt, err := l.RequestToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pin, err := x.Authorize(rt.Token)
		if err != nil {
			t.Fatal(err)
		}
		at, err := l.AccessToken(ctx, rt, pin)
		if !errors.Is(err, f.want) || at != nil {
			t.Errorf("fault %s: %v, want %v", f.mode, err, f.want)
		}
	}
}

// TestLoginRefusals classifies X's refusals of each step, as X words them
// (see specs: the wrong PIN in plain text, the others in v1.1's errors
// array), into one line that says what to do.
func TestLoginRefusals(t *testing.T) {
	date := "Date: " + time.Now().UTC().Format(time.RFC1123) + "\r\n"
	for _, c := range []struct {
		name, answer string
		access       bool // the access-token step, else the request-token one
		is           error
		kind         Kind
		hint         string
	}{
		{
			name:   "wrong PIN",
			answer: raw("HTTP/1.1 401 Authorization Required\r\n"+date+"Content-Type: text/plain\r\n", "Error processing your OAuth request: Invalid oauth_verifier parameter"),
			access: true, is: ErrPINRefused, kind: KindUnauthorized, hint: "run pitweet login again and type the 7-digit PIN",
		},
		{
			name:   "expired or used request token",
			answer: raw("HTTP/1.1 401 Unauthorized\r\n"+date+"Content-Type: application/json\r\n", `{"errors":[{"code":89,"message":"Invalid or expired token."}]}`),
			access: true, is: ErrRequestTokenExpired, kind: KindUnauthorized, hint: "took too long or was already used",
		},
		{
			name:   "expired, as older servers said it",
			answer: raw("HTTP/1.1 401 Unauthorized\r\n"+date, "Invalid / expired Token\n"),
			access: true, is: ErrRequestTokenExpired, kind: KindUnauthorized,
		},
		{
			name:   "read-only app, in the access token answer",
			answer: raw("HTTP/1.1 200 OK\r\n"+date+"x-access-level: read\r\nContent-Type: text/html; charset=utf-8\r\n", "oauth_token=6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY&oauth_token_secret=2EEfA&x=1"),
			access: true, is: ErrReadOnlyApp,
		},
		{
			name:   "app keys wrong",
			answer: raw("HTTP/1.1 401 Unauthorized\r\n"+date+"Content-Type: application/json\r\n", `{"errors":[{"code":32,"message":"Could not authenticate you."}]}`),
			kind:   KindUnauthorized, hint: "check api_key and api_secret",
		},
		{
			name:   "no callback URL in the app's settings",
			answer: raw("HTTP/1.1 403 Forbidden\r\n"+date, `{"errors":[{"code":415,"message":"Callback URL not approved for this client application."}]}`),
			kind:   KindForbidden, hint: "callback URL",
		},
		{
			name:   "clock off",
			answer: raw("HTTP/1.1 401 Unauthorized\r\n"+date, `{"errors":[{"code":135,"message":"Timestamp out of bounds."}]}`),
			kind:   KindClockSkew, hint: "timedatectl",
		},
		{
			name:   "clock off, seen in X's Date",
			answer: raw("HTTP/1.1 401 Unauthorized\r\nDate: "+time.Now().Add(-time.Hour).UTC().Format(time.RFC1123)+"\r\n", ""),
			access: true, kind: KindClockSkew, hint: "behind ours",
		},
		{
			name:   "rate limited",
			answer: raw("HTTP/1.1 429 Too Many Requests\r\n"+date+"x-rate-limit-reset: "+strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)+"\r\n", ""),
			kind:   KindRateLimited,
		},
		{
			name:   "answer that is not a token answer",
			answer: raw("HTTP/1.1 200 OK\r\n"+date, "oauth_token=abc&oauth_token_secret=SECRETVALUE"),
			kind:   KindProtocol, is: ErrProtocol, hint: "is base_url an X API server",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, _ := newPipeLogin(t, c.answer)
			var err error
			if c.access {
				_, err = l.AccessToken(context.Background(), testRequestToken, "1234567")
			} else {
				_, err = l.RequestToken(context.Background())
			}
			if err == nil {
				t.Fatal("no error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v, want %v", err, c.is)
			}
			var ae *APIError
			if c.kind != 0 || c.hint != "" {
				if !errors.As(err, &ae) {
					t.Fatalf("error %T %v, want *APIError", err, err)
				}
				if ae.Kind != c.kind || !strings.Contains(ae.Hint, c.hint) {
					t.Errorf("kind %v hint %q, want %v and %q", ae.Kind, ae.Hint, c.kind, c.hint)
				}
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || strings.Contains(msg, "SECRETVALUE") || strings.Contains(msg, "2EEfA") {
				t.Errorf("message is not one line free of secrets: %q", msg)
			}
		})
	}
}

// raw is an answer of head's status line and fields and body, with its
// Content-Length.
func raw(head, body string) string {
	return head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

var tokenAnswerTests = []struct {
	name string
	body string
	ok   bool
}{
	{"X's access token answer", "oauth_token=6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY&oauth_token_secret=2EEfA6BG5ly3sR3XjE0IBSnlQu4ZrUzPiYTmrkVU&user_id=6253282&screen_name=xapi", true},
	{"trailing line end", "oauth_token=a&oauth_token_secret=b&user_id=1&screen_name=c\r\n", true},
	{"other order, an extra parameter", "screen_name=c&x_auth_expires=0&user_id=1&oauth_token_secret=b&oauth_token=a", true},
	{"percent-encoded", "oauth_token=a%2Db&oauth_token_secret=b%3D&user_id=1&screen_name=c", true},
	{"empty", "", false},
	{"missing secret", "oauth_token=a&user_id=1&screen_name=c", false},
	{"twice", "oauth_token=a&oauth_token=b&oauth_token_secret=b&user_id=1&screen_name=c", false},
	{"empty value", "oauth_token=&oauth_token_secret=b&user_id=1&screen_name=c", false},
	{"no =", "oauth_token&oauth_token_secret=b&user_id=1&screen_name=c", false},
	{"bad escape", "oauth_token=a%zz&oauth_token_secret=b&user_id=1&screen_name=c", false},
	{"space in a value", "oauth_token=a+b&oauth_token_secret=b&user_id=1&screen_name=c", false},
	{"control character", "oauth_token=a%1B[2J&oauth_token_secret=b&user_id=1&screen_name=c", false},
	{"line break inside", "oauth_token=a\nb&oauth_token_secret=b&user_id=1&screen_name=c", false},
	{"user id not a number", "oauth_token=a&oauth_token_secret=b&user_id=x1&screen_name=c", false},
	{"JSON", `{"oauth_token":"a"}`, false},
	{"too many parameters", strings.Repeat("a=b&", 20) + "oauth_token=a&oauth_token_secret=b&user_id=1&screen_name=c", false},
	{"too long", "oauth_token=" + strings.Repeat("a", 5000) + "&oauth_token_secret=b&user_id=1&screen_name=c", false},
}

func TestParseTokenAnswer(t *testing.T) {
	for _, c := range tokenAnswerTests {
		l, _ := newPipeLogin(t, raw("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n", c.body))
		at, err := l.AccessToken(context.Background(), testRequestToken, "1234567")
		if c.ok != (err == nil) {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrProtocol) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error %q", c.name, err)
			}
			continue
		}
		if at.Token == "" || at.Secret == "" || at.UserID == "" || at.ScreenName == "" {
			t.Errorf("%s: %+v", c.name, at)
		}
	}
}

func TestReadOnlyRequestToken(t *testing.T) {
	// X may say so as early as the request token: refused before the user
	// is sent to the browser.
	l, _ := newPipeLogin(t, raw("HTTP/1.1 200 OK\r\nx-access-level: read\r\n", "oauth_token=a&oauth_token_secret=b&oauth_callback_confirmed=true&extra=123"))
	if _, err := l.RequestToken(context.Background()); !errors.Is(err, ErrReadOnlyApp) || !strings.Contains(err.Error(), "Read and write") {
		t.Errorf("read-only request token: %v", err)
	}
	l, _ = newPipeLogin(t, raw("HTTP/1.1 200 OK\r\n", "oauth_token=a&oauth_token_secret=b&oauth_callback_confirmed=false"))
	if _, err := l.RequestToken(context.Background()); !errors.Is(err, ErrProtocol) {
		t.Errorf("callback not confirmed: %v", err)
	}
}

// FuzzParseTokenAnswer feeds any body to the token answer parser. What it
// accepts, net/url's ParseQuery (the oracle) reads the same where it reads
// the body at all (it refuses a ";" that the parser leaves in a value);
// every value accepted can stand on a credentials file line; a refusal is
// one line that quotes nothing of the body.
func FuzzParseTokenAnswer(f *testing.F) {
	for _, c := range tokenAnswerTests {
		f.Add(c.body)
	}
	want := []string{"oauth_token", "oauth_token_secret", "user_id", "screen_name"}
	f.Fuzz(func(t *testing.T, body string) {
		resp := &Response{StatusCode: 200, Reason: "OK", Body: []byte(body)}
		got, err := parseTokenAnswer(resp, pathAccessToken, want...)
		if err != nil {
			msg := err.Error()
			if strings.Contains(msg, "\n") || len(msg) > 400 {
				t.Fatalf("refusal is not one short line: %q", msg)
			}
			if len(body) >= 16 && strings.Contains(msg, body) {
				t.Fatalf("refusal quotes the body: %q", msg)
			}
			return
		}
		if len(got) != len(want) {
			t.Fatalf("accepted %q with %d of %d parameters", body, len(got), len(want))
		}
		for _, name := range want {
			v := got[name]
			if v == "" || len(v) > maxTokenValue || !printableWord(v) {
				t.Fatalf("accepted %s=%q from %q", name, v, body)
			}
		}
		oracle, err := url.ParseQuery(strings.TrimRight(body, "\r\n"))
		if err != nil {
			return
		}
		for _, name := range want {
			if len(oracle[name]) != 1 || oracle[name][0] != got[name] {
				t.Fatalf("%q: %s = %q, net/url reads %q", body, name, got[name], oracle[name])
			}
		}
	})
}
