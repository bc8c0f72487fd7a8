package sender

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinels wrapped (with %w) by the errors this package returns.
var (
	// ErrProtocol: the server's answer did not follow HTTP/1.1 or was not
	// the JSON X sends. Retrying may help if a proxy mangled it.
	ErrProtocol = errors.New("sender: protocol error")
	// ErrTLS: the TLS handshake failed, most often because the server's
	// certificate could not be verified. Retrying does not help.
	ErrTLS = errors.New("sender: TLS error")
	// ErrTransient: the request may succeed if tried again later: the
	// network failed (dial, reset, timeout, connection closed early) or X
	// answered 5xx or 408.
	ErrTransient = errors.New("sender: transient error")
)

// Network failures are returned as plain errors wrapping ErrTransient and
// their cause, not as *APIError: X said nothing. An *APIError always means
// an HTTP answer was read. A caller that only asks "retry later?" tests
// errors.Is(err, ErrTransient), which holds for both.

// Kind says what an *APIError means for the caller.
type Kind int

const (
	KindPermanent    Kind = iota // other 4xx: fix the request or the account; do not retry
	KindRateLimited              // 429: retry at RetryAt
	KindDuplicate                // X already has this exact text from this account
	KindUnauthorized             // 401, v1.1 codes 32 and 89: bad or revoked credentials
	KindClockSkew                // v1.1 code 135, or a 401 about the timestamp: correct the clock offset, retry once
	KindForbidden                // 403 other than duplicate, v1.1 code 453: the account or app may not do this
	KindTransient                // 5xx, 408: retry with backoff
	KindProtocol                 // a success status with a body that is not what X sends
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

// APIError is an answer from X that is not the success the caller asked
// for.
type APIError struct {
	Kind    Kind
	Status  int    // HTTP status
	Code    int    // v1.1 error code (errors[0].code); 0 when absent
	Title   string // v2 problem title, or the HTTP reason phrase
	Detail  string // v2 problem detail or v1.1 error message, as X wrote it
	Hint    string // what the user can do; may be empty
	RetryAt time.Time
	Meta    Meta
	Err     error // ErrTransient for KindTransient, ErrProtocol for KindProtocol, else nil
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sender: X answered %d", e.Status)
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
