package httpd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// post is the v2 request pitweet's sender writes, signature shortened.
const post = "POST /2/tweets HTTP/1.1\r\n" +
	"Host: api.x.com\r\n" +
	"User-Agent: pitweet/1.0\r\n" +
	"Authorization: OAuth oauth_consumer_key=\"ck\", oauth_signature=\"c2ln\"\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Length: 28\r\n" +
	"\r\n" +
	`{"text":"Hello from the Pi"}`

func TestReadRequest(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want Request // Header compared only for the fields it lists
	}{
		{"pitweet v2 post", post, Request{
			Method: "POST", Target: "/2/tweets", Path: "/2/tweets", Proto: "HTTP/1.1", Host: "api.x.com",
			Header: Header{"Content-Type": {"application/json"}, "Authorization": {`OAuth oauth_consumer_key="ck", oauth_signature="c2ln"`}},
			Body:   []byte(`{"text":"Hello from the Pi"}`),
		}},
		{"query", "POST /1.1/statuses/update.json?status=hi%21 HTTP/1.1\r\nHost: x\r\n\r\n", Request{
			Method: "POST", Target: "/1.1/statuses/update.json?status=hi%21", Path: "/1.1/statuses/update.json",
			RawQuery: "status=hi%21", Proto: "HTTP/1.1", Host: "x",
		}},
		{"names in any case, values trimmed", "GET / HTTP/1.1\r\nhOST: x\r\ncontent-TYPE: \t text/plain \r\n\r\n", Request{
			Method: "GET", Target: "/", Path: "/", Proto: "HTTP/1.1", Host: "x",
			Header: Header{"Content-Type": {"text/plain"}},
		}},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", Request{Method: "GET", Target: "/", Path: "/", Proto: "HTTP/1.1", Host: "x"}},
		{"HTTP/1.0 needs no Host", "GET / HTTP/1.0\r\n\r\n", Request{Method: "GET", Target: "/", Path: "/", Proto: "HTTP/1.0"}},
		{"repeated equal Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi", Request{
			Method: "POST", Target: "/", Path: "/", Proto: "HTTP/1.1", Host: "x", Body: []byte("hi"),
		}},
		{"chunked, with extension and trailer", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n" +
			"5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nExpires: never\r\n\r\n", Request{
			Method: "POST", Target: "/", Path: "/", Proto: "HTTP/1.1", Host: "x", Body: []byte("hello, world"),
		}},
		{"long header line", "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: " + strings.Repeat("a", 6000) + "\r\n\r\n", Request{
			Method: "GET", Target: "/", Path: "/", Proto: "HTTP/1.1", Host: "x",
			Header: Header{"Authorization": {strings.Repeat("a", 6000)}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := readRequest(bufio.NewReader(strings.NewReader(tt.raw)), DefaultMaxBody)
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if r.Method != w.Method || r.Target != w.Target || r.Path != w.Path || r.RawQuery != w.RawQuery ||
				r.Proto != w.Proto || r.Host != w.Host || !bytes.Equal(r.Body, w.Body) {
				t.Errorf("got  %s %q path %q query %q %s host %q body %q\nwant %s %q path %q query %q %s host %q body %q",
					r.Method, r.Target, r.Path, r.RawQuery, r.Proto, r.Host, r.Body,
					w.Method, w.Target, w.Path, w.RawQuery, w.Proto, w.Host, w.Body)
			}
			for name, want := range w.Header {
				if got := r.Header[name]; strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestReadRequestRefuses(t *testing.T) {
	const host = "Host: x\r\n"
	tests := []struct {
		name   string
		raw    string
		status int   // the refusal's status
		err    error // or this error, with no answer
		reason string
	}{
		{name: "nothing", raw: "", err: io.EOF},
		{name: "truncated request line", raw: "GET / HTTP/1.1", err: io.ErrUnexpectedEOF},
		{name: "truncated head", raw: "GET / HTTP/1.1\r\nHost: x\r\n", err: io.ErrUnexpectedEOF},
		{name: "truncated body", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 10\r\n\r\nhello", err: io.ErrUnexpectedEOF},
		{name: "truncated chunks", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\r\nhel", err: io.ErrUnexpectedEOF},
		{name: "no trailer end", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\n", err: io.ErrUnexpectedEOF},

		{name: "no version", raw: "GET /\r\n\r\n", status: 400, reason: `malformed request line "GET /"`},
		{name: "two spaces", raw: "GET  / HTTP/1.1\r\n" + host + "\r\n", status: 400, reason: "malformed request line"},
		{name: "method not a token", raw: "G@T / HTTP/1.1\r\n" + host + "\r\n", status: 400, reason: "malformed request line"},
		{name: "absolute URL", raw: "GET https://api.x.com/ HTTP/1.1\r\n" + host + "\r\n", status: 400, reason: "malformed request line"},
		{name: "control in target", raw: "GET /\x01 HTTP/1.1\r\n" + host + "\r\n", status: 400, reason: "malformed request line"},
		{name: "tab in target", raw: "GET /\t HTTP/1.1\r\n" + host + "\r\n", status: 400, reason: "malformed request line"},
		{name: "bad escape", raw: "GET /%zz HTTP/1.1\r\n" + host + "\r\n", status: 400, reason: `percent-encoding in "/%zz"`},
		{name: "not HTTP", raw: "GET / FTP/1.0\r\n" + host + "\r\n", status: 400, reason: "malformed request line"},
		{name: "HTTP/2", raw: "GET / HTTP/2.0\r\n" + host + "\r\n", status: 505, reason: `"HTTP/2.0"`},
		{name: "no Host", raw: "GET / HTTP/1.1\r\n\r\n", status: 400, reason: "no Host header"},
		{name: "two Hosts", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400, reason: "2 Host headers"},
		{name: "bad Host", raw: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400, reason: `malformed Host header "a b"`},
		{name: "no colon", raw: "GET / HTTP/1.1\r\n" + host + "Accept\r\n\r\n", status: 400, reason: `malformed header line "Accept"`},
		{name: "space before colon", raw: "GET / HTTP/1.1\r\n" + host + "Accept : */*\r\n\r\n", status: 400, reason: `malformed header name "Accept "`},
		{name: "folded line", raw: "GET / HTTP/1.1\r\n" + host + "Accept: a,\r\n b\r\n\r\n", status: 400, reason: "folded header line"},
		{name: "control in value", raw: "GET / HTTP/1.1\r\n" + host + "Accept: a\rb\r\n\r\n", status: 400, reason: "header Accept has a control character"},
		{name: "no secret quoted", raw: "GET / HTTP/1.1\r\n" + host + "Authorization: OAuth x=\"\x01secret\"\r\n\r\n", status: 400, reason: "header Authorization has a control character"},
		{name: "request line too long", raw: "GET /" + strings.Repeat("a", maxHead) + " HTTP/1.1\r\n\r\n", status: 414},
		{name: "head too large", raw: "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: b\r\n", maxHead/8) + "\r\n", status: 431},
		{name: "negative length", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", status: 400, reason: `malformed Content-Length "-1"`},
		{name: "length not a number", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 1e3\r\n\r\n", status: 400, reason: "malformed Content-Length"},
		{name: "lengths disagree", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", status: 400, reason: "disagree"},
		{name: "body too large", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 1048577\r\n\r\n", status: 413},
		{name: "gzip", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", status: 501, reason: `"gzip"`},
		{name: "length and chunked", raw: "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, reason: "both"},
		{name: "chunked HTTP/1.0", raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, reason: "HTTP/1.0"},
		{name: "bad chunk size", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", status: 400, reason: `malformed chunk size line "zz"`},
		{name: "chunk size bare LF", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n2\nhi\r\n0\r\n\r\n", status: 400, reason: "CRLF"},
		{name: "chunk overruns", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n", status: 400, reason: `followed by "llo"`},
		{name: "chunks too large", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n100001\r\n", status: 413},
		{name: "bad trailer", raw: "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\nnonsense\r\n\r\n", status: 400, reason: "trailer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := readRequest(bufio.NewReader(strings.NewReader(tt.raw)), DefaultMaxBody)
			if r != nil {
				t.Fatalf("read %+v, want an error", r)
			}
			if tt.err != nil {
				if err != tt.err {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				return
			}
			var ref *refusal
			if !errors.As(err, &ref) || ref.status != tt.status || !strings.Contains(ref.reason, tt.reason) {
				t.Fatalf("error %v, want a %d refusal containing %q", err, tt.status, tt.reason)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q quotes a header value", err)
			}
			if !strings.HasPrefix(err.Error(), "httpd: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"content-type":           "Content-Type",
		"X-RATE-LIMIT-REMAINING": "X-Rate-Limit-Remaining",
		"host":                   "Host",
		"www-authenticate":       "Www-Authenticate",
		"x-":                     "X-",
	} {
		if got := canonical(in); got != want {
			t.Errorf("canonical(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzReadRequest reads the same bytes with readRequest and net/http's
// ReadRequest. readRequest may refuse what net/http accepts (see the top of
// request.go for where it is stricter), but what it accepts, net/http must
// accept too, and the two must agree on the method, target, version, Host,
// the header fields the emulators use, and the body.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(post))
	f.Add([]byte("GET /2/users/me HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nAuthorization: OAuth a=\"b\"\r\n\r\n"))
	f.Add([]byte("POST /1.1/statuses/update.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\nstatus=hi"))
	f.Add([]byte("POST /fakex/fault HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nmode=\r\n3\r\n503\r\n0\r\nA: b\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.0\nContent-Length: 0\n\n"))
	f.Add([]byte("POST /api/v2/media HTTP/1.1\r\nHost: mastodon.example\r\nAuthorization: Bearer t\r\n" +
		"Content-Type: " + uploadType + "\r\nContent-Length: " + strconv.Itoa(len(upload)) + "\r\n\r\n" + upload))
	f.Add([]byte("POST /xrpc/com.atproto.repo.uploadBlob HTTP/1.1\r\nHost: bsky.social\r\nContent-Type: image/png\r\n" +
		"Transfer-Encoding: chunked\r\n\r\n4\r\n\x89PNG\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		mine, err := readRequest(bufio.NewReader(bytes.NewReader(data)), DefaultMaxBody)
		if err != nil {
			return
		}
		std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		var body []byte
		if err == nil {
			body, err = io.ReadAll(std.Body)
		}
		if err != nil {
			t.Fatalf("httpd reads %q\nwhich net/http refuses: %v", data, err)
		}
		if mine.Method != std.Method || mine.Target != std.RequestURI || mine.Proto != std.Proto || mine.Host != std.Host {
			t.Errorf("httpd %s %q %s host %q\nhttp  %s %q %s host %q",
				mine.Method, mine.Target, mine.Proto, mine.Host, std.Method, std.RequestURI, std.Proto, std.Host)
		}
		for _, name := range []string{"Authorization", "Content-Type", "Content-Length", "Connection", "Expect", "User-Agent"} {
			if got, want := mine.Header.Get(name), std.Header.Get(name); got != want {
				t.Errorf("%s: httpd %q, net/http %q", name, got, want)
			}
		}
		if !bytes.Equal(mine.Body, body) {
			t.Errorf("body: httpd %q, net/http %q", mine.Body, body)
		}
	})
}
