package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"pitweet/bluesky"
	"pitweet/config"
	"pitweet/media"
	"pitweet/sender"
)

// blueskyDestination posts to Bluesky through package bluesky. The record
// key of each post is derived from its outbox id (bluesky.RecordKey), so
// an attempt after one whose answer was lost finds the post instead of
// making a second one: exactly once, without the text having to differ.
type blueskyDestination struct {
	name string
	c    *bluesky.Client
	log  interface {
		Info(msg string, args ...any)
	}
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
	return &blueskyDestination{name: name, c: c, log: log}, nil
}

func (b *blueskyDestination) Name() string { return b.name }

func (b *blueskyDestination) Post(ctx context.Context, p Post, tried int) (Receipt, error) {
	bp := bluesky.Post{Text: p.Text, Created: p.Created, Rkey: bluesky.RecordKey(p.ID, p.Created)}
	for i, pic := range p.Images {
		im, err := b.fit(ctx, pic)
		if err != nil {
			return Receipt{}, fmt.Errorf("daemon: picture %d: %w", i+1, err)
		}
		bp.Images = append(bp.Images, im)
	}
	res, err := b.c.Post(ctx, bp, tried > 0)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Ref: res.URL, Date: res.Date}, nil
}

// fit returns pic as Bluesky takes it (media.BlueskyLimits: under
// 1,000,000 bytes): the picture itself, or the version made beside it
// (NAME.bluesky.pic, which media.Fit writes by temporary file, fsync and
// rename) by an earlier attempt or now.
func (b *blueskyDestination) fit(ctx context.Context, pic Picture) (bluesky.Image, error) {
	lim := media.BlueskyLimits()
	base, _, _ := strings.Cut(filepath.Base(pic.Path), ".")
	variant := filepath.Join(filepath.Dir(pic.Path), base+"."+b.name+".pic")
	if info, err := media.Probe(variant); err == nil && info.Size <= lim.MaxBytes {
		return blueskyImage(variant, info, pic.Alt), nil
	}
	res, err := media.Fit(ctx, pic.Path, variant, lim)
	if err != nil {
		if ctx.Err() != nil {
			return bluesky.Image{}, err
		}
		return bluesky.Image{}, &sender.APIError{Service: "Bluesky", Kind: sender.KindPermanent,
			Detail: fmt.Sprintf("the picture cannot be made to fit Bluesky's %d bytes: %v", lim.MaxBytes, err)}
	}
	if !res.Unchanged {
		b.log.Info("daemon: a picture was made to fit Bluesky", "destination", b.name, "picture", res.Path, "note", res.Note)
	}
	return blueskyImage(res.Path, res.Info, pic.Alt), nil
}

func blueskyImage(path string, info media.Info, alt string) bluesky.Image {
	w, h := info.AspectRatio()
	return bluesky.Image{Path: path, Type: info.Format.MIMEType(), Size: info.Size, Alt: alt, Width: w, Height: h}
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
