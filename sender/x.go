package sender

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// X API paths.
const (
	pathTweetV2  = "/2/tweets"
	pathUpdateV1 = "/1.1/statuses/update.json"
	pathMe       = "/2/users/me"
)

// Meta is what every X answer says besides its body.
type Meta struct {
	Status      int
	Date        time.Time // the server's Date header; zero when absent or unreadable
	RateLimit   RateLimit
	AccessLevel string // x-access-level, e.g. "read-write"
}

// RateLimit holds X's rate-limit headers. Counts are -1 and times zero
// when the header is absent.
type RateLimit struct {
	Limit, Remaining               int       // x-rate-limit-limit, x-rate-limit-remaining
	Reset                          time.Time // x-rate-limit-reset
	UserLimit24h, UserRemaining24h int       // x-user-limit-24hour-limit, -remaining
	UserReset24h                   time.Time // x-user-limit-24hour-reset
}

// Tweet is a post X accepted.
type Tweet struct {
	ID, Text string
	Meta     Meta
}

// User is the account the credentials belong to.
type User struct {
	ID, Name, Username string
	Meta               Meta
}

func metaFrom(r *Response) Meta {
	return Meta{
		Status:      r.StatusCode,
		Date:        parseHTTPDate(r.Header.Get("date")),
		AccessLevel: r.Header.Get("x-access-level"),
		RateLimit: RateLimit{
			Limit:            headerInt(r.Header, "x-rate-limit-limit"),
			Remaining:        headerInt(r.Header, "x-rate-limit-remaining"),
			Reset:            headerUnix(r.Header, "x-rate-limit-reset"),
			UserLimit24h:     headerInt(r.Header, "x-user-limit-24hour-limit"),
			UserRemaining24h: headerInt(r.Header, "x-user-limit-24hour-remaining"),
			UserReset24h:     headerUnix(r.Header, "x-user-limit-24hour-reset"),
		},
	}
}

func headerInt(h Header, name string) int {
	n, err := strconv.Atoi(h.Get(name))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func headerUnix(h Header, name string) time.Time {
	n, err := strconv.ParseInt(h.Get(name), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// xError is the union of X's two error shapes: the v2 problem object
// (RFC 7807: title, detail, type, status) and the v1.1 errors array
// ({"errors":[{"code":187,"message":"Status is a duplicate."}]}). v2 also
// sends an errors array, with messages and no codes, for invalid requests.
type xError struct {
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Type   string `json:"type"`
	Reason string `json:"reason"`
	Errors []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// classify turns a non-2xx answer into an *APIError. now is the time the
// request was signed with (local clock plus the clock offset): the Date
// header is compared with it, and a relative Retry-After counts from it.
func classify(resp *Response, now time.Time) *APIError {
	e := NewAPIError("X", resp)
	e.Meta = metaFrom(resp)
	var x xError
	if json.Unmarshal(resp.Body, &x) == nil {
		if x.Title != "" {
			e.Title = x.Title
		}
		e.Detail = x.Detail
		e.Reason = x.Reason
		if len(x.Errors) > 0 {
			e.Code = x.Errors[0].Code
			switch msg := x.Errors[0].Message; {
			case e.Detail == "":
				e.Detail = msg
			case msg != "" && !strings.Contains(e.Detail, msg):
				// v2's invalid-request detail is generic ("One or more
				// parameters to your request was invalid."); the errors
				// say which and why, such as why an upload was refused.
				e.Detail += " " + msg
			}
		}
	} else if len(resp.Body) > 0 {
		e.Detail = strings.TrimSpace(clip(resp.Body))
	}
	text := strings.ToLower(e.Detail + " " + e.Title)

	// X's error codes and texts refine what the status says.
	e.Err, e.Hint = nil, ""
	switch {
	case resp.StatusCode == 429 || e.Code == 88:
		e.Kind = KindRateLimited
		e.SetRetryAt(xReset(e.Meta.RateLimit), now)
	case e.Code == 187 || (resp.StatusCode == 403 && strings.Contains(text, "duplicate")):
		e.Kind = KindDuplicate
	case e.Code == 135 || (resp.StatusCode == 401 && strings.Contains(text, "timestamp")):
		e.Kind = KindClockSkew
		e.Hint = "the clock is off; check that NTP has synchronised (timedatectl)"
	case resp.StatusCode == 401 && skewed(e.Meta.Date, now):
		// X v2 answers a stale timestamp with a bare 401; its Date header
		// tells the two apart from bad keys.
		e.Kind = KindClockSkew
		e.Hint = skewHint(e.Meta.Date.Sub(now))
	case resp.StatusCode == 402 || x.Title == "CreditsDepleted" || strings.HasSuffix(x.Type, "/problems/credits"):
		// Not in X's documentation; what clients see (docs/specs/x.md b.2).
		e.Kind = KindCreditsDepleted
		e.Hint = CreditsHint
	case e.Code == 32 || e.Code == 89 || resp.StatusCode == 401:
		e.Kind = KindUnauthorized
		e.Hint = "check the four keys in the credentials file; regenerate the access token if it was revoked"
	case e.Code == 453:
		e.Kind = KindForbidden
		e.Hint = "your X plan does not include the v1.1 endpoint; use api = \"v2\""
	case resp.StatusCode == 403:
		e.Kind = KindForbidden
		switch {
		case strings.HasSuffix(x.Type, "/oauth1-permissions") || e.Meta.AccessLevel == "read":
			e.Hint = "the app's access token is read-only; set the app's permissions to Read and Write, then regenerate the access token"
		case x.Reason == "client-not-enrolled":
			e.Hint = "attach the app to a Project in the X developer portal"
		}
	case resp.StatusCode == 408 || resp.StatusCode >= 500:
		e.Kind = KindTransient
		e.Err = ErrTransient
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		e.Kind = KindPermanent
		e.Hint = "the server redirects (to " + strconv.Quote(resp.Header.Get("location")) + "); set base_url to the API's address"
	default:
		e.Kind = KindPermanent
	}
	return e
}

// CreditsHint says what to do when X says the account's credits are
// depleted.
const CreditsHint = "the X account has no credits left: add credits in the X developer console (https://console.x.com)"

// MaxSkew is how far X's Date header may be from the time a request was
// signed with before a 401 is put down to the clock. X refuses timestamps
// more than a few minutes off; a minute leaves room for slow networks.
const MaxSkew = time.Minute

// skewed reports whether the server's date is more than MaxSkew from now.
func skewed(date, now time.Time) bool {
	if date.IsZero() {
		return false
	}
	d := date.Sub(now)
	return d > MaxSkew || d < -MaxSkew
}

func skewHint(d time.Duration) string {
	dir := "ahead of"
	if d < 0 {
		d, dir = -d, "behind"
	}
	return fmt.Sprintf("X's clock is %s %s ours; check that NTP has synchronised (timedatectl)", d.Round(time.Second), dir)
}

// xReset is the end of X's rate limit: the later of x-rate-limit-reset
// and, when the 24-hour user allowance is used up,
// x-user-limit-24hour-reset; zero when X gave neither. Both are X's clock.
func xReset(rl RateLimit) time.Time {
	at := rl.Reset
	if rl.UserRemaining24h == 0 && rl.UserReset24h.After(at) {
		at = rl.UserReset24h
	}
	return at
}

// decodeTweet reads a posting endpoint's success body.
func decodeTweet(api string, resp *Response) (*Tweet, error) {
	t := &Tweet{Meta: metaFrom(resp)}
	if api == "v1.1" {
		var v struct {
			IDStr    string `json:"id_str"`
			Text     string `json:"text"`
			FullText string `json:"full_text"`
		}
		if err := json.Unmarshal(resp.Body, &v); err != nil || v.IDStr == "" {
			return nil, protocolAPIError(resp, `a JSON object with "id_str"`)
		}
		t.ID, t.Text = v.IDStr, v.Text
		if t.Text == "" {
			t.Text = v.FullText
		}
		return t, nil
	}
	var v struct {
		Data struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		} `json:"data"`
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil || v.Data.ID == "" {
		return nil, protocolAPIError(resp, `{"data":{"id":...}}`)
	}
	t.ID, t.Text = v.Data.ID, v.Data.Text
	return t, nil
}

func decodeUser(resp *Response) (*User, error) {
	var v struct {
		Data struct {
			ID       string `json:"id"`
			Name     string `json:"name"`
			Username string `json:"username"`
		} `json:"data"`
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil || v.Data.ID == "" {
		return nil, protocolAPIError(resp, `{"data":{"id":...}}`)
	}
	return &User{ID: v.Data.ID, Name: v.Data.Name, Username: v.Data.Username, Meta: metaFrom(resp)}, nil
}

// protocolAPIError reports a success status whose body is not what X
// sends. For a post this usually means the tweet exists: a retry will be
// answered "duplicate".
func protocolAPIError(resp *Response, want string) *APIError {
	return &APIError{
		Service: "X",
		Header:  resp.Header,
		Kind:    KindProtocol,
		Status:  resp.StatusCode,
		Title:   resp.Reason,
		Detail:  "expected " + want + ", got " + strconv.Quote(clip(resp.Body)),
		Hint:    "is base_url an X API server?",
		Meta:    metaFrom(resp),
		Err:     ErrProtocol,
	}
}
