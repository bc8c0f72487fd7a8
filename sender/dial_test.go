package sender

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const created = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 32\r\n\r\n" + `{"data":{"id":"42","text":"hi"}}`

// listen starts a loopback TCP listener whose connections are handed to
// serve, each in its own goroutine. It is closed when the test ends.
func listen(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); serve(c) }()
		}
	}()
	return ln.Addr().String()
}

// tlsServer serves each connection with scriptedServer and reports what it
// saw on the returned channel.
func tlsServer(t testing.TB, ca *testCA, answer string) (string, <-chan seen) {
	out := make(chan seen, 16)
	addr := listen(t, func(c net.Conn) { out <- <-scriptedServer(c, ca.serverConfig(), answer) })
	return addr, out
}

func newLoopbackClient(t testing.TB, addr, caFile string, cfg Config) *Client {
	t.Helper()
	cfg.BaseURL = "https://" + addr
	cfg.CAFile = caFile
	if cfg.Proxy == "" {
		cfg.Proxy = "none"
	}
	c, err := New(cfg, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPostOverLoopbackTLS(t *testing.T) {
	ca := newTestCA(t)
	addr, saw := tlsServer(t, ca, created)
	c := newLoopbackClient(t, addr, ca.caFile, Config{})
	tw, err := c.Post(context.Background(), "hi")
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if tw.ID != "42" {
		t.Errorf("id = %q, want 42", tw.ID)
	}
	s := <-saw
	if s.verifyErr != nil {
		t.Errorf("server: %v", s.verifyErr)
	}
	if s.req.Host != addr {
		t.Errorf("Host = %q, want %q", s.req.Host, addr)
	}
}

func TestTLSWrongCA(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	addr, _ := tlsServer(t, ca, created)
	for name, caFile := range map[string]string{"other CA": other.caFile, "system roots only": ""} {
		t.Run(name, func(t *testing.T) {
			c := newLoopbackClient(t, addr, caFile, Config{})
			_, err := c.Post(context.Background(), "hi")
			if !errors.Is(err, ErrTLS) {
				t.Fatalf("Post error = %v; want ErrTLS", err)
			}
			if errors.Is(err, ErrTransient) {
				t.Errorf("certificate failure %q is marked transient", err)
			}
			if !strings.Contains(err.Error(), "ca_file") || !strings.Contains(err.Error(), "clock") {
				t.Errorf("error %q does not say to check ca_file and the clock", err)
			}
		})
	}
}

func TestTLSWrongName(t *testing.T) {
	ca := newTestCA(t)
	c, err := New(Config{BaseURL: "https://api.example.org", CAFile: ca.caFile, Proxy: "none"}, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	c.tr.dialer = &pipeDialer{cfg: ca.serverConfig(), answers: []string{created}, seen: make(chan seen, 1)}
	_, err = c.Post(context.Background(), "hi")
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "api.example.org") {
		t.Errorf("Post error = %v; want ErrTLS naming api.example.org", err)
	}
}

func TestTLSServerNotTLS(t *testing.T) {
	addr := listen(t, func(c net.Conn) {
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		io.Copy(io.Discard, c)
	})
	c := newLoopbackClient(t, addr, "", Config{})
	_, err := c.Post(context.Background(), "hi")
	if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "does not speak TLS") {
		t.Errorf("Post error = %v; want ErrTLS saying the server does not speak TLS", err)
	}
}

// TLS 1.1 and older are refused.
func TestTLSMinVersion(t *testing.T) {
	ca := newTestCA(t)
	addr := listen(t, func(c net.Conn) {
		defer c.Close()
		cfg := ca.serverConfig()
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		tls.Server(c, cfg).Handshake()
	})
	c := newLoopbackClient(t, addr, ca.caFile, Config{})
	if _, err := c.Post(context.Background(), "hi"); !errors.Is(err, ErrTLS) {
		t.Errorf("Post error = %v; want ErrTLS", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newLoopbackClient(t, addr, "", Config{})
	_, err = c.Post(context.Background(), "hi")
	var ae *APIError
	if !errors.Is(err, ErrTransient) || errors.As(err, &ae) || !strings.Contains(err.Error(), addr) {
		t.Errorf("Post error = %v; want a transient error naming %s", err, addr)
	}
}

// holdServer completes the TLS handshake, reads the request, signals on
// got, and then never answers until the test ends.
func holdServer(t testing.TB, ca *testCA) (string, <-chan struct{}) {
	got := make(chan struct{}, 1)
	done := make(chan struct{})
	addr := listen(t, func(c net.Conn) {
		defer c.Close()
		tc := tls.Server(c, ca.serverConfig())
		if _, err := http.ReadRequest(bufio.NewReader(tc)); err != nil {
			return
		}
		got <- struct{}{}
		<-done
	})
	t.Cleanup(func() { close(done) })
	return addr, got
}

func TestDeadline(t *testing.T) {
	ca := newTestCA(t)
	addr, _ := holdServer(t, ca)
	c := newLoopbackClient(t, addr, ca.caFile, Config{Timeout: 200 * time.Millisecond})
	_, err := c.Post(context.Background(), "hi")
	if !errors.Is(err, ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Post error = %v; want ErrTransient and context.DeadlineExceeded", err)
	}
}

func TestCancel(t *testing.T) {
	ca := newTestCA(t)
	addr, got := holdServer(t, ca)
	c := newLoopbackClient(t, addr, ca.caFile, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-got; cancel() }()
	_, err := c.Post(ctx, "hi")
	if !errors.Is(err, ErrTransient) || !errors.Is(err, context.Canceled) {
		t.Errorf("Post error = %v; want ErrTransient and context.Canceled", err)
	}
}

// A connection reset after the request was read is transient: the tweet
// may exist, and a retry will be told so ("duplicate").
func TestResetAfterRequest(t *testing.T) {
	ca := newTestCA(t)
	addr := listen(t, func(c net.Conn) {
		tc := tls.Server(c, ca.serverConfig())
		if _, err := http.ReadRequest(bufio.NewReader(tc)); err != nil {
			c.Close()
			return
		}
		c.(*net.TCPConn).SetLinger(0) // close with RST
		c.Close()
	})
	c := newLoopbackClient(t, addr, ca.caFile, Config{})
	_, err := c.Post(context.Background(), "hi")
	var ae *APIError
	if !errors.Is(err, ErrTransient) || errors.As(err, &ae) {
		t.Errorf("Post error = %v; want a transient network error", err)
	}
}

// proxy is a tiny HTTP CONNECT proxy on loopback.
type proxy struct {
	addr   string
	mu     sync.Mutex
	seen   []*http.Request
	answer string // "" means tunnel; otherwise written instead
}

func startProxy(t testing.TB, answer string) *proxy {
	p := &proxy{answer: answer}
	p.addr = listen(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.seen = append(p.seen, req)
		p.mu.Unlock()
		if p.answer != "" {
			io.WriteString(c, p.answer)
			return
		}
		if req.Method != "CONNECT" {
			io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
			return
		}
		up, err := net.Dial("tcp", req.Host)
		if err != nil {
			io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
			return
		}
		defer up.Close()
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { io.Copy(up, br); up.(*net.TCPConn).CloseWrite() }()
		io.Copy(c, up)
	})
	return p
}

func (p *proxy) requests() []*http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*http.Request(nil), p.seen...)
}

func TestProxyConnect(t *testing.T) {
	ca := newTestCA(t)
	addr, saw := tlsServer(t, ca, created)
	p := startProxy(t, "")
	c := newLoopbackClient(t, addr, ca.caFile, Config{Proxy: "http://maker:s3cret@" + p.addr})
	tw, err := c.Post(context.Background(), "through the proxy")
	if err != nil {
		t.Fatalf("Post through proxy: %v", err)
	}
	if tw.ID != "42" {
		t.Errorf("id = %q", tw.ID)
	}
	if s := <-saw; s.verifyErr != nil || s.req.Host != addr {
		t.Errorf("server behind proxy: host %q, verify %v", s.req.Host, s.verifyErr)
	}
	reqs := p.requests()
	if len(reqs) != 1 {
		t.Fatalf("proxy saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("maker:s3cret"))
	if r.Method != "CONNECT" || r.Host != addr || r.RequestURI != addr || r.Header.Get("Proxy-Authorization") != wantAuth {
		t.Errorf("proxy saw %s %s Host %q auth %q", r.Method, r.RequestURI, r.Host, r.Header.Get("Proxy-Authorization"))
	}
}

func TestProxyRefuses(t *testing.T) {
	tests := []struct {
		answer string
		is     error
		text   string
	}{
		{"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", ErrTransient, "refused the tunnel"},
		{"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n", ErrProtocol, "http://user:password@"},
		{"garbage\r\n\r\n", ErrProtocol, `"garbage"`},
	}
	for _, tt := range tests {
		p := startProxy(t, tt.answer)
		c := newLoopbackClient(t, "127.0.0.1:9", "", Config{Proxy: p.addr})
		_, err := c.Post(context.Background(), "hi")
		if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("proxy answering %q: error %v; want %v mentioning %q", tt.answer, err, tt.is, tt.text)
		}
	}
}

func TestProxyFor(t *testing.T) {
	tests := []struct {
		setting, host string
		env           map[string]string
		want          string // proxy host:port, "" for direct
	}{
		{"", "api.x.com", nil, ""},
		{"", "api.x.com", map[string]string{"HTTPS_PROXY": "http://proxy:3128"}, "proxy:3128"},
		{"", "api.x.com", map[string]string{"https_proxy": "proxy:8080"}, "proxy:8080"},
		{"", "api.x.com", map[string]string{"HTTPS_PROXY": "proxy:3128", "NO_PROXY": "x.com"}, ""},
		{"", "api.x.com", map[string]string{"HTTPS_PROXY": "proxy:3128", "no_proxy": "localhost, .x.com"}, ""},
		{"", "api.x.com", map[string]string{"HTTPS_PROXY": "proxy:3128", "NO_PROXY": "*"}, ""},
		{"", "api.x.com", map[string]string{"HTTPS_PROXY": "proxy:3128", "NO_PROXY": "api.x.com:443"}, ""},
		{"", "api.x.com", map[string]string{"HTTPS_PROXY": "proxy:3128", "NO_PROXY": "notx.com,example.org"}, "proxy:3128"},
		{"", "127.0.0.1", map[string]string{"HTTPS_PROXY": "proxy:3128"}, ""},
		{"", "localhost", map[string]string{"HTTPS_PROXY": "proxy:3128"}, ""},
		{"none", "api.x.com", map[string]string{"HTTPS_PROXY": "proxy:3128"}, ""},
		{"http://corp:80", "127.0.0.1", map[string]string{"NO_PROXY": "*"}, "corp:80"},
	}
	for _, tt := range tests {
		u, err := proxyFor(tt.setting, tt.host, func(k string) string { return tt.env[k] })
		if err != nil {
			t.Errorf("proxyFor(%q, %q, %v): %v", tt.setting, tt.host, tt.env, err)
			continue
		}
		got := ""
		if u != nil {
			got = u.Host
		}
		if got != tt.want {
			t.Errorf("proxyFor(%q, %q, %v) = %q, want %q", tt.setting, tt.host, tt.env, got, tt.want)
		}
	}
}

// The package parses HTTP itself: no file outside the tests may import
// net/http or net/textproto.
func TestNoHTTPLibraryImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "net/http" || strings.HasPrefix(path, "net/http/") || path == "net/textproto" {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
	if checked < 5 {
		t.Errorf("checked only %d files; is the test running in the package directory?", checked)
	}
}

// The second post resumes the first one's TLS session.
func TestSessionResumption(t *testing.T) {
	ca := newTestCA(t)
	resumed := make(chan bool, 2)
	cfg := ca.serverConfig() // one config: one set of session ticket keys
	addr := listen(t, func(c net.Conn) {
		defer c.Close()
		tc := tls.Server(c, cfg)
		req, err := http.ReadRequest(bufio.NewReader(tc))
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(tc, created)
		resumed <- tc.ConnectionState().DidResume
	})
	c := newLoopbackClient(t, addr, ca.caFile, Config{})
	for i, want := range []bool{false, true} {
		if _, err := c.Post(context.Background(), "hi"); err != nil {
			t.Fatal(err)
		}
		if got := <-resumed; got != want {
			t.Errorf("post %d: resumed = %v, want %v", i+1, got, want)
		}
	}
}
