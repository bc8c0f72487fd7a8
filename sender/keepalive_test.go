package sender

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// keepAliveServer answers every request on a connection with answer until
// the client closes it, or, with closeAfter > 0, closes the connection
// after that many answers without saying so; with closeAfter < 0, it reads
// request -closeAfter and closes the connection without answering it. It
// counts connections, records each request's Connection header, and
// reports on closed each connection it closed.
func keepAliveServer(t *testing.T, ca *testCA, answer string, closeAfter int) (addr string, conns *atomic.Int32, headers chan string) {
	addr, conns, headers, _ = keepAliveServerClosing(t, ca, answer, closeAfter)
	return addr, conns, headers
}

func keepAliveServerClosing(t *testing.T, ca *testCA, answer string, closeAfter int) (addr string, conns *atomic.Int32, headers chan string, closed chan struct{}) {
	conns = new(atomic.Int32)
	headers = make(chan string, 16)
	closed = make(chan struct{}, 16)
	addr = listen(t, func(c net.Conn) {
		defer func() { c.Close(); closed <- struct{}{} }()
		conns.Add(1)
		tc := tls.Server(c, ca.serverConfig())
		br := bufio.NewReader(tc)
		for n := 1; ; n++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			req.Body.Close()
			headers <- req.Header.Get("Connection")
			if n == -closeAfter {
				return
			}
			if _, err := tc.Write([]byte(answer)); err != nil {
				return
			}
			if n == closeAfter {
				return
			}
		}
	})
	return addr, conns, headers, closed
}

func TestKeepAliveReusesConnection(t *testing.T) {
	ca := newTestCA(t)
	addr, conns, headers := keepAliveServer(t, ca, created, 0)
	c := newLoopbackClient(t, addr, ca.caFile, Config{KeepAlive: time.Minute})
	defer c.Close()
	for i := range 3 {
		if _, err := c.Post(context.Background(), "hi"); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		if h := <-headers; h != "keep-alive" {
			t.Errorf("post %d: Connection %q, want keep-alive", i, h)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("3 posts used %d connections, want 1", n)
	}
}

func TestKeepAliveOffClosesEachConnection(t *testing.T) {
	ca := newTestCA(t)
	addr, conns, headers := keepAliveServer(t, ca, created, 0)
	c := newLoopbackClient(t, addr, ca.caFile, Config{})
	for i := range 2 {
		if _, err := c.Post(context.Background(), "hi"); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		if h := <-headers; h != "close" {
			t.Errorf("post %d: Connection %q, want close", i, h)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("2 posts used %d connections, want 2", n)
	}
}

func TestKeepAliveHonoursServerClose(t *testing.T) {
	ca := newTestCA(t)
	closing := strings.Replace(created, "Content-Length", "Connection: close\r\nContent-Length", 1)
	addr, conns, _ := keepAliveServer(t, ca, closing, 0)
	c := newLoopbackClient(t, addr, ca.caFile, Config{KeepAlive: time.Minute})
	defer c.Close()
	for i := range 2 {
		if _, err := c.Post(context.Background(), "hi"); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("server said Connection: close, yet 2 posts used %d connections", n)
	}
}

func TestKeepAliveExpires(t *testing.T) {
	ca := newTestCA(t)
	addr, conns, _ := keepAliveServer(t, ca, created, 0)
	c := newLoopbackClient(t, addr, ca.caFile, Config{KeepAlive: time.Minute})
	defer c.Close()
	now := time.Now()
	c.tr.now = func() time.Time { return now }
	if _, err := c.Post(context.Background(), "hi"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := c.Post(context.Background(), "hi"); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("a connection idle past KeepAlive was reused: %d connections, want 2", n)
	}
}

// TestKeepAliveServerClosedIdle: a kept connection the server has closed
// is noticed before use, and the request goes on a new connection.
func TestKeepAliveServerClosedIdle(t *testing.T) {
	ca := newTestCA(t)
	addr, conns, _, closed := keepAliveServerClosing(t, ca, created, 1)
	c := newLoopbackClient(t, addr, ca.caFile, Config{KeepAlive: time.Minute})
	defer c.Close()
	if _, err := c.Post(context.Background(), "hi"); err != nil {
		t.Fatal(err)
	}
	<-closed
	if _, err := c.Post(context.Background(), "hi"); err != nil {
		t.Fatalf("post after the server closed the kept connection: %v", err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestKeepAliveClosedMidRequest: a kept connection the server drops with
// the request unanswered fails as a transient error (the caller retries),
// and the next request dials anew.
func TestKeepAliveClosedMidRequest(t *testing.T) {
	ca := newTestCA(t)
	addr, conns, _ := keepAliveServer(t, ca, created, -2)
	c := newLoopbackClient(t, addr, ca.caFile, Config{KeepAlive: time.Minute})
	defer c.Close()
	if _, err := c.Post(context.Background(), "hi"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Post(context.Background(), "hi")
	var apiErr *APIError
	if !errors.Is(err, ErrTransient) || errors.As(err, &apiErr) {
		t.Fatalf("post whose answer never came: %v; want a transient network error", err)
	}
	if _, err := c.Post(context.Background(), "hi"); err != nil {
		t.Fatalf("post after the dropped connection: %v", err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestKeepAliveAfterClose: once the client is closed it keeps nothing open.
func TestKeepAliveAfterClose(t *testing.T) {
	ca := newTestCA(t)
	addr, conns, _ := keepAliveServer(t, ca, created, 0)
	c := newLoopbackClient(t, addr, ca.caFile, Config{KeepAlive: time.Minute})
	c.Close()
	for range 2 {
		if _, err := c.Post(context.Background(), "hi"); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("a closed client reused a connection: %d connections, want 2", n)
	}
}
