// Package mastodon posts to a Mastodon server through pitweet's own HTTP/1.1
// sender: statuses with an Idempotency-Key (POST /api/v1/statuses), pictures
// with their alt text (POST /api/v2/media, polled with GET /api/v1/media/:id
// while the server processes them), the server's limits (GET
// /api/v2/instance) and the account a token acts for (GET
// /api/v1/accounts/verify_credentials). Every refusal is a *sender.APIError
// sorted into a sender.Kind, so a caller decides the same way as for any
// other service.
//
// The wire follows docs.joinmastodon.org; docs/specs/mastodon.md quotes
// each page used.
package mastodon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"pitweet/sender"
)

// API paths.
const (
	pathStatuses = "/api/v1/statuses"
	pathMediaV2  = "/api/v2/media"
	pathMedia    = "/api/v1/media/"
	pathInstance = "/api/v2/instance"
	pathVerify   = "/api/v1/accounts/verify_credentials"
)

// Service names Mastodon in errors.
const Service = "Mastodon"

// Visibilities are the values of a status's visibility, most public first
// (docs.joinmastodon.org/methods/statuses/#create).
var Visibilities = []string{"public", "unlisted", "private", "direct"}

// Config says which server to post to, and how.
type Config struct {
	Server     string // "https://mastodon.example"
	Token      string // the access token (mastodon_token)
	CAFile     string // PEM bundle trusted besides the system roots
	Visibility string // "" means public
	Language   string // ISO 639 code sent with each status; "" sends none
	UserAgent  string
	Timeout    time.Duration // for one request; 0: the sender's default
	KeepAlive  time.Duration // keep a connection open this long for the next request
	Logger     *slog.Logger
}

// Client talks to one Mastodon server for one account. It is safe for
// concurrent use.
type Client struct {
	tr         *sender.Transport
	token      string
	visibility string
	language   string
	log        *slog.Logger

	// Seams for tests.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu       sync.Mutex
	inst     Instance            // last instance document read; zero until one is
	instAt   time.Time           // when inst was read
	instTry  time.Time           // when a read last failed
	account  *Account            // the token's account, once known
	uploaded map[string][]string // media ids uploaded for a message not yet posted, by key
	claimed  map[string]bool     // ids of the statuses Publish returned
	rate     RateLimit           // from the last answer that carried the headers
}

// New checks cfg and returns a client for its server.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, errors.New("mastodon: no access token; add mastodon_token=... to the credentials file (or set PITWEET_MASTODON_TOKEN)")
	}
	if strings.ContainsAny(cfg.Token, " \t\r\n\x00") {
		return nil, errors.New("mastodon: the access token holds white space or a control character; copy it again from the server's Preferences, Development")
	}
	if cfg.Visibility == "" {
		cfg.Visibility = "public"
	}
	if !validVisibility(cfg.Visibility) {
		return nil, fmt.Errorf("mastodon: visibility %q is not one of %s", cfg.Visibility, strings.Join(Visibilities, ", "))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tr, err := sender.NewTransport(sender.TransportConfig{
		BaseURL:   cfg.Server,
		CAFile:    cfg.CAFile,
		Timeout:   cfg.Timeout,
		UserAgent: cfg.UserAgent,
		KeepAlive: cfg.KeepAlive,
		Logger:    cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("mastodon: server %s: %w", cfg.Server, inMastodon{err})
	}
	return &Client{
		tr:         tr,
		token:      cfg.Token,
		visibility: cfg.Visibility,
		language:   cfg.Language,
		log:        cfg.Logger,
		now:        time.Now,
		sleep:      sleepCtx,
		uploaded:   map[string][]string{},
		claimed:    map[string]bool{},
	}, nil
}

func validVisibility(v string) bool {
	for _, s := range Visibilities {
		if v == s {
			return true
		}
	}
	return false
}

// Transport returns the client's transport, for Render.
func (c *Client) Transport() *sender.Transport { return c.tr }

// Server returns "https://host[:port]".
func (c *Client) Server() string { return c.tr.Origin() }

// Close closes the connection kept open, if any.
func (c *Client) Close() error { return c.tr.Close() }

// RateLimit returns the rate-limit headers of the last answer that carried
// them; zero before any.
func (c *Client) RateLimit() RateLimit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

// auth is the Authorization header's value.
func (c *Client) auth() string { return "Bearer " + c.token }

// do sends req and returns the answer when its status is one of ok; any
// other answer becomes an *APIError.
func (c *Client) do(ctx context.Context, req *sender.Request, ok ...int) (*sender.Response, error) {
	start := c.now()
	resp, err := c.tr.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("mastodon: %s %s: %w", req.Method, req.Target, err)
	}
	if rl := rateLimitFrom(resp.Header); rl.Limit >= 0 {
		c.mu.Lock()
		c.rate = rl
		c.mu.Unlock()
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	return nil, classify(resp, start)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// escapePath escapes an id for a request path: ids are opaque strings
// (docs.joinmastodon.org/api/guidelines/).
func escapePath(id string) string { return url.PathEscape(id) }

// inMastodon is an error of the shared transport about a key of the
// config, said of [mastodon], where this client's keys are, rather than
// of [x].
type inMastodon struct{ err error }

func (e inMastodon) Error() string {
	return strings.ReplaceAll(e.err.Error(), " in [x]", " in [mastodon]")
}
func (e inMastodon) Unwrap() error { return e.err }
