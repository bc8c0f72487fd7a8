// Package bluesky posts to Bluesky (the AT Protocol's app.bsky) over
// pitweet's own transport (package sender): an app password opens a
// session (com.atproto.server.createSession), whose refresh token is kept
// in the state directory so a restart does not log in again; a post is an
// app.bsky.feed.post record made with com.atproto.repo.createRecord under a
// record key derived from the message (RecordKey), so a retry after a lost
// answer finds the post it made instead of making a second one; pictures
// go first through com.atproto.repo.uploadBlob.
//
// Refusals are *sender.APIError, sorted into the same kinds as every other
// service's, so the daemon decides the same way for each destination.
package bluesky

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pitweet/sender"
)

// DefaultService is Bluesky's entryway, where accounts of bsky.social log
// in.
const DefaultService = "https://bsky.social"

// Collection is the collection of posts.
const Collection = "app.bsky.feed.post"

// XRPC methods.
const (
	pathCreateSession  = "/xrpc/com.atproto.server.createSession"
	pathRefreshSession = "/xrpc/com.atproto.server.refreshSession"
	pathCreateRecord   = "/xrpc/com.atproto.repo.createRecord"
	pathGetRecord      = "/xrpc/com.atproto.repo.getRecord"
	pathUploadBlob     = "/xrpc/com.atproto.repo.uploadBlob"
)

// Limits of a post's text (app.bsky.feed.post: maxGraphemes, maxLength in
// UTF-8 bytes) and of its images (app.bsky.embed.images).
const (
	MaxGraphemes = 300
	MaxBytes     = 3000
	MaxImages    = 4
	MaxLangs     = 3
)

// Config says how to reach an account.
type Config struct {
	Service     string // "https://host[:port]" where the account logs in; "" means DefaultService
	Handle      string // the account's handle (or DID)
	AppPassword string
	Langs       []string // BCP 47 tags written into every post; may be empty
	CAFile      string   // PEM bundle trusted in addition to the system roots
	Proxy       string   // as sender.TransportConfig.Proxy
	Timeout     time.Duration
	UserAgent   string
	KeepAlive   time.Duration
	Logger      *slog.Logger // nil discards
	// StateDir is the directory the session's refresh token is kept in
	// (SessionFile); "" keeps it in memory only, and every Client logs in
	// afresh.
	StateDir string
}

// Client posts to one account. Its methods may be called from several
// goroutines; requests are made one at a time.
type Client struct {
	cfg   Config
	entry *sender.Transport // the configured service: sessions, and the rest without a PDS of its own
	log   *slog.Logger

	mu      sync.Mutex // one request sequence at a time; guards the fields below
	pds     *sender.Transport
	session session
	access  string

	offset atomic.Int64 // the service's clock minus ours, in nanoseconds

	stMu   sync.Mutex
	status Status

	now func() time.Time
}

// session is what a session answer says, and what is kept on disk but the
// access token.
type session struct {
	DID     string `json:"did"`
	Handle  string `json:"handle"`
	PDS     string `json:"pds,omitempty"` // the didDoc's #atproto_pds endpoint; "" when not given
	Refresh string `json:"refresh_jwt"`
}

// New checks cfg and returns a client. It reads CAFile and the proxy
// environment now, so a mistake shows at start-up. It sends nothing.
func New(cfg Config) (*Client, error) {
	if cfg.Service == "" {
		cfg.Service = DefaultService
	}
	cfg.Service = strings.TrimRight(cfg.Service, "/")
	if cfg.Handle == "" {
		return nil, errors.New("bluesky: no handle; set handle in [bluesky], such as \"name.bsky.social\"")
	}
	if cfg.AppPassword == "" {
		return nil, errors.New("bluesky: no app password; add bluesky_app_password= to the credentials file (make one in Bluesky's Settings, Privacy and security, App passwords)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tr, err := newTransport(cfg, cfg.Service)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, entry: tr, log: cfg.Logger, now: time.Now}
	c.status.Session = "not logged in yet"
	return c, nil
}

func newTransport(cfg Config, base string) (*sender.Transport, error) {
	tr, err := sender.NewTransport(sender.TransportConfig{
		BaseURL:   base,
		CAFile:    cfg.CAFile,
		Proxy:     cfg.Proxy,
		Timeout:   cfg.Timeout,
		UserAgent: cfg.UserAgent,
		KeepAlive: cfg.KeepAlive,
		Logger:    cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("bluesky: %w", err)
	}
	return tr, nil
}

// Close closes the connections kept open for the next request.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.entry.Close()
	if c.pds != nil {
		err = errors.Join(err, c.pds.Close())
	}
	return err
}

// SetClockOffset sets how far the service's clock is ahead of ours; a
// rate limit's end, given on the service's clock, is read with it.
func (c *Client) SetClockOffset(d time.Duration) {
	c.offset.Store(int64(d))
}

// Status is what the client knows of its account, for `pitweet status`.
type Status struct {
	// Session says how the login stands: "logged in as HANDLE (DID)",
	// "not logged in yet", or what failed and what to do.
	Session   string
	LoggedIn  bool
	Handle    string
	DID       string
	PDS       string // where posts go
	RateLimit RateLimit
}

// Status returns what the client knows of its account.
func (c *Client) Status() Status {
	c.stMu.Lock()
	defer c.stMu.Unlock()
	return c.status
}

func (c *Client) setStatus(f func(*Status)) {
	c.stMu.Lock()
	f(&c.status)
	c.stMu.Unlock()
}

// RateLimit is what an answer's RateLimit-* fields say (the PDS writes
// them as draft-polli-ratelimit-headers-02 names them, with the reset in
// Unix seconds). Limit and Remaining are -1 when absent.
type RateLimit struct {
	Limit, Remaining int
	Reset            time.Time // on our clock; zero when absent
	Policy           string    // "30;w=300": 30 in windows of 300 seconds
	At               time.Time // when the answer came
}

// Known reports whether any limit was seen.
func (r RateLimit) Known() bool { return r.Limit >= 0 || r.Remaining >= 0 }

// noteAnswer records what resp says of the rate limits.
func (c *Client) noteAnswer(resp *sender.Response) {
	h := resp.Header
	if h.Get("ratelimit-limit") == "" && h.Get("ratelimit-remaining") == "" {
		return
	}
	now := c.now()
	rl := RateLimit{Limit: headerInt(h, "ratelimit-limit"), Remaining: headerInt(h, "ratelimit-remaining"),
		Policy: h.Get("ratelimit-policy"), At: now}
	if reset := rateLimitReset(h, now); !reset.IsZero() {
		rl.Reset = reset.Add(-c.clockOffset())
	}
	c.setStatus(func(s *Status) { s.RateLimit = rl })
}

func (c *Client) clockOffset() time.Duration { return time.Duration(c.offset.Load()) }

func headerInt(h sender.Header, name string) int {
	n, err := strconv.Atoi(h.Get(name))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// rateLimitReset reads RateLimit-Reset: Unix seconds as the PDS writes it,
// or, a number below 10^9, seconds from now as the IETF draft has it (other
// servers follow the draft). The time is on the server's clock, read
// against its Date when given. Zero when absent.
func rateLimitReset(h sender.Header, now time.Time) time.Time {
	n, err := strconv.ParseInt(h.Get("ratelimit-reset"), 10, 64)
	if err != nil || n < 0 {
		return time.Time{}
	}
	if n >= 1e9 {
		if n > 1<<40 {
			n = 1 << 40
		}
		return time.Unix(n, 0).UTC()
	}
	base := parseDate(h.Get("date"))
	if base.IsZero() {
		base = now
	}
	return base.Add(time.Duration(n) * time.Second)
}

// parseDate reads an HTTP date (IMF-fixdate, the form servers send), or
// returns the zero time.
func parseDate(s string) time.Time {
	for _, layout := range []string{time.RFC1123, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// xrpcError is an XRPC error body: {"error": NAME, "message": TEXT}.
type xrpcError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// classify turns a non-2xx answer into an *APIError. now is the time the
// request was sent, on the service's clock as far as it is known.
func classify(resp *sender.Response, now time.Time) *sender.APIError {
	e := sender.NewAPIError("Bluesky", resp)
	var x xrpcError
	if json.Unmarshal(resp.Body, &x) == nil {
		e.Reason, e.Detail = x.Error, x.Message
	} else if len(resp.Body) > 0 {
		e.Detail = clip(resp.Body)
	}
	if e.Reason != "" && e.Reason != e.Title {
		e.Title = strings.TrimSpace(e.Title + " " + e.Reason)
	}
	switch {
	case resp.StatusCode == 429 || e.Reason == "RateLimitExceeded":
		e.Kind, e.Err = sender.KindRateLimited, nil
		// Retry-After says the wait of the limit that refused; the
		// RateLimit-* fields may describe another of the route's limits.
		reset := time.Time{}
		if resp.Header.Get("retry-after") == "" {
			reset = rateLimitReset(resp.Header, now)
		}
		e.SetRetryAt(reset, now)
	case e.Reason == "ExpiredToken" || e.Reason == "InvalidToken":
		e.Kind, e.Err = sender.KindUnauthorized, nil
		e.Hint = "the session was refused even after logging in again; check handle in [bluesky] and bluesky_app_password, and that the app password was not revoked"
	case e.Reason == "AccountTakedown" || e.Reason == "AccountDeactivated" || e.Reason == "AccountSuspended":
		e.Kind, e.Err = sender.KindForbidden, nil
		e.Hint = "the account cannot post; look at it in the Bluesky app"
	case resp.StatusCode == 401:
		e.Hint = "check handle in [bluesky] and bluesky_app_password (an app password made in Bluesky's Settings, Privacy and security, App passwords)"
	case resp.StatusCode == 413 || strings.Contains(e.Detail, "too big") || e.Reason == "BlobTooLarge":
		e.Kind, e.Err = sender.KindPermanent, nil
		e.Hint = "the post or one of its pictures is larger than the service takes"
	}
	return e
}

// protocolError reports a success status whose body is not what the
// service sends.
func protocolError(resp *sender.Response, want string) *sender.APIError {
	return &sender.APIError{
		Service: "Bluesky",
		Kind:    sender.KindProtocol,
		Status:  resp.StatusCode,
		Title:   resp.Reason,
		Detail:  "expected " + want + ", got " + strconv.Quote(clip(resp.Body)),
		Hint:    "is service in [bluesky] an AT Protocol server, such as https://bsky.social?",
		Header:  resp.Header,
		Err:     sender.ErrProtocol,
	}
}

// clip shortens a body for a message.
func clip(b []byte) string {
	const n = 200
	s := strings.ToValidUTF8(string(bytes.TrimSpace(b)), "?")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// isReason reports whether err is an answer with the XRPC error name.
func isReason(err error, names ...string) bool {
	var e *sender.APIError
	if !errors.As(err, &e) {
		return false
	}
	for _, n := range names {
		if e.Reason == n {
			return true
		}
	}
	return false
}

// answered reports whether err is an answer of the service (not a
// failure to get one).
func answered(err error) (*sender.APIError, bool) {
	var e *sender.APIError
	ok := errors.As(err, &e)
	return e, ok
}

// jsonBody encodes v without escaping <, > and & (what is sent is what
// explain shows, readable).
func jsonBody(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// getTarget is the target of a query with its parameters in order.
func getTarget(path string, params ...string) string {
	var b strings.Builder
	b.WriteString(path)
	for i := 0; i+1 < len(params); i += 2 {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(params[i]) + "=" + url.QueryEscape(params[i+1]))
	}
	return b.String()
}
