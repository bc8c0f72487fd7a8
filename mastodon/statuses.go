package mastodon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"pitweet/sender"
)

// Status is a status as the server reports it
// (docs.joinmastodon.org/entities/Status/).
type Status struct {
	ID         string       `json:"id"`
	URI        string       `json:"uri"`
	URL        string       `json:"url"` // may be null
	CreatedAt  time.Time    `json:"created_at"`
	Visibility string       `json:"visibility"`
	Content    string       `json:"content"` // HTML
	Media      []Attachment `json:"media_attachments"`
}

// Link is what to show for the status: its URL, else its URI, else its id.
func (s *Status) Link() string {
	switch {
	case s.URL != "":
		return s.URL
	case s.URI != "":
		return s.URI
	}
	return s.ID
}

// Account is the account a token acts for
// (docs.joinmastodon.org/entities/Account/).
type Account struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Acct     string `json:"acct"`
	URL      string `json:"url"`
}

// NewStatus is a status to post.
type NewStatus struct {
	Text     string
	MediaIDs []string
	// IdempotencyKey makes a repeat of the request within the server's
	// key lifetime (an hour) return the first status instead of posting
	// a second one; "" sends none.
	IdempotencyKey string
}

// IdempotencyKey is the key of the message with outbox id id: stable
// across attempts and restarts, ASCII, at most 64 characters.
func IdempotencyKey(id string) string {
	k := "pitweet-" + id
	if len(k) > 64 {
		k = k[:64]
	}
	return k
}

// IdempotencyKeyOf is the key of a message made from an outside id (an
// MQTT command's): the same on every poster the command reaches, so two
// posters given one command post one status. The id is hashed: any text,
// any length.
func IdempotencyKeyOf(outside string) string {
	sum := sha256.Sum256([]byte(outside))
	return "pitweet-c-" + hex.EncodeToString(sum[:20])
}

// KeyLifetime is how long after a status is made a repeat with the same
// Idempotency-Key is answered with it: "Idempotency keys are stored for up
// to 1 hour" (docs.joinmastodon.org/methods/statuses/#create), counted
// from the success. Publish looks for the status itself when a repeat
// could come later than KeySafe after the first attempt.
const (
	KeyLifetime = time.Hour
	KeySafe     = 55 * time.Minute
)

// StatusRequest is POST /api/v1/statuses for s, as JSON (the
// documentation: "form data or JSON is used for all other requests").
func (c *Client) StatusRequest(s NewStatus) (*sender.Request, error) {
	body := struct {
		Status     string   `json:"status"`
		MediaIDs   []string `json:"media_ids,omitempty"`
		Visibility string   `json:"visibility"`
		Language   string   `json:"language,omitempty"`
	}{s.Text, s.MediaIDs, c.visibility, c.language}
	// <, > and & as they are: the bytes read as the text does.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return nil, fmt.Errorf("mastodon: encode the status: %w", err)
	}
	data := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	req := &sender.Request{
		Method:        "POST",
		Target:        pathStatuses,
		ContentType:   "application/json",
		Authorization: c.auth(),
		Body:          sender.BytesBody(data),
	}
	if s.IdempotencyKey != "" {
		req.Header = []sender.Field{{Name: "Idempotency-Key", Value: s.IdempotencyKey}}
	}
	return req, nil
}

// PostStatus posts s. Mastodon answers 200 with the status, and a repeat
// of the same Idempotency-Key within an hour with the first status.
func (c *Client) PostStatus(ctx context.Context, s NewStatus) (*Status, error) {
	req, err := c.StatusRequest(s)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, req, 200)
	if err != nil {
		return nil, err
	}
	return decodeStatus(resp)
}

func decodeStatus(resp *sender.Response) (*Status, error) {
	var st Status
	if err := json.Unmarshal(resp.Body, &st); err != nil || st.ID == "" {
		return nil, protocolError(resp, `a Status ({"id":...})`)
	}
	return &st, nil
}

// VerifyCredentials asks which account the token acts for (GET
// /api/v1/accounts/verify_credentials; scope read:accounts or profile).
func (c *Client) VerifyCredentials(ctx context.Context) (*Account, error) {
	resp, err := c.do(ctx, &sender.Request{Method: "GET", Target: pathVerify, Authorization: c.auth()}, 200)
	if err != nil {
		return nil, err
	}
	a, err := decodeAccount(resp)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.account = a
	c.mu.Unlock()
	return a, nil
}

func decodeAccount(resp *sender.Response) (*Account, error) {
	var a Account
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.ID == "" {
		return nil, protocolError(resp, `an Account ({"id":...})`)
	}
	return &a, nil
}

// accountID returns the token's account id, asking the server once.
func (c *Client) accountID(ctx context.Context) (string, error) {
	c.mu.Lock()
	a := c.account
	c.mu.Unlock()
	if a != nil {
		return a.ID, nil
	}
	a, err := c.VerifyCredentials(ctx)
	if err != nil {
		return "", err
	}
	return a.ID, nil
}

// CheckReadStatuses reads the account's latest status, as FindStatus
// reads them: it fails when the token may not (read:statuses).
func (c *Client) CheckReadStatuses(ctx context.Context) error {
	id, err := c.accountID(ctx)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &sender.Request{Method: "GET", Target: "/api/v1/accounts/" + escapePath(id) + "/statuses?limit=1", Authorization: c.auth()}, 200)
	return err
}

// recentLimit is how many of the account's latest statuses FindStatus
// reads: the most GET /api/v1/accounts/:id/statuses gives in one page.
const recentLimit = 40

// FindStatus looks among the account's latest statuses for one made at or
// after since whose text is text, and returns it, or nil when there is
// none. It is how a repeat is recognised after the Idempotency-Key has
// expired.
//
// A status this client has returned for another message is not taken
// again, and one with another number of pictures than images is not
// taken.
func (c *Client) FindStatus(ctx context.Context, text string, images int, since time.Time) (*Status, error) {
	id, err := c.accountID(ctx)
	if err != nil {
		return nil, err
	}
	target := "/api/v1/accounts/" + escapePath(id) + "/statuses?limit=" + strconv.Itoa(recentLimit) + "&exclude_reblogs=true&exclude_replies=true"
	resp, err := c.do(ctx, &sender.Request{Method: "GET", Target: target, Authorization: c.auth()}, 200)
	if err != nil {
		return nil, err
	}
	var list []Status
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return nil, protocolError(resp, "a list of Status")
	}
	want := normalise(text)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range list {
		st := &list[i]
		if !st.CreatedAt.IsZero() && st.CreatedAt.Before(since) || c.claimed[st.ID] || len(st.Media) != images {
			continue
		}
		if normalise(PlainText(st.Content)) == want {
			return st, nil
		}
	}
	return nil, nil
}

// PlainText turns a status's HTML content back into text: paragraphs
// become blank lines, <br> line breaks, and tags go (a link's text, split
// by Mastodon into visible and invisible spans, comes back whole).
func PlainText(content string) string {
	var b strings.Builder
	for content != "" {
		i := strings.IndexByte(content, '<')
		if i < 0 {
			b.WriteString(content)
			break
		}
		b.WriteString(content[:i])
		j := strings.IndexByte(content[i:], '>')
		if j < 0 {
			break // an unclosed tag: what follows is not text
		}
		raw := content[i+1 : i+j]
		name, _, _ := strings.Cut(strings.ToLower(strings.Trim(raw, " /")), " ")
		switch {
		case name == "br":
			b.WriteString("\n")
		case name == "p" && !strings.HasPrefix(raw, "/") && b.Len() > 0:
			b.WriteString("\n\n")
		}
		content = content[i+j+1:]
	}
	return html.UnescapeString(b.String())
}

// normalise is the text as compared: white space runs as one space, none
// at either end (Mastodon strips the ends and its HTML folds the rest).
func normalise(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
