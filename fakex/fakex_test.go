package fakex

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pitweet/oauth"
)

// clock is a settable fake clock shared by the server and the test client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testCreds = oauth.Credentials{
	ConsumerKey:    "xvz1evFS4wEEPTGEFPHBog",
	ConsumerSecret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
	Token:          "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
	TokenSecret:    "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
}

// harness is a started server plus a client that trusts its CA.
type harness struct {
	t      *testing.T
	srv    *Server
	clock  *clock
	client *http.Client
}

func start(t *testing.T) *harness {
	t.Helper()
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := New(testCreds)
	s.Now = c.Now
	if err := s.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM()) {
		t.Fatal("CAPEM holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &harness{t: t, srv: s, clock: c, client: &http.Client{Transport: tr}}
}

// signer returns a signer for creds on the harness clock.
func (h *harness) signer(creds oauth.Credentials) *oauth.Signer {
	return &oauth.Signer{Credentials: creds, Now: h.clock.Now}
}

// request builds a request signed by sg: for v2 a JSON tweet, for v1.1 a
// form tweet, for "me" GET /2/users/me.
func (h *harness) request(ctx context.Context, sg *oauth.Signer, api, text string) *http.Request {
	h.t.Helper()
	var method, path, ctype, body string
	var form []oauth.Param
	switch api {
	case "v2":
		method, path, ctype = "POST", "/2/tweets", "application/json"
		b, _ := json.Marshal(map[string]string{"text": text})
		body = string(b)
	case "v1.1":
		method, path, ctype = "POST", "/1.1/statuses/update.json", "application/x-www-form-urlencoded"
		body = "status=" + oauth.Encode(text)
		form = []oauth.Param{{Name: "status", Value: text}}
	case "me":
		method, path = "GET", "/2/users/me"
	}
	url := h.srv.URL() + path
	b, err := sg.Sign(oauth.Request{Method: method, URL: url, Form: form})
	if err != nil {
		h.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", b.Header)
	return req
}

type answer struct {
	status  int
	header  http.Header
	body    string
	chunked bool
}

func (h *harness) do(req *http.Request) answer {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return answer{resp.StatusCode, resp.Header, string(body), slicesEqual(resp.TransferEncoding, []string{"chunked"})}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// post signs and sends one tweet with the correct credentials.
func (h *harness) post(api, text string) answer {
	h.t.Helper()
	return h.do(h.request(context.Background(), h.signer(testCreds), api, text))
}

func (a answer) want(t *testing.T, status int, body string) {
	t.Helper()
	if a.status != status || (body != "" && a.body != body) {
		t.Fatalf("answer %d %s\nwant %d %s", a.status, a.body, status, body)
	}
}

var snowflake = regexp.MustCompile(`^[1-9][0-9]{18}$`)

const (
	v2Unauthorized = `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`
	v2Duplicate    = `{"title":"Forbidden","type":"about:blank","status":403,"detail":"You are not allowed to create a Tweet with duplicate content."}`
	v1Auth         = `{"errors":[{"code":32,"message":"Could not authenticate you."}]}`
	v1Token        = `{"errors":[{"code":89,"message":"Invalid or expired token."}]}`
	v1Timestamp    = `{"errors":[{"code":135,"message":"Timestamp out of bounds."}]}`
	v1Duplicate    = `{"errors":[{"code":187,"message":"Status is a duplicate."}]}`
)

func TestPostV2(t *testing.T) {
	h := start(t)
	a := h.post("v2", "Hello from the Pi! 21.5 °C")
	a.want(t, http.StatusCreated, "")
	var got struct {
		Data struct{ ID, Text string }
	}
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		t.Fatalf("body %s: %v", a.body, err)
	}
	if !snowflake.MatchString(got.Data.ID) || got.Data.Text != "Hello from the Pi! 21.5 °C" {
		t.Errorf("data = %+v, want a 19-digit id and the text", got.Data)
	}
	if d := a.header.Get("Date"); d != "Fri, 01 May 2026 12:00:00 GMT" {
		t.Errorf("Date = %q, want the server clock", d)
	}
	for name, want := range map[string]string{
		"x-rate-limit-limit":            "10000",
		"x-rate-limit-remaining":        "9999",
		"x-rate-limit-reset":            strconv.FormatInt(h.clock.Now().Add(15*time.Minute).Unix(), 10),
		"x-user-limit-24hour-limit":     "100000",
		"x-user-limit-24hour-remaining": "99999",
		"x-user-limit-24hour-reset":     strconv.FormatInt(h.clock.Now().Add(24*time.Hour).Unix(), 10),
	} {
		if got := a.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	tw := h.srv.Tweets()
	if len(tw) != 1 || tw[0].ID != got.Data.ID || tw[0].API != "v2" || !tw[0].At.Equal(h.clock.Now()) {
		t.Errorf("Tweets() = %+v", tw)
	}
}

func TestPostV1(t *testing.T) {
	h := start(t)
	// Characters that percent-encoding and form decoding treat specially.
	text := "Ladies + Gentlemen, a signed OAuth request! 100% *(it's)* ~ok"
	a := h.post("v1.1", text)
	a.want(t, http.StatusOK, "")
	var got struct {
		ID    int64  `json:"id"`
		IDStr string `json:"id_str"`
		Text  string `json:"text"`
		User  struct {
			ScreenName string `json:"screen_name"`
		} `json:"user"`
	}
	if err := json.Unmarshal([]byte(a.body), &got); err != nil {
		t.Fatalf("body %s: %v", a.body, err)
	}
	if strconv.FormatInt(got.ID, 10) != got.IDStr || !snowflake.MatchString(got.IDStr) || got.Text != text {
		t.Errorf("status = %+v, want id == id_str, 19 digits, and the text", got)
	}
	if got.User.ScreenName != "pitweet_demo" {
		t.Errorf("user.screen_name = %q", got.User.ScreenName)
	}
	if tw := h.srv.Tweets(); len(tw) != 1 || tw[0].Text != text || tw[0].API != "v1.1" {
		t.Errorf("Tweets() = %+v", tw)
	}
}

func TestIDsIncrease(t *testing.T) {
	h := start(t)
	h.post("v2", "one").want(t, http.StatusCreated, "")
	h.post("v1.1", "two").want(t, http.StatusOK, "")
	tw := h.srv.Tweets()
	if len(tw) != 2 || tw[0].ID >= tw[1].ID || len(tw[0].ID) != len(tw[1].ID) {
		t.Errorf("ids %+v do not increase", tw)
	}
}

func TestUsersMe(t *testing.T) {
	h := start(t)
	a := h.do(h.request(context.Background(), h.signer(testCreds), "me", ""))
	a.want(t, http.StatusOK, `{"data":{"id":"1790000000000000000","name":"pitweet demo","username":"pitweet_demo"}}`)
	if got := a.header.Get("x-access-level"); got != "read-write" {
		t.Errorf("x-access-level = %q", got)
	}
}

func TestAuthFailures(t *testing.T) {
	wrongKey := testCreds
	wrongKey.ConsumerKey = "someoneelse"
	wrongToken := testCreds
	wrongToken.Token = "1-other"
	wrongSecret := testCreds
	wrongSecret.TokenSecret = "not-the-secret"

	tests := []struct {
		name   string
		api    string
		creds  oauth.Credentials
		change func(h *harness, req *http.Request)
		status int
		body   string
		reason string
	}{
		{name: "tampered signature v2", api: "v2", change: tamper, status: 401, body: v2Unauthorized, reason: "signature"},
		{name: "tampered signature v1.1", api: "v1.1", change: tamper, status: 401, body: v1Auth, reason: "signature"},
		{name: "wrong secret", api: "v1.1", creds: wrongSecret, status: 401, body: v1Auth, reason: "signature"},
		{name: "wrong consumer key v2", api: "v2", creds: wrongKey, status: 401, body: v2Unauthorized, reason: "consumer key"},
		{name: "wrong consumer key v1.1", api: "v1.1", creds: wrongKey, status: 401, body: v1Auth, reason: "consumer key"},
		{name: "wrong token v1.1", api: "v1.1", creds: wrongToken, status: 401, body: v1Token, reason: "access token"},
		{name: "form changed after signing", api: "v1.1", change: func(h *harness, req *http.Request) {
			body := "status=" + oauth.Encode("something else")
			req.Body = io.NopCloser(strings.NewReader(body))
			req.ContentLength = int64(len(body))
		}, status: 401, body: v1Auth, reason: "signature"},
		{name: "query added after signing", api: "v2", change: func(h *harness, req *http.Request) {
			req.URL.RawQuery = "x=1"
		}, status: 401, body: v2Unauthorized, reason: "signature"},
		{name: "expired timestamp v1.1", api: "v1.1", change: func(h *harness, req *http.Request) {
			h.clock.Advance(301 * time.Second)
		}, status: 401, body: v1Timestamp, reason: "oauth_timestamp is -5m1s"},
		{name: "expired timestamp v2", api: "v2", change: func(h *harness, req *http.Request) {
			h.clock.Advance(301 * time.Second)
		}, status: 401, body: v2Unauthorized, reason: "oauth_timestamp"},
		{name: "timestamp from the future", api: "v1.1", change: func(h *harness, req *http.Request) {
			h.clock.Advance(-301 * time.Second)
		}, status: 401, body: v1Timestamp, reason: "oauth_timestamp is 5m1s"},
		{name: "no Authorization v2", api: "v2", change: func(h *harness, req *http.Request) {
			req.Header.Del("Authorization")
		}, status: 401, body: v2Unauthorized, reason: "no Authorization"},
		{name: "no Authorization v1.1", api: "v1.1", change: func(h *harness, req *http.Request) {
			req.Header.Del("Authorization")
		}, status: 400, body: `{"errors":[{"code":215,"message":"Bad Authentication data."}]}`, reason: "no Authorization"},
		{name: "Basic instead of OAuth", api: "v2", change: func(h *harness, req *http.Request) {
			req.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
		}, status: 401, body: v2Unauthorized, reason: "not an OAuth header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t)
			creds := testCreds
			if tt.creds != (oauth.Credentials{}) {
				creds = tt.creds
			}
			req := h.request(context.Background(), h.signer(creds), tt.api, "hello")
			if tt.change != nil {
				tt.change(h, req)
			}
			h.do(req).want(t, tt.status, tt.body)
			if n := len(h.srv.Tweets()); n != 0 {
				t.Errorf("%d tweets accepted, want none", n)
			}
			rs := h.srv.Requests()
			if len(rs) != 1 || rs[0].Status != tt.status || !strings.Contains(rs[0].Reason, tt.reason) {
				t.Errorf("Requests() = %+v, want one with status %d and reason containing %q", rs, tt.status, tt.reason)
			}
		})
	}
}

// tamper flips one character of the signature in the Authorization header.
func tamper(h *harness, req *http.Request) {
	auth := req.Header.Get("Authorization")
	i := strings.Index(auth, `oauth_signature="`) + len(`oauth_signature="`)
	c := byte('A')
	if auth[i] == 'A' {
		c = 'B'
	}
	req.Header.Set("Authorization", auth[:i]+string(c)+auth[i+1:])
}

func TestNonceReuse(t *testing.T) {
	for _, tt := range []struct{ api, body string }{{"v2", v2Unauthorized}, {"v1.1", v1Auth}} {
		t.Run(tt.api, func(t *testing.T) {
			h := start(t)
			sg := h.signer(testCreds)
			sg.Nonce = func() string { return "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg" }
			h.do(h.request(context.Background(), sg, tt.api, "first")).want(t, okStatus(tt.api), "")
			h.do(h.request(context.Background(), sg, tt.api, "second")).want(t, http.StatusUnauthorized, tt.body)
			// A fresh nonce is accepted again.
			sg.Nonce = nil
			h.do(h.request(context.Background(), sg, tt.api, "third")).want(t, okStatus(tt.api), "")
			if rs := h.srv.Requests(); rs[1].Reason != "nonce reused" {
				t.Errorf("second request reason %q, want nonce reused", rs[1].Reason)
			}
		})
	}
}

// okStatus is the status of an accepted tweet: 201 on v2, 200 on v1.1.
func okStatus(api string) int {
	if api == "v1.1" {
		return http.StatusOK
	}
	return http.StatusCreated
}

func TestDuplicate(t *testing.T) {
	h := start(t)
	h.post("v2", "same words").want(t, http.StatusCreated, "")
	h.post("v2", "same words").want(t, http.StatusForbidden, v2Duplicate)
	h.post("v1.1", "same words").want(t, http.StatusForbidden, v1Duplicate)
	h.post("v2", "other words").want(t, http.StatusCreated, "")
	if n := len(h.srv.Tweets()); n != 2 {
		t.Errorf("%d tweets accepted, want 2", n)
	}
}

func TestWaitTweets(t *testing.T) {
	h := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan []Tweet, 1)
	go func() {
		tw, err := h.srv.WaitTweets(ctx, 2)
		if err != nil {
			t.Error(err)
		}
		done <- tw
	}()
	h.post("v2", "a").want(t, http.StatusCreated, "")
	h.post("v1.1", "b").want(t, http.StatusOK, "")
	tw := <-done
	if len(tw) != 2 || tw[0].Text != "a" || tw[1].Text != "b" {
		t.Errorf("WaitTweets = %+v", tw)
	}

	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	if _, err := h.srv.WaitTweets(short, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitTweets on a cancelled context = %v, want context.Canceled", err)
	}
}

func TestRateLimitExhausted(t *testing.T) {
	h := start(t)
	h.srv.RateLimit = 2
	h.post("v2", "1").want(t, http.StatusCreated, "")
	a := h.post("v2", "2")
	a.want(t, http.StatusCreated, "")
	if got := a.header.Get("x-rate-limit-remaining"); got != "0" {
		t.Errorf("remaining after the last allowed post = %q, want 0", got)
	}
	h.post("v2", "3").want(t, http.StatusTooManyRequests,
		`{"title":"Too Many Requests","type":"about:blank","status":429,"detail":"Too Many Requests"}`)
	h.clock.Advance(15 * time.Minute)
	h.post("v2", "3").want(t, http.StatusCreated, "")
}

func TestCA(t *testing.T) {
	h := start(t)
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := h.srv.WriteCA(path); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", path)
	}
	// The certificate names localhost too.
	_, port, _ := strings.Cut(strings.TrimPrefix(h.srv.URL(), "https://"), ":")
	conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS as localhost: %v", err)
	}
	conn.Close()
	// A client that does not trust the CA is refused.
	_, err = tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: x509.NewCertPool()})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("TLS with an empty root pool: %v, want x509.UnknownAuthorityError", err)
	}
}

func TestUnknownPath(t *testing.T) {
	h := start(t)
	req, _ := http.NewRequest("GET", h.srv.URL()+"/1.1/account/verify_credentials.json", nil)
	h.do(req).want(t, http.StatusNotFound, `{"errors":[{"code":34,"message":"Sorry, that page does not exist."}]}`)
}

func TestBadBodies(t *testing.T) {
	h := start(t)
	req := h.request(context.Background(), h.signer(testCreds), "v2", "")
	req.Body = io.NopCloser(strings.NewReader(`{"text": 42}`))
	req.ContentLength = -1
	a := h.do(req)
	a.want(t, http.StatusBadRequest, "")
	if !strings.Contains(a.body, `"title":"Invalid Request"`) {
		t.Errorf("body %s, want an Invalid Request problem", a.body)
	}
	h.post("v2", "").want(t, http.StatusBadRequest, "")
	h.post("v1.1", "").want(t, http.StatusBadRequest, `{"errors":[{"code":170,"message":"Missing required parameter: status."}]}`)

	req = h.request(context.Background(), h.signer(testCreds), "v2", strings.Repeat("x", maxBody))
	h.do(req).want(t, http.StatusRequestEntityTooLarge, "")
	if n := len(h.srv.Tweets()); n != 0 {
		t.Errorf("%d tweets accepted from bad bodies", n)
	}
}

// BenchmarkPostV2 measures one signed v2 post on loopback: signing, the
// server's verification and the round trip, over a kept-alive TLS
// connection and over a new connection (TLS handshake included) per post.
func BenchmarkPostV2(b *testing.B) {
	b.Run("keepalive", func(b *testing.B) { benchmarkPost(b, false) })
	b.Run("newconn", func(b *testing.B) { benchmarkPost(b, true) })
}

func benchmarkPost(b *testing.B, newConn bool) {
	s := New(testCreds)
	if err := s.StartTLS("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: newConn}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	sg := &oauth.Signer{Credentials: testCreds}
	url := s.URL() + "/2/tweets"
	i := 0
	for b.Loop() {
		i++
		body := `{"text":"benchmark ` + strconv.Itoa(i) + `"}`
		sig, err := sg.Sign(oauth.Request{Method: "POST", URL: url})
		if err != nil {
			b.Fatal(err)
		}
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", sig.Header)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("post %d: %s", i, resp.Status)
		}
	}
}
