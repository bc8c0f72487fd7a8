// Package fakemastodon is a local stand-in for a Mastodon server: an HTTPS
// server on loopback that serves the endpoints a poster uses (statuses,
// media, instance, verify_credentials) the way Mastodon does, verifies
// what Mastodon verifies (the bearer token, the status length as Mastodon
// counts it, visibility, the media attached, the Idempotency-Key, the
// uploaded image), answers with Mastodon's status codes, error bodies and
// rate-limit headers, records what it accepted, and misbehaves on request
// (rate limits, server errors, slow or hung answers, a reset after the
// status was made) so clients can be tested against each.
//
// README.md in this directory lists every rule with the documentation page
// it follows. Its TLS certificate comes from a certificate authority
// generated in memory at StartTLS; clients trust it through CAPEM or
// WriteCA.
package fakemastodon

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"pitweet/emulator"
	"pitweet/httpd"
)

// An Account is a user of the server and the access token that acts for it.
type Account struct {
	ID       string // opaque, as Mastodon's ids: "110000000000000001"
	Username string // "pitweet_demo"
	Token    string // the bearer token
	// Scopes the token was granted; nil grants every scope. A poster
	// needs write:statuses, write:media and read:accounts (or profile).
	Scopes []string
}

// DemoAccount is the account a server made with no accounts serves. Its
// token opens nothing but a fakemastodon server.
var DemoAccount = Account{ID: "110000000000000001", Username: "pitweet_demo", Token: "pitweet-demo-mastodon-token"}

// Faults, as package emulator defines them. A Fault with no Path applies
// to POST /api/v1/statuses.
type (
	Fault   = emulator.Fault
	Request = emulator.Request
)

// Fault modes.
const (
	ModeNone             = emulator.ModeNone
	Mode429              = emulator.Mode429
	Mode500              = emulator.Mode500
	Mode503              = emulator.Mode503
	ModeSlow             = emulator.ModeSlow
	ModeResetAfterAccept = emulator.ModeResetAfterAccept
	ModeHang             = emulator.ModeHang
)

// Modes lists every fault mode.
var Modes = emulator.Modes

// Documented limits (docs.joinmastodon.org/api/rate-limits/), and the
// statuses limit Mastodon applies without documenting it.
const (
	DocumentedAPILimit    = 300 // per account, per 5 minutes, every endpoint
	DocumentedMediaLimit  = 30  // per account, per 30 minutes, POST /api/v1/media and /api/v2/media
	DocumentedStatusLimit = 300 // per account, per 3 hours, statuses made
)

// A Status is a status the server made.
type Status struct {
	ID             string    `json:"id"`
	Account        string    `json:"account"` // the username
	Text           string    `json:"text"`    // as posted, leading and trailing white space stripped
	SpoilerText    string    `json:"spoiler_text,omitempty"`
	Visibility     string    `json:"visibility"`
	Language       string    `json:"language,omitempty"`
	Sensitive      bool      `json:"sensitive,omitempty"`
	MediaIDs       []string  `json:"media_ids,omitempty"`
	InReplyToID    string    `json:"in_reply_to_id,omitempty"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	CreatedAt      time.Time `json:"created_at"` // by the server's clock
}

// A Media is an uploaded media attachment.
type Media struct {
	ID          string    `json:"id"`
	Account     string    `json:"account"`   // the username
	Type        string    `json:"type"`      // "image", or "gifv" for an animated GIF
	MIMEType    string    `json:"mime_type"` // as the bytes say: "image/jpeg"
	Filename    string    `json:"filename"`
	Description string    `json:"description,omitempty"`
	Focus       string    `json:"focus,omitempty"`
	Width       int       `json:"width"`
	Height      int       `json:"height"`
	Size        int       `json:"size"`      // bytes
	StatusID    string    `json:"status_id"` // the status it is attached to, "" while unattached
	UploadedAt  time.Time `json:"uploaded_at"`
	ReadyAt     time.Time `json:"ready_at"` // when processing ends; UploadedAt when synchronous

	data []byte
}

// A Server emulates a Mastodon server. Set its exported fields before
// StartTLS; they must not change while it serves.
type Server struct {
	// Logger receives one line per request at debug level and one per
	// status made at info level; nil discards. Tokens are never logged.
	Logger *slog.Logger
	// Now is the server's clock; nil means time.Now. Media processing,
	// Idempotency-Key expiry and rate-limit windows follow it.
	Now func() time.Time

	// The instance's configuration, as GET /api/v2/instance reports it.
	MaxCharacters       int      // a status's length limit; 500
	CharactersPerURL    int      // what a URL counts; 23
	MaxMediaAttachments int      // media per status; 4
	SupportedMIMETypes  []string // media types an upload may have
	ImageSizeLimit      int      // bytes; 16 MiB
	ImageMatrixLimit    int      // width × height; 33177600
	DescriptionLimit    int      // characters of alt text; 1500

	// AsyncOver: images larger than this many bytes are processed
	// asynchronously, answering 202 and processing for ProcessingTime;
	// 0 processes every still image synchronously (200), as Mastodon 4
	// does. Animated GIFs, which become gifv, are always asynchronous.
	AsyncOver int
	// ProcessingTime is how long asynchronous processing takes, by the
	// server's clock (default 2 s).
	ProcessingTime time.Duration

	// IdempotencyTTL is how long an Idempotency-Key is remembered after
	// the status it made (Mastodon: 3600 s).
	IdempotencyTTL time.Duration

	// Rate limits per account: APILimit requests per 5 minutes on every
	// endpoint, MediaLimit uploads per 30 minutes, StatusLimit statuses
	// per 3 hours. Defaults are high enough for benchmarks; set the
	// Documented* values to test real exhaustion.
	APILimit, MediaLimit, StatusLimit int

	core     emulator.Core
	accounts []Account

	mu       sync.Mutex
	statuses []Status
	media    []*Media
	keys     map[string]idempotent // account ID + "\n" + key
	lastID   int64
	rates    map[string]*accountRates // by account ID
}

type idempotent struct {
	statusID string
	at       time.Time
}

type accountRates struct {
	api, media, statuses emulator.Window
}

// New returns a server for the given accounts (DemoAccount if none).
func New(accounts ...Account) *Server {
	if len(accounts) == 0 {
		accounts = []Account{DemoAccount}
	}
	s := &Server{
		MaxCharacters:       500,
		CharactersPerURL:    23,
		MaxMediaAttachments: 4,
		SupportedMIMETypes:  []string{"image/jpeg", "image/png", "image/gif"},
		ImageSizeLimit:      16 << 20,
		ImageMatrixLimit:    33177600,
		DescriptionLimit:    1500,
		ProcessingTime:      2 * time.Second,
		IdempotencyTTL:      3600 * time.Second,
		APILimit:            100000,
		MediaLimit:          10000,
		StatusLimit:         100000,
		accounts:            slices.Clone(accounts),
		keys:                map[string]idempotent{},
		rates:               map[string]*accountRates{},
	}
	s.core = emulator.Core{Name: "fakemastodon", PostPath: "/api/v1/statuses", Now: s.now}
	return s
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// maxBody bounds a request: an upload twice the image limit is read and
// refused with Mastodon's 422, a larger one gets a 413 as from the proxy
// in front of Mastodon.
func (s *Server) maxBody() int { return 2*s.ImageSizeLimit + 1<<20 }

// StartTLS generates a fresh certificate authority and server certificate,
// listens on addr (such as "127.0.0.1:0") and serves HTTPS until Close.
func (s *Server) StartTLS(addr string) error {
	s.core.Logger = s.Logger
	return s.core.Start(addr, s.maxBody(), s.handle, s.refused)
}

// HTTPServer returns the HTTP server set up as StartTLS sets it up, without
// listening, for tests that speak raw HTTP to it over a plain connection
// with its ServeConn.
func (s *Server) HTTPServer() *httpd.Server {
	s.core.Logger = s.Logger
	return s.core.Server(s.maxBody(), s.handle, s.refused)
}

// URL returns the base URL to give clients, such as https://127.0.0.1:43117,
// or "" before StartTLS.
func (s *Server) URL() string { return s.core.URL() }

// CAPEM returns the PEM certificate of the authority that signed the
// server's certificate (nil before StartTLS).
func (s *Server) CAPEM() []byte { return s.core.CAPEM() }

// WriteCA writes CAPEM to path, for clients that take a CA file.
func (s *Server) WriteCA(path string) error { return s.core.WriteCA(path) }

// Close stops the server: it closes the listener and every connection,
// releases requests held by ModeHang or ModeSlow, and returns once every
// connection is done with.
func (s *Server) Close() error { return s.core.Close() }

// SetFault replaces any pending faults with f; the zero Fault clears them.
func (s *Server) SetFault(f Fault) error { return s.core.SetFault(f) }

// Script queues faults to apply one after the other (see emulator.Core).
func (s *Server) Script(faults []Fault) error { return s.core.Script(faults) }

// Fault returns the fault in force now.
func (s *Server) Fault() Fault { return s.core.Fault() }

// Requests returns every API request seen so far, refused ones included,
// oldest first. Requests to the /fakemastodon/ control endpoints are not
// listed.
func (s *Server) Requests() []Request { return s.core.Requests() }

// WaitRequests waits until at least n API requests have arrived and
// returns them all, or returns ctx's error.
func (s *Server) WaitRequests(ctx context.Context, n int) ([]Request, error) {
	return s.core.WaitRequests(ctx, n)
}

// Statuses returns the statuses made so far, oldest first.
func (s *Server) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, len(s.statuses))
	for i, st := range s.statuses {
		st.MediaIDs = slices.Clone(st.MediaIDs)
		out[i] = st
	}
	return out
}

// WaitStatuses waits until at least n statuses were made and returns them
// all, or returns ctx's error.
func (s *Server) WaitStatuses(ctx context.Context, n int) ([]Status, error) {
	var sts []Status
	err := s.core.WaitFor(ctx, fmt.Sprintf("%d statuses", n), func() bool {
		sts = s.Statuses()
		return len(sts) >= n
	})
	return sts, err
}

// Media returns the media uploaded so far, oldest first.
func (s *Server) Media() []Media {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Media, len(s.media))
	for i, m := range s.media {
		out[i] = *m
		out[i].data = nil
	}
	return out
}

// MediaData returns the bytes of the uploaded media id, or nil.
func (s *Server) MediaData(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.media {
		if m.ID == id {
			return slices.Clone(m.data)
		}
	}
	return nil
}

// nextID returns a new id shaped like Mastodon's: milliseconds since the
// epoch shifted left 16 bits, plus a sequence. s.mu must be held.
func (s *Server) nextID(now time.Time) string {
	id := max(now.UnixMilli()<<16, s.lastID+1)
	s.lastID = id
	return strconv.FormatInt(id, 10)
}
