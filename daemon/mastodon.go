package daemon

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"pitweet/config"
	"pitweet/mastodon"
	"pitweet/media"
	"pitweet/sender"
)

// mastodonDestination posts to a Mastodon server (package mastodon): each
// picture fitted once to the server's limits and uploaded with its alt
// text, then the status, with the message's Idempotency-Key.
type mastodonDestination struct {
	c *mastodon.Client
}

func newMastodonDestination(cfg *config.Config, creds config.Credentials, opts destOptions) (*mastodonDestination, error) {
	c, err := mastodon.New(mastodon.Config{
		Server:     cfg.Mastodon.Server,
		Token:      creds.MastodonToken,
		CAFile:     cfg.Mastodon.CAFile,
		Visibility: cfg.Mastodon.Visibility,
		Language:   cfg.Mastodon.Language,
		UserAgent:  opts.UserAgent,
		KeepAlive:  opts.KeepAlive,
		Logger:     opts.Log,
	})
	if err != nil {
		return nil, err
	}
	return &mastodonDestination{c: c}, nil
}

func (m *mastodonDestination) Name() string { return "mastodon" }

func (m *mastodonDestination) Close() error { return m.c.Close() }

// textRule is the server's rule for a text's length, from its instance
// document once read (Mastodon's default, 500, before).
func (m *mastodonDestination) textRule() config.TextRule {
	in := m.c.Cached()
	return config.MastodonTextRule(in.MaxCharacters, in.CharactersPerURL)
}

// limits says what status shows of the server: its rate limit as last
// reported, and its length limit.
func (m *mastodonDestination) limits() string {
	in := m.c.Cached()
	s := fmt.Sprintf("%d characters", in.MaxCharacters)
	if !in.Known {
		s += " (Mastodon's default; the server's limits not read yet)"
	}
	if rl := m.c.RateLimit(); rl.Limit >= 0 && rl.Remaining >= 0 {
		s += fmt.Sprintf("; %d of %d requests left", rl.Remaining, rl.Limit)
		if !rl.Reset.IsZero() {
			s += " until " + rl.Reset.UTC().Format("15:04:05Z")
		}
	}
	return s
}

func (m *mastodonDestination) Post(ctx context.Context, p Post, tried int) (Receipt, error) {
	in := m.c.Instance(ctx)
	if len(p.Images) > in.MaxMediaAttachments {
		return Receipt{}, &sender.APIError{Service: mastodon.Service, Kind: sender.KindPermanent,
			Detail: fmt.Sprintf("the message carries %d pictures; %s takes at most %d with a status", len(p.Images), in.Domain, in.MaxMediaAttachments)}
	}
	rule := config.MastodonTextRule(in.MaxCharacters, in.CharactersPerURL)
	if n := rule.Length(p.Text); n > rule.Max {
		return Receipt{}, &sender.APIError{Service: mastodon.Service, Kind: sender.KindPermanent,
			Detail: fmt.Sprintf("the text counts %d characters as Mastodon counts them (each link %d); %s takes at most %d: shorten it by %d",
				n, in.CharactersPerURL, in.Domain, rule.Max, n-rule.Max)}
	}
	msg := mastodon.Message{Key: mastodon.IdempotencyKey(p.ID), Text: p.Text, Tried: tried > 0, Since: p.Created}
	if p.Key != "" {
		// A command another poster may have been given too.
		msg.Key = mastodon.IdempotencyKeyOf(p.Key)
	}
	// The delivery loop (and pitweet post) fitted the pictures to
	// PictureLimits.
	for _, pic := range p.Images {
		msg.Images = append(msg.Images, mastodon.Image{Path: pic.Path, Size: pic.Size, Type: pic.Type,
			Filename: "picture" + extOf(pic.Type), Description: clipDescription(pic.Alt, in.DescriptionLimit)})
	}
	st, err := m.c.Publish(ctx, msg)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Ref: st.Link()}, nil
}

// PictureLimits are the server's, from its instance document (Mastodon's
// defaults until it is read): the delivery loop fits pictures to them.
func (m *mastodonDestination) PictureLimits(ctx context.Context) (media.Limits, error) {
	return m.c.Instance(ctx).MediaLimits(), nil
}

// extOf is the file name extension of a picture of MIME type t.
func extOf(t string) string {
	switch t {
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	}
	return ".jpg"
}

// clipDescription shortens an alt text to at most max characters, as Mastodon
// counts a description's length (Rails: code points); max <= 0 leaves it
// whole. It cuts between grapheme clusters, so no accent is left without
// its letter.
func clipDescription(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	var b strings.Builder
	n, state := 0, -1
	for s != "" {
		var cluster string
		cluster, s, _, state = uniseg.FirstGraphemeClusterInString(s, state)
		r := utf8.RuneCountInString(cluster)
		if n+r > max-1 {
			break
		}
		b.WriteString(cluster)
		n += r
	}
	return b.String() + "…"
}

// textRuleFor is how destination name counts a text at queue time: the
// rule its destination knows from its server (Mastodon's instance
// document), else the config's.
func (d *runner) textRuleFor(name string) (config.TextRule, bool) {
	for _, del := range d.dels {
		if del.name != name {
			continue
		}
		if r, ok := del.destination().(interface{ textRule() config.TextRule }); ok {
			return r.textRule(), true
		}
	}
	return config.TextRuleFor(name)
}

// addLimits adds to s what each destination says of its limits.
func (d *runner) addLimits(s *Status) {
	for i := range s.Destinations {
		for _, del := range d.dels {
			if del.name != s.Destinations[i].Name {
				continue
			}
			if l, ok := del.destination().(interface{ limits() string }); ok {
				s.Destinations[i].Limits = l.limits()
			}
		}
	}
}
