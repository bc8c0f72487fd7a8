package sender

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

// Transport defaults.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultUserAgent = "pitweet/dev"
)

// maxInterim bounds the interim (1xx) answers read before the final one,
// as net/http bounds them (5): a server that keeps sending "100 Continue"
// gets a protocol error at once, not the rest of the request's time.
const maxInterim = 5

// TransportConfig says how to reach one origin.
type TransportConfig struct {
	BaseURL   string        // "https://host[:port]"; required. Only https is accepted.
	CAFile    string        // PEM bundle trusted in addition to the system roots
	Proxy     string        // "" = HTTPS_PROXY/https_proxy from the environment; "none" = never; else "http://host:port"
	Timeout   time.Duration // deadline for one whole request, dial to last byte; 0 means DefaultTimeout
	UserAgent string        // "" means DefaultUserAgent
	// KeepAlive is how long a connection is kept open after a request for
	// the next one; 0 means one connection per request (Connection: close).
	// A daemon draining its outbox saves a TLS handshake per post.
	KeepAlive time.Duration
	Logger    *slog.Logger // nil discards
}

// Transport sends HTTP/1.1 requests to one origin (scheme, host and port)
// over TLS, directly or through an HTTP CONNECT proxy, and reads the
// answers. It writes the request bytes and parses the response itself.
// Service clients (X, and others) build their requests on it; it knows no
// service.
//
// It is safe for concurrent use. Each request uses its own connection
// (Connection: close), unless TransportConfig.KeepAlive is set: then one
// idle connection is kept that long for the next request.
type Transport struct {
	host      string // host name, for SNI and proxy decisions
	addr      string // host:port to dial
	hostField string // the Host header: host, with ":port" unless 443
	origin    string // "https://" + hostField
	timeout   time.Duration
	userAgent string
	tls       *tls.Config
	roots     *trust
	proxy     *url.URL
	log       *slog.Logger
	keepAlive time.Duration

	mu     sync.Mutex
	idle   *idleConn // kept open for the next request; nil when none
	closed bool      // Close was called: keep nothing open

	// Seams for tests.
	dialer dialer
	now    func() time.Time
}

// NewTransport checks cfg and returns a Transport for its origin. It reads
// CAFile and the proxy environment now, so a mistake shows at start-up.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("sender: bad base_url %q: %w", cfg.BaseURL, err)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("sender: base_url %q must start with https://: pitweet only speaks TLS", cfg.BaseURL)
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("sender: base_url %q must be just https://host or https://host:port", cfg.BaseURL)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("sender: base_url %q has a bad port", cfg.BaseURL)
	}
	t := &Transport{
		host:      u.Hostname(),
		addr:      net.JoinHostPort(u.Hostname(), port),
		hostField: u.Host,
		timeout:   cfg.Timeout,
		keepAlive: cfg.KeepAlive,
		userAgent: cfg.UserAgent,
		log:       cfg.Logger,
		dialer:    &net.Dialer{Timeout: dialTimeout},
		now:       time.Now,
	}
	if port == "443" {
		t.hostField = u.Hostname()
		if ip := net.ParseIP(t.host); ip != nil && ip.To4() == nil {
			t.hostField = "[" + t.host + "]"
		}
	}
	t.origin = "https://" + t.hostField
	if t.roots, err = newTrust(cfg.CAFile); err != nil {
		return nil, err
	}
	t.tls = tlsConfig(t.host, t.roots)
	if t.proxy, err = proxyFor(cfg.Proxy, t.host, os.Getenv); err != nil {
		return nil, err
	}
	return t, nil
}

// Origin returns "https://host" or "https://host:port" (the port only when
// it is not 443): the base of the URLs this transport reaches, as a
// signature covers them.
func (t *Transport) Origin() string { return t.origin }

// Host returns the Host field the requests carry.
func (t *Transport) Host() string { return t.hostField }

// Addr returns the host:port that is dialled (through the proxy, if any).
func (t *Transport) Addr() string { return t.addr }

// Render returns req as Do would write it: the header block exactly, and
// the body with each streamed part replaced by "[N bytes: label, not
// shown]" (see Body.AppendStream). It opens nothing and sends nothing.
func (t *Transport) Render(req *Request) ([]byte, error) {
	head, err := t.head(req)
	if err != nil {
		return nil, err
	}
	return append(head, req.Body.render()...), nil
}

func (t *Transport) head(req *Request) ([]byte, error) {
	return req.head(t.hostField, t.userAgent, t.keepAlive > 0)
}

// Do sends req and reads the final answer, all within the transport's
// timeout (or req.Timeout), and within ctx. Any answer, whatever its
// status, is a *Response; errors are for what kept an answer from being
// read: they wrap ErrTransient (the network failed, or the deadline
// passed), ErrTLS or ErrProtocol.
func (t *Transport) Do(ctx context.Context, req *Request) (*Response, error) {
	head, err := t.head(req)
	if err != nil {
		return nil, err
	}
	timeout := t.timeout
	if req.Timeout > 0 {
		timeout = req.Timeout
	}
	start := t.now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := t.roundTrip(ctx, head, req.Body)
	if err != nil {
		t.log.Warn("sender: request failed", "method", req.Method, "target", req.Target, "err", err)
		return nil, err
	}
	t.log.Debug("sender: request done", "method", req.Method, "target", req.Target, "status", resp.StatusCode,
		"elapsed", t.now().Sub(start))
	return resp, nil
}

// roundTrip writes the request on a connection (the idle one, or a new
// one) and reads one final response. A connection whose answer allows it
// is kept for the next request when KeepAlive is set.
//
// A kept connection that the server has closed is seen before it is used
// (see idleConn.open), and a new one is dialled. One that the server closes
// while the request is on its way fails like any dropped connection: the
// error wraps ErrTransient and the caller tries again later, on a new
// connection. pitweet's daemon does exactly that, and counts a "duplicate"
// answer to the retry as delivered, so nothing is posted twice.
func (t *Transport) roundTrip(ctx context.Context, head []byte, body *Body) (*Response, error) {
	ic := t.takeIdle()
	if ic == nil {
		t.roots.warm()
		conn, err := dialTLS(ctx, t.dialer, t.proxy, t.addr, t.tls, t.userAgent)
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		ic = &idleConn{conn: conn, br: bufio.NewReader(conn)}
	} else {
		t.log.Debug("sender: reusing the open connection", "addr", t.addr)
	}
	resp, err := exchange(ctx, ic.conn, ic.br, t.addr, head, body)
	if err != nil || t.keepAlive <= 0 || ctx.Err() != nil || !resp.Reusable() || ic.br.Buffered() > 0 {
		ic.conn.Close()
		return resp, err
	}
	ic.conn.SetDeadline(time.Time{})
	ic.since = t.now()
	t.putIdle(ic)
	return resp, nil
}

// idleConn is an open connection waiting for the next request.
type idleConn struct {
	conn  net.Conn
	br    *bufio.Reader
	since time.Time
}

// takeIdle returns the idle connection if it has not waited longer than
// KeepAlive and the server has not closed it, and closes it otherwise.
func (t *Transport) takeIdle() *idleConn {
	t.mu.Lock()
	ic := t.idle
	t.idle = nil
	t.mu.Unlock()
	if ic == nil {
		return nil
	}
	if t.now().Sub(ic.since) > t.keepAlive || !ic.open() {
		ic.conn.Close()
		return nil
	}
	return ic
}

// open reports whether the server still has the connection open: nothing
// has arrived on it since the last answer. A server that closed it sent a
// close_notify alert or a FIN; one that sent anything else unasked has
// broken HTTP. peerClosed looks at the socket without reading from it.
func (ic *idleConn) open() bool {
	return ic.br.Buffered() == 0 && !peerClosed(ic.conn)
}

// putIdle keeps ic for the next request, closing the one kept before; after
// Close it closes ic instead.
func (t *Transport) putIdle(ic *idleConn) {
	t.mu.Lock()
	old := t.idle
	if t.closed {
		old, ic = ic, nil
	}
	t.idle = ic
	t.mu.Unlock()
	if old != nil {
		old.conn.Close()
	}
}

// Close closes the connection kept open for the next request, if any, and
// keeps none from then on. Requests may still be made.
func (t *Transport) Close() error {
	t.mu.Lock()
	ic := t.idle
	t.idle = nil
	t.closed = true
	t.mu.Unlock()
	if ic != nil {
		return ic.conn.Close()
	}
	return nil
}

// exchange writes a request (its header block, then its body) on an open
// connection and reads the final response, within ctx; name is the peer,
// for messages.
func exchange(ctx context.Context, conn net.Conn, br *bufio.Reader, name string, head []byte, body *Body) (*Response, error) {
	// When ctx ends (deadline or cancel), a pending read or write fails at
	// once. The connection gets no deadline of its own, so ctx.Err() is
	// always set when that happens and the caller learns which it was.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if err := body.writeTo(conn, head); err != nil {
		var berr *bodyError
		if errors.As(err, &berr) {
			return nil, err
		}
		return nil, ctxErr(ctx, fmt.Errorf("sender: send request to %s: %w: %w", name, ErrTransient, err))
	}
	for interim := 0; ; interim++ {
		resp, err := ReadResponse(br)
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				return nil, err
			}
			return nil, ctxErr(ctx, fmt.Errorf("sender: read answer from %s: %w: %w", name, ErrTransient, err))
		}
		// 1xx answers (100 Continue, 103 Early Hints) come before the
		// real one; 101 would switch protocols, which was not asked for.
		if resp.StatusCode >= 200 || resp.StatusCode == 101 {
			return resp, nil
		}
		if interim == maxInterim {
			return nil, protoErr("%s sent more than %d interim (1xx) answers and no final one", name, maxInterim)
		}
	}
}

// ctxErr adds the context's error to err when the context ended, so a
// caller can tell a timeout (context.DeadlineExceeded) from a reset.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		if !errors.Is(err, ErrTransient) {
			return fmt.Errorf("%w (%w, %w)", err, cerr, ErrTransient)
		}
		return fmt.Errorf("%w (%w)", err, cerr)
	}
	return err
}
