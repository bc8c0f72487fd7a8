package sender

import (
	"bufio"
	"errors"
	"strings"
	"testing"
	"time"
)

// Error bodies below are the shapes X sends: v2 problem objects (RFC 7807)
// and v1.1 {"errors":[{"code":…,"message":…}]}.
var classifyTests = []struct {
	name    string
	raw     string
	kind    Kind
	status  int
	code    int
	detail  string    // must appear in Detail
	hint    string    // must appear in Hint
	retryAt time.Time // checked when not zero
}{
	{
		name: "v2 429 with reset",
		raw: "HTTP/1.1 429 Too Many Requests\r\nx-rate-limit-limit: 100\r\nx-rate-limit-remaining: 0\r\nx-rate-limit-reset: 1700000900\r\nContent-Type: application/json\r\n\r\n" +
			`{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}`,
		kind: KindRateLimited, status: 429, detail: "Too Many Requests", retryAt: time.Unix(1700000900, 0),
	},
	{
		name: "429 where the 24-hour user limit resets later",
		raw: "HTTP/1.1 429 Too Many Requests\r\nx-rate-limit-reset: 1700000900\r\nx-user-limit-24hour-limit: 17\r\nx-user-limit-24hour-remaining: 0\r\nx-user-limit-24hour-reset: 1700050000\r\n\r\n" +
			`{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}`,
		kind: KindRateLimited, status: 429, retryAt: time.Unix(1700050000, 0),
	},
	{
		name: "429 where the 24-hour user limit has room left",
		raw:  "HTTP/1.1 429 Too Many Requests\r\nx-rate-limit-reset: 1700000900\r\nx-user-limit-24hour-remaining: 3\r\nx-user-limit-24hour-reset: 1700050000\r\n\r\n{}",
		kind: KindRateLimited, status: 429, retryAt: time.Unix(1700000900, 0),
	},
	{
		name: "429 with Retry-After seconds only",
		raw:  "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\nContent-Length: 0\r\n\r\n",
		kind: KindRateLimited, status: 429, retryAt: time.Unix(1700000000+120, 0),
	},
	{
		name: "429 with no hint at all waits 15 minutes",
		raw:  "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n",
		kind: KindRateLimited, status: 429, retryAt: time.Unix(1700000000+900, 0),
	},
	{
		name: "v1.1 code 88",
		raw:  "HTTP/1.1 429 Too Many Requests\r\n\r\n" + `{"errors":[{"message":"Rate limit exceeded","code":88}]}`,
		kind: KindRateLimited, status: 429, code: 88, detail: "Rate limit exceeded",
	},
	{
		name: "v2 403 duplicate",
		raw: "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json; charset=utf-8\r\nx-access-level: read-write\r\n\r\n" +
			`{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}`,
		kind: KindDuplicate, status: 403, detail: "duplicate content",
	},
	{
		name: "v1.1 code 187",
		raw:  "HTTP/1.1 403 Forbidden\r\n\r\n" + `{"errors":[{"code":187,"message":"Status is a duplicate."}]}`,
		kind: KindDuplicate, status: 403, code: 187, detail: "Status is a duplicate.",
	},
	{
		name: "v2 401",
		raw:  "HTTP/1.1 401 Unauthorized\r\n\r\n" + `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`,
		kind: KindUnauthorized, status: 401, hint: "credentials",
	},
	{
		name: "v1.1 code 32",
		raw:  "HTTP/1.1 401 Authorization Required\r\n\r\n" + `{"errors":[{"code":32,"message":"Could not authenticate you."}]}`,
		kind: KindUnauthorized, status: 401, code: 32, detail: "Could not authenticate you.",
	},
	{
		name: "v1.1 code 89",
		raw:  "HTTP/1.1 401 Authorization Required\r\n\r\n" + `{"errors":[{"code":89,"message":"Invalid or expired token."}]}`,
		kind: KindUnauthorized, status: 401, code: 89, detail: "Invalid or expired token.",
	},
	{
		name: "v1.1 code 135",
		raw:  "HTTP/1.1 401 Authorization Required\r\nDate: Tue, 25 Apr 2023 11:28:02 UTC\r\n\r\n" + `{"errors":[{"code":135,"message":"Timestamp out of bounds."}]}`,
		kind: KindClockSkew, status: 401, code: 135, detail: "Timestamp out of bounds.", hint: "clock",
	},
	{
		name: "401 that names the timestamp",
		raw:  "HTTP/1.1 401 Unauthorized\r\n\r\n" + `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"oauth_timestamp is too far from the server time"}`,
		kind: KindClockSkew, status: 401,
	},
	{
		name: "v1.1 code 453",
		raw: "HTTP/1.1 403 Forbidden\r\n\r\n" +
			`{"errors":[{"message":"You currently have access to a subset of X API V2 endpoints and limited v1.1 endpoints (e.g. media post, oauth) only. If you need access to this endpoint, you may need a different access level. You can learn more here: https://developer.x.com/en/portal/product","code":453}]}`,
		kind: KindForbidden, status: 403, code: 453, detail: "subset of X API V2", hint: `api = "v2"`,
	},
	{
		name: "v2 403 read-only app",
		raw: "HTTP/1.1 403 Forbidden\r\nx-access-level: read\r\n\r\n" +
			`{"title":"Forbidden","type":"https://api.twitter.com/2/problems/oauth1-permissions","status":403,"detail":"Your client app is not configured with the appropriate oauth1 app permissions for this endpoint."}`,
		kind: KindForbidden, status: 403, hint: "Read and Write",
	},
	{
		name: "v2 403 client not enrolled",
		raw: "HTTP/1.1 403 Forbidden\r\n\r\n" +
			`{"client_id":"123","detail":"When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project.","registration_url":"https://developer.twitter.com/en/docs/projects/overview","title":"Client Forbidden","required_enrollment":"Appropriate Level of API Access","reason":"client-not-enrolled","type":"https://api.twitter.com/2/problems/client-forbidden"}`,
		kind: KindForbidden, status: 403, hint: "Project",
	},
	{
		name: "v2 503",
		raw:  "HTTP/1.1 503 Service Unavailable\r\n\r\n" + `{"title":"Service Unavailable","detail":"Service Unavailable","type":"about:blank","status":503}`,
		kind: KindTransient, status: 503,
	},
	{
		name: "HTML 502 from a front end",
		raw:  "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\n\r\n<html><body>Bad Gateway</body></html>",
		kind: KindTransient, status: 502, detail: "<html>",
	},
	{
		name: "408",
		raw:  "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n",
		kind: KindTransient, status: 408,
	},
	{
		name: "v2 400 invalid request",
		raw: "HTTP/1.1 400 Bad Request\r\n\r\n" +
			`{"errors":[{"parameters":{"text":[""]},"message":"Tweet text is empty"}],"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","type":"https://api.twitter.com/2/problems/invalid-request"}`,
		kind: KindPermanent, status: 400, detail: "One or more parameters",
	},
	{
		// 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT: this Date is 1 h ahead.
		name: "v2 401 with the server's clock an hour ahead",
		raw: "HTTP/1.1 401 Unauthorized\r\nDate: Tue, 14 Nov 2023 23:13:20 GMT\r\n\r\n" +
			`{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`,
		kind: KindClockSkew, status: 401, hint: "1h0m0s ahead",
	},
	{
		name: "v2 401 with the server's clock 10 minutes behind",
		raw: "HTTP/1.1 401 Unauthorized\r\nDate: Tue, 14 Nov 2023 22:03:20 GMT\r\n\r\n" +
			`{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`,
		kind: KindClockSkew, status: 401, hint: "10m0s behind",
	},
	{
		name: "v2 401 with the server's clock 30 s ahead: bad keys",
		raw: "HTTP/1.1 401 Unauthorized\r\nDate: Tue, 14 Nov 2023 22:13:50 GMT\r\n\r\n" +
			`{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`,
		kind: KindUnauthorized, status: 401, hint: "credentials",
	},
	{
		name: "redirect",
		raw:  "HTTP/1.1 301 Moved Permanently\r\nLocation: https://api.x.com/2/tweets\r\nContent-Length: 0\r\n\r\n",
		kind: KindPermanent, status: 301, hint: "https://api.x.com/2/tweets",
	},
}

func TestClassify(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, tt := range classifyTests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ReadResponse(bufio.NewReader(strings.NewReader(tt.raw)))
			if err != nil {
				t.Fatal(err)
			}
			e := classify(resp, now)
			if e.Kind != tt.kind || e.Status != tt.status || e.Code != tt.code {
				t.Errorf("kind, status, code = %v, %d, %d; want %v, %d, %d", e.Kind, e.Status, e.Code, tt.kind, tt.status, tt.code)
			}
			if !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("Detail = %q, want it to contain %q", e.Detail, tt.detail)
			}
			if !strings.Contains(e.Hint, tt.hint) {
				t.Errorf("Hint = %q, want it to contain %q", e.Hint, tt.hint)
			}
			if !tt.retryAt.IsZero() && !e.RetryAt.Equal(tt.retryAt) {
				t.Errorf("RetryAt = %v, want %v", e.RetryAt, tt.retryAt)
			}
			var err2 error = e
			var ae *APIError
			if !errors.As(err2, &ae) || ae != e {
				t.Error("errors.As does not find the *APIError")
			}
			if got := errors.Is(err2, ErrTransient); got != (tt.kind == KindTransient) {
				t.Errorf("errors.Is(ErrTransient) = %v for kind %v", got, tt.kind)
			}
			if e.Temporary() != (tt.kind == KindTransient || tt.kind == KindRateLimited) {
				t.Errorf("Temporary() = %v for kind %v", e.Temporary(), tt.kind)
			}
			if msg := e.Error(); !strings.HasPrefix(msg, "sender: X answered ") || (e.Hint != "" && !strings.Contains(msg, e.Hint)) {
				t.Errorf("Error() = %q", msg)
			}
		})
	}
}

func TestMeta(t *testing.T) {
	raw := "HTTP/1.1 201 Created\r\n" +
		"date: Tue, 25 Apr 2023 11:28:02 UTC\r\n" +
		"x-access-level: read-write\r\n" +
		"x-rate-limit-limit: 40000\r\nx-rate-limit-remaining: 39998\r\nx-rate-limit-reset: 1682422975\r\n" +
		"x-user-limit-24hour-limit: 17\r\nx-user-limit-24hour-remaining: 16\r\nx-user-limit-24hour-reset: 1682500000\r\n" +
		"Content-Length: 2\r\n\r\n{}"
	resp, err := ReadResponse(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	m := metaFrom(resp)
	want := Meta{
		Status:      201,
		Date:        time.Date(2023, 4, 25, 11, 28, 2, 0, time.UTC),
		AccessLevel: "read-write",
		RateLimit: RateLimit{
			Limit: 40000, Remaining: 39998, Reset: time.Unix(1682422975, 0).UTC(),
			UserLimit24h: 17, UserRemaining24h: 16, UserReset24h: time.Unix(1682500000, 0).UTC(),
		},
	}
	if m != want {
		t.Errorf("meta = %+v\nwant   %+v", m, want)
	}

	resp, _ = ReadResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nDate: yesterday\r\nContent-Length: 0\r\n\r\n")))
	m = metaFrom(resp)
	if !m.Date.IsZero() || m.RateLimit.Limit != -1 || m.RateLimit.Remaining != -1 || m.RateLimit.UserRemaining24h != -1 || !m.RateLimit.Reset.IsZero() {
		t.Errorf("absent or bad headers gave %+v; want zero date and -1 counts", m)
	}
}

func TestParseHTTPDate(t *testing.T) {
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"} {
		if got := parseHTTPDate(s); !got.Equal(want) {
			t.Errorf("parseHTTPDate(%q) = %v", s, got)
		}
	}
}

func TestDecodeSuccess(t *testing.T) {
	tests := []struct {
		api, raw, id, text string
		kind               Kind // KindProtocol when it must fail
	}{
		{"v2", "HTTP/1.1 201 Created\r\n\r\n" + `{"data":{"edit_history_tweet_ids":["1445880548472328192"],"id":"1445880548472328192","text":"Are you excited for the weekend?"}}`, "1445880548472328192", "Are you excited for the weekend?", -1},
		{"v1.1", "HTTP/1.1 200 OK\r\n\r\n" + `{"created_at":"Wed Oct 10 20:19:24 +0000 2018","id":1050118621198921728,"id_str":"1050118621198921728","text":"To make room for more expression"}`, "1050118621198921728", "To make room for more expression", -1},
		{"v2", "HTTP/1.1 201 Created\r\n\r\n<html>hello</html>", "", "", KindProtocol},
		{"v2", "HTTP/1.1 201 Created\r\n\r\n" + `{"data":{}}`, "", "", KindProtocol},
		{"v1.1", "HTTP/1.1 200 OK\r\n\r\n" + `{"id":1}`, "", "", KindProtocol},
	}
	for _, tt := range tests {
		resp, err := ReadResponse(bufio.NewReader(strings.NewReader(tt.raw)))
		if err != nil {
			t.Fatal(err)
		}
		tw, err := decodeTweet(tt.api, resp)
		if tt.kind == KindProtocol {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Kind != KindProtocol || !errors.Is(err, ErrProtocol) {
				t.Errorf("%s %q: err = %v, want a KindProtocol *APIError wrapping ErrProtocol", tt.api, tt.raw, err)
			}
			continue
		}
		if err != nil || tw.ID != tt.id || tw.Text != tt.text {
			t.Errorf("%s: got %+v, %v; want id %s", tt.api, tw, err, tt.id)
		}
	}
}
