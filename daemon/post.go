package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"pitweet/config"
	"slices"
	"strings"
	"sync"
	"time"

	"pitweet/gateway"
	"pitweet/sender"
)

// PostOptions tune PostNow.
type PostOptions struct {
	// To lists the destinations to post to, each configured; nil: every
	// configured destination.
	To        []string
	UserAgent string       // "" for the sender's default
	Log       *slog.Logger // nil discards
	// Notice, when not nil, is told of what the user should know about
	// an attempt, such as a retry after X found our clock off, or a cost
	// that could not be recorded.
	Notice func(destination, msg string)
	// Socket is the daemon's control socket, through which a post to X
	// is charged to the month's spend when the state directory cannot be
	// written here (spend_oneshot.go); "" means DefaultSocket().
	Socket string
	// Images are pictures to post with the text, in order: each fitted to
	// every destination's limits first (in a temporary directory; the
	// files given are not changed).
	Images []PostImage
}

// PostImage is a picture for PostNow: a file and its alt text.
type PostImage struct {
	Path string
	Alt  string
}

// A PostResult is what one destination did with a post made by PostNow.
type PostResult struct {
	Destination string
	Ref         string // the remote id or URL, when posted
	Err         error  // why not
	// Note is what the user should know of a post made: that its cost
	// could not be recorded in the month's X spend, say.
	Note string
}

// ErrNotConfigured is wrapped by PostNow's error for a destination in
// PostOptions.To that cfg does not configure.
var ErrNotConfigured = errors.New("daemon: destination not configured")

// PostNow posts text now, without the outbox, to each destination of cfg
// that opts.To names, all at once, and returns one result per destination
// in the config's order. A destination whose limit text exceeds is not
// posted to (its result says by how much). When X says our clock is off,
// its Date header corrects the offset and the post is tried once more, as
// the daemon does. The error is for what stops every post: a destination
// not configured, missing keys.
func PostNow(ctx context.Context, cfg *config.Config, text string, opts PostOptions) ([]PostResult, error) {
	if opts.Log == nil {
		opts.Log = discardLog()
	}
	to := opts.To
	if to == nil {
		to = cfg.Destinations
	}
	for _, name := range to {
		if !slices.Contains(cfg.Destinations, name) {
			return nil, fmt.Errorf("%w: %s does not post to %s; configured: %s (%s to post there)", ErrNotConfigured,
				cfg.Path, name, strings.Join(cfg.Destinations, ", "), config.HowToConfigure(name))
		}
	}
	var names []string
	for _, name := range cfg.Destinations {
		if slices.Contains(to, name) {
			names = append(names, name)
		}
	}
	users := names
	if slices.Contains(names, "forward") && cfg.MQTT.Username != "" {
		users = append(slices.Clip(names), "mqtt")
	}
	creds, _, err := cfg.X.LoadCredentialsFor(users)
	if err != nil {
		return nil, err
	}
	var fw func() forwarder
	if slices.Contains(names, "forward") {
		if fw, err = onceForwarder(cfg, creds, opts.Log); err != nil {
			return nil, err
		}
	}
	results := make([]PostResult, len(names))
	var spend *oneShotSpend
	if slices.Contains(names, "x") {
		spend = newOneShotSpend(cfg, opts.Socket)
		defer spend.close()
	}
	var wg sync.WaitGroup
	for i, name := range names {
		results[i].Destination = name
		if rule, ok := config.TextRuleFor(name); ok {
			if n := rule.Length(text); n > rule.Max {
				results[i].Err = fmt.Errorf("the text counts %d characters as %s counts them (%s); the limit is %d: shorten it by %d",
					n, config.DestinationTitle(name), rule.Counts, rule.Max, n-rule.Max)
				continue
			}
		}
		dest, err := newDestination(name, cfg, creds, destOptions{UserAgent: opts.UserAgent, Log: opts.Log, Forwarder: fw})
		if err != nil {
			results[i].Err = err
			continue
		}
		if name == "x" {
			// Charged before it is sent, released if X refuses it.
			alts := 0
			for _, im := range opts.Images {
				if im.Alt != "" {
					alts++
				}
			}
			c, notice, err := spend.chargePost(text, alts, time.Now())
			if err != nil {
				dest.Close()
				results[i].Err = fmt.Errorf("not posted: %w", err)
				continue
			}
			wg.Go(func() {
				defer dest.Close()
				r := &results[i]
				ctx, bill := withBilled(ctx)
				r.Ref, r.Err = postOne(ctx, dest, text, opts)
				spend.settle(&c, r.Err, bill, time.Now())
				// The note matters when X may have billed the post: not
				// after a refusal, and on the error's one line after a
				// lost answer.
				var apiErr *sender.APIError
				switch {
				case notice == "":
				case r.Err == nil:
					r.Note = notice
				case !errors.As(r.Err, &apiErr) || apiErr.Kind == sender.KindProtocol:
					r.Err = fmt.Errorf("%w; %s", r.Err, notice)
				}
			})
			continue
		}
		wg.Go(func() {
			defer dest.Close()
			results[i].Ref, results[i].Err = postOne(ctx, dest, text, opts)
		})
	}
	wg.Wait()
	return results, nil
}

// onceForwarder carries the destination forward for PostNow: a
// connection to the broker of its own for each post, beside the daemon's.
func onceForwarder(cfg *config.Config, creds config.Credentials, log *slog.Logger) (func() forwarder, error) {
	m := cfg.MQTT
	g, err := gateway.New(gateway.Config{Broker: m.Broker, CAFile: m.CAFile, Username: m.Username, Password: creds.MQTTPassword,
		ClientID: m.ClientID, TopicPrefix: m.TopicPrefix, Log: log})
	if err != nil {
		return nil, fmt.Errorf("%w (in [mqtt] of %s)", err, cfg.Path)
	}
	return func() forwarder { return forwardOnce{g} }, nil
}

// forwardOnce forwards on a connection made for the one command.
type forwardOnce struct{ g *gateway.Gateway }

func (f forwardOnce) ClientID() string { return f.g.ClientID() }

func (f forwardOnce) Forward(ctx context.Context, poster string, c gateway.Command) error {
	return f.g.ForwardOnce(ctx, poster, c)
}

// postOne makes one post to dest, and one more after a clock correction.
func postOne(ctx context.Context, dest destination, text string, opts PostOptions) (string, error) {
	p := Post{ID: fmt.Sprint(time.Now().UnixNano()), Text: text, Created: time.Now()}
	for _, im := range opts.Images {
		p.Images = append(p.Images, Picture{Path: im.Path, Alt: im.Alt})
	}
	if lim, ok := dest.(pictureLimiter); ok && len(opts.Images) > 0 {
		limits, err := lim.PictureLimits(ctx)
		if err != nil {
			return "", err
		}
		dir, err := os.MkdirTemp("", "pitweet-"+dest.Name()+"-")
		if err != nil {
			return "", fmt.Errorf("daemon: a temporary directory for the pictures: %w", err)
		}
		defer os.RemoveAll(dir)
		if p.Images, err = fitFiles(ctx, opts.Images, dir, limits); err != nil {
			return "", err
		}
		for i, pic := range p.Images {
			if pic.Note != "" && opts.Notice != nil {
				opts.Notice(dest.Name(), fmt.Sprintf("picture %d (%s) %s to fit %s's limits", i+1, opts.Images[i].Path, pic.Note, limits.Name))
			}
		}
	}
	rc, err := dest.Post(ctx, p, 0)
	var apiErr *sender.APIError
	if c, ok := dest.(clockSetter); ok && errors.As(err, &apiErr) && apiErr.Kind == sender.KindClockSkew && !answerDate(apiErr).IsZero() {
		offset := time.Until(answerDate(apiErr)).Round(time.Second)
		if opts.Notice != nil {
			opts.Notice(dest.Name(), fmt.Sprintf("%s says our clock is off; its Date header is %s away from ours: retrying once with that correction (fix the clock: timedatectl)",
				config.DestinationTitle(dest.Name()), offset))
		}
		c.SetClockOffset(offset)
		rc, err = dest.Post(ctx, p, 0)
	}
	if err == nil {
		return rc.Ref, nil
	}
	if errors.Is(err, sender.ErrTransient) && !errors.As(err, &apiErr) {
		return "", fmt.Errorf("%w; %s", err, unknownOutcome(dest.Name()))
	}
	return "", err
}

// unknownOutcome says what a lost answer means on destination name, and
// whether posting the same text again is safe.
func unknownOutcome(name string) string {
	if name == "x" {
		return "X may or may not have the tweet: posting the same text again is safe, X refuses an exact duplicate"
	}
	return config.DestinationTitle(name) + " may or may not have the post: look at the account before posting the same text again"
}
