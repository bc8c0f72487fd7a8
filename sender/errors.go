package sender

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinels wrapped (with %w) by the errors this package returns.
var (
	// ErrProtocol: the server's answer did not follow HTTP/1.1 or was not
	// what the service sends. Retrying may help if a proxy mangled it.
	ErrProtocol = errors.New("sender: protocol error")
	// ErrTLS: the TLS handshake failed, most often because the server's
	// certificate could not be verified. Retrying does not help.
	ErrTLS = errors.New("sender: TLS error")
	// ErrTransient: the request may succeed if tried again later: the
	// network failed (dial, reset, timeout, connection closed early) or the
	// service answered 5xx or 408.
	ErrTransient = errors.New("sender: transient error")
)

// Network failures are returned as plain errors wrapping ErrTransient and
// their cause, not as *APIError: the service said nothing. An *APIError
// always means an HTTP answer was read. A caller that only asks "retry
// later?" tests errors.Is(err, ErrTransient), which holds for both.

// Kind says what an *APIError means for the caller. Every service client
// sorts its refusals into these kinds, so the daemon decides the same way
// for every destination.
type Kind int

const (
	KindPermanent    Kind = iota // other 4xx: fix the request or the account; do not retry
	KindRateLimited              // 429: retry at RetryAt
	KindDuplicate                // the service already has this exact post
	KindUnauthorized             // 401, X v1.1 codes 32 and 89: bad, expired or revoked credentials
	KindClockSkew                // X v1.1 code 135, or a 401 about the timestamp: correct the clock offset, retry once
	KindForbidden                // 403 other than duplicate, X v1.1 code 453: the account or app may not do this
	KindTransient                // 5xx, 408: retry with backoff
	KindProtocol                 // a success status with a body that is not what the service sends
)

var kindNames = [...]string{
	KindPermanent:    "permanent",
	KindRateLimited:  "rate limited",
	KindDuplicate:    "duplicate",
	KindUnauthorized: "unauthorized",
	KindClockSkew:    "clock skew",
	KindForbidden:    "forbidden",
	KindTransient:    "transient",
	KindProtocol:     "protocol",
}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// APIError is an answer from a service that is not the success the caller
// asked for. NewAPIError fills in what the status says; a service client
// then adds what its error body says.
type APIError struct {
	Service string // who answered, for messages: "X", "Mastodon"; "" says "the server"
	Kind    Kind
	Status  int    // HTTP status
	Code    int    // a numeric error code (X v1.1's errors[0].code); 0 when absent
	Reason  string // a machine-readable error name (X v2's "reason", Bluesky's "error"); may be empty
	Title   string // a problem title, or the HTTP reason phrase
	Detail  string // the service's explanation, as it wrote it
	Hint    string // what the user can do; may be empty
	RetryAt time.Time
	Header  Header // the answer's header fields, for limits only one service sends
	Meta    Meta   // what X's answers say besides their body; zero for other services
	Err     error  // ErrTransient for KindTransient, ErrProtocol for KindProtocol, else nil
}

// NewAPIError returns the error for resp, an answer that is not the
// success asked for, from what its status alone says: the kind (429 rate
// limited, 401 unauthorized, 403 forbidden, 408 and 5xx transient, any
// other permanent), the reason phrase as Title, the header fields, and for
// a redirect a hint naming where to. For a 429, call SetRetryAt.
func NewAPIError(service string, resp *Response) *APIError {
	e := &APIError{Service: service, Status: resp.StatusCode, Title: resp.Reason, Header: resp.Header}
	switch s := resp.StatusCode; {
	case s == 429:
		e.Kind = KindRateLimited
	case s == 401:
		e.Kind = KindUnauthorized
	case s == 403:
		e.Kind = KindForbidden
	case s == 408 || s >= 500:
		e.Kind = KindTransient
		e.Err = ErrTransient
	case s >= 300 && s < 400:
		e.Kind = KindPermanent
		e.Hint = "the server redirects (to " + strconv.Quote(resp.Header.Get("location")) + "); set the service's address to the API's own"
	default:
		e.Kind = KindPermanent
	}
	return e
}

// defaultRateLimitWait is the wait when a 429 says nothing of when to
// retry.
const defaultRateLimitWait = 15 * time.Minute

// SetRetryAt sets when a rate-limited request may be tried again: reset,
// the end of the limit as the service states it (its own clock; zero when
// it gave none); failing that, the answer's Retry-After (seconds, or an
// HTTP date); failing that, 15 minutes after now. now is the time the
// request was made, on the service's clock as far as it is known (the
// local clock plus any offset learned).
func (e *APIError) SetRetryAt(reset, now time.Time) {
	at := reset
	if at.IsZero() {
		at = e.retryAfter(now)
	}
	if at.IsZero() {
		at = now.Add(defaultRateLimitWait)
	}
	e.RetryAt = at
}

// retryAfter reads Retry-After, or returns the zero time.
func (e *APIError) retryAfter(now time.Time) time.Time {
	ra := e.Header.Get("retry-after")
	if ra == "" {
		return time.Time{}
	}
	if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
		return now.Add(time.Duration(secs) * time.Second)
	}
	return parseHTTPDate(ra)
}

func (e *APIError) Error() string {
	var b strings.Builder
	who := e.Service
	if who == "" {
		who = "the server"
	}
	fmt.Fprintf(&b, "sender: %s answered %d", who, e.Status)
	if e.Title != "" {
		b.WriteString(" " + e.Title)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if e.Detail != "" && e.Detail != e.Title {
		b.WriteString(": " + e.Detail)
	}
	if e.Kind == KindRateLimited && !e.RetryAt.IsZero() {
		b.WriteString("; rate limited until " + e.RetryAt.UTC().Format(time.RFC3339))
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Err }

// Temporary reports whether the same request may succeed later without
// anything being changed: rate limits and transient failures.
func (e *APIError) Temporary() bool {
	return e.Kind == KindRateLimited || e.Kind == KindTransient
}

// parseHTTPDate reads the three date formats HTTP allows (RFC 9110
// section 5.6.7). X writes "UTC" where the RFC says "GMT"; both parse.
// It returns the zero time for anything else.
func parseHTTPDate(s string) time.Time {
	for _, layout := range []string{time.RFC1123, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
