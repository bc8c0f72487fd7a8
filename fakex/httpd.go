package fakex

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file serves HTTP/1.1 on the connections the listener accepts: one
// goroutine per connection reads a request (request.go), hands it to its
// handler, writes the answer, and goes round again while the client keeps
// the connection alive.

const (
	readTimeout  = 10 * time.Second // from a request's first byte to its last, and for the TLS handshake
	writeTimeout = 10 * time.Second // for one answer
	// timeFormat is the format of the Date header (RFC 9110 IMF-fixdate).
	timeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"
)

// serve accepts connections until the listener is closed.
func (s *Server) serve(ln net.Listener) {
	defer s.serving.Done()
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return
			}
			// Out of file descriptors, most likely: wait for some to close.
			s.logger().Error("fakex: accept failed; retrying", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !s.track(rwc) {
			rwc.Close()
			return
		}
		go func() {
			defer s.untrack(rwc)
			s.serveConn(rwc)
		}()
	}
}

// track registers a connection for Close to close, and counts it as being
// served. It returns false once the server is closing.
func (s *Server) track(c net.Conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.isClosing() {
		return false
	}
	s.conns[c] = struct{}{}
	s.serving.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
	s.serving.Done()
}

// closeConns closes every connection being served.
func (s *Server) closeConns() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// A conn is one client connection.
type conn struct {
	s        *Server
	rwc      net.Conn // the TLS connection (a plain one in tests)
	br       *bufio.Reader
	bw       *bufio.Writer
	hijacked bool // a handler took the connection over (response.drop)

	// While a handler runs, a read in the background notices the client
	// going away (see watch).
	gone    chan struct{}
	watched chan struct{}
}

// serveConn serves one connection until the client closes it, asks for it
// to be closed, or sends something that is not a request.
func (s *Server) serveConn(rwc net.Conn) {
	c := &conn{s: s, rwc: rwc, br: bufio.NewReader(rwc), bw: bufio.NewWriter(rwc)}
	defer func() {
		if !c.hijacked {
			rwc.Close()
		}
	}()
	if tc, ok := rwc.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.logger().Debug("fakex: TLS handshake failed", "remote", rwc.RemoteAddr().String(), "err", err)
			return
		}
	}
	for c.serveOne() {
	}
}

// serveOne reads and answers one request, and reports whether the
// connection may carry another.
func (c *conn) serveOne() bool {
	// Between requests the client may stay silent as long as it likes.
	if _, err := c.br.Peek(1); err != nil {
		return false
	}
	c.rwc.SetReadDeadline(time.Now().Add(readTimeout))
	r, err := readHead(c.br)
	if err == nil {
		err = c.expect(r)
	}
	if err == nil {
		err = r.readBody(c.br)
	}
	c.rwc.SetReadDeadline(time.Time{})
	if err != nil {
		var ref *refusal
		if errors.As(err, &ref) {
			c.refuse(ref)
		} else {
			c.s.logger().Debug("fakex: reading a request", "err", err)
		}
		return false
	}

	r.c = c
	method := r.Method
	if method == "HEAD" { // HEAD is GET without the body
		method = "GET"
	}
	w := &response{c: c, header: header{}, head: r.Method == "HEAD", http10: r.Proto == "HTTP/1.0", close: !r.keepAlive()}
	c.s.route(w, method, r)
	wentAway := c.unwatch()
	if c.hijacked {
		return false
	}
	if w.status == 0 {
		// Every handler answers or drops; a client must never wait on an
		// answer that will not come.
		w.write(500, []byte("fakex: the handler wrote no answer\n"))
	}
	return !w.close && w.err == nil && !wentAway
}

// expect answers "Expect: 100-continue", with which a client asks for a
// go-ahead before it sends the body (curl does, for bodies over 1 KiB).
func (c *conn) expect(r *request) error {
	e := r.Header.Get("Expect")
	switch {
	case e == "":
		return nil
	case !strings.EqualFold(e, "100-continue"):
		return refuse(417, "unsupported Expect %q", e)
	case r.Header.Get("Transfer-Encoding") == "" && (r.Header.Get("Content-Length") == "" || r.Header.Get("Content-Length") == "0"):
		return nil // no body to wait for
	}
	c.rwc.SetWriteDeadline(time.Now().Add(writeTimeout))
	c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	return c.bw.Flush()
}

// refuse answers a request that could not be read, then closes the
// connection.
func (c *conn) refuse(e *refusal) {
	c.s.logger().Debug("fakex: request refused", "status", e.status, "reason", e.reason)
	w := &response{c: c, header: header{}, close: true}
	w.header.Set("Content-Type", "text/plain; charset=utf-8")
	w.write(e.status, []byte(e.Error()+"\n"))
	c.linger()
}

// linger ends the sending side of the connection, then reads and drops
// what the client still sends, for up to a second. The client may still
// be sending the body of the refused request: closing a connection with
// unread data makes the kernel send a TCP reset, which can destroy the
// answer before the client reads it.
func (c *conn) linger() {
	if tc, ok := c.rwc.(*tls.Conn); ok {
		_ = tc.CloseWrite() // close_notify
	}
	if cw, ok := netConn(c.rwc).(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite() // FIN
	}
	c.rwc.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.CopyN(io.Discard, c.br, 4*maxBody)
}

// watch returns a channel that is closed when the client goes away, or the
// server closes the connection, while a handler is busy with its request.
// Only the handler's goroutine may call it.
func (c *conn) watch() <-chan struct{} {
	if c.gone == nil {
		gone, watched := make(chan struct{}), make(chan struct{})
		c.gone, c.watched = gone, watched
		go func() {
			defer close(watched)
			// The client sends nothing more until it has its answer, so
			// this read returns when the connection ends, when unwatch
			// cuts it short, or with a pipelined request, which stays
			// buffered for the next round.
			_, err := c.br.Peek(1)
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				close(gone)
			}
		}()
	}
	return c.gone
}

// unwatch stops the read that watch started, if any, and reports whether
// the client went away.
func (c *conn) unwatch() (wentAway bool) {
	if c.gone == nil {
		return false
	}
	c.rwc.SetReadDeadline(time.Unix(1, 0)) // long past: the read returns now
	<-c.watched
	c.rwc.SetReadDeadline(time.Time{})
	select {
	case <-c.gone:
		wentAway = true
	default:
	}
	c.gone, c.watched = nil, nil
	return wentAway
}

// gone returns a channel that is closed when the client goes away while
// its request is being handled.
func (r *request) gone() <-chan struct{} {
	if r.c == nil {
		return nil
	}
	return r.c.watch()
}

// A response is the answer to one request. A handler sets header fields,
// then calls write or writeChunked once, or drop to answer nothing.
type response struct {
	c      *conn
	header header
	head   bool  // answering HEAD: header fields only
	http10 bool  // the client speaks HTTP/1.0: no chunks, and the connection closes
	close  bool  // close the connection after this answer
	status int   // the status written; 0 before
	err    error // from writing the answer
}

// write answers with status and the whole body, its length in
// Content-Length.
func (w *response) write(status int, body []byte) { w.send(status, false, body) }

// writeChunked answers with status and Transfer-Encoding: chunked, each
// part a chunk of its own sent as soon as it is ready, so the client reads
// the body in pieces and learns its length only at the end:
//
//	HTTP/1.1 201 Created\r\n
//	Transfer-Encoding: chunked\r\n
//	…\r\n
//	\r\n
//	1e\r\n
//	{"data":{"id":"1790…","text":"\r\n
//	1f\r\n
//	Hello","edit_history_tweet_ids…\r\n
//	0\r\n
//	\r\n
func (w *response) writeChunked(status int, parts ...[]byte) { w.send(status, true, parts...) }

func (w *response) send(status int, chunked bool, parts ...[]byte) {
	if w.status != 0 {
		w.c.s.logger().Error("fakex: a second answer to one request dropped", "status", status)
		return
	}
	w.status = status
	h := w.header
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(timeFormat))
	}
	switch {
	case chunked && w.http10:
		// HTTP/1.0 has no chunks: the body ends where the connection does.
		h.Del("Content-Length")
		w.close, chunked = true, false
	case chunked:
		h.Del("Content-Length")
		h.Set("Transfer-Encoding", "chunked")
	default:
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		h.Set("Content-Length", strconv.Itoa(n))
	}
	if w.close {
		h.Set("Connection", "close")
	}

	bw := w.c.bw
	w.c.rwc.SetWriteDeadline(time.Now().Add(writeTimeout))
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", status, statusText(status))
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			fmt.Fprintf(bw, "%s: %s\r\n", name, v)
		}
	}
	bw.WriteString("\r\n")
	if w.head {
		w.err = bw.Flush()
		return
	}
	for _, p := range parts {
		switch {
		case !chunked:
			bw.Write(p)
		case len(p) > 0: // a chunk of size 0 would end the body
			fmt.Fprintf(bw, "%x\r\n%s\r\n", len(p), p)
			if w.err = bw.Flush(); w.err != nil {
				return
			}
		}
	}
	if chunked {
		bw.WriteString("0\r\n\r\n")
	}
	w.err = bw.Flush()
}

// drop takes the connection over and closes it without an answer and
// without a TLS close_notify. With rst the client sees a TCP reset (RST)
// rather than an orderly end (FIN).
func (w *response) drop(rst bool) {
	w.c.hijacked = true
	raw := netConn(w.c.rwc)
	if tcp, ok := raw.(*net.TCPConn); ok && rst {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
}

// netConn returns the connection under TLS, or c itself.
func netConn(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

// statusText returns the reason phrase for the statuses fakex answers.
func statusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 413:
		return "Request Entity Too Large"
	case 414:
		return "Request URI Too Long"
	case 417:
		return "Expectation Failed"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Status " + strconv.Itoa(code)
}
