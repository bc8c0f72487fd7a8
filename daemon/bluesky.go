package daemon

import (
	"context"
	"time"

	"pitweet/bluesky"
	"pitweet/config"
	"pitweet/media"
)

// blueskyDestination posts to Bluesky through package bluesky. The record
// key of each post is derived from its outbox id (bluesky.RecordKey), so
// an attempt after one whose answer was lost finds the post instead of
// making a second one: exactly once, without the text having to differ.
type blueskyDestination struct {
	name string
	c    *bluesky.Client
}

// newBlueskyDestination makes the Bluesky destination of cfg. With
// opts.StateDir the session's refresh token is kept there between posts
// and runs; without, each client logs in with the app password.
func newBlueskyDestination(name string, cfg *config.Config, creds config.Credentials, opts destOptions) (*blueskyDestination, error) {
	log := opts.Log
	if log == nil {
		log = discardLog()
	}
	c, err := bluesky.New(bluesky.Config{
		Service:     cfg.Bluesky.Service,
		Handle:      cfg.Bluesky.Handle,
		AppPassword: creds.BlueskyAppPassword,
		Langs:       cfg.Bluesky.Langs,
		CAFile:      cfg.Bluesky.CAFile,
		UserAgent:   opts.UserAgent,
		KeepAlive:   opts.KeepAlive,
		Logger:      log.With("destination", name),
		StateDir:    opts.StateDir,
	})
	if err != nil {
		return nil, err
	}
	return &blueskyDestination{name: name, c: c}, nil
}

func (b *blueskyDestination) Name() string { return b.name }

func (b *blueskyDestination) Post(ctx context.Context, p Post, tried int) (Receipt, error) {
	bp := bluesky.Post{Text: p.Text, Created: p.Created, Rkey: bluesky.RecordKey(p.ID, p.Created)}
	for _, pic := range p.Images {
		bp.Images = append(bp.Images, bluesky.Image{Path: pic.Path, Type: pic.Type, Size: pic.Size, Alt: pic.Alt, Width: pic.Width, Height: pic.Height})
	}
	res, err := b.c.Post(ctx, bp, tried > 0)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Ref: res.URL, Date: res.Date}, nil
}

// PictureLimits are Bluesky's (media.BlueskyLimits: under 1,000,000
// bytes): the delivery loop fits pictures to them, once, a version kept
// beside each original in the outbox.
func (b *blueskyDestination) PictureLimits(context.Context) (media.Limits, error) {
	return media.BlueskyLimits(), nil
}

func (b *blueskyDestination) SetClockOffset(d time.Duration) { b.c.SetClockOffset(d) }

func (b *blueskyDestination) Close() error { return b.c.Close() }

// Account says how the destination's account stands, for status.
func (b *blueskyDestination) Account() *AccountStatus {
	s := b.c.Status()
	a := &AccountStatus{Session: s.Session, LoggedIn: s.LoggedIn, Handle: s.Handle, Server: s.PDS}
	if rl := s.RateLimit; rl.Known() {
		a.RateLimit = &RateLimitStatus{Limit: rl.Limit, Remaining: rl.Remaining, Reset: rl.Reset, Policy: rl.Policy, At: rl.At}
	}
	return a
}

// AccountStatus is how a destination's account stands: its session and
// the rate limits its last answer stated.
type AccountStatus struct {
	// Session says whether it is logged in, or what failed and what to
	// do.
	Session   string           `json:"session"`
	LoggedIn  bool             `json:"logged_in"`
	Handle    string           `json:"handle,omitempty"`
	Server    string           `json:"server,omitempty"` // where the posts go
	RateLimit *RateLimitStatus `json:"rate_limit,omitempty"`
}

// RateLimitStatus is what an answer's rate-limit fields said.
type RateLimitStatus struct {
	Limit     int       `json:"limit"`     // -1: not said
	Remaining int       `json:"remaining"` // -1: not said
	Reset     time.Time `json:"reset,omitzero"`
	Policy    string    `json:"policy,omitempty"` // "5000;w=3600": 5000 in windows of 3600 seconds
	At        time.Time `json:"at"`               // when the answer came
}

// accountReporter is a destination that logs in to an account.
type accountReporter interface {
	Account() *AccountStatus
}

// accountStatus adds to s how each destination's account stands.
func (d *runner) accountStatus(s *Status) {
	for _, del := range d.dels {
		a, ok := del.destination().(accountReporter)
		if !ok {
			continue
		}
		for i := range s.Destinations {
			if s.Destinations[i].Name == del.name {
				s.Destinations[i].Account = a.Account()
			}
		}
	}
}

// A repeatTaker is a destination that posts a text it already has again
// (Bluesky): a repeated text needs no number (duplicate.go).
type repeatTaker interface {
	TakesRepeats() bool
}

func takesRepeats(dest destination) bool {
	r, ok := dest.(repeatTaker)
	return ok && r.TakesRepeats()
}

// TakesRepeats: Bluesky takes the same text in two posts.
func (b *blueskyDestination) TakesRepeats() bool { return true }
