package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"pitweet/config"
	"time"

	"pitweet/budget"
	"pitweet/media"
	"pitweet/sender"
)

// A destination posts one message; its package knows the service's
// protocol, and the daemon only adapts it. Each configured destination has
// its own delivery loop (deliver.go), which decides from the error Post
// returns what to do next, the same way for every service: a
// *sender.APIError sorted into a sender.Kind, or a transport error that
// wraps sender.ErrTransient, ErrTLS or ErrProtocol.
type destination interface {
	// Name is the destination's name in the config and the outbox: "x",
	// "mastodon", "bluesky", "forward".
	Name() string
	// Post publishes p. tried is how many earlier attempts may have
	// reached the service (their answers lost): the destination uses it
	// to recognise a repeat (Mastodon's Idempotency-Key, Bluesky's rkey).
	// X has no such key: it answers a repeat with a duplicate refusal,
	// which the delivery loop counts as delivered when tried > 0.
	Post(ctx context.Context, p Post, tried int) (Receipt, error)
	// Close closes the connection the destination keeps open, if any.
	Close() error
}

// Post is one message as a destination posts it.
type Post struct {
	ID      string // the outbox id: stable across attempts and restarts
	Key     string // the outside id that made it (an MQTT command's), "" for none: the same on every poster it reaches
	Text    string // what this destination posts
	Created time.Time
	Images  []Picture
}

// Picture is a picture of a Post, on disk in the outbox.
type Picture struct {
	Path   string // the file to stream
	Type   string // image/jpeg, image/png, image/gif or image/webp
	Alt    string
	Width  int
	Height int
	Size   int64
	Note   string // what fitting it to the destination's limits did; "" when nothing
}

// Receipt is what a destination says of a post it made.
type Receipt struct {
	Ref  string    // the remote id or URL
	Date time.Time // the answer's Date header, for the clock offset; zero if none
	// RateLimit is what X's answer said of its rate limits (on X's
	// clock); nil for other services.
	RateLimit *sender.RateLimit
}

// A clockSetter is a destination that signs its requests with the time
// (X's OAuth 1.0a): it is given the offset of the service's clock from
// ours, as measured from the Date headers of its answers.
type clockSetter interface {
	SetClockOffset(d time.Duration)
}

// destOptions are what every destination is made with.
type destOptions struct {
	UserAgent string        // "" for the sender's default
	Log       *slog.Logger  // nil discards
	KeepAlive time.Duration // how long a connection stays open for the next post; 0: closed after each
	// Forwarder gives what carries the destination "forward" to the
	// poster: the running gateway. nil: forward cannot be made.
	Forwarder func() forwarder
	// StateDir is where a destination keeps what outlives a post (Bluesky's
	// session); "": nothing is kept.
	StateDir string
}

// permanent marks err, the refusal of a destination whose service does not
// answer in HTTP (the broker, for "forward"), as one that no retry can
// change: the delivery loop gives the message up there.
func permanent(err error) error { return permanentError{err} }

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// testDestination, when not nil, makes the destinations only test builds
// know (testdest.go); ok is false for a name it does not know.
var testDestination func(name string, cfg *config.Config, creds config.Credentials, opts destOptions) (dest destination, ok bool, err error)

// newDestination makes destination name of cfg.
func newDestination(name string, cfg *config.Config, creds config.Credentials, opts destOptions) (destination, error) {
	if name == "x" {
		c, err := newXClient(cfg.X, cfg.X.BaseURL, creds, opts)
		if err != nil {
			return nil, err
		}
		return newXDestination(name, c), nil
	}
	if name == "forward" && cfg.MQTT != nil && opts.Forwarder != nil {
		return newForwardDestination(cfg.MQTT.Forward, opts.Forwarder), nil
	}
	if name == "mastodon" {
		return newMastodonDestination(cfg, creds, opts)
	}
	if name == "bluesky" {
		return newBlueskyDestination(name, cfg, creds, opts)
	}
	if testDestination != nil {
		if dest, ok, err := testDestination(name, cfg, creds, opts); ok {
			return dest, err
		}
	}
	return nil, fmt.Errorf("daemon: %s configures the destination %q, but this pitweet cannot post there; remove it from the config", cfg.Path, name)
}

// newXClient makes an X client for x's API at baseURL.
func newXClient(x config.XConfig, baseURL string, creds config.Credentials, opts destOptions) (*sender.Client, error) {
	return sender.New(sender.Config{
		BaseURL:   baseURL,
		API:       x.API,
		CAFile:    x.CAFile,
		UserAgent: opts.UserAgent,
		Logger:    opts.Log,
		KeepAlive: opts.KeepAlive,
	}, creds.X())
}

// xPoster is what the X destination needs from an X client;
// *sender.Client provides it.
type xPoster interface {
	Post(ctx context.Context, text string) (*sender.Tweet, error)
	UploadImage(ctx context.Context, im sender.Image) (*sender.Media, error)
	PostMedia(ctx context.Context, text string, mediaIDs []string) (*sender.Tweet, error)
	API() string
	SetClockOffset(d time.Duration)
}

// xDestination posts to X through the raw sender.
type xDestination struct {
	name string
	c    xPoster
}

func newXDestination(name string, c xPoster) *xDestination {
	return &xDestination{name: name, c: c}
}

func (x *xDestination) Name() string { return x.name }

// PictureLimits are X's: the delivery loop fits pictures to them.
func (x *xDestination) PictureLimits(context.Context) (media.Limits, error) {
	return media.XLimits(), nil
}

// Post posts p's text, with its pictures when it has some: each uploaded
// (streamed from disk) with its alt text, then the post with their media
// ids. Media ids are not kept from one attempt to the next: they expire
// (24 hours after the upload, X says), and an attempt after a crash or a
// failure uploads again. A post whose ids X refuses (expired between the
// upload and the post) is uploaded and tried once more.
//
// A picture X refuses (format, size) is a permanent *sender.APIError
// with X's reason: the message is refused, never tried again.
func (x *xDestination) Post(ctx context.Context, p Post, tried int) (Receipt, error) {
	if len(p.Images) == 0 {
		tw, err := x.c.Post(ctx, p.Text)
		if err != nil {
			return Receipt{}, err
		}
		return receipt(tw), nil
	}
	if len(p.Images) > sender.MaxImages {
		return Receipt{}, fmt.Errorf("%w to X: %d pictures, and a post on X carries at most %d", errPictures, len(p.Images), sender.MaxImages)
	}
	if x.c.API() != "v2" {
		return Receipt{}, fmt.Errorf(`%w with api = %q: pictures are posted through X API v2; set api = "v2" in [x]`, errPictures, x.c.API())
	}
	var tw *sender.Tweet
	var err error
	for try := 0; try < 2; try++ {
		var ids []string
		if ids, err = x.upload(ctx, p.Images); err != nil {
			return Receipt{}, err
		}
		if tw, err = x.c.PostMedia(ctx, p.Text, ids); !errors.Is(err, sender.ErrMediaRefused) {
			break
		}
	}
	var apiErr *sender.APIError
	if errors.Is(err, sender.ErrMediaRefused) && errors.As(err, &apiErr) {
		// X refused ids it had just issued, twice: not the message's
		// fault. Tried again later, with new uploads, never given up.
		e := *apiErr
		e.Kind = sender.KindTransient
		e.Hint = "X refused media ids it had just issued; the pictures are uploaded again at the next attempt"
		return Receipt{}, &e
	}
	if err != nil {
		return Receipt{}, err
	}
	return receipt(tw), nil
}

// receipt is what the daemon keeps of X's answer to a post: the post's id,
// the answer's Date, and its rate limits.
func receipt(tw *sender.Tweet) Receipt {
	rc := Receipt{Ref: tw.ID, Date: tw.Meta.Date}
	if tw.Meta.Status != 0 {
		rc.RateLimit = &tw.Meta.RateLimit
	}
	return rc
}

// upload uploads pics in order and returns their media ids.
func (x *xDestination) upload(ctx context.Context, pics []Picture) ([]string, error) {
	var ids []string
	for _, pic := range pics {
		im, err := sender.ImageFile(pic.Path, pic.Alt)
		if err != nil {
			return nil, fitError(pic.Path, media.XLimits(), err)
		}
		m, err := x.c.UploadImage(ctx, im)
		if err != nil {
			return nil, err
		}
		if im.Alt != "" {
			// The alt text is set: X bills it whatever becomes of the
			// post (the upload itself is not on X's price list).
			xBilled(ctx, budget.ItemMediaMetadata)
		}
		ids = append(ids, m.ID)
	}
	return ids, nil
}

func (x *xDestination) SetClockOffset(d time.Duration) { x.c.SetClockOffset(d) }

func (x *xDestination) Close() error {
	if c, ok := x.c.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// answerDate is the Date of the answer an error carries; zero when it
// carries none.
func answerDate(apiErr *sender.APIError) time.Time {
	return apiErr.Meta.Date
}
