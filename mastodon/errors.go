package mastodon

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"pitweet/sender"
)

// RateLimit holds Mastodon's rate-limit headers
// (docs.joinmastodon.org/api/rate-limits/): the limit the answered request
// is closest to exceeding. Counts are -1 and Reset zero when a header is
// absent or unreadable.
type RateLimit struct {
	Limit, Remaining int
	Reset            time.Time // X-RateLimit-Reset, on the server's clock
}

func rateLimitFrom(h sender.Header) RateLimit {
	return RateLimit{
		Limit:     headerInt(h, "x-ratelimit-limit"),
		Remaining: headerInt(h, "x-ratelimit-remaining"),
		Reset:     parseReset(h.Get("x-ratelimit-reset")),
	}
}

func headerInt(h sender.Header, name string) int {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get(name)))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// parseReset reads X-RateLimit-Reset. The documentation says only
// "Timestamp"; Mastodon writes ISO 8601 with microseconds in UTC
// ("2026-01-02T03:05:00.000000Z"). Any RFC 3339 time is read, and for
// servers that follow other APIs' habit, Unix seconds. Zero when it is
// neither.
func parseReset(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC()
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n < 1<<40 {
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}

// errorBody is Mastodon's Error entity (docs.joinmastodon.org/entities/Error/).
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// notProcessed is the start of the 422 Mastodon answers when a status
// names media still being processed ("Cannot attach files that have not
// finished processing. Try again in a moment!"): try again, it is not a
// refusal.
const notProcessed = "Cannot attach files that have not finished processing"

// mediaGone is the start of the 422 for a media id that is unknown or
// attached already ("Media ID not found or already attached to another
// post").
const mediaGone = "Media ID not found"

// Scopes are the scopes pitweet's token needs: write:statuses and
// write:media to post; read:accounts and read:statuses to check the token
// and to look for a status before posting a message again more than an
// hour after a lost answer.
const Scopes = "write:statuses, write:media, read:accounts and read:statuses"

// Hints.
const (
	hintToken = "the server refused mastodon_token; make a new access token in the server's Preferences, Development " +
		"(scopes " + Scopes + ") and put it in the credentials file"
	hintScopes = "the token lacks a scope; make a new access token with " + Scopes
	hintServer = "is server the Mastodon server's own address (https://host)?"
)

// classify turns an answer that is not the success asked for into an
// *APIError: 429 rate limited until X-RateLimit-Reset; 401 unauthorized;
// 403 forbidden; 408 and 5xx transient, and the 422 of media still being
// processed; any other 4xx (422 validation failures with their reason)
// permanent. sent is the local time the request was sent.
func classify(resp *sender.Response, sent time.Time) *sender.APIError {
	e := sender.NewAPIError(Service, resp)
	var b errorBody
	if json.Unmarshal(resp.Body, &b) == nil && b.Error != "" {
		e.Detail = b.Error
		if b.Description != "" && b.Description != b.Error {
			e.Detail += " (" + b.Description + ")"
		}
	} else if len(resp.Body) > 0 && !strings.Contains(strings.ToLower(resp.Header.Get("content-type")), "html") {
		e.Detail = clip(resp.Body)
	}
	switch s := resp.StatusCode; {
	case s == 429:
		e.SetRetryAt(parseReset(resp.Header.Get("x-ratelimit-reset")), sent)
	case s == 401:
		e.Hint = hintToken
	case s == 403 && strings.Contains(e.Detail, "outside the authorized scopes"):
		e.Hint = hintScopes
	case s == 422 && strings.HasPrefix(e.Detail, notProcessed):
		e.Kind = sender.KindTransient
		e.Err = sender.ErrTransient
	case s == 404 && e.Detail == "":
		e.Hint = hintServer
	}
	return e
}

// protocolError reports a success status whose body is not what Mastodon
// sends.
func protocolError(resp *sender.Response, want string) *sender.APIError {
	return &sender.APIError{
		Service: Service,
		Kind:    sender.KindProtocol,
		Status:  resp.StatusCode,
		Title:   resp.Reason,
		Detail:  "expected " + want + ", got " + strconv.Quote(clip(resp.Body)),
		Hint:    hintServer,
		Header:  resp.Header,
		Err:     sender.ErrProtocol,
	}
}

// clip shortens a body for a message.
func clip(b []byte) string {
	const max = 200
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.TrimSpace(s)
}
