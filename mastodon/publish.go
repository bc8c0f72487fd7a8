package mastodon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"pitweet/sender"
)

// Message is one post with its pictures, as Publish posts it.
type Message struct {
	// Key is the Idempotency-Key: the same for every attempt at this
	// message (IdempotencyKey of its outbox id).
	Key    string
	Text   string
	Images []Image // at most the instance's max_media_attachments
	// Tried reports that an earlier attempt may have reached the server
	// (its answer was lost).
	Tried bool
	// Since is the earliest time an earlier attempt can have been made:
	// when the message was made.
	Since time.Time
}

// findSlack is how far before Since a status found by FindStatus may have
// been made: clocks differ a little.
const findSlack = time.Minute

// maxClaimed bounds the status ids remembered as returned.
const maxClaimed = 1024

// Publish posts m exactly once: it uploads its pictures (each with its alt
// text, waiting while the server processes them), then posts the status
// with m.Key as the Idempotency-Key, so a repeat after a lost answer is
// answered with the first status.
//
// The server keeps a key for an hour after the status it made. When m may
// have reached the server more than KeySafe ago, a repeat could outlive
// the key and post a second status; so Publish first looks for the status
// among the account's latest (same text, same number of pictures, made
// since m.Since) and returns it if it is there.
//
// Pictures uploaded for m are kept for its next attempt (the server's
// limit on uploads is 30 per 30 minutes); an attempt whose ids the server
// no longer knows uploads them again.
func (c *Client) Publish(ctx context.Context, m Message) (*Status, error) {
	if m.Tried && !m.Since.IsZero() && c.now().Sub(m.Since) > KeySafe {
		st, err := c.FindStatus(ctx, m.Text, len(m.Images), m.Since.Add(-findSlack))
		var apiErr *sender.APIError
		switch {
		case errors.As(err, &apiErr) && (apiErr.Kind == sender.KindForbidden || apiErr.Kind == sender.KindUnauthorized):
			// The token may not read the account or its statuses: the
			// message would be lost if this stopped it. Posting may
			// double a status whose answer was lost over an hour ago.
			c.log.Warn("mastodon: cannot look for the status of an earlier attempt (give the token read:accounts and read:statuses); posting again",
				"key", m.Key, "err", err)
		case err != nil:
			return nil, err
		case st != nil:
			c.log.Info("mastodon: the status of an earlier attempt is on the server; not posting again", "key", m.Key, "status", st.ID)
			c.claim(m.Key, st.ID)
			return st, nil
		}
	}
	for round := 0; ; round++ {
		ids, reused, err := c.uploadAll(ctx, m)
		if err != nil {
			return nil, err
		}
		st, err := c.PostStatus(ctx, NewStatus{Text: m.Text, MediaIDs: ids, IdempotencyKey: m.Key})
		var apiErr *sender.APIError
		if err != nil && reused && round == 0 && errors.As(err, &apiErr) && apiErr.Status == 422 && strings.HasPrefix(apiErr.Detail, mediaGone) {
			// The server forgot the pictures uploaded at an earlier
			// attempt, or they are attached already: upload them again.
			c.forgetUploads(m.Key)
			continue
		}
		if err != nil {
			return nil, err
		}
		c.claim(m.Key, st.ID)
		return st, nil
	}
}

// uploadAll uploads m's pictures, or returns those uploaded at an earlier
// attempt (reused), and waits until the server has processed each.
func (c *Client) uploadAll(ctx context.Context, m Message) (ids []string, reused bool, err error) {
	if len(m.Images) == 0 {
		return nil, false, nil
	}
	c.mu.Lock()
	kept := c.uploaded[m.Key]
	c.mu.Unlock()
	if len(kept) == len(m.Images) {
		return kept, true, nil
	}
	for i, img := range m.Images {
		a, done, err := c.Upload(ctx, img)
		if err != nil {
			return nil, false, fmt.Errorf("mastodon: picture %d of %d: %w", i+1, len(m.Images), err)
		}
		if !done {
			if _, err := c.WaitMedia(ctx, a.ID); err != nil {
				return nil, false, fmt.Errorf("mastodon: picture %d of %d: %w", i+1, len(m.Images), err)
			}
		}
		ids = append(ids, a.ID)
	}
	c.mu.Lock()
	c.uploaded[m.Key] = ids
	c.mu.Unlock()
	return ids, false, nil
}

func (c *Client) forgetUploads(key string) {
	c.mu.Lock()
	delete(c.uploaded, key)
	c.mu.Unlock()
}

// claim records that status id is m's: its uploads are done with, and
// FindStatus does not give it to another message.
func (c *Client) claim(key, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.uploaded, key)
	if len(c.claimed) >= maxClaimed {
		clear(c.claimed)
	}
	c.claimed[id] = true
}
