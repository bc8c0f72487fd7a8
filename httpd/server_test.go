package httpd

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// echo answers "METHOD PATH?QUERY BODY" in plain text; /drop drops the
// connection and /none writes nothing.
func echo(w *Response, r *Request) {
	switch r.Path {
	case "/drop":
		w.Drop(true)
		return
	case "/none":
		return
	case "/chunked":
		w.WriteChunked(200, []byte("in "), []byte("pieces"))
		return
	}
	w.Header.Set("Content-Type", "text/plain")
	w.Write(200, fmt.Appendf(nil, "%s %s %s", r.Method, r.Target, r.Body))
}

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
		s.ServeConn(c)
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
		if m, _, ok := strings.Cut(line, " /"); ok && isToken(m) && strings.HasSuffix(line, "HTTP/1.1") {
			methods = append(methods, m)
		}
	}
	if n < len(methods) {
		return methods[n]
	}
	return "GET"
}

func TestServeConn(t *testing.T) {
	const get = "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"one request", get, []string{"200 GET /a?b=c"}},
		{"kept alive", get + get, []string{"200 GET /a?b=c", "200 GET /a?b=c"}},
		{"Connection: close ends it", "GET /a?b=c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + get,
			[]string{"200 GET /a?b=c [close]"}},
		{"HTTP/1.0 is one request", "GET /a?b=c HTTP/1.0\r\n\r\n" + get, []string{"200 GET /a?b=c [close]"}},
		{"HEAD", "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" + get, []string{"200 Content-Length 8", "200 GET /a?b=c"}},
		{"chunked body", "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nmode=\r\n3\r\n503\r\n0\r\n\r\n",
			[]string{"200 POST /p mode=503"}},
		{"go-ahead", "POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
			[]string{"200 POST /p"}},
		{"chunked answer", "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n", []string{"200 in pieces"}},
		{"chunked answer to HTTP/1.0", "GET /chunked HTTP/1.0\r\n\r\n", []string{"200 in pieces [close]"}},
		{"handler wrote nothing", "GET /none HTTP/1.1\r\nHost: x\r\n\r\n", []string{"500 test: the handler wrote no answer"}},
		{"dropped", "GET /drop HTTP/1.1\r\nHost: x\r\n\r\n" + get, nil},

		{"bad request line", "GET /\r\n\r\n" + get,
			[]string{`400 test: 400 Bad Request: malformed request line "GET /" [close]`}},
		{"missing Host", "POST /2/tweets HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
			[]string{"400 test: 400 Bad Request: no Host header; HTTP/1.1 requires one [close]"}},
		{"oversize headers", "GET / HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("c", maxHead) + "\r\n\r\n",
			[]string{"431 test: 431 Request Header Fields Too Large: request line and header fields over 16384 bytes [close]"}},
		{"bad Content-Length", "POST /2/tweets HTTP/1.1\r\nHost: x\r\nContent-Length: 2x\r\n\r\n{}",
			[]string{`400 test: 400 Bad Request: malformed Content-Length "2x" [close]`}},
		{"after a good request", get + "GET / HTTP/1.1\r\n\r\n",
			[]string{"200 GET /a?b=c", "400 test: 400 Bad Request: no Host header; HTTP/1.1 requires one [close]"}},
		{"unknown expectation", "POST /2/tweets HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}",
			[]string{`417 test: 417 Expectation Failed: unsupported Expect "200-ok" [close]`}},
		{"body over MaxBody", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n" + strings.Repeat("b", 65),
			[]string{"413 test: 413 Request Entity Too Large: body of 65 bytes is over the limit of 64 [close]"}},
		{"truncated body", "POST /2/tweets HTTP/1.1\r\nHost: x\r\nContent-Length: 28\r\n\r\n{\"text\":", nil},
		{"truncated head", "POST /2/tweets HTTP/1.1\r\nHost: x\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{Name: "test", Handler: echo, MaxBody: 64}
			got := converse(t, s, tt.raw)
			if strings.Join(got, "\n---\n") != strings.Join(tt.want, "\n---\n") {
				t.Errorf("answers:\n%s\nwant:\n%s", strings.Join(got, "\n---\n"), strings.Join(tt.want, "\n---\n"))
			}
		})
	}
}

// A Refused hook answers unreadable requests in the service's own format.
func TestRefusedHook(t *testing.T) {
	s := &Server{Name: "test", Handler: echo, Refused: func(w *Response, status int, reason string) {
		w.Header.Set("Content-Type", "application/json")
		w.Write(status, fmt.Appendf(nil, `{"error":%q}`, reason))
	}}
	got := converse(t, s, "GET /\r\n\r\n")
	if want := `400 {"error":"malformed request line \"GET /\""} [close]`; len(got) != 1 || got[0] != want {
		t.Errorf("answers %q, want %q", got, want)
	}
}

// TestServeConnContinue checks the bytes of the go-ahead, which net/http's
// ReadResponse reads as an answer of its own.
func TestServeConnContinue(t *testing.T) {
	s := &Server{Handler: echo}
	client, server := net.Pipe()
	go s.ServeConn(server)
	defer client.Close()
	client.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(client, "POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n")
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
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "POST /p mode=hang&x" {
		t.Errorf("answer %s %q; want 200 and the body", resp.Status, body)
	}
}

// TestResponseWire checks the exact bytes of both framings.
func TestResponseWire(t *testing.T) {
	for _, tt := range []struct {
		name    string
		chunked bool
		want    string
	}{
		{"length", false, "HTTP/1.1 201 Created\r\nContent-Length: 9\r\nContent-Type: application/json\r\n" +
			"Date: Fri, 01 May 2026 12:00:00 GMT\r\n\r\n{\"a\":\"b\"}"},
		{"chunked", true, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n" +
			"Date: Fri, 01 May 2026 12:00:00 GMT\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n5\r\n:\"b\"}\r\n0\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			c := &conn{s: &Server{}, rwc: server, bw: bufio.NewWriter(server)}
			w := &Response{c: c, Header: Header{}}
			w.Header.Set("content-type", "application/json")
			w.Header.Set("Date", "Fri, 01 May 2026 12:00:00 GMT")
			go func() {
				if tt.chunked {
					w.WriteChunked(201, []byte(`{"a"`), nil, []byte(`:"b"}`))
				} else {
					w.Write(201, []byte(`{"a":"b"}`))
				}
				server.Close()
			}()
			got, err := io.ReadAll(client)
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("wrote\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// startTLS starts s on loopback and returns a root pool trusting its CA.
func startTLS(t *testing.T, s *Server) *x509.CertPool {
	t.Helper()
	if err := s.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM()) {
		t.Fatal("CAPEM holds no certificate")
	}
	return pool
}

func TestCA(t *testing.T) {
	s := &Server{Name: "test", Handler: echo}
	startTLS(t, s)
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCA(path); err != nil {
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
	_, port, _ := strings.Cut(strings.TrimPrefix(s.URL(), "https://"), ":")
	for _, name := range []string{"localhost", "127.0.0.1"} {
		conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: pool, ServerName: name})
		if err != nil {
			t.Fatalf("TLS as %s: %v", name, err)
		}
		if cn := conn.ConnectionState().PeerCertificates[0].Issuer.CommonName; cn != "test test CA" {
			t.Errorf("issuer %q, want the server's name in it", cn)
		}
		conn.Close()
	}
	// A client that does not trust the CA is refused.
	_, err = tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: x509.NewCertPool()})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("TLS with an empty root pool: %v, want x509.UnknownAuthorityError", err)
	}
	if err := (&Server{}).WriteCA(path); err == nil {
		t.Error("WriteCA before StartTLS succeeded")
	}
}

// TestCloseEndsIdleConnections checks that Close ends a kept-alive
// connection waiting for its next request, and that the server answers
// nothing afterwards.
func TestCloseEndsIdleConnections(t *testing.T) {
	s := &Server{Handler: echo}
	pool := startTLS(t, s)
	c, err := tls.Dial("tcp", strings.TrimPrefix(s.URL(), "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("answer %s close=%v, want 200 kept alive", resp.Status, resp.Close)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("read after Close: %v, want io.EOF", err)
	}
	if _, err := tls.Dial("tcp", strings.TrimPrefix(s.URL(), "https://"), &tls.Config{RootCAs: pool}); err == nil {
		t.Error("a new connection was accepted after Close")
	}
}

// TestHold checks the three ends of a held request: the delay, the client
// going away, and the server closing.
func TestHold(t *testing.T) {
	arrived := make(chan struct{}, 3)
	reasons := make(chan string, 3)
	s := &Server{Handler: func(w *Response, r *Request) {
		d := time.Duration(0)
		if r.Path == "/short" {
			d = time.Millisecond
		}
		arrived <- struct{}{}
		<-r.Hold(d)
		reason := r.Abandoned()
		reasons <- reason
		if reason != "" {
			w.Drop(false)
			return
		}
		w.Write(200, nil)
	}}
	pool := startTLS(t, s)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	timeout := time.After(10 * time.Second)
	wait := func(what string) {
		t.Helper()
		select {
		case <-arrived:
		case <-timeout:
			t.Fatalf("%s: the request never arrived", what)
		}
	}

	resp, err := client.Get(s.URL() + "/short")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wait("short")
	if r := <-reasons; r != "" || resp.StatusCode != 200 {
		t.Errorf("short hold: %s, abandoned %q", resp.Status, r)
	}

	// The client goes away.
	c, err := tls.Dial("tcp", strings.TrimPrefix(s.URL(), "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
	wait("client away")
	c.Close()
	if r := <-reasons; r != "client went away" {
		t.Errorf("abandoned %q, want client went away", r)
	}

	// The server closes.
	errc := make(chan error, 1)
	go func() {
		resp, err := client.Get(s.URL() + "/forever")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	wait("server closes")
	s.Close()
	if r := <-reasons; r != "server closed" {
		t.Errorf("abandoned %q, want server closed", r)
	}
	if err := <-errc; err == nil {
		t.Error("client got an answer from a closed server")
	}
}
