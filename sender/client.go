// Package sender sends pitweet's requests over a TLS socket it drives
// itself, and makes X's API calls on it.
//
// The transport (Transport, Request, Body, Response, APIError) dials one
// origin directly or through an HTTP CONNECT proxy, verifies TLS, writes the
// HTTP/1.1 request bytes, parses the response with bufio, keeps a
// connection alive when asked, and bounds every request with a deadline.
// Service clients build their requests on it: the X client here (Client)
// signs them with OAuth 1.0a (package oauth) and turns X's answers into a
// Tweet or a typed error; other services' clients live in packages of
// their own and report refusals the same way, as an *APIError with a Kind.
//
// It imports neither net/http nor net/textproto: the wire format is part of
// what pitweet shows.
package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"pitweet/oauth"
)

// DefaultBaseURL is X's API.
const DefaultBaseURL = "https://api.x.com"

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

// Client makes X API requests, signed with OAuth 1.0a, on a Transport. It
// is safe for concurrent use.
type Client struct {
	tr     *Transport
	api    string
	creds  oauth.Credentials
	offset atomic.Int64 // clock offset in nanoseconds, added to now when signing

	// Seams for tests.
	now   func() time.Time
	nonce func() string // nil: oauth.NewNonce
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
	tr, err := NewTransport(TransportConfig{
		BaseURL:   cfg.BaseURL,
		CAFile:    cfg.CAFile,
		Proxy:     cfg.Proxy,
		Timeout:   cfg.Timeout,
		UserAgent: cfg.UserAgent,
		KeepAlive: cfg.KeepAlive,
		Logger:    cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Client{tr: tr, api: cfg.API, creds: creds, now: time.Now}, nil
}

// Transport returns the transport the client sends on, for requests to X
// beyond those this package makes.
func (c *Client) Transport() *Transport { return c.tr }

// API returns the API version posts go through: "v2" or "v1.1".
func (c *Client) API() string { return c.api }

// Close closes the connection kept open for the next request, if any.
func (c *Client) Close() error { return c.tr.Close() }

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
	// stream is a body sent from disk (a multipart upload); it is never
	// signed. Set either body or stream.
	stream *Body
	form   []oauth.Param // signed form parameters, for v1.1
	// The login flow's signed extras: oauth_callback to ask for a request
	// token; the request token (in place of the client's token) and
	// oauth_verifier to exchange it.
	callback, verifier string
	token              *RequestToken
	// timeout is the request's deadline, dial to last byte; 0 means the
	// transport's. An upload's grows with its size.
	timeout time.Duration
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

// request signs k with s and returns it as a Request.
func (c *Client) request(s *oauth.Signer, k call) (*Request, *oauth.Breakdown, error) {
	if k.token != nil {
		withToken := *s
		withToken.Token, withToken.TokenSecret = k.token.Token, k.token.Secret
		s = &withToken
	}
	bd, err := s.Sign(oauth.Request{Method: k.method, URL: c.tr.Origin() + k.path, Form: k.form, Callback: k.callback, Verifier: k.verifier})
	if err != nil {
		return nil, nil, fmt.Errorf("sender: sign request: %w", err)
	}
	req := &Request{
		Method:        k.method,
		Target:        k.path,
		ContentType:   k.contentType,
		Authorization: bd.Header,
	}
	if k.timeout > 0 {
		req.Timeout = c.tr.timeout + k.timeout
	}
	if len(k.body) > 0 {
		req.Body = BytesBody(k.body)
	}
	if k.stream != nil {
		req.Body = k.stream
	}
	return req, bd, nil
}

// prepare signs k with s and renders its bytes.
func (c *Client) prepare(s *oauth.Signer, k call) (*Prepared, error) {
	req, bd, err := c.request(s, k)
	if err != nil {
		return nil, err
	}
	b, err := c.tr.Render(req)
	if err != nil {
		return nil, err
	}
	return &Prepared{Breakdown: bd, Request: b, Host: c.tr.Host(), Addr: c.tr.Addr()}, nil
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
	req, _, err := c.request(c.signer(), k)
	if err != nil {
		return nil, err
	}
	return c.tr.Do(ctx, req)
}
