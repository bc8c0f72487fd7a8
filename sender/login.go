package sender

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"pitweet/oauth"
)

// X's PIN-based ("out of band") three-legged OAuth 1.0a flow, which gives
// an app an access token for the account of whoever approves it:
//
//  1. POST /oauth/request_token, signed with the app's keys alone and
//     oauth_callback="oob": a request token and its secret.
//  2. The user opens AuthorizeURL in a browser, signs in as the account
//     that should post, approves, and is shown a PIN.
//  3. POST /oauth/access_token, signed with the request token and its
//     secret, and the PIN as oauth_verifier: the access token and secret,
//     the account's id and screen name.
//
// Both answers are form-encoded (whatever Content-Type X gives them).
const (
	pathRequestToken = "/oauth/request_token"
	pathAuthorize    = "/oauth/authorize"
	pathAccessToken  = "/oauth/access_token"
)

// Errors of the login flow, wrapped (with %w) by the errors Login returns,
// each with what to do.
var (
	// ErrPINRefused: X did not accept the PIN (oauth_verifier).
	ErrPINRefused = errors.New("sender: the PIN was not accepted")
	// ErrRequestTokenExpired: the request token is unknown to X, expired,
	// or already exchanged.
	ErrRequestTokenExpired = errors.New("sender: the authorization expired or was already used")
	// ErrReadOnlyApp: the app may read but not post (x-access-level: read).
	ErrReadOnlyApp = errors.New("sender: the app has read-only permission")
)

// Login runs the PIN-based flow for one app. It is safe for concurrent
// use.
type Login struct {
	c *Client
}

// RequestToken is the temporary credential of step 1. Secret is a secret:
// never show or log it.
type RequestToken struct {
	Token, Secret string
}

// AccessToken is what step 3 gives: the account's access token and secret
// for the app, and who the account is. Secret is a secret: never show or
// log it.
type AccessToken struct {
	Token, Secret string
	UserID        string
	ScreenName    string
	Meta          Meta
}

// NewLogin checks cfg (its API version is not used) and returns a Login
// that signs with the app's API key and secret.
func NewLogin(cfg Config, apiKey, apiSecret string) (*Login, error) {
	if apiKey == "" || apiSecret == "" {
		return nil, errors.New("sender: the app's api_key and api_secret are both needed to log in")
	}
	c, err := newClient(cfg, oauth.Credentials{ConsumerKey: apiKey, ConsumerSecret: apiSecret})
	if err != nil {
		return nil, err
	}
	return &Login{c: c}, nil
}

// SetClockOffset is Client.SetClockOffset: the offset added to the local
// time when signing.
func (l *Login) SetClockOffset(d time.Duration) { l.c.SetClockOffset(d) }

// Close closes the connection kept open for the next request, if any.
func (l *Login) Close() error { return l.c.Close() }

func requestTokenCall() call {
	return call{method: "POST", path: pathRequestToken, callback: "oob"}
}

func accessTokenCall(rt *RequestToken, pin string) call {
	return call{method: "POST", path: pathAccessToken, token: rt, verifier: pin}
}

// BuildRequestToken signs step 1 without sending it, for explain. An
// empty nonce or timestamp is chosen as RequestToken would choose it.
func (l *Login) BuildRequestToken(nonce, timestamp string) (*Prepared, error) {
	return l.c.build(requestTokenCall(), nonce, timestamp)
}

// BuildAccessToken signs step 3 without sending it, for explain.
func (l *Login) BuildAccessToken(rt *RequestToken, pin, nonce, timestamp string) (*Prepared, error) {
	return l.c.build(accessTokenCall(rt, pin), nonce, timestamp)
}

// AuthorizeURL is the page of step 2, on the same origin as the API
// (https://api.x.com/oauth/authorize?oauth_token=…), where the user
// approves the app and is shown the PIN.
func (l *Login) AuthorizeURL(rt *RequestToken) string {
	return l.c.tr.Origin() + pathAuthorize + "?oauth_token=" + oauth.Encode(rt.Token)
}

// RequestToken runs step 1.
func (l *Login) RequestToken(ctx context.Context) (*RequestToken, error) {
	resp, err := l.c.do(ctx, requestTokenCall())
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, l.refused(resp, pathRequestToken)
	}
	if err := readOnly(resp); err != nil {
		return nil, err
	}
	v, err := parseTokenAnswer(resp, pathRequestToken, "oauth_token", "oauth_token_secret", "oauth_callback_confirmed")
	if err != nil {
		return nil, err
	}
	if v["oauth_callback_confirmed"] != "true" {
		return nil, tokenAnswerError(resp, pathRequestToken, "oauth_callback_confirmed is not \"true\" (RFC 5849 section 2.1)")
	}
	return &RequestToken{Token: v["oauth_token"], Secret: v["oauth_token_secret"]}, nil
}

// AccessToken runs step 3: it exchanges rt and the PIN the user typed for
// the account's access token. An app with read-only permission is refused
// with ErrReadOnlyApp, its token unused.
func (l *Login) AccessToken(ctx context.Context, rt *RequestToken, pin string) (*AccessToken, error) {
	if rt == nil || rt.Token == "" || rt.Secret == "" {
		return nil, errors.New("sender: no request token to exchange")
	}
	if pin == "" {
		return nil, errors.New("sender: no PIN to exchange the request token with")
	}
	resp, err := l.c.do(ctx, accessTokenCall(rt, pin))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, l.refused(resp, pathAccessToken)
	}
	if err := readOnly(resp); err != nil {
		return nil, err
	}
	v, err := parseTokenAnswer(resp, pathAccessToken, "oauth_token", "oauth_token_secret", "user_id", "screen_name")
	if err != nil {
		return nil, err
	}
	if !allDigits(v["user_id"]) {
		return nil, tokenAnswerError(resp, pathAccessToken, "user_id is not a number")
	}
	return &AccessToken{Token: v["oauth_token"], Secret: v["oauth_token_secret"], UserID: v["user_id"], ScreenName: v["screen_name"], Meta: metaFrom(resp)}, nil
}

// readOnly refuses an answer that says the app may only read: its access
// token could not post.
func readOnly(resp *Response) error {
	if strings.EqualFold(strings.TrimSpace(resp.Header.Get("x-access-level")), "read") {
		return fmt.Errorf("%w (X answered x-access-level: read): set the app's permissions to Read and write in the X developer portal (the app's User authentication settings), then run pitweet login again", ErrReadOnlyApp)
	}
	return nil
}

// refused classifies X's refusal of a login step: X's own codes and
// texts first (the clock, a rate limit), then what each step's refusals
// mean for someone logging in.
func (l *Login) refused(resp *Response, path string) *APIError {
	e := classify(resp, l.c.now().Add(l.c.ClockOffset()))
	text := strings.ToLower(e.Detail + " " + e.Title)
	switch {
	case e.Kind == KindClockSkew || e.Kind == KindRateLimited || e.Kind == KindTransient:
		// classify's hint says what to do.
	case path == pathAccessToken && strings.Contains(text, "oauth_verifier"):
		e.Kind, e.Err = KindUnauthorized, ErrPINRefused
		e.Hint = "the PIN was not accepted; run pitweet login again and type the 7-digit PIN shown by X"
	case path == pathAccessToken && (e.Code == 89 || strings.Contains(text, "invalid or expired token") || strings.Contains(text, "invalid / expired token")):
		e.Kind, e.Err = KindUnauthorized, ErrRequestTokenExpired
		e.Hint = "the authorization took too long or was already used; run pitweet login again and type the PIN within a few minutes"
	case e.Code == 415 || strings.Contains(text, "callback url not approved"):
		e.Kind = KindForbidden
		e.Hint = "X wants a callback URL in the app's settings even for PIN login: add one (any https URL) under the app's User authentication settings in the X developer portal, then run pitweet login again"
	case e.Code == 32 || resp.StatusCode == 401:
		e.Kind = KindUnauthorized
		e.Hint = "X did not accept the app's keys: check api_key and api_secret against the app's Consumer Keys in the X developer portal (Keys and tokens); regenerated keys replace the old ones"
	case resp.StatusCode == 403 && e.Hint == "":
		e.Hint = "the app may not use this login; check its permissions and User authentication settings in the X developer portal"
	}
	return e
}

// Bounds of a token answer: X's are about 150 bytes.
const (
	maxTokenAnswer = 4 << 10
	maxTokenParams = 16
	maxTokenValue  = 512
)

// parseTokenAnswer reads an answer of the token endpoints: name=value
// pairs joined by "&", form-encoded. Each of want must be there once, not
// empty, with a value of printable ASCII and no space (a token goes on a
// line of the credentials file and into a header); other names are
// ignored. A trailing line end is allowed. Errors name the parameter
// that is wrong, never its value: the answer holds secrets.
func parseTokenAnswer(resp *Response, path string, want ...string) (map[string]string, error) {
	body := strings.TrimRight(string(resp.Body), "\r\n")
	if len(body) > maxTokenAnswer {
		return nil, tokenAnswerError(resp, path, fmt.Sprintf("it is %d bytes, more than a token answer (%d)", len(resp.Body), maxTokenAnswer))
	}
	if strings.TrimSpace(body) == "" {
		return nil, tokenAnswerError(resp, path, "it is empty")
	}
	pairs := strings.Split(body, "&")
	if len(pairs) > maxTokenParams {
		return nil, tokenAnswerError(resp, path, fmt.Sprintf("it has %d parameters, more than a token answer (%d)", len(pairs), maxTokenParams))
	}
	got := make(map[string]string, len(want))
	for i, pair := range pairs {
		rawName, rawValue, ok := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil || !ok || name == "" || !isToken(name) {
			return nil, tokenAnswerError(resp, path, fmt.Sprintf("parameter %d is not name=value", i+1))
		}
		known := false
		for _, w := range want {
			known = known || w == name
		}
		if !known {
			continue
		}
		if _, dup := got[name]; dup {
			return nil, tokenAnswerError(resp, path, name+" appears twice")
		}
		value, err := url.QueryUnescape(rawValue)
		switch {
		case err != nil:
			return nil, tokenAnswerError(resp, path, name+" has a bad percent escape")
		case value == "":
			return nil, tokenAnswerError(resp, path, name+" is empty")
		case len(value) > maxTokenValue:
			return nil, tokenAnswerError(resp, path, fmt.Sprintf("%s is %d bytes long", name, len(value)))
		case !printableWord(value):
			return nil, tokenAnswerError(resp, path, name+" holds a space, a quote or a character that is not printable ASCII")
		}
		got[name] = value
	}
	for _, w := range want {
		if _, ok := got[w]; !ok {
			return nil, tokenAnswerError(resp, path, w+" is missing")
		}
	}
	return got, nil
}

// printableWord reports whether s is printable ASCII without spaces or
// quotes.
func printableWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\'' {
			return false
		}
	}
	return true
}

// tokenAnswerError reports a 200 answer of a token endpoint that is not
// what X sends. The body is not quoted: it may hold a secret.
func tokenAnswerError(resp *Response, path, what string) *APIError {
	return &APIError{
		Service: "X",
		Kind:    KindProtocol,
		Status:  resp.StatusCode,
		Title:   resp.Reason,
		Detail:  "the answer to POST " + path + " is not the form X sends: " + what,
		Hint:    "is base_url an X API server? run pitweet login again",
		Header:  resp.Header,
		Meta:    metaFrom(resp),
		Err:     ErrProtocol,
	}
}
