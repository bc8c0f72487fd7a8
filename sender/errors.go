package sender

import (
	"errors"
	"fmt"
	"math"
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
	// KindCreditsDepleted: 402 Payment Required, or X's CreditsDepleted
	// problem under any status: the account has no credit (or its
	// spending limit is reached) and every request fails until someone
	// pays. Hold the service's posts, probe it rarely, never retry in a
	// loop; X's service did not bill the request.
	KindCreditsDepleted
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

	KindCreditsDepleted: "credits depleted",
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
	// AskedWait is the wait the service asked for when it was longer than
	// MaxRetryWait and RetryAt was cut to that; 0 otherwise.
	AskedWait time.Duration
	Header    Header // the answer's header fields, for limits only one service sends
	Meta      Meta   // what X's answers say besides their body; zero for other services
	Err       error  // ErrTransient for KindTransient, ErrProtocol for KindProtocol, else nil
}

// NewAPIError returns the error for resp, an answer that is not the
// success asked for, from what its status alone says: the kind (429 rate
// limited, 401 unauthorized, 402 credits depleted, 403 forbidden, 408 and
// 5xx transient, any other permanent), the reason phrase as Title, the header fields, and for
// a redirect a hint naming where to. For a 429, call SetRetryAt.
func NewAPIError(service string, resp *Response) *APIError {
	e := &APIError{Service: service, Status: resp.StatusCode, Title: resp.Reason, Header: resp.Header}
	switch s := resp.StatusCode; {
	case s == 429:
		e.Kind = KindRateLimited
	case s == 401:
		e.Kind = KindUnauthorized
	case s == 402:
		e.Kind = KindCreditsDepleted
		e.Hint = "the service wants payment (402): settle the account with it, then pitweet reload"
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

// MaxRetryWait bounds the wait a rate limit may impose: a service (or
// anything posing as one) that asks for longer is retried after this, so
// the queue never stalls for a year on one answer.
const MaxRetryWait = 24 * time.Hour

// SetRetryAt sets when a rate-limited request may be tried again. reset is
// the end of the limit as the service states it, on its own clock (zero
// when it gave none); failing that, the answer's Retry-After (seconds, or
// an HTTP date); failing that, 15 minutes. now is the time the request was
// made, on the service's clock as far as it is known (the local clock plus
// any offset learned), and RetryAt is on that clock too.
//
// A time the service gives on its own clock is read against its Date
// header, when it sent one: a reset a minute after its Date is a minute
// from now, however far its clock is from ours. The wait is never less
// than zero, and never more than MaxRetryWait: a longer one is cut to it,
// and AskedWait and the message say so.
func (e *APIError) SetRetryAt(reset, now time.Time) {
	date := parseHTTPDate(e.Header.Get("date"))
	var wait time.Duration
	switch at := e.retryAfterDate(); {
	case !reset.IsZero():
		wait = serverWait(reset, date, now)
	case e.retryAfterSeconds() >= 0:
		wait = e.retryAfterSeconds()
	case !at.IsZero():
		wait = serverWait(at, date, now)
	default:
		wait = defaultRateLimitWait
	}
	e.AskedWait = 0
	if wait > MaxRetryWait {
		e.AskedWait, wait = wait, MaxRetryWait
	}
	e.RetryAt = now.Add(max(wait, 0))
}

// serverWait is how long from now until at, a time on the server's clock:
// counted from the server's Date when known, else from now.
func serverWait(at, date, now time.Time) time.Duration {
	if date.IsZero() {
		date = now
	}
	return at.Sub(date)
}

// retryAfterSeconds reads a Retry-After given in seconds, or returns -1.
// A number too large to hold is taken as the longest wait there is.
func (e *APIError) retryAfterSeconds() time.Duration {
	v := e.Header.Get("retry-after")
	if v == "" || !allDigits(v) {
		return -1
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs > int64(math.MaxInt64/time.Second) {
		return math.MaxInt64
	}
	return time.Duration(secs) * time.Second
}

// retryAfterDate reads a Retry-After given as an HTTP date, or returns the
// zero time.
func (e *APIError) retryAfterDate() time.Time {
	return parseHTTPDate(e.Header.Get("retry-after"))
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
		if e.AskedWait > 0 {
			fmt.Fprintf(&b, " (%s asked to wait %s; capped at %s)", who, e.AskedWait.Round(time.Second), strings.TrimSuffix(MaxRetryWait.String(), "0m0s")) // "24h"
		}
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
