package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// controlRig is a control socket served with small limits, whose handler
// counts the requests it is given.
type controlRig struct {
	socket  string
	handled atomic.Int64
}

func startControl(t *testing.T, limits controlLimits) *controlRig {
	t.Helper()
	r := &controlRig{socket: filepath.Join(t.TempDir(), SocketName)}
	ln, err := listenControl(r.socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s := &controlServer{ln: ln, log: testLog(t), limits: limits,
		handle: func(context.Context, ControlRequest) ControlResponse {
			r.handled.Add(1)
			return ControlResponse{OK: true}
		}}
	go func() {
		defer close(done)
		s.serve(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

func (r *controlRig) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", r.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAnswer reads one answer line from c, or fails the test after 10 s.
func readAnswer(t *testing.T, c net.Conn) ControlResponse {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading an answer: %v (got %q)", err, line)
	}
	var resp ControlResponse
	if err := json.Unmarshal(line, &resp); err != nil {
		t.Fatalf("answer %q: %v", line, err)
	}
	return resp
}

// waitClosed reads from c until the daemon closes it, failing the test if
// that takes more than 10 s.
func waitClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the daemon kept the connection open")
	}
}

func TestControlCapsConnectionsPerUser(t *testing.T) {
	r := startControl(t, controlLimits{conns: 10, connsPerUser: 2, line: 4096, idle: time.Minute, lifetime: time.Minute})
	held := []net.Conn{r.dial(t), r.dial(t)}
	for _, c := range held {
		// Admitted: each answers.
		c.Write([]byte(`{"op":"status"}` + "\n"))
		if resp := readAnswer(t, c); !resp.OK {
			t.Fatalf("an admitted connection was answered %+v", resp)
		}
	}
	// The third of the same user is told why and closed at once, without
	// its request reaching the handler.
	third := r.dial(t)
	third.Write([]byte(`{"op":"press","button":"doorbell"}` + "\n"))
	if resp := readAnswer(t, third); resp.OK || !strings.HasPrefix(resp.Error, "daemon: busy: your user has 2 control connections open") {
		t.Fatalf("third connection answered %+v, want busy", resp)
	}
	waitClosed(t, third)
	if n := r.handled.Load(); n != 2 {
		t.Fatalf("handler ran %d times, want 2 (a refused request must not reach it)", n)
	}
	// Once one closes, the user may connect again.
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := Call(r.socket, ControlRequest{Op: "status"})
		if err == nil && resp.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a connection closed, a new one is still refused: %v %+v", err, resp)
		}
	}
}

func TestControlCapsConnectionsInAll(t *testing.T) {
	r := startControl(t, controlLimits{conns: 3, connsPerUser: 10, line: 4096, idle: time.Minute, lifetime: time.Minute})
	for range 3 {
		c := r.dial(t)
		c.Write([]byte(`{"op":"status"}` + "\n"))
		readAnswer(t, c)
	}
	resp, err := Call(r.socket, ControlRequest{Op: "press", Button: "doorbell"})
	if err != nil || resp.OK || !strings.HasPrefix(resp.Error, "daemon: busy: 3 control connections are open") {
		t.Fatalf("Call over the cap: %v %+v, want a busy answer", err, resp)
	}
}

func TestControlRefusesLongRequestLine(t *testing.T) {
	r := startControl(t, controlLimits{conns: 4, connsPerUser: 4, line: 4096, idle: time.Minute, lifetime: time.Minute})
	c := r.dial(t)
	// A megabyte with no newline: the daemon reads no more than its limit,
	// says so and closes.
	go c.Write([]byte(strings.Repeat("x", 1<<20)))
	if resp := readAnswer(t, c); resp.OK || resp.Error != "daemon: request longer than 4096 bytes; a request is one short JSON line" {
		t.Fatalf("answer %+v", resp)
	}
	waitClosed(t, c)
	// A request just under the limit is served.
	c = r.dial(t)
	pad := strings.Repeat(" ", 4096-len(`{"op":"status"}`)-1)
	c.Write([]byte(`{"op":"status"}` + pad + "\n"))
	if resp := readAnswer(t, c); !resp.OK {
		t.Fatalf("a request of 4095 bytes and its newline was answered %+v", resp)
	}
}

func TestControlClosesIdleConnection(t *testing.T) {
	r := startControl(t, controlLimits{conns: 4, connsPerUser: 4, line: 4096, idle: 200 * time.Millisecond, lifetime: time.Minute})
	// Silent from the start.
	waitClosed(t, r.dial(t))
	// Silent after one answer.
	c := r.dial(t)
	c.Write([]byte(`{"op":"status"}` + "\n"))
	readAnswer(t, c)
	waitClosed(t, c)
	// A byte at a time, never a whole line: the deadline is for the line.
	c = r.dial(t)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("{")); err != nil {
					return
				}
			}
		}
	}()
	waitClosed(t, c)
}

func TestControlConnectionLifetime(t *testing.T) {
	r := startControl(t, controlLimits{conns: 4, connsPerUser: 4, line: 4096, idle: time.Minute, lifetime: 500 * time.Millisecond})
	c := r.dial(t)
	br := bufio.NewReader(c)
	// Busy, never idle: one request after another until the daemon ends
	// the connection.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("the connection outlived its lifetime by 10 s")
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(`{"op":"status"}` + "\n")); err != nil {
			return
		}
		if _, err := br.ReadBytes('\n'); err != nil {
			return
		}
	}
}
