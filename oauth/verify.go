package oauth

import (
	"crypto/hmac"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A VerifyResult describes a request whose signature checked out.
type VerifyResult struct {
	ConsumerKey string
	Token       string
	Nonce       string
	Timestamp   time.Time
	// Callback and Verifier are oauth_callback and oauth_verifier, from
	// the header, the query or the form body (wherever the client put
	// them, they are signed); empty when absent.
	Callback, Verifier string
	Breakdown          *Breakdown
}

// ParseHeader parses an Authorization header value of the form
// `OAuth name="value", …` and returns its decoded parameters. The realm
// parameter is dropped, as RFC 5849 section 3.4.1.3.1 says.
func ParseHeader(h string) ([]Param, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "OAuth") {
		return nil, fmt.Errorf("%w: Authorization %.40q is not an OAuth header", ErrMalformed, h)
	}
	var params []Param
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, quoted, ok := strings.Cut(part, "=")
		if !ok || len(quoted) < 2 || quoted[0] != '"' || quoted[len(quoted)-1] != '"' {
			return nil, fmt.Errorf("%w: Authorization parameter %q is not name=\"value\"", ErrMalformed, part)
		}
		name = unescape(strings.TrimSpace(name), false)
		if name == "realm" {
			continue
		}
		params = append(params, Param{name, unescape(quoted[1:len(quoted)-1], false)})
	}
	return params, nil
}

// Verify checks the signature of an incoming request: method and url as the
// client addressed them (scheme, host and request URI), the Authorization
// header value, the decoded form-body parameters (nil unless the body is
// application/x-www-form-urlencoded), and the secrets that belong to the
// consumer key and token the header names. It does not check the timestamp
// window or nonce reuse: that is the server's policy, and the result carries
// what it needs.
func Verify(method, url, authHeader string, form []Param, consumerSecret, tokenSecret string) (*VerifyResult, error) {
	hp, err := ParseHeader(authHeader)
	if err != nil {
		return nil, err
	}
	var res VerifyResult
	var signature string
	var oauthParams []Param
	seen := map[string]bool{}
	for _, p := range hp {
		if seen[p.Name] {
			return nil, fmt.Errorf("%w: %s appears twice", ErrMalformed, p.Name)
		}
		seen[p.Name] = true
		switch p.Name {
		case "oauth_signature":
			signature = p.Value
			continue
		case "oauth_consumer_key":
			res.ConsumerKey = p.Value
		case "oauth_token":
			res.Token = p.Value
		case "oauth_nonce":
			res.Nonce = p.Value
		case "oauth_timestamp":
			sec, err := strconv.ParseInt(p.Value, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: oauth_timestamp %q is not a number", ErrMalformed, p.Value)
			}
			res.Timestamp = time.Unix(sec, 0)
		case "oauth_signature_method":
			if p.Value != "HMAC-SHA1" {
				return nil, fmt.Errorf("%w: oauth_signature_method %q, want HMAC-SHA1", ErrMalformed, p.Value)
			}
		case "oauth_version":
			if p.Value != "1.0" {
				return nil, fmt.Errorf("%w: oauth_version %q, want 1.0", ErrMalformed, p.Value)
			}
		}
		oauthParams = append(oauthParams, p)
	}
	for _, name := range []string{"oauth_consumer_key", "oauth_nonce", "oauth_signature", "oauth_signature_method", "oauth_timestamp"} {
		if !seen[name] {
			return nil, fmt.Errorf("%w: %s is missing", ErrMalformed, name)
		}
	}
	b, err := compute(Request{Method: method, URL: url, Form: form}, oauthParams, consumerSecret, tokenSecret)
	if err != nil {
		return nil, err
	}
	b.Nonce = res.Nonce
	b.Timestamp = strconv.FormatInt(res.Timestamp.Unix(), 10)
	res.Breakdown = b
	for _, f := range []struct {
		name string
		to   *string
	}{{"oauth_callback", &res.Callback}, {"oauth_verifier", &res.Verifier}} {
		n := 0
		for _, p := range b.Params {
			if p.Name == f.name {
				*f.to = p.Value
				n++
			}
		}
		if n > 1 {
			return nil, fmt.Errorf("%w: %s appears %d times", ErrMalformed, f.name, n)
		}
	}
	if !hmac.Equal([]byte(b.Signature), []byte(signature)) {
		return &res, ErrBadSignature
	}
	return &res, nil
}
