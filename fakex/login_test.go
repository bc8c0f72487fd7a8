package fakex

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"pitweet/oauth"
)

// app is the test account's app keys alone, as pitweet login has them.
var app = oauth.Credentials{ConsumerKey: testCreds.ConsumerKey, ConsumerSecret: testCreds.ConsumerSecret}

// signed sends a POST to path signed by creds with r's callback and
// verifier; query is appended to the URL (and signed), form is sent as a
// form body (and signed).
func (h *harness) signed(creds oauth.Credentials, path, query string, form []oauth.Param, r oauth.Request) answer {
	h.t.Helper()
	u := h.srv.URL() + path
	if query != "" {
		u += "?" + query
	}
	r.Method, r.URL, r.Form = "POST", u, form
	b, err := h.signer(creds).Sign(r)
	if err != nil {
		h.t.Fatal(err)
	}
	var body string
	for i, p := range form {
		if i > 0 {
			body += "&"
		}
		body += oauth.Encode(p.Name) + "=" + oauth.Encode(p.Value)
	}
	req, err := http.NewRequestWithContext(context.Background(), "POST", u, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", b.Header)
	return h.do(req)
}

// formAnswer parses a form-encoded answer and checks it holds exactly the
// names given.
func formAnswer(t *testing.T, a answer, names ...string) url.Values {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q, want X's text/html", ct)
	}
	v, err := url.ParseQuery(a.body)
	if err != nil {
		t.Fatalf("answer %q is not form-encoded: %v", a.body, err)
	}
	if len(v) != len(names) {
		t.Errorf("answer %q has %d parameters, want %v", a.body, len(v), names)
	}
	for _, n := range names {
		if len(v[n]) != 1 || v[n][0] == "" {
			t.Errorf("answer %q: %s = %q", a.body, n, v[n])
		}
	}
	return v
}

// requestToken asks for a request token and returns its credentials.
func (h *harness) requestToken() oauth.Credentials {
	h.t.Helper()
	a := h.signed(app, "/oauth/request_token", "", nil, oauth.Request{Callback: "oob"})
	a.want(h.t, 200, "")
	v := formAnswer(h.t, a, "oauth_token", "oauth_token_secret", "oauth_callback_confirmed")
	if v.Get("oauth_callback_confirmed") != "true" {
		h.t.Errorf("oauth_callback_confirmed = %q", v.Get("oauth_callback_confirmed"))
	}
	return oauth.Credentials{ConsumerKey: app.ConsumerKey, ConsumerSecret: app.ConsumerSecret,
		Token: v.Get("oauth_token"), TokenSecret: v.Get("oauth_token_secret")}
}

var pinRE = regexp.MustCompile(`<code>([0-9]{7})</code>`)

// authorize opens the authorize page as the user's browser would and
// returns the PIN it shows.
func (h *harness) authorize(token string) string {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL()+"/oauth/authorize?oauth_token="+url.QueryEscape(token), nil)
	a := h.do(req)
	a.want(h.t, 200, "")
	m := pinRE.FindStringSubmatch(a.body)
	if m == nil || !strings.Contains(a.body, `id="oauth_pin"`) {
		h.t.Fatalf("authorize page shows no PIN:\n%s", a.body)
	}
	return m[1]
}

func TestLoginFlow(t *testing.T) {
	h := start(t)
	rt := h.requestToken()
	pin := h.authorize(rt.Token)
	if again := h.authorize(rt.Token); again != pin {
		t.Errorf("the page showed PIN %s, then %s", pin, again)
	}
	a := h.signed(rt, "/oauth/access_token", "", nil, oauth.Request{Verifier: pin})
	a.want(t, 200, "")
	v := formAnswer(t, a, "oauth_token", "oauth_token_secret", "user_id", "screen_name")
	if v.Get("user_id") != h.srv.User.ID || v.Get("screen_name") != h.srv.User.Username {
		t.Errorf("answer %q: not the server's account", a.body)
	}
	if !strings.HasPrefix(v.Get("oauth_token"), h.srv.User.ID+"-") {
		t.Errorf("access token %q does not start with the user id, as X's do", v.Get("oauth_token"))
	}
	if lvl := a.header.Get("x-access-level"); lvl != "read-write" {
		t.Errorf("x-access-level %q", lvl)
	}
	issued := h.srv.AccessTokens()
	if len(issued) != 1 || issued[0].Token != v.Get("oauth_token") || issued[0].Secret != v.Get("oauth_token_secret") || issued[0].ReadOnly {
		t.Errorf("AccessTokens() = %+v", issued)
	}

	// The new access token posts.
	user := oauth.Credentials{ConsumerKey: app.ConsumerKey, ConsumerSecret: app.ConsumerSecret,
		Token: v.Get("oauth_token"), TokenSecret: v.Get("oauth_token_secret")}
	h.do(h.request(context.Background(), h.signer(user), "v2", "posted with the new token")).want(t, 201, "")
	// Signed with the wrong secret, it does not.
	user.TokenSecret = "nope"
	h.do(h.request(context.Background(), h.signer(user), "v2", "posted with a wrong secret")).want(t, 401, v2Unauthorized)

	// The request token was used up: the same exchange again is refused.
	h.signed(rt, "/oauth/access_token", "", nil, oauth.Request{Verifier: pin}).want(t, 401, v1Token)
	req, _ := http.NewRequest("GET", h.srv.URL()+"/oauth/authorize?oauth_token="+url.QueryEscape(rt.Token), nil)
	if a := h.do(req); a.status != 403 || !strings.Contains(a.body, "Whoa there!") {
		t.Errorf("authorize page for a used token: %d %s", a.status, a.body)
	}
}

// TestVerifierInQueryOrForm exchanges with oauth_verifier in the query
// string (as X's documentation shows it) and in a form body: both are
// signed, both are accepted.
func TestVerifierInQueryOrForm(t *testing.T) {
	h := start(t)
	rt := h.requestToken()
	pin := h.authorize(rt.Token)
	h.signed(rt, "/oauth/access_token", "oauth_verifier="+pin, nil, oauth.Request{}).want(t, 200, "")

	rt = h.requestToken()
	pin = h.authorize(rt.Token)
	h.signed(rt, "/oauth/access_token", "", []oauth.Param{{Name: "oauth_verifier", Value: pin}}, oauth.Request{}).want(t, 200, "")
}

func TestLoginRefusals(t *testing.T) {
	h := start(t)
	rt := h.requestToken()
	pin := h.authorize(rt.Token)
	wrong := "0000000"
	if pin == wrong {
		wrong = "1111111"
	}

	// A mistyped PIN: X's plain-text answer; the token stays usable.
	a := h.signed(rt, "/oauth/access_token", "", nil, oauth.Request{Verifier: wrong})
	a.want(t, 401, "Error processing your OAuth request: Invalid oauth_verifier parameter")
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("wrong PIN answered as %q", ct)
	}
	// No verifier at all.
	h.signed(rt, "/oauth/access_token", "", nil, oauth.Request{}).want(t, 401, msgBadVerifier)

	// A verifier that is not inside the signature: the header is changed
	// after signing.
	b, err := h.signer(rt).Sign(oauth.Request{Method: "POST", URL: h.srv.URL() + "/oauth/access_token", Verifier: wrong})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", h.srv.URL()+"/oauth/access_token", nil)
	req.Header.Set("Authorization", strings.Replace(b.Header, `oauth_verifier="`+wrong+`"`, `oauth_verifier="`+pin+`"`, 1))
	h.do(req).want(t, 401, v1Auth)

	// Signed with the app's keys but another request token's secret.
	forged := rt
	forged.TokenSecret = "guessed"
	h.signed(forged, "/oauth/access_token", "", nil, oauth.Request{Verifier: pin}).want(t, 401, v1Auth)

	// The right PIN still works after all that.
	h.signed(rt, "/oauth/access_token", "", nil, oauth.Request{Verifier: pin}).want(t, 200, "")

	// Exchanged before the user approved: no PIN was ever shown.
	rt = h.requestToken()
	h.signed(rt, "/oauth/access_token", "", nil, oauth.Request{Verifier: "1234567"}).want(t, 401, msgBadVerifier)

	// Request token requests: the callback must be there, "oob", and
	// signed; the app's keys alone sign.
	h.signed(app, "/oauth/request_token", "", nil, oauth.Request{}).want(t, 400, `{"errors":[{"code":215,"message":"Bad Authentication data."}]}`)
	h.signed(app, "/oauth/request_token", "", nil, oauth.Request{Callback: "https://example.com/cb"}).
		want(t, 403, `{"errors":[{"code":415,"message":"`+v1MsgCallback+`"}]}`)
	h.signed(testCreds, "/oauth/request_token", "", nil, oauth.Request{}).want(t, 401, v1Auth)
	b, err = h.signer(app).Sign(oauth.Request{Method: "POST", URL: h.srv.URL() + "/oauth/request_token"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("POST", h.srv.URL()+"/oauth/request_token", nil)
	req.Header.Set("Authorization", b.Header+`, oauth_callback="oob"`) // not signed
	h.do(req).want(t, 401, v1Auth)
	wrongApp := app
	wrongApp.ConsumerSecret = "not the secret"
	h.signed(wrongApp, "/oauth/request_token", "", nil, oauth.Request{Callback: "oob"}).want(t, 401, v1Auth)
	wrongApp = app
	wrongApp.ConsumerKey = "unknown"
	h.signed(wrongApp, "/oauth/request_token", "", nil, oauth.Request{Callback: "oob"}).want(t, 401, v1Auth)
	slow := oauth.Signer{Credentials: app, Now: func() time.Time { return h.clock.Now().Add(-10 * time.Minute) }}
	b, err = slow.Sign(oauth.Request{Method: "POST", URL: h.srv.URL() + "/oauth/request_token", Callback: "oob"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("POST", h.srv.URL()+"/oauth/request_token", nil)
	req.Header.Set("Authorization", b.Header)
	h.do(req).want(t, 401, v1Timestamp)
}

func TestRequestTokenExpires(t *testing.T) {
	h := start(t)
	rt := h.requestToken()
	pin := h.authorize(rt.Token)
	h.clock.Advance(15*time.Minute + time.Second)
	h.signed(rt, "/oauth/access_token", "", nil, oauth.Request{Verifier: pin}).want(t, 401, v1Token)
	if _, err := h.srv.Authorize(rt.Token); err != ErrInvalidToken {
		t.Errorf("Authorize(expired) = %v", err)
	}

	h.srv.RequestTokenTTL = time.Minute
	rt = h.requestToken()
	h.clock.Advance(61 * time.Second)
	if _, err := h.srv.Authorize(rt.Token); err != ErrInvalidToken {
		t.Errorf("Authorize after RequestTokenTTL = %v", err)
	}
}

func TestLoginFaults(t *testing.T) {
	h := start(t)
	if err := h.srv.SetFault(Fault{Mode: ModeWrongPIN, Count: 1}); err != nil {
		t.Fatal(err)
	}
	// A post does not use up a login fault.
	h.post("v2", "before the login").want(t, 201, "")
	rt := h.requestToken()
	pin := h.authorize(rt.Token)
	h.signed(rt, "/oauth/access_token", "", nil, oauth.Request{Verifier: pin}).want(t, 401, msgBadVerifier)
	h.signed(rt, "/oauth/access_token", "", nil, oauth.Request{Verifier: pin}).want(t, 200, "")

	if err := h.srv.SetFault(Fault{Mode: ModeExpiredToken}); err != nil {
		t.Fatal(err)
	}
	rt = h.requestToken()
	pin = h.authorize(rt.Token)
	h.signed(rt, "/oauth/access_token", "", nil, oauth.Request{Verifier: pin}).want(t, 401, v1Token)

	if err := h.srv.SetFault(Fault{Mode: ModeReadOnly}); err != nil {
		t.Fatal(err)
	}
	rt = h.requestToken()
	pin = h.authorize(rt.Token)
	a := h.signed(rt, "/oauth/access_token", "", nil, oauth.Request{Verifier: pin})
	a.want(t, 200, "")
	if lvl := a.header.Get("x-access-level"); lvl != "read" {
		t.Errorf("read-only app: x-access-level %q", lvl)
	}
	v := formAnswer(t, a, "oauth_token", "oauth_token_secret", "user_id", "screen_name")
	h.srv.SetFault(Fault{})
	user := oauth.Credentials{ConsumerKey: app.ConsumerKey, ConsumerSecret: app.ConsumerSecret,
		Token: v.Get("oauth_token"), TokenSecret: v.Get("oauth_token_secret")}
	a = h.do(h.request(context.Background(), h.signer(user), "v2", "from a read-only app"))
	a.want(t, 403, `{"detail":"`+msgPermissions+`","status":403,"title":"Forbidden","type":"`+typePermissions+`"}`)
	if lvl := a.header.Get("x-access-level"); lvl != "read" {
		t.Errorf("post with a read-only token: x-access-level %q", lvl)
	}
	if n := len(h.srv.Tweets()); n != 1 {
		t.Errorf("%d tweets accepted, want only the one before the login", n)
	}
}
