package sender

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"pitweet/oauth"
)

func TestPostV2OverPipe(t *testing.T) {
	c, d := newPipeClient(t, "v2", "HTTP/1.1 201 Created\r\n"+
		"Date: Tue, 25 Apr 2023 11:28:02 UTC\r\n"+
		"Content-Type: application/json; charset=utf-8\r\n"+
		"x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 99\r\nx-rate-limit-reset: 1682422975\r\n"+
		"x-access-level: read-write\r\n"+
		"Content-Length: 62\r\n\r\n"+
		`{"data":{"id":"1650819120557817856","text":"hello from a Pi"}}`)
	tw, err := c.Post(context.Background(), "hello from a Pi")
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if tw.ID != "1650819120557817856" || tw.Text != "hello from a Pi" {
		t.Errorf("tweet = %+v", tw)
	}
	if tw.Meta.Status != 201 || tw.Meta.RateLimit.Remaining != 99 || tw.Meta.AccessLevel != "read-write" ||
		!tw.Meta.Date.Equal(time.Date(2023, 4, 25, 11, 28, 2, 0, time.UTC)) {
		t.Errorf("meta = %+v", tw.Meta)
	}
	s := d.next(t)
	if s.verifyErr != nil {
		t.Fatalf("server could not verify the request: %v", s.verifyErr)
	}
	if s.req.Method != "POST" || s.req.URL.Path != "/2/tweets" || s.req.Host != "api.x.test" ||
		s.req.Header.Get("Content-Type") != "application/json" || s.req.UserAgent() != DefaultUserAgent ||
		string(s.body) != `{"text":"hello from a Pi"}` {
		t.Errorf("server saw %s %s host %q headers %v body %q", s.req.Method, s.req.URL, s.req.Host, s.req.Header, s.body)
	}
	if d.addrs[0] != "api.x.test:443" {
		t.Errorf("dialled %q, want api.x.test:443", d.addrs[0])
	}
}

func TestPostV11OverPipe(t *testing.T) {
	text := "Ünïcode & symbols: 100% * (ok) ~ 'quotes' 🌡"
	c, d := newPipeClient(t, "v1.1", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"+
		`{"id":1050118621198921728,"id_str":"1050118621198921728","text":"x"}`)
	tw, err := c.Post(context.Background(), text)
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if tw.ID != "1050118621198921728" {
		t.Errorf("id = %q", tw.ID)
	}
	s := d.next(t)
	if s.verifyErr != nil {
		t.Fatalf("server could not verify the form-signed request: %v", s.verifyErr)
	}
	if s.req.URL.Path != "/1.1/statuses/update.json" || s.req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("server saw %s %v", s.req.URL, s.req.Header)
	}
	if got := oauth.ParseQuery(string(s.body)); len(got) != 1 || got[0] != (oauth.Param{Name: "status", Value: text}) {
		t.Errorf("form = %q, want status=%q", got, text)
	}
}

func TestMeOverPipe(t *testing.T) {
	c, d := newPipeClient(t, "v1.1", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+
		chunk(`{"data":{"id":"2244994945","name`)+chunk(`":"X Dev","username":"XDevs"}}`)+"0\r\n\r\n")
	u, err := c.Me(context.Background())
	if err != nil {
		t.Fatalf("Me: %v", err)
	}
	if u.ID != "2244994945" || u.Name != "X Dev" || u.Username != "XDevs" {
		t.Errorf("user = %+v", u)
	}
	s := d.next(t)
	if s.verifyErr != nil || s.req.Method != "GET" || s.req.URL.Path != "/2/users/me" || s.req.ContentLength != 0 {
		t.Errorf("server saw %v %v, verify: %v", s.req.Method, s.req.URL, s.verifyErr)
	}
}

func TestPostSkipsInterimResponses(t *testing.T) {
	c, _ := newPipeClient(t, "v2", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"+
		"HTTP/1.1 201 Created\r\nContent-Length: 19\r\n\r\n"+`{"data":{"id":"7"}}`)
	tw, err := c.Post(context.Background(), "x")
	if err != nil || tw.ID != "7" {
		t.Fatalf("Post = %+v, %v; want id 7", tw, err)
	}
}

// Each failure mode of an answer maps to the error a caller decides on.
func TestPostErrorsOverPipe(t *testing.T) {
	tests := []struct {
		name   string
		answer string
		is     []error
		kind   Kind // checked when the error is an *APIError; -1 when it must not be one
	}{
		{"duplicate", "HTTP/1.1 403 Forbidden\r\nContent-Length: 126\r\n\r\n" +
			`{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}`,
			nil, KindDuplicate},
		{"503", "HTTP/1.1 503 Service Unavailable\r\n\r\n" + `{"title":"Service Unavailable","detail":"Service Unavailable","type":"about:blank","status":503}`,
			[]error{ErrTransient}, KindTransient},
		{"truncated body", "HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{\"data\"",
			[]error{ErrTransient, io.ErrUnexpectedEOF}, -1},
		{"closed without answer", "",
			[]error{ErrTransient, io.ErrUnexpectedEOF}, -1},
		{"garbage", "220 smtp.example.com ESMTP\r\n",
			[]error{ErrProtocol}, -1},
		{"success with HTML", "HTTP/1.1 201 Created\r\n\r\n<html>captive portal</html>",
			[]error{ErrProtocol}, KindProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newPipeClient(t, "v2", tt.answer)
			_, err := c.Post(context.Background(), "hello")
			if err == nil {
				t.Fatal("Post succeeded")
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("error %q does not wrap %v", err, target)
				}
			}
			var ae *APIError
			switch {
			case tt.kind == -1 && errors.As(err, &ae):
				t.Errorf("got *APIError %v, want a network or protocol error", ae)
			case tt.kind != -1 && !errors.As(err, &ae):
				t.Errorf("error %q is not an *APIError", err)
			case tt.kind != -1 && ae.Kind != tt.kind:
				t.Errorf("kind = %v, want %v", ae.Kind, tt.kind)
			}
			if !strings.HasPrefix(err.Error(), "sender: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		cfg   Config
		creds oauth.Credentials
		want  string
	}{
		{Config{BaseURL: "http://api.x.com"}, testCreds, "https://"},
		{Config{BaseURL: "https://api.x.com/2"}, testCreds, "just https://host"},
		{Config{BaseURL: "https://api.x.com:99999"}, testCreds, "bad port"},
		{Config{API: "v3"}, testCreds, `"v3"`},
		{Config{}, oauth.Credentials{ConsumerKey: "k"}, "credentials incomplete"},
		{Config{CAFile: "/nonexistent/ca.pem"}, testCreds, "ca_file"},
		{Config{Proxy: "socks5://127.0.0.1:1080"}, testCreds, "only http://"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg, tt.creds)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "sender: ") {
			t.Errorf("New(%+v) = %v; want an error mentioning %q", tt.cfg, err, tt.want)
		}
	}
}

func TestNewRefusesCAFileWithoutPEM(t *testing.T) {
	path := t.TempDir() + "/ca.pem"
	if err := writeFile(path, "not a certificate"); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{CAFile: path}, testCreds)
	if err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("New = %v; want a no-PEM error", err)
	}
}

// chunk frames s as one chunk of a chunked body.
func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// Neither the secrets nor the Authorization header reach the log, whatever
// the outcome.
func TestLogHasNoSecrets(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, answer := range []string{created, "HTTP/1.1 401 Unauthorized\r\n\r\n{}", "HTTP/1.1 201 Cre"} {
		c, _ := newPipeClient(t, "v2", answer)
		c.tr.log = log
		c.Post(context.Background(), "hi")
	}
	out := buf.String()
	if !strings.Contains(out, "sender: request") {
		t.Fatalf("nothing was logged: %q", out)
	}
	for _, secret := range []string{testCreds.ConsumerSecret, testCreds.TokenSecret, testCreds.Token, "oauth_signature", "Authorization"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
}

// A 401 whose Date is an hour from the local clock is put down to the
// clock; once that hour is set as the clock offset, the same 401 means bad
// keys.
func TestUnauthorizedSkewUsesClockOffset(t *testing.T) {
	answer := "HTTP/1.1 401 Unauthorized\r\nDate: Tue, 14 Nov 2023 23:13:20 GMT\r\nContent-Length: 2\r\n\r\n{}"
	for _, tt := range []struct {
		offset time.Duration
		kind   Kind
	}{{0, KindClockSkew}, {time.Hour, KindUnauthorized}} {
		c, _ := newPipeClient(t, "v2", answer)
		c.now = func() time.Time { return time.Unix(1700000000, 0) }
		c.SetClockOffset(tt.offset)
		_, err := c.Post(context.Background(), "hi")
		var ae *APIError
		if !errors.As(err, &ae) || ae.Kind != tt.kind {
			t.Errorf("offset %v: error %v; want kind %v", tt.offset, err, tt.kind)
		}
	}
}
