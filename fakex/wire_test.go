package fakex

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// converse serves one plain TCP connection with s, sends raw on it, closes
// the sending side, and returns every answer the server wrote before it
// closed the connection, read with net/http as the oracle. Each answer is
// "STATUS" followed by its body, and " [close]" when it said Connection:
// close; HEAD answers show Content-Length instead of a body.
func converse(t *testing.T, s *Server, raw string) []string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		s.httpServer().ServeConn(c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()

	var answers []string
	br := bufio.NewReader(c)
	for {
		if _, err := br.Peek(1); err != nil {
			break // the server closed the connection
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: methodOf(raw, len(answers))})
		if err != nil {
			t.Fatalf("answer %d: %v", len(answers)+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("answer %d body: %v", len(answers)+1, err)
		}
		a := fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		if resp.Request.Method == "HEAD" {
			a = fmt.Sprintf("%d Content-Length %d", resp.StatusCode, resp.ContentLength)
		}
		if resp.Close {
			a += " [close]"
		}
		if resp.Header.Get("Date") == "" {
			t.Errorf("answer %q has no Date", a)
		}
		answers = append(answers, a)
	}
	<-served
	return answers
}

// methodOf returns the method of the nth request in raw, for reading its
// answer (a HEAD answer has no body); "GET" if there are fewer.
func methodOf(raw string, n int) string {
	methods := []string{}
	for _, line := range strings.Split(raw, "\r\n") {
		if m, _, ok := strings.Cut(line, " /"); ok && m != "" && !strings.ContainsAny(m, " \t") && strings.HasSuffix(line, "HTTP/1.1") {
			methods = append(methods, m)
		}
	}
	if n < len(methods) {
		return methods[n]
	}
	return "GET"
}

func TestServeConn(t *testing.T) {
	const (
		fault   = "GET /fakex/fault HTTP/1.1\r\nHost: x\r\n\r\n"
		noFault = `200 {
  "count": 0,
  "delay": "0s",
  "mode": "",
  "reset": "0s",
  "skew": "0s"
}`
	)
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"one request", fault, []string{noFault}},
		{"kept alive", fault + fault, []string{noFault, noFault}},
		{"Connection: close ends it", "GET /fakex/fault HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + fault,
			[]string{noFault + " [close]"}},
		{"HTTP/1.0 is one request", "GET /fakex/fault HTTP/1.0\r\n\r\n" + fault, []string{noFault + " [close]"}},
		{"HEAD", "HEAD /fakex/fault HTTP/1.1\r\nHost: x\r\n\r\n" + fault, []string{"200 Content-Length 81", noFault}},
		{"chunked body", "POST /fakex/fault HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			"Transfer-Encoding: chunked\r\n\r\n5\r\nmode=\r\n3\r\n503\r\n0\r\n\r\n",
			[]string{strings.Replace(noFault, `"mode": ""`, `"mode": "503"`, 1)}},
		{"go-ahead", "POST /fakex/fault HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
			[]string{noFault}},
		{"unknown path", "GET /2/nothing HTTP/1.1\r\nHost: x\r\n\r\n",
			[]string{`404 {"title":"Not Found Error","type":"about:blank","status":404,"detail":"Sorry, that page does not exist."}`}},

		{"bad request line", "GET /\r\n\r\n" + fault,
			[]string{`400 fakex: 400 Bad Request: malformed request line "GET /" [close]`}},
		{"missing Host", "POST /2/tweets HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
			[]string{"400 fakex: 400 Bad Request: no Host header; HTTP/1.1 requires one [close]"}},
		{"oversize headers", "GET / HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("c", 16<<10) + "\r\n\r\n",
			[]string{"431 fakex: 431 Request Header Fields Too Large: request line and header fields over 16384 bytes [close]"}},
		{"bad Content-Length", "POST /2/tweets HTTP/1.1\r\nHost: x\r\nContent-Length: 2x\r\n\r\n{}",
			[]string{`400 fakex: 400 Bad Request: malformed Content-Length "2x" [close]`}},
		{"after a good request", fault + "GET / HTTP/1.1\r\n\r\n",
			[]string{noFault, "400 fakex: 400 Bad Request: no Host header; HTTP/1.1 requires one [close]"}},
		{"unknown expectation", "POST /2/tweets HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}",
			[]string{`417 fakex: 417 Expectation Failed: unsupported Expect "200-ok" [close]`}},
		{"truncated body", "POST /2/tweets HTTP/1.1\r\nHost: x\r\nContent-Length: 28\r\n\r\n{\"text\":", nil},
		{"truncated head", "POST /2/tweets HTTP/1.1\r\nHost: x\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(testCreds)
			got := converse(t, s, tt.raw)
			if strings.Join(got, "\n---\n") != strings.Join(tt.want, "\n---\n") {
				t.Errorf("answers:\n%s\nwant:\n%s", strings.Join(got, "\n---\n"), strings.Join(tt.want, "\n---\n"))
			}
		})
	}
}

// TestServeConnContinue checks the bytes of the go-ahead, which net/http's
// ReadResponse reads as an answer of its own.
func TestServeConnContinue(t *testing.T) {
	s := New(testCreds)
	client, server := net.Pipe()
	go s.httpServer().ServeConn(server)
	defer client.Close()
	client.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(client, "POST /fakex/fault HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\n")
	want := "HTTP/1.1 100 Continue\r\n\r\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q before the body is sent", got, err, want)
	}
	io.WriteString(client, "mode=hang&x")
	resp, err := http.ReadResponse(bufio.NewReader(client), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || s.Fault().Mode != ModeHang {
		t.Errorf("answer %s, fault %v; want 200 and hang", resp.Status, s.Fault())
	}
}

// TestCloseEndsIdleConnections checks that Close ends a kept-alive
// connection waiting for its next request, and that the server answers
// nothing afterwards.
func TestCloseEndsIdleConnections(t *testing.T) {
	h := start(t)
	pool := h.client.Transport.(*http.Transport).TLSClientConfig.RootCAs
	c, err := tls.Dial("tcp", strings.TrimPrefix(h.srv.URL(), "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /fakex/tweets HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("answer %s close=%v, want 200 kept alive", resp.Status, resp.Close)
	}
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("read after Close: %v, want io.EOF", err)
	}
	if _, err := tls.Dial("tcp", strings.TrimPrefix(h.srv.URL(), "https://"), &tls.Config{RootCAs: pool}); err == nil {
		t.Error("a new connection was accepted after Close")
	}
}
