package fakex

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"pitweet/httpd"
	"pitweet/oauth"
)

// X's PIN-based OAuth 1.0a flow, three endpoints:
//
//	POST /oauth/request_token   signed with the app's keys and oauth_callback="oob":
//	                            oauth_token=…&oauth_token_secret=…&oauth_callback_confirmed=true
//	GET  /oauth/authorize       the page the user opens; X shows a PIN once the user approves
//	POST /oauth/access_token    signed with the request token and oauth_verifier (the PIN):
//	                            oauth_token=…&oauth_token_secret=…&user_id=…&screen_name=…
//
// The answers are form-encoded, sent as text/html as X sends them. The
// emulator approves at once: opening the authorize page (or calling
// Authorize) shows the PIN, as if the account's owner had pressed
// "Authorize app". A request token lives RequestTokenTTL (X does not say
// how long; 15 minutes by default), and one exchange uses it up. An access
// token issued here is accepted by the API endpoints like the account's
// own.

// Bodies of the login endpoints, as X sends them.
const (
	msgBadVerifier      = "Error processing your OAuth request: Invalid oauth_verifier parameter"
	v1MsgCallback       = "Callback URL not approved for this client application. Approved callback URLs can be adjusted in your application settings"
	msgPermissionsTitle = "Forbidden"
	msgPermissions      = "Your client app is not configured with the appropriate oauth1 app permissions for this endpoint."
	typePermissions     = "https://api.twitter.com/2/problems/oauth1-permissions"
	// pageInvalid is what X's authorize page says of a request token it
	// does not know.
	pageInvalid = "Whoa there! The request token for this page is invalid. It may have already been used, or expired because it is too old. " +
		"Please go back to the site or application that sent you here and try again; it was probably just a mistake."
)

// loginContentType is the Content-Type of X's answers to the token
// endpoints: their bodies are form-encoded all the same.
const loginContentType = "text/html; charset=utf-8"

// A requestToken is temporary credentials waiting for the user's approval
// and the exchange.
type requestToken struct {
	secret   string
	issued   time.Time // the server's clock
	verifier string    // the PIN, once the user approved; "" before
}

// An AccessToken is one issued by POST /oauth/access_token.
type AccessToken struct {
	Token, Secret string
	ReadOnly      bool // issued while ModeReadOnly was in force
}

// ErrInvalidToken is Authorize's answer for a request token that is
// unknown, used or expired.
var ErrInvalidToken = errors.New("fakex: " + pageInvalid)

// requestTokenTTL returns how long request tokens live.
func (s *Server) requestTokenTTL() time.Duration {
	if s.RequestTokenTTL <= 0 {
		return 15 * time.Minute
	}
	return s.RequestTokenTTL
}

// liveRequestToken returns the request token if it may still be used at
// now. s.mu must be held.
func (s *Server) liveRequestToken(token string, now time.Time) (*requestToken, bool) {
	rt, ok := s.requestTokens[token]
	if !ok {
		return nil, false
	}
	if now.Sub(rt.issued) > s.requestTokenTTL() {
		delete(s.requestTokens, token)
		return nil, false
	}
	return rt, true
}

// Authorize approves the request token as its owner would on X's
// authorize page, and returns the PIN to type into the client. Asked again
// for the same token, it returns the same PIN.
func (s *Server) Authorize(token string) (pin string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.liveRequestToken(token, s.now().Add(s.skew()))
	if !ok {
		return "", ErrInvalidToken
	}
	if rt.verifier == "" {
		rt.verifier = newPIN()
		s.notify()
	}
	return rt.verifier, nil
}

// AccessTokens returns the access tokens issued so far, oldest first.
func (s *Server) AccessTokens() []AccessToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AccessToken, 0, len(s.issued))
	for _, t := range s.issued {
		out = append(out, AccessToken{Token: t, Secret: s.accessTokens[t].secret, ReadOnly: s.accessTokens[t].readOnly})
	}
	return out
}

// requestTokenEndpoint serves POST /oauth/request_token.
func (s *Server) requestTokenEndpoint(w *httpd.Response, r *httpd.Request) {
	ex := s.begin(w, r, "oauth", kindRequestToken)
	res, ok := s.verify(ex, func(token string) (string, bool) {
		if token != "" {
			// The app's keys alone sign this request (RFC 5849 2.1).
			s.unauthorized(ex, 32, v1MsgAuth, "oauth_token sent to request_token")
			return "", false
		}
		return "", true
	})
	if !ok {
		return
	}
	switch res.Callback {
	case "oob":
	case "":
		s.reply(ex, 400, v1Errors(215, v1MsgBadAuth), "no oauth_callback (PIN-based login sends oauth_callback=\"oob\")")
		return
	default:
		s.reply(ex, 403, v1Errors(415, v1MsgCallback), "oauth_callback "+res.Callback+" is not oob")
		return
	}
	token, secret := randomToken(32), randomToken(32)
	s.mu.Lock()
	s.requestTokens[token] = &requestToken{secret: secret, issued: ex.now}
	s.mu.Unlock()
	ex.w.Header.Set("Content-Type", loginContentType)
	s.reply(ex, 200, []byte("oauth_token="+oauth.Encode(token)+"&oauth_token_secret="+oauth.Encode(secret)+"&oauth_callback_confirmed=true"), "")
}

// authorizePage serves GET /oauth/authorize?oauth_token=…: the page that
// shows the PIN.
func (s *Server) authorizePage(w *httpd.Response, r *httpd.Request) {
	ex := s.begin(w, r, "oauth", kindPage)
	ex.w.Header.Set("Content-Type", "text/html; charset=utf-8")
	token := formValue(oauth.ParseQuery(r.RawQuery), "oauth_token")
	pin, err := s.Authorize(token)
	if err != nil {
		s.reply(ex, 403, []byte(page("Error", "<p>"+escapeHTML(pageInvalid)+"</p>")), "authorize: unknown, used or expired request token")
		return
	}
	body := page("Redirecting you back to the application",
		fmt.Sprintf(`<p>fakex stands in for X and has approved at once, as if @%s had pressed "Authorize app".</p>
<div id="oauth_pin"><p><span id="code-desc">Next, return to the application and enter this PIN to complete the authorization process:</span>
<kbd aria-labelledby="code-desc"><code>%s</code></kbd></p></div>`, escapeHTML(s.User.Username), pin))
	s.reply(ex, 200, []byte(body), "")
}

// escapeHTML escapes text for an HTML page (the html package would bring
// its table of every named entity into the binary: some 100 KB).
var escapeHTML = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace

func page(title, body string) string {
	return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>fakex: " + escapeHTML(title) +
		"</title></head>\n<body>\n" + body + "\n</body></html>\n"
}

// accessTokenEndpoint serves POST /oauth/access_token.
func (s *Server) accessTokenEndpoint(w *httpd.Response, r *httpd.Request) {
	ex := s.begin(w, r, "oauth", kindAccessToken)
	var rt *requestToken
	var token string
	res, ok := s.verify(ex, func(t string) (string, bool) {
		s.mu.Lock()
		live, ok := s.liveRequestToken(t, ex.now)
		if ok && ex.fault.Mode == ModeExpiredToken {
			delete(s.requestTokens, t)
			ok = false
		}
		s.mu.Unlock()
		if !ok {
			s.unauthorized(ex, 89, v1MsgToken, "unknown, used or expired request token")
			return "", false
		}
		rt, token = live, t
		return live.secret, true
	})
	if !ok {
		return
	}
	s.mu.Lock()
	good := rt.verifier != "" && res.Verifier == rt.verifier && ex.fault.Mode != ModeWrongPIN
	if good {
		if _, still := s.requestTokens[token]; !still {
			good = false // a concurrent exchange used it
		}
		delete(s.requestTokens, token)
	}
	s.mu.Unlock()
	if !good {
		why := "oauth_verifier does not match the PIN shown"
		switch {
		case ex.fault.Mode == ModeWrongPIN:
			why = "fault wrong-pin"
		case res.Verifier == "":
			why = "no oauth_verifier"
		case rt.verifier == "":
			why = "the request token was not approved (open the authorize page first)"
		}
		ex.w.Header.Set("Content-Type", "text/plain; charset=utf-8")
		s.reply(ex, 401, []byte(msgBadVerifier), why)
		return
	}
	at := AccessToken{Token: s.User.ID + "-" + randomToken(40), Secret: randomToken(45), ReadOnly: ex.fault.Mode == ModeReadOnly}
	s.mu.Lock()
	s.accessTokens[at.Token] = accessGrant{secret: at.Secret, readOnly: at.ReadOnly}
	s.issued = append(s.issued, at.Token)
	s.mu.Unlock()
	ex.w.Header.Set("Content-Type", loginContentType)
	level := "read-write"
	if at.ReadOnly {
		level = "read"
	}
	ex.w.Header.Set("x-access-level", level)
	s.reply(ex, 200, []byte("oauth_token="+oauth.Encode(at.Token)+"&oauth_token_secret="+oauth.Encode(at.Secret)+
		"&user_id="+oauth.Encode(s.User.ID)+"&screen_name="+oauth.Encode(s.User.Username)), "")
}

// An accessGrant is what the server knows of an access token it issued.
type accessGrant struct {
	secret   string
	readOnly bool
}

// randomToken returns n characters of [A-Za-z0-9].
func randomToken(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		v, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

// newPIN returns 7 random digits, the length of X's PINs.
func newPIN() string {
	v, _ := rand.Int(rand.Reader, big.NewInt(10_000_000))
	return fmt.Sprintf("%07d", v.Int64())
}
