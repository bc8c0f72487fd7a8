// Package oauth signs HTTP requests with OAuth 1.0a HMAC-SHA1 (RFC 5849
// section 3) and verifies them on the server side.
//
// It does no I/O. Every intermediate value of a signature is returned in a
// Breakdown, so a learner can see each step and a test can check each one.
// Time and the nonce come in through the Signer's Now and Nonce fields, so
// tests are exact.
package oauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Credentials are the four secrets X's developer portal shows: the app's
// API key and secret (the consumer) and the user's access token and secret.
type Credentials struct {
	ConsumerKey    string // "API key"
	ConsumerSecret string // "API key secret"
	Token          string // "Access token"; may be empty
	TokenSecret    string // "Access token secret"
}

// A Param is one name/value pair, decoded (not percent-encoded).
type Param struct {
	Name, Value string
}

// A Request is what gets signed.
type Request struct {
	Method string
	// URL is the full URL as it goes on the wire, query string included and
	// percent-encoded as sent.
	URL string
	// Form holds the decoded parameters of an
	// application/x-www-form-urlencoded body. It is nil for any other body
	// (JSON, multipart): those are never signed.
	Form []Param
	// Callback is oauth_callback, sent only to ask for a request token
	// (temporary credentials, RFC 5849 section 2.1), and then signed like
	// every oauth_* parameter: "oob" when the user will type a PIN instead
	// of being sent back to a web site. Empty for every other request.
	Callback string
	// Verifier is oauth_verifier, sent only to exchange a request token
	// for an access token (section 2.3), and signed: the PIN the user was
	// shown. Empty for every other request.
	Verifier string
}

// A Breakdown holds every intermediate value of one signature, in the order
// RFC 5849 computes them.
type Breakdown struct {
	Method        string  // upper case
	BaseStringURI string  // section 3.4.1.2: scheme and host lower case, default port dropped, no query
	Params        []Param // every signed parameter, decoded, in collection order: query, form, oauth_*
	Encoded       []Param // the same, percent-encoded and sorted (section 3.4.1.3.2)
	// NormalizedParams is Encoded joined as name=value pairs with "&".
	NormalizedParams string
	// BaseString is METHOD&encode(BaseStringURI)&encode(NormalizedParams).
	BaseString string
	// SigningKey is encode(consumer secret)&encode(token secret). It is a
	// secret: show it to its owner only.
	SigningKey string
	Signature  string // base64 of HMAC-SHA1(SigningKey, BaseString)
	Header     string // the Authorization header value: `OAuth oauth_consumer_key="…", …`
	Nonce      string
	Timestamp  string
}

// A Signer signs requests with one set of credentials.
type Signer struct {
	Credentials
	// Now returns the time for oauth_timestamp; nil means time.Now. A caller
	// that knows the local clock is off can add the offset here.
	Now func() time.Time
	// Nonce returns a fresh oauth_nonce; nil means NewNonce.
	Nonce func() string
	// NoVersion leaves out oauth_version="1.0", which is optional (RFC 5849
	// section 3.1) and left out of the RFC's own examples. X's examples
	// send it, and so does pitweet.
	NoVersion bool
}

// Errors returned by this package, wrapped with detail.
var (
	ErrMalformed    = errors.New("oauth: malformed request")
	ErrBadSignature = errors.New("oauth: signature does not match")
)

// Sign signs r with a fresh nonce and the current time.
func (s *Signer) Sign(r Request) (*Breakdown, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	nonce := NewNonce
	if s.Nonce != nil {
		nonce = s.Nonce
	}
	return s.SignWith(r, nonce(), strconv.FormatInt(now().Unix(), 10))
}

// SignWith signs r with the given nonce and timestamp.
//
// The oauth_* parameters are collected in name order: oauth_callback when
// r asks for a request token, oauth_consumer_key, oauth_nonce,
// oauth_signature_method, oauth_timestamp, oauth_token when the signer has
// a token (an access token, or the request token being exchanged),
// oauth_verifier when r exchanges one, and oauth_version.
func (s *Signer) SignWith(r Request, nonce, timestamp string) (*Breakdown, error) {
	if r.Callback != "" && (s.Token != "" || r.Verifier != "") {
		return nil, fmt.Errorf("%w: oauth_callback is sent only to ask for a request token, with no token and no verifier", ErrMalformed)
	}
	var oauthParams []Param
	if r.Callback != "" {
		oauthParams = append(oauthParams, Param{"oauth_callback", r.Callback})
	}
	oauthParams = append(oauthParams,
		Param{"oauth_consumer_key", s.ConsumerKey},
		Param{"oauth_nonce", nonce},
		Param{"oauth_signature_method", "HMAC-SHA1"},
		Param{"oauth_timestamp", timestamp},
	)
	if s.Token != "" {
		oauthParams = append(oauthParams, Param{"oauth_token", s.Token})
	}
	if r.Verifier != "" {
		if s.Token == "" {
			return nil, fmt.Errorf("%w: oauth_verifier needs the request token it was issued for", ErrMalformed)
		}
		oauthParams = append(oauthParams, Param{"oauth_verifier", r.Verifier})
	}
	if !s.NoVersion {
		oauthParams = append(oauthParams, Param{"oauth_version", "1.0"})
	}

	b, err := compute(r, oauthParams, s.ConsumerSecret, s.TokenSecret)
	if err != nil {
		return nil, err
	}
	b.Nonce, b.Timestamp = nonce, timestamp
	b.Header = header(append(oauthParams, Param{"oauth_signature", b.Signature}))
	return b, nil
}

// compute runs RFC 5849 section 3.4 over r and the oauth_* parameters.
func compute(r Request, oauthParams []Param, consumerSecret, tokenSecret string) (*Breakdown, error) {
	if r.Method == "" {
		return nil, fmt.Errorf("%w: empty method", ErrMalformed)
	}
	uri, query, err := BaseStringURI(r.URL)
	if err != nil {
		return nil, err
	}
	b := &Breakdown{Method: strings.ToUpper(r.Method), BaseStringURI: uri}
	b.Params = append(b.Params, ParseQuery(query)...)
	b.Params = append(b.Params, r.Form...)
	b.Params = append(b.Params, oauthParams...)

	b.Encoded = make([]Param, len(b.Params))
	for i, p := range b.Params {
		b.Encoded[i] = Param{Encode(p.Name), Encode(p.Value)}
	}
	sort.SliceStable(b.Encoded, func(i, j int) bool {
		if b.Encoded[i].Name != b.Encoded[j].Name {
			return b.Encoded[i].Name < b.Encoded[j].Name
		}
		return b.Encoded[i].Value < b.Encoded[j].Value
	})
	pairs := make([]string, len(b.Encoded))
	for i, p := range b.Encoded {
		pairs[i] = p.Name + "=" + p.Value
	}
	b.NormalizedParams = strings.Join(pairs, "&")
	b.BaseString = b.Method + "&" + Encode(b.BaseStringURI) + "&" + Encode(b.NormalizedParams)
	b.SigningKey = Encode(consumerSecret) + "&" + Encode(tokenSecret)

	mac := hmac.New(sha1.New, []byte(b.SigningKey))
	mac.Write([]byte(b.BaseString))
	b.Signature = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return b, nil
}

// header formats the Authorization header value from oauth_* parameters.
func header(params []Param) string {
	sorted := append([]Param(nil), params...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var sb strings.Builder
	sb.WriteString("OAuth ")
	for i, p := range sorted {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(Encode(p.Name))
		sb.WriteString(`="`)
		sb.WriteString(Encode(p.Value))
		sb.WriteString(`"`)
	}
	return sb.String()
}

// BaseStringURI returns the base string URI of rawURL (RFC 5849 section
// 3.4.1.2) and its raw query string. The scheme and host are lower-cased,
// the default port (80 for http, 443 for https) is dropped, the path is kept
// as sent and an empty path becomes "/".
func BaseStringURI(rawURL string) (uri, rawQuery string, err error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || scheme == "" {
		return "", "", fmt.Errorf("%w: URL %q has no scheme", ErrMalformed, rawURL)
	}
	scheme = strings.ToLower(scheme)
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	rest, rawQuery, _ = strings.Cut(rest, "?")
	host, path := rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host, path = rest[:i], rest[i:]
	}
	if host == "" {
		return "", "", fmt.Errorf("%w: URL %q has no host", ErrMalformed, rawURL)
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	host = strings.ToLower(host)
	if h, port, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
		if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
			host = h
		}
	} else if i := strings.LastIndex(host, "]:"); i >= 0 {
		port := host[i+2:]
		if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
			host = host[:i+1]
		}
	}
	return scheme + "://" + host + path, rawQuery, nil
}

// ParseQuery decodes a query string or form body the way
// application/x-www-form-urlencoded is defined: pairs split on "&", "+" is a
// space, a name with no "=" has an empty value, empty pairs are skipped.
// Invalid percent escapes are kept as they are.
func ParseQuery(q string) []Param {
	var params []Param
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		params = append(params, Param{unescapeForm(name), unescapeForm(value)})
	}
	return params
}

func unescapeForm(s string) string { return unescape(s, true) }

// unescape decodes %XX escapes, and "+" as a space when plus is set.
func unescape(s string, plus bool) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+' && plus:
			out = append(out, ' ')
		case c == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

// Encode percent-encodes s as RFC 5849 section 3.6 requires: every byte of
// its UTF-8 form except the RFC 3986 unreserved characters
// (A-Z a-z 0-9 - . _ ~) becomes %XX with upper-case hex.
func Encode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			out = append(out, c)
		} else {
			out = append(out, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(out)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// NewNonce returns 42 characters from [A-Za-z0-9] drawn from crypto/rand.
// Some servers reject "-" and "_" in a nonce, so none are used.
func NewNonce() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, 42)
	var buf [64]byte
	for len(out) < cap(out) {
		rand.Read(buf[:]) // never fails (Go 1.24+)
		for _, b := range buf {
			// 248 = 4*62: rejecting higher bytes keeps every letter equally likely.
			if b < 248 && len(out) < cap(out) {
				out = append(out, alphabet[b%62])
			}
		}
	}
	return string(out)
}
