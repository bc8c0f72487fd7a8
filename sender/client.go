// Package sender posts to X over a TLS socket it drives itself: it dials
// (directly or through an HTTP CONNECT proxy), writes the HTTP/1.1 request
// bytes, parses the response with bufio, and turns X's answer into a Tweet
// or a typed error. Requests are signed with OAuth 1.0a by package oauth.
//
// It imports neither net/http nor net/textproto: the wire format is part of
// what pitweet shows.
package sender

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"pitweet/oauth"
)

// Defaults for Config.
const (
	DefaultBaseURL   = "https://api.x.com"
	DefaultTimeout   = 30 * time.Second
	DefaultUserAgent = "pitweet/dev"
)

// Config says where and how to reach X.
type Config struct {
	BaseURL   string        // "https://host[:port]"; "" means DefaultBaseURL. Only https is accepted.
	API       string        // "v2" (the default) or "v1.1"
	CAFile    string        // PEM bundle trusted in addition to the system roots
	Proxy     string        // "" = HTTPS_PROXY/https_proxy from the environment; "none" = never; else "http://host:port"
	Timeout   time.Duration // deadline for one whole request, dial to last byte; 0 means DefaultTimeout
	UserAgent string        // "" means DefaultUserAgent; the CLI sets "pitweet/<version>"
	// KeepAlive is how long a connection is kept open after a request for
	// the next one; 0 means one connection per request (Connection: close).
	// A daemon draining its outbox saves a TLS handshake per post.
	KeepAlive time.Duration
	Logger    *slog.Logger // nil discards
}

// Client makes X API requests. It is safe for concurrent use. Each request
// uses its own connection (Connection: close), unless Config.KeepAlive is
// set: then one idle connection is kept that long for the next request.
type Client struct {
	api       string
	host      string // host name, for SNI and proxy decisions
	addr      string // host:port to dial
	hostField string // the Host header: host, with ":port" unless 443
	base      string // "https://" + hostField, for signing
	timeout   time.Duration
	userAgent string
	tls       *tls.Config
	proxy     *url.URL
	creds     oauth.Credentials
	log       *slog.Logger
	keepAlive time.Duration

	mu     sync.Mutex
	idle   *idleConn // kept open for the next request; nil when none
	closed bool      // Close was called: keep nothing open

	offset atomic.Int64 // clock offset in nanoseconds, added to now when signing

	// Seams for tests.
	dialer dialer
	now    func() time.Time
	nonce  func() string // nil: oauth.NewNonce
}

// New checks cfg and returns a Client that signs with creds. It reads
// CAFile and the proxy environment now, so a mistake shows at start-up.
func New(cfg Config, creds oauth.Credentials) (*Client, error) {
	if creds.ConsumerKey == "" || creds.ConsumerSecret == "" || creds.Token == "" || creds.TokenSecret == "" {
		return nil, errors.New("sender: credentials incomplete: api_key, api_secret, access_token and access_secret are all needed")
	}
	return newClient(cfg, creds)
}

// newClient is New without the check that creds hold a token: the login
// flow signs with the app's keys alone, then with a request token.
func newClient(cfg Config, creds oauth.Credentials) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	switch cfg.API {
	case "":
		cfg.API = "v2"
	case "v2", "v1.1":
	default:
		return nil, fmt.Errorf("sender: unknown api %q; use \"v2\" or \"v1.1\"", cfg.API)
	}
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
	c := &Client{
		api:       cfg.API,
		host:      u.Hostname(),
		addr:      net.JoinHostPort(u.Hostname(), port),
		hostField: u.Host,
		timeout:   cfg.Timeout,
		keepAlive: cfg.KeepAlive,
		userAgent: cfg.UserAgent,
		creds:     creds,
		log:       cfg.Logger,
		dialer:    &net.Dialer{Timeout: dialTimeout},
		now:       time.Now,
	}
	if port == "443" {
		c.hostField = u.Hostname()
		if ip := net.ParseIP(c.host); ip != nil && ip.To4() == nil {
			c.hostField = "[" + c.host + "]"
		}
	}
	c.base = "https://" + c.hostField
	roots, err := newTrust(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	c.tls = tlsConfig(c.host, roots)
	if c.proxy, err = proxyFor(cfg.Proxy, c.host, os.Getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// SetClockOffset sets how far the local clock is behind the server's (a
// positive d means the server is ahead). It is added to the local time
// when signing. Safe to call while requests are in flight.
func (c *Client) SetClockOffset(d time.Duration) { c.offset.Store(int64(d)) }

// ClockOffset returns the offset set by SetClockOffset.
func (c *Client) ClockOffset() time.Duration { return time.Duration(c.offset.Load()) }

func (c *Client) signer() *oauth.Signer {
	return &oauth.Signer{
		Credentials: c.creds,
		Now:         func() time.Time { return c.now().Add(c.ClockOffset()) },
		Nonce:       c.nonce,
	}
}

// Prepared is a signed request that has not been sent: what `pitweet
// explain` shows.
type Prepared struct {
	Breakdown *oauth.Breakdown
	Request   []byte // the exact bytes, Authorization included
	Host      string // the Host field
	Addr      string // the host:port that would be dialled
}

// call is one X API request before it is signed.
type call struct {
	method, path, contentType string
	body                      []byte
	form                      []oauth.Param // signed form parameters, for v1.1
	// The login flow's signed extras: oauth_callback to ask for a request
	// token; the request token (in place of the client's token) and
	// oauth_verifier to exchange it.
	callback, verifier string
	token              *RequestToken
}

func (c *Client) postCall(text string) (call, error) {
	if c.api == "v1.1" {
		return call{
			method:      "POST",
			path:        pathUpdateV1,
			contentType: "application/x-www-form-urlencoded",
			body:        []byte("status=" + oauth.Encode(text)),
			form:        []oauth.Param{{Name: "status", Value: text}},
		}, nil
	}
	body, err := json.Marshal(struct {
		Text string `json:"text"`
	}{text})
	if err != nil {
		return call{}, fmt.Errorf("sender: encode tweet: %w", err)
	}
	return call{method: "POST", path: pathTweetV2, contentType: "application/json", body: body}, nil
}

// prepare signs k with s and renders its bytes.
func (c *Client) prepare(s *oauth.Signer, k call) (*Prepared, error) {
	if k.token != nil {
		withToken := *s
		withToken.Token, withToken.TokenSecret = k.token.Token, k.token.Secret
		s = &withToken
	}
	bd, err := s.Sign(oauth.Request{Method: k.method, URL: c.base + k.path, Form: k.form, Callback: k.callback, Verifier: k.verifier})
	if err != nil {
		return nil, fmt.Errorf("sender: sign request: %w", err)
	}
	r := Request{
		Method:        k.method,
		Host:          c.hostField,
		Target:        k.path,
		UserAgent:     c.userAgent,
		ContentType:   k.contentType,
		Authorization: bd.Header,
		Body:          k.body,
		KeepAlive:     c.keepAlive > 0,
	}
	b, err := r.Bytes()
	if err != nil {
		return nil, err
	}
	return &Prepared{Breakdown: bd, Request: b, Host: c.hostField, Addr: c.addr}, nil
}

// BuildPost signs a post of text without sending it. An empty nonce or
// timestamp (decimal Unix seconds) is chosen as Post would choose it.
func (c *Client) BuildPost(text, nonce, timestamp string) (*Prepared, error) {
	k, err := c.postCall(text)
	if err != nil {
		return nil, err
	}
	return c.build(k, nonce, timestamp)
}

// build is prepare with the nonce and timestamp chosen by the caller
// (explain), or as a request would choose them when empty.
func (c *Client) build(k call, nonce, timestamp string) (*Prepared, error) {
	s := c.signer()
	if nonce != "" {
		s.Nonce = func() string { return nonce }
	}
	if timestamp != "" {
		secs, err := strconv.ParseInt(timestamp, 10, 64)
		if err != nil || secs < 0 {
			return nil, fmt.Errorf("sender: timestamp %q is not Unix seconds", timestamp)
		}
		s.Now = func() time.Time { return time.Unix(secs, 0) }
	}
	return c.prepare(s, k)
}

// Post publishes text as a tweet through the configured API version.
func (c *Client) Post(ctx context.Context, text string) (*Tweet, error) {
	k, err := c.postCall(text)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := classify(resp, c.now().Add(c.ClockOffset()))
		if e.Code == 453 && c.api == "v2" {
			e.Hint = "the app's access level does not include POST /2/tweets; check its plan and permissions in the X developer portal"
		}
		return nil, e
	}
	t, err := decodeTweet(c.api, resp)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Me returns the account the credentials belong to (GET /2/users/me),
// whatever the configured API version.
func (c *Client) Me(ctx context.Context) (*User, error) {
	resp, err := c.do(ctx, call{method: "GET", path: pathMe})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, classify(resp, c.now().Add(c.ClockOffset()))
	}
	u, err := decodeUser(resp)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// do signs k, sends it, and reads the answer, all under one deadline.
func (c *Client) do(ctx context.Context, k call) (*Response, error) {
	p, err := c.prepare(c.signer(), k)
	if err != nil {
		return nil, err
	}
	start := c.now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.roundTrip(ctx, p.Request)
	if err != nil {
		c.log.Warn("sender: request failed", "method", k.method, "path", k.path, "err", err)
		return nil, err
	}
	c.log.Debug("sender: request done", "method", k.method, "path", k.path, "status", resp.StatusCode,
		"elapsed", c.now().Sub(start), "rate_remaining", resp.Header.Get("x-rate-limit-remaining"))
	return resp, nil
}

// roundTrip writes req on a connection (the idle one, or a new one) and
// reads one final response. A connection whose answer allows it is kept
// for the next request when KeepAlive is set.
//
// A kept connection that the server has closed is seen before it is used
// (see idleConn.open), and a new one is dialled. One that the server closes
// while the request is on its way fails like any dropped connection: the
// error wraps ErrTransient and the caller tries again later, on a new
// connection. pitweet's daemon does exactly that, and counts a "duplicate"
// answer to the retry as delivered, so nothing is posted twice.
func (c *Client) roundTrip(ctx context.Context, req []byte) (*Response, error) {
	ic := c.takeIdle()
	if ic == nil {
		conn, err := dialTLS(ctx, c.dialer, c.proxy, c.addr, c.tls, c.userAgent)
		if err != nil {
			return nil, ctxErr(ctx, err)
		}
		ic = &idleConn{conn: conn, br: bufio.NewReader(conn)}
	} else {
		c.log.Debug("sender: reusing the open connection", "addr", c.addr)
	}
	resp, err := exchange(ctx, ic.conn, ic.br, c.addr, req)
	if err != nil || c.keepAlive <= 0 || ctx.Err() != nil || !resp.Reusable() || ic.br.Buffered() > 0 {
		ic.conn.Close()
		return resp, err
	}
	ic.conn.SetDeadline(time.Time{})
	ic.since = c.now()
	c.putIdle(ic)
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
func (c *Client) takeIdle() *idleConn {
	c.mu.Lock()
	ic := c.idle
	c.idle = nil
	c.mu.Unlock()
	if ic == nil {
		return nil
	}
	if c.now().Sub(ic.since) > c.keepAlive || !ic.open() {
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
func (c *Client) putIdle(ic *idleConn) {
	c.mu.Lock()
	old := c.idle
	if c.closed {
		old, ic = ic, nil
	}
	c.idle = ic
	c.mu.Unlock()
	if old != nil {
		old.conn.Close()
	}
}

// Close closes the connection kept open for the next request, if any, and
// keeps none from then on.
func (c *Client) Close() error {
	c.mu.Lock()
	ic := c.idle
	c.idle = nil
	c.closed = true
	c.mu.Unlock()
	if ic != nil {
		return ic.conn.Close()
	}
	return nil
}

// exchange writes req on an open connection and reads the final response,
// within ctx; name is the peer, for messages.
func exchange(ctx context.Context, conn net.Conn, br *bufio.Reader, name string, req []byte) (*Response, error) {
	// When ctx ends (deadline or cancel), a pending read or write fails at
	// once. The connection gets no deadline of its own, so ctx.Err() is
	// always set when that happens and the caller learns which it was.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := conn.Write(req); err != nil {
		return nil, ctxErr(ctx, fmt.Errorf("sender: send request to %s: %w: %w", name, ErrTransient, err))
	}
	for {
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
