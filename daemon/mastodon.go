package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	lim := in.MediaLimits()
	for i, pic := range p.Images {
		img, err := fitPicture(ctx, pic, "mastodon", lim)
		if err != nil {
			return Receipt{}, &sender.APIError{Service: mastodon.Service, Kind: sender.KindPermanent,
				Detail: fmt.Sprintf("picture %d of %d cannot be made to fit %s's limits: %v", i+1, len(p.Images), in.Domain, err)}
		}
		msg.Images = append(msg.Images, mastodon.Image{Path: img.Path, Size: img.Info.Size, Type: img.Info.Format.MIMEType(),
			Filename: "picture" + img.Info.Format.Ext(), Description: clipDescription(pic.Alt, in.DescriptionLimit)})
	}
	st, err := m.c.Publish(ctx, msg)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Ref: st.Link()}, nil
}

// fitPicture returns pic as dest can take it (media.Fit with lim): the
// file itself when it fits, else the version made for dest at an earlier
// attempt, else one made now and kept beside it in the outbox (as
// "1.mastodon.jpg"), so a picture is fitted once whatever the attempts.
func fitPicture(ctx context.Context, pic Picture, dest string, lim media.Limits) (media.Result, error) {
	dir, name := filepath.Split(pic.Path)
	base, _, _ := strings.Cut(name, ".")
	prefix := filepath.Join(dir, base+"."+dest+".")
	src := pic.Path
	if kept, _ := filepath.Glob(prefix + "*"); len(kept) > 0 {
		src = kept[0]
	}
	res, err := media.Fit(ctx, src, prefix+"fit", lim)
	if err != nil && src != pic.Path {
		// A kept version that no longer serves: made again.
		os.Remove(src)
		src = pic.Path
		res, err = media.Fit(ctx, src, prefix+"fit", lim)
	}
	if err != nil || res.Unchanged {
		return res, err
	}
	if src != pic.Path && src != res.Path {
		os.Remove(src) // made for limits the server no longer has
	}
	// Named for its format, as the outbox's variants are.
	final := prefix + strings.TrimPrefix(res.Info.Format.Ext(), ".")
	if final != res.Path {
		if err := os.Rename(res.Path, final); err != nil {
			return res, err
		}
		res.Path = final
	}
	return res, nil
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
	n := 0
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		r := g.Runes()
		if n+len(r) > max-1 {
			break
		}
		b.WriteString(g.Str())
		n += len(r)
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
