// Package httpd is the small HTTP/1.1 server of pitweet's local service
// emulators (fakex, fakemastodon, fakebsky): it serves HTTPS on loopback
// with a certificate authority generated in memory, reads each request
// whole (request.go), hands it to the emulator's handler and writes the
// answer, with the means to misbehave on purpose (drop the connection,
// answer in chunks, notice a client that went away).
//
// It imports neither net/http nor net/textproto, so that the pitweet
// binary, which links the emulators for `pitweet demo`, links no HTTP
// library: the wire format is written and read by hand on both sides.
package httpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	readTimeout  = 10 * time.Second // from a request's first byte to its last, and for the TLS handshake
	writeTimeout = 10 * time.Second // for one answer
	// TimeFormat is the format of the Date header (RFC 9110 IMF-fixdate).
	TimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"
)

// A Server serves HTTP/1.1 with Handler. Set its fields before StartTLS or
// ServeConn; they must not change while it serves.
type Server struct {
	// Name names the server in refusals, errors and log lines: "fakex".
	Name string
	// Handler answers each request that could be read. It must call
	// Write, WriteChunked or Drop on the Response once; a handler that
	// does none of these gets a 500 written for it.
	Handler func(w *Response, r *Request)
	// Refused, if set, writes the answer to a request that could not be
	// read (malformed, too large), in the emulated service's own error
	// format. It must call w.Write. Nil: a line of plain text.
	Refused func(w *Response, status int, reason string)
	// Logger receives debug lines about connections; nil discards.
	Logger *slog.Logger
	// MaxBody bounds a request body, in bytes (0: DefaultMaxBody).
	MaxBody int

	initOnce sync.Once
	ln       net.Listener
	caPEM    []byte
	connMu   sync.Mutex
	conns    map[net.Conn]struct{} // being served
	serving  sync.WaitGroup        // the accept loop and every connection
	closing  chan struct{}
	closed   sync.Once
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.conns = map[net.Conn]struct{}{}
		s.closing = make(chan struct{})
	})
}

func (s *Server) name() string {
	if s.Name == "" {
		return "httpd"
	}
	return s.Name
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) maxBody() int {
	if s.MaxBody <= 0 {
		return DefaultMaxBody
	}
	return s.MaxBody
}

// StartTLS generates a fresh certificate authority and server certificate,
// listens on addr (such as "127.0.0.1:0") and serves HTTPS until Close.
// Only HTTP/1.1 is offered.
func (s *Server) StartTLS(addr string) error {
	s.init()
	if s.ln != nil {
		return fmt.Errorf("%s: server already started; make a new one", s.name())
	}
	leaf, caPEM, err := newCertificates(s.name(), time.Now())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: listen on %s: %w; pick a free address such as 127.0.0.1:0", s.name(), addr, err)
	}
	s.caPEM = caPEM
	s.ln = ln
	config := &tls.Config{
		Certificates: []tls.Certificate{leaf},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
	s.serving.Add(1)
	go s.serve(tls.NewListener(ln, config))
	return nil
}

// URL returns the base URL to give clients, such as https://127.0.0.1:43117,
// or "" before StartTLS.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "https://" + s.ln.Addr().String()
}

// CAPEM returns the PEM certificate of the authority that signed the
// server's certificate (nil before StartTLS).
func (s *Server) CAPEM() []byte { return slices.Clone(s.caPEM) }

// WriteCA writes CAPEM to path, for clients that take a CA file.
func (s *Server) WriteCA(path string) error {
	if s.caPEM == nil {
		return fmt.Errorf("%s: no CA yet; call StartTLS first", s.name())
	}
	if err := os.WriteFile(path, s.caPEM, 0o644); err != nil {
		return fmt.Errorf("%s: write CA: %w", s.name(), err)
	}
	return nil
}

// Close stops the server: it closes the listener and every connection,
// closes Closing (releasing handlers that wait on it), and returns once
// every connection is done with.
func (s *Server) Close() error {
	s.init()
	var err error
	s.closed.Do(func() {
		close(s.closing)
		if s.ln == nil {
			return
		}
		err = s.ln.Close()
		s.closeConns()
		s.serving.Wait()
	})
	return err
}

// Closing returns a channel that is closed when Close is called.
func (s *Server) Closing() <-chan struct{} {
	s.init()
	return s.closing
}

// IsClosing reports whether Close has been called.
func (s *Server) IsClosing() bool {
	select {
	case <-s.Closing():
		return true
	default:
		return false
	}
}

// This part serves HTTP/1.1 on the connections the listener accepts: one
// goroutine per connection reads a request (request.go), hands it to its
// handler, writes the answer, and goes round again while the client keeps
// the connection alive.

// serve accepts connections until the listener is closed.
func (s *Server) serve(ln net.Listener) {
	defer s.serving.Done()
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.IsClosing() {
				return
			}
			// Out of file descriptors, most likely: wait for some to close.
			s.logger().Error(s.name()+": accept failed; retrying", "err", err)
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
	if s.IsClosing() {
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

// ServeConn serves one connection, plain or TLS, until the client closes
// it, asks for it to be closed, or sends something that is not a request;
// then it closes the connection. Tests use it to speak raw HTTP to a
// handler over a plain connection.
func (s *Server) ServeConn(c net.Conn) {
	s.init()
	s.serveConn(c)
}

// A conn is one client connection.
type conn struct {
	s        *Server
	rwc      net.Conn // the TLS connection (a plain one in tests)
	br       *bufio.Reader
	bw       *bufio.Writer
	hijacked bool // a handler took the connection over (Response.Drop)

	// While a handler runs, a read in the background notices the client
	// going away (see watch).
	gone    chan struct{}
	watched chan struct{}
}

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
			s.logger().Debug(s.name()+": TLS handshake failed", "remote", rwc.RemoteAddr().String(), "err", err)
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
		err = r.readBody(c.br, c.s.maxBody())
	}
	c.rwc.SetReadDeadline(time.Time{})
	if err != nil {
		var ref *refusal
		if errors.As(err, &ref) {
			c.refuse(ref)
		} else {
			c.s.logger().Debug(c.s.name()+": reading a request", "err", err)
		}
		return false
	}

	r.c = c
	w := &Response{c: c, Header: Header{}, head: r.Method == "HEAD", http10: r.Proto == "HTTP/1.0", close: !r.keepAlive()}
	if c.s.Handler != nil {
		c.s.Handler(w, r)
	}
	wentAway := c.unwatch()
	if c.hijacked {
		return false
	}
	if w.status == 0 {
		// Every handler answers or drops; a client must never wait on an
		// answer that will not come.
		w.Write(500, []byte(c.s.name()+": the handler wrote no answer\n"))
	}
	return !w.close && w.err == nil && !wentAway
}

// expect answers "Expect: 100-continue", with which a client asks for a
// go-ahead before it sends the body (curl does, for bodies over 1 KiB).
func (c *conn) expect(r *Request) error {
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
	c.s.logger().Debug(c.s.name()+": request refused", "status", e.status, "reason", e.reason)
	w := &Response{c: c, Header: Header{}, close: true}
	if c.s.Refused != nil {
		c.s.Refused(w, e.status, e.reason)
	}
	if w.status == 0 {
		w.Header.Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(e.status, fmt.Appendf(nil, "%s: %d %s: %s\n", c.s.name(), e.status, StatusText(e.status), e.reason))
	}
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
	_, _ = io.CopyN(io.Discard, c.br, 4*int64(c.s.maxBody()))
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

// Gone returns a channel that is closed when the client goes away while
// its request is being handled. Only the handler's goroutine may call it;
// it is nil for a request that came on no connection.
func (r *Request) Gone() <-chan struct{} {
	if r.c == nil {
		return nil
	}
	return r.c.watch()
}

// Hold returns a channel that is closed once d has passed (never, for
// d == 0), the client has gone, or the server is closing. Only the
// handler's goroutine may call it.
func (r *Request) Hold(d time.Duration) <-chan struct{} {
	gone := r.Gone()
	var closing <-chan struct{}
	if r.c != nil {
		closing = r.c.s.Closing()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var timeout <-chan time.Time
		if d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-timeout:
		case <-gone:
		case <-closing:
		}
	}()
	return done
}

// Abandoned reports why a held request should not be answered: "client
// went away" or "server closed", or "" while it still should be.
func (r *Request) Abandoned() string {
	if r.c == nil {
		return ""
	}
	// Close closes Closing before it closes the connections, so a server
	// closing is never mistaken for a client that went away.
	if r.c.s.IsClosing() {
		return "server closed"
	}
	select {
	case <-r.Gone():
		return "client went away"
	default:
	}
	return ""
}

// A Response is the answer to one request. A handler sets header fields,
// then calls Write or WriteChunked once, or Drop to answer nothing.
type Response struct {
	Header Header

	c      *conn
	head   bool  // answering HEAD: header fields only
	http10 bool  // the client speaks HTTP/1.0: no chunks, and the connection closes
	close  bool  // close the connection after this answer
	status int   // the status written; 0 before
	err    error // from writing the answer
}

// Status returns the status written, or 0 before Write.
func (w *Response) Status() int { return w.status }

// Write answers with status and the whole body, its length in
// Content-Length.
func (w *Response) Write(status int, body []byte) { w.send(status, false, body) }

// WriteChunked answers with status and Transfer-Encoding: chunked, each
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
func (w *Response) WriteChunked(status int, parts ...[]byte) { w.send(status, true, parts...) }

func (w *Response) send(status int, chunked bool, parts ...[]byte) {
	if w.status != 0 {
		w.c.s.logger().Error(w.c.s.name()+": a second answer to one request dropped", "status", status)
		return
	}
	w.status = status
	h := w.Header
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(TimeFormat))
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
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", status, StatusText(status))
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

// Drop takes the connection over and closes it without an answer and
// without a TLS close_notify. With rst the client sees a TCP reset (RST)
// rather than an orderly end (FIN).
func (w *Response) Drop(rst bool) {
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

// StatusText returns the reason phrase of the statuses the emulators
// answer.
func StatusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 206:
		return "Partial Content"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 409:
		return "Conflict"
	case 413:
		return "Request Entity Too Large"
	case 414:
		return "Request URI Too Long"
	case 415:
		return "Unsupported Media Type"
	case 417:
		return "Expectation Failed"
	case 422:
		return "Unprocessable Content"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Status " + strconv.Itoa(code)
}
