package mastodon

import (
	"context"
	"encoding/json"
	"time"

	"pitweet/media"
	"pitweet/sender"
	"pitweet/textlen"
)

// Instance holds the limits a server states in its instance document
// (GET /api/v2/instance, configuration; docs.joinmastodon.org/entities/Instance/).
// A limit the server does not state is Mastodon's default.
type Instance struct {
	Domain              string
	Version             string
	MaxCharacters       int      // configuration.statuses.max_characters: 500
	CharactersPerURL    int      // configuration.statuses.characters_reserved_per_url: 23
	MaxMediaAttachments int      // configuration.statuses.max_media_attachments: 4
	SupportedMIMETypes  []string // configuration.media_attachments.supported_mime_types
	ImageSizeLimit      int64    // bytes; 0: not stated
	ImageMatrixLimit    int64    // width × height; 0: not stated
	DescriptionLimit    int      // alt text, in characters: 1500
	// Known reports that the server stated these; false: Mastodon's
	// defaults, because the server has not answered yet.
	Known bool
	// Read is when the document was read; zero when not Known.
	Read time.Time
}

// Mastodon's defaults, for a server that states no limits.
const (
	defaultMaxMedia         = 4
	defaultDescriptionLimit = 1500
)

// DefaultInstance is what is assumed of a server whose instance document
// is not known: Mastodon's defaults.
func DefaultInstance() Instance {
	return Instance{
		MaxCharacters:       textlen.MaxMastodon,
		CharactersPerURL:    textlen.MastodonURLLength,
		MaxMediaAttachments: defaultMaxMedia,
		DescriptionLimit:    defaultDescriptionLimit,
	}
}

// MediaLimits are the instance's limits for a picture, for media.Fit.
func (in Instance) MediaLimits() media.Limits {
	return media.MastodonLimits(in.Domain, in.ImageSizeLimit, in.ImageMatrixLimit, in.SupportedMIMETypes)
}

// How long an instance document is trusted, and how soon a failed read is
// tried again. Limits change when an admin changes them, which is rare; a
// day keeps one request a day, and a change is seen by the next day (or at
// a restart).
const (
	InstanceTTL   = 24 * time.Hour
	instanceRetry = 5 * time.Minute
)

// FetchInstance reads the instance document now (no token: "OAuth:
// Public").
func (c *Client) FetchInstance(ctx context.Context) (Instance, error) {
	resp, err := c.do(ctx, &sender.Request{Method: "GET", Target: pathInstance}, 200)
	if err != nil {
		return Instance{}, err
	}
	in, err := decodeInstance(resp)
	if err != nil {
		return Instance{}, err
	}
	in.Read = c.now()
	if in.Domain == "" {
		in.Domain = c.tr.Host()
	}
	c.mu.Lock()
	c.inst, c.instAt = in, in.Read
	c.mu.Unlock()
	return in, nil
}

// Instance returns the server's limits: the document read within
// InstanceTTL, or read now. A server that does not answer leaves the last
// document read in force (or Mastodon's defaults, Known false), and is
// asked again after five minutes, not at every post.
func (c *Client) Instance(ctx context.Context) Instance {
	now := c.now()
	c.mu.Lock()
	in, at, tried := c.inst, c.instAt, c.instTry
	c.mu.Unlock()
	if in.Known && now.Sub(at) < InstanceTTL {
		return in
	}
	if !tried.IsZero() && now.Sub(tried) < instanceRetry {
		if in.Known {
			return in
		}
		return c.defaults()
	}
	fresh, err := c.FetchInstance(ctx)
	if err == nil {
		return fresh
	}
	c.log.Warn("mastodon: the instance document could not be read; using the limits known so far", "err", err)
	c.mu.Lock()
	c.instTry = now
	c.mu.Unlock()
	if in.Known {
		return in
	}
	return c.defaults()
}

// defaults is DefaultInstance for this client's server.
func (c *Client) defaults() Instance {
	in := DefaultInstance()
	in.Domain = c.tr.Host()
	return in
}

// Cached returns the instance document last read, without asking the
// server; Known is false when none was.
func (c *Client) Cached() Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inst.Known {
		return c.inst
	}
	return c.defaults()
}

func decodeInstance(resp *sender.Response) (Instance, error) {
	var v struct {
		Domain        string `json:"domain"`
		Version       string `json:"version"`
		Configuration *struct {
			Statuses struct {
				MaxCharacters       int `json:"max_characters"`
				MaxMediaAttachments int `json:"max_media_attachments"`
				CharactersPerURL    int `json:"characters_reserved_per_url"`
			} `json:"statuses"`
			Media struct {
				SupportedMIMETypes []string `json:"supported_mime_types"`
				ImageSizeLimit     int64    `json:"image_size_limit"`
				ImageMatrixLimit   int64    `json:"image_matrix_limit"`
				DescriptionLimit   int      `json:"description_limit"`
			} `json:"media_attachments"`
		} `json:"configuration"`
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil || v.Configuration == nil {
		return Instance{}, protocolError(resp, `an Instance ({"configuration":...})`)
	}
	in := DefaultInstance()
	in.Known = true
	in.Domain, in.Version = v.Domain, v.Version
	st, md := v.Configuration.Statuses, v.Configuration.Media
	// A number out of reason is ignored: the default stands.
	if st.MaxCharacters > 0 && st.MaxCharacters <= 1_000_000 {
		in.MaxCharacters = st.MaxCharacters
	}
	if st.CharactersPerURL > 0 && st.CharactersPerURL <= 10_000 {
		in.CharactersPerURL = st.CharactersPerURL
	}
	if st.MaxMediaAttachments > 0 && st.MaxMediaAttachments <= 100 {
		in.MaxMediaAttachments = st.MaxMediaAttachments
	}
	if md.DescriptionLimit > 0 {
		in.DescriptionLimit = md.DescriptionLimit
	}
	if md.ImageSizeLimit > 0 {
		in.ImageSizeLimit = md.ImageSizeLimit
	}
	if md.ImageMatrixLimit > 0 {
		in.ImageMatrixLimit = md.ImageMatrixLimit
	}
	in.SupportedMIMETypes = md.SupportedMIMETypes
	return in, nil
}
