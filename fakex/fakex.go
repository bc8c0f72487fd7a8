// Package fakex is a local stand-in for the X API: an HTTPS server on
// loopback that serves the two posting endpoints, GET /2/users/me and the
// PIN-based login flow (POST /oauth/request_token, GET /oauth/authorize,
// POST /oauth/access_token) the way X does, verifies every OAuth 1.0a
// signature with package oauth, records the tweets it accepts, and
// misbehaves on request (rate limits, duplicates, a skewed clock, resets,
// hangs, a wrong PIN, an expired request token, a read-only app) so clients
// can be tested against each.
//
// It accepts one account, the credentials given to New, and the access
// tokens it issues to that app through the login flow. Its TLS certificate
// comes from a certificate authority generated in memory at StartTLS; clients
// trust it through CAPEM or WriteCA.
package fakex

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"pitweet/httpd"
	"pitweet/oauth"
)

// DemoCredentials are the credentials the fakex command accepts when it is
// given no credentials file. They open nothing but a fakex server.
var DemoCredentials = oauth.Credentials{
	ConsumerKey:    "pitweet-demo-api-key",
	ConsumerSecret: "pitweet-demo-api-secret",
	Token:          "1790000000000000000-pitweetdemotoken",
	TokenSecret:    "pitweet-demo-access-secret",
}

// A Tweet is a post the server accepted.
type Tweet struct {
	ID    string    `json:"id"`
	Text  string    `json:"text"`
	API   string    `json:"api"`             // "v2" or "v1.1"
	At    time.Time `json:"at"`              // by the server's clock
	Media []Picture `json:"media,omitempty"` // the pictures attached, in order
}

// A Request is one request to the X API endpoints, as the server saw it.
type Request struct {
	Method string    `json:"method"`
	Path   string    `json:"path"`
	API    string    `json:"api"` // "v2" or "v1.1"; "oauth" for the login endpoints
	At     time.Time `json:"at"`  // arrival, by the server's clock
	// Status is the HTTP status answered; 0 while the request is being
	// handled, and for a reset or hung connection.
	Status int    `json:"status"`
	Fault  string `json:"fault,omitempty"`  // fault mode applied, if any
	Reason string `json:"reason,omitempty"` // why it was refused or cut, if it was
}

// A User is the account the server posts as.
type User struct {
	ID, Name, Username string
}

// A Server emulates the X API for one account. Set its exported fields
// before StartTLS; they must not change while it serves.
type Server struct {
	// Logger receives one line per request at debug level and one per
	// accepted tweet at info level; nil discards. Secrets are never logged.
	Logger *slog.Logger
	// Now is the server's clock; nil means time.Now. ModeSkew offsets it.
	Now func() time.Time
	// User is the account GET /2/users/me describes.
	User User
	// Window is how far oauth_timestamp may be from the server's clock
	// (X allows 300 seconds, the default).
	Window time.Duration
	// RateLimit is how many posting requests a 15-minute window allows,
	// and DailyLimit how many a 24-hour window allows, before the server
	// answers 429 by itself. Both are reported in the x-rate-limit-* and
	// x-user-limit-24hour-* headers. The defaults are high enough for
	// benchmarks; set them low to test real exhaustion.
	RateLimit, DailyLimit int
	// AppDailyLimit is the app's 24-hour allowance, reported in the
	// x-app-limit-24hour-* headers (X documents 10,000 posts a day per
	// app for POST /2/tweets) and enforced like DailyLimit; 0 leaves the
	// headers out.
	AppDailyLimit int
	// NoDayHeaders leaves out the x-user-limit-24hour-* and
	// x-app-limit-24hour-* headers, as X's pay-per-use tier was seen to
	// (the limits still apply).
	NoDayHeaders bool
	// RequestTokenTTL is how long a request token from POST
	// /oauth/request_token may be exchanged (X does not say); 0 means 15
	// minutes.
	RequestTokenTTL time.Duration
	// MediaTTL is how long an uploaded picture's media id may be attached
	// to a post; 0 means DefaultMediaTTL, 24 hours, as X answers.
	MediaTTL time.Duration

	creds oauth.Credentials

	mu       sync.Mutex
	faults   []Fault
	tweets   []Tweet
	texts    map[string]bool
	requests []Request
	nonces   map[string]time.Time // nonce → its oauth_timestamp
	pruned   time.Time            // when nonces were last pruned
	lastID   int64
	// The login flow's tokens: request tokens waiting for approval and
	// exchange, and the access tokens issued (in order, in issued).
	requestTokens map[string]*requestToken
	accessTokens  map[string]accessGrant
	issued        []string
	// Uploaded pictures by media id, and their ids in the order issued.
	media      map[string]*upload
	mediaOrder []string
	window     rateWindow
	day        rateWindow
	changed    chan struct{} // closed and replaced whenever tweets or requests grow

	http httpd.Server
}

// maxBody bounds a request body: an upload of a picture of X's largest
// (5 MB in one request) with its multipart framing fits, and a larger one
// is read whole to be refused as X refuses it, up to this bound.
const maxBody = 8 << 20

// New returns a server that accepts requests signed with creds.
func New(creds oauth.Credentials) *Server {
	return &Server{
		User:       User{ID: "1790000000000000000", Name: "pitweet demo", Username: "pitweet_demo"},
		Window:     300 * time.Second,
		RateLimit:  10000,
		DailyLimit: 100000,
		creds:      creds,
		texts:      map[string]bool{},
		media:      map[string]*upload{},
		nonces:     map[string]time.Time{},
		changed:    make(chan struct{}),

		requestTokens: map[string]*requestToken{},
		accessTokens:  map[string]accessGrant{},
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// now returns the server's clock without any fault's skew.
func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// StartTLS generates a fresh certificate authority and server certificate,
// listens on addr (such as "127.0.0.1:0") and serves HTTPS until Close.
// Only HTTP/1.1 is offered, as X's clients speak it.
func (s *Server) StartTLS(addr string) error {
	if err := s.httpServer().StartTLS(addr); err != nil {
		return err
	}
	s.logger().Info("fakex listening", "url", s.URL())
	return nil
}

// httpServer returns the HTTP server, set up to serve the X API.
func (s *Server) httpServer() *httpd.Server {
	s.http.Name = "fakex"
	s.http.Handler = s.handle
	s.http.Logger = s.Logger
	s.http.MaxBody = maxBody
	return &s.http
}

// URL returns the base URL to give clients, such as https://127.0.0.1:43117,
// or "" before StartTLS.
func (s *Server) URL() string { return s.http.URL() }

// CAPEM returns the PEM certificate of the authority that signed the
// server's certificate (nil before StartTLS).
func (s *Server) CAPEM() []byte { return s.http.CAPEM() }

// WriteCA writes CAPEM to path, for clients that take a CA file.
func (s *Server) WriteCA(path string) error { return s.http.WriteCA(path) }

// Close stops the server: it closes the listener and every connection,
// releases requests held by ModeHang or ModeSlow, and returns once every
// connection is done with.
func (s *Server) Close() error { return s.http.Close() }

// Tweets returns the tweets accepted so far, oldest first.
func (s *Server) Tweets() []Tweet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tweets)
}

// Requests returns every X API request seen so far, refused ones included,
// oldest first. Requests to the /fakex/ control endpoints are not listed.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// WaitTweets waits until at least n tweets were accepted and returns them
// all, or returns ctx's error.
func (s *Server) WaitTweets(ctx context.Context, n int) ([]Tweet, error) {
	for {
		s.mu.Lock()
		if len(s.tweets) >= n {
			t := slices.Clone(s.tweets)
			s.mu.Unlock()
			return t, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("fakex: waiting for %d tweets: %w", n, ctx.Err())
		}
	}
}

// WaitRequests waits until at least n X API requests have arrived (their
// Status may still be 0: being handled) and returns them all, or returns
// ctx's error.
func (s *Server) WaitRequests(ctx context.Context, n int) ([]Request, error) {
	for {
		s.mu.Lock()
		if len(s.requests) >= n {
			r := slices.Clone(s.requests)
			s.mu.Unlock()
			return r, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("fakex: waiting for %d requests: %w", n, ctx.Err())
		}
	}
}

// notify wakes every waiter. s.mu must be held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}
