// Package fakebsky is a local stand-in for a Bluesky PDS: an HTTPS server
// on loopback that serves the XRPC methods a poster uses (createSession,
// refreshSession, getSession, uploadBlob, createRecord, getRecord,
// resolveHandle) the way the reference PDS does, verifies what it verifies
// (the app password, the session tokens and their expiry, single-use
// refresh tokens, the record against the app.bsky.feed.post lexicon, the
// blobs a record references) and what the app needs on top (facet offsets
// that fall on the text's characters, a real image behind a blob),
// answers with the PDS's status codes, XRPC error bodies and rate-limit
// headers, records what it accepted, and misbehaves on request (rate
// limits, server errors, slow or hung answers, a reset after the record
// was made) so clients can be tested against each.
//
// README.md in this directory lists every rule with the documentation page
// it follows. Its TLS certificate comes from a certificate authority
// generated in memory at StartTLS; clients trust it through CAPEM or
// WriteCA.
package fakebsky

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"pitweet/emulator"
	"pitweet/httpd"
)

// An Account is a user of the PDS and the app password that logs it in.
type Account struct {
	DID         string // "did:plc:…"
	Handle      string // "pitweet-demo.test"
	AppPassword string // "xxxx-xxxx-xxxx-xxxx"
}

// DemoAccount is the account a server made with no accounts serves. Its
// app password opens nothing but a fakebsky server.
var DemoAccount = Account{DID: "did:plc:pitweetdemoaaaaaaaaaaaaa", Handle: "pitweet-demo.test", AppPassword: "pitw-demo-appp-assw"}

// Faults, as package emulator defines them. A Fault with no Path applies
// to POST /xrpc/com.atproto.repo.createRecord.
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

// Documented limits.
const (
	// docs.bsky.app/docs/advanced-guides/rate-limits: "5,000 points per
	// hour", a CREATE costs 3; "createSession … 30 per 5 minutes".
	DocumentedWriteLimit   = 5000
	DocumentedSessionLimit = 30
	// atproto.com/guides/account-migration: "1,000 uploads per 24 hours".
	DocumentedUploadLimit = 1000
	// docs.bsky.app/docs/advanced-guides/posts (creating a post): images
	// "limited to 1,000,000 bytes"; the lexicon now allows 2,000,000.
	DocumentedImageLimit = 1_000_000
	LexiconImageLimit    = 2_000_000
)

// A Record is a record the server stored.
type Record struct {
	URI              string          `json:"uri"` // at://DID/COLLECTION/RKEY
	CID              string          `json:"cid"`
	Repo             string          `json:"repo"` // the account's DID
	Collection       string          `json:"collection"`
	Rkey             string          `json:"rkey"`
	Value            json.RawMessage `json:"value"`             // as stored, $type filled in
	ValidationStatus string          `json:"validation_status"` // "valid", "unknown", or "" when validation was skipped
	At               time.Time       `json:"at"`                // by the server's clock

	// For app.bsky.feed.post records:
	Text   string   `json:"text,omitempty"`
	Images []string `json:"images,omitempty"` // the CIDs of the embedded images' blobs
}

// A Blob is an uploaded blob.
type Blob struct {
	CID        string    `json:"cid"` // CIDv1, raw, SHA-256: "bafkrei…"
	Repo       string    `json:"repo"`
	MIMEType   string    `json:"mime_type"` // as the bytes say, else as the Content-Type said
	Size       int       `json:"size"`
	Width      int       `json:"width,omitempty"` // for images
	Height     int       `json:"height,omitempty"`
	UploadedAt time.Time `json:"uploaded_at"`
	Referenced bool      `json:"referenced"` // by a stored record

	data []byte
}

// A Server emulates a PDS. Set its exported fields before StartTLS; they
// must not change while it serves.
type Server struct {
	// Logger receives one line per request at debug level and one per
	// record made at info level; nil discards. Passwords and tokens are
	// never logged.
	Logger *slog.Logger
	// Now is the server's clock; nil means time.Now. Token expiry,
	// refresh grace, blob expiry and rate windows follow it.
	Now func() time.Time

	// ServiceDID is the audience of the session tokens; "did:web:localhost"
	// by default.
	ServiceDID string
	// ServiceEndpoint is the PDS URL the session's didDoc names; "" names
	// this server as the client addressed it (https://HOST). OmitDIDDoc
	// leaves the didDoc out, as a PDS without
	// PDS_ENABLE_DID_DOC_WITH_SESSION does.
	ServiceEndpoint string
	OmitDIDDoc      bool

	// AccessLifetime is how long an access token is good for (the PDS:
	// 120 minutes); RefreshLifetime a refresh token (90 days).
	AccessLifetime, RefreshLifetime time.Duration
	// RefreshGrace: 0 makes a refresh token single-use, stricter than the
	// PDS; the reference PDS keeps a used one working for a 2-hour grace
	// period, in which it yields the same next token.
	RefreshGrace time.Duration

	// DuplicateStatus is how a createRecord for an rkey already used is
	// answered: 500 InternalServerError, as the PDS does today (the
	// default); 400 RecordAlreadyExists, as atproto PR #4728 proposes; or
	// 409 RecordAlreadyExists, as another PDS answers.
	DuplicateStatus int

	// ImageLimit is the largest image blob a post may embed, in bytes,
	// checked at createRecord (default DocumentedImageLimit).
	ImageLimit int
	// UploadLimit bounds an uploadBlob body, in bytes (the self-hosted
	// PDS's default, 5 MiB).
	UploadLimit int
	// BlobTTL is how long an uploaded blob no record references is kept
	// (default 1 hour).
	BlobTTL time.Duration

	// Rate limits: WriteLimit points per hour per account (a record costs
	// 3), SessionLimit createSession calls per 5 minutes per identifier,
	// UploadsPerDay uploadBlob calls per day per account. Defaults are
	// high enough for benchmarks; set the Documented* values to test real
	// exhaustion.
	WriteLimit, SessionLimit, UploadsPerDay int

	core     emulator.Core
	accounts []Account
	secret   []byte // signs the session tokens

	mu       sync.Mutex
	records  []*Record
	byKey    map[string]*Record // DID/collection/rkey
	blobs    map[string]*Blob   // DID + " " + CID
	sessions map[string]*refreshToken
	windows  map[string]*emulator.Window
	tidClock uint64 // the last TID made, for monotonic record keys
}

// A refreshToken is the server's state for one refresh token id (jti).
type refreshToken struct {
	did       string
	expiresAt time.Time
	nextID    string // the id it was rotated to; "" while unused
}

// New returns a server for the given accounts (DemoAccount if none).
func New(accounts ...Account) *Server {
	if len(accounts) == 0 {
		accounts = []Account{DemoAccount}
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	s := &Server{
		ServiceDID:      "did:web:localhost",
		AccessLifetime:  120 * time.Minute,
		RefreshLifetime: 90 * 24 * time.Hour,
		DuplicateStatus: 500,
		ImageLimit:      DocumentedImageLimit,
		UploadLimit:     5 << 20,
		BlobTTL:         time.Hour,
		WriteLimit:      1_000_000,
		SessionLimit:    10_000,
		UploadsPerDay:   100_000,
		accounts:        slices.Clone(accounts),
		secret:          secret,
		byKey:           map[string]*Record{},
		blobs:           map[string]*Blob{},
		sessions:        map[string]*refreshToken{},
		windows:         map[string]*emulator.Window{},
	}
	s.core = emulator.Core{Name: "fakebsky", PostPath: "/xrpc/com.atproto.repo.createRecord", Now: s.now,
		SecretBody: func(path string) bool { return path == "/xrpc/com.atproto.server.createSession" }}
	return s
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// maxBody bounds a request: an upload twice the limit is read and refused
// with the PDS's 413, a larger one gets the same from httpd.
func (s *Server) maxBody() int { return 2*max(s.UploadLimit, jsonLimit) + 1<<20 }

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

// Requests returns every XRPC request seen so far, refused ones included,
// oldest first. Requests to the /fakebsky/ control endpoints are not
// listed.
func (s *Server) Requests() []Request { return s.core.Requests() }

// WaitRequests waits until at least n requests have arrived and returns
// them all, or returns ctx's error.
func (s *Server) WaitRequests(ctx context.Context, n int) ([]Request, error) {
	return s.core.WaitRequests(ctx, n)
}

// Records returns every record stored so far, oldest first.
func (s *Server) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, len(s.records))
	for i, r := range s.records {
		out[i] = *r
		out[i].Images = slices.Clone(r.Images)
	}
	return out
}

// Posts returns the app.bsky.feed.post records stored so far, oldest
// first.
func (s *Server) Posts() []Record {
	var posts []Record
	for _, r := range s.Records() {
		if r.Collection == postNSID {
			posts = append(posts, r)
		}
	}
	return posts
}

// WaitPosts waits until at least n posts were stored and returns them all,
// or returns ctx's error.
func (s *Server) WaitPosts(ctx context.Context, n int) ([]Record, error) {
	var posts []Record
	err := s.core.WaitFor(ctx, fmt.Sprintf("%d posts", n), func() bool {
		posts = s.Posts()
		return len(posts) >= n
	})
	return posts, err
}

// Blobs returns the blobs uploaded so far.
func (s *Server) Blobs() []Blob {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Blob, 0, len(s.blobs))
	for _, b := range s.blobs {
		c := *b
		c.data = nil
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Blob) int { return a.UploadedAt.Compare(b.UploadedAt) })
	return out
}

// BlobData returns the bytes of the blob cid uploaded by the account did,
// or nil.
func (s *Server) BlobData(did, cid string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.blobs[did+" "+cid]; b != nil {
		return slices.Clone(b.data)
	}
	return nil
}
