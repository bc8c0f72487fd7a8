package oauth

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// xExample is the request from X's "Creating a signature" guide.
var xExample = struct {
	creds Credentials
	req   Request
	nonce string
	ts    string
}{
	creds: Credentials{
		ConsumerKey:    "xvz1evFS4wEEPTGEFPHBog",
		ConsumerSecret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
		Token:          "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
		TokenSecret:    "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
	},
	req: Request{
		Method: "POST",
		URL:    "https://api.twitter.com/1.1/statuses/update.json?include_entities=true",
		Form:   []Param{{"status", "Hello Ladies + Gentlemen, a signed OAuth request!"}},
	},
	nonce: "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
	ts:    "1318622958",
}

func TestXDocsExample(t *testing.T) {
	s := Signer{Credentials: xExample.creds}
	b, err := s.SignWith(xExample.req, xExample.nonce, xExample.ts)
	if err != nil {
		t.Fatal(err)
	}
	// Every intermediate value as X's guide prints it.
	wantParams := "include_entities=true&oauth_consumer_key=xvz1evFS4wEEPTGEFPHBog&oauth_nonce=kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg&oauth_signature_method=HMAC-SHA1&oauth_timestamp=1318622958&oauth_token=370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb&oauth_version=1.0&status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21"
	if b.NormalizedParams != wantParams {
		t.Errorf("parameter string\n got %s\nwant %s", b.NormalizedParams, wantParams)
	}
	wantBase := "POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521"
	if b.BaseString != wantBase {
		t.Errorf("base string\n got %s\nwant %s", b.BaseString, wantBase)
	}
	if want := "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw&LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE"; b.SigningKey != want {
		t.Errorf("signing key %q, want %q", b.SigningKey, want)
	}
	if want := "hCtSmYh+iHYCEqBWrE7C7hYmtUk="; b.Signature != want {
		t.Errorf("signature %q, want %q", b.Signature, want)
	}
	if !strings.Contains(b.Header, `oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D"`) {
		t.Errorf("header %s lacks the encoded signature", b.Header)
	}

	// The same inputs against api.x.com.
	req := xExample.req
	req.URL = strings.Replace(req.URL, "api.twitter.com", "api.x.com", 1)
	b, err = s.SignWith(req, xExample.nonce, xExample.ts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Ls93hJiZbQ3akF3HF3x1Bz8/zU4="; b.Signature != want {
		t.Errorf("api.x.com signature %q, want %q", b.Signature, want)
	}
}

type vector struct {
	ID             string     `json:"id"`
	Tags           []string   `json:"tags"`
	Method         string     `json:"method"`
	URL            string     `json:"url"`
	Params         [][]string `json:"params"`
	Body           string     `json:"body"`
	ConsumerKey    string     `json:"consumer_key"`
	ConsumerSecret string     `json:"consumer_secret"`
	Token          string     `json:"token"`
	TokenSecret    string     `json:"token_secret"`
	Nonce          string     `json:"nonce"`
	Timestamp      string     `json:"timestamp"`
	BaseStringURI  string     `json:"base_string_uri"`
	Normalized     string     `json:"normalized_parameters"`
	BaseString     string     `json:"base_string"`
	SigningKey     string     `json:"signing_key"`
	Signature      string     `json:"signature"`
	Authorization  string     `json:"authorization"`
}

func loadVectors(t testing.TB) []vector {
	f, err := os.Open("testdata/oauth1-oauthlib.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %d: %v", len(vs)+1, err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestVectors checks every case computed by an independent implementation,
// value by value, then verifies the vector's own Authorization header.
func TestVectors(t *testing.T) {
	vs := loadVectors(t)
	if len(vs) != 500 {
		t.Fatalf("read %d vectors, want 500", len(vs))
	}
	for _, v := range vs {
		form := make([]Param, len(v.Params))
		for i, p := range v.Params {
			form[i] = Param{p[0], p[1]}
		}
		// The body on the wire must decode to the same parameters.
		if got := ParseQuery(v.Body); len(got) != len(form) {
			t.Errorf("%s: body %q decodes to %d params, want %d", v.ID, v.Body, len(got), len(form))
		}
		s := Signer{Credentials: Credentials{v.ConsumerKey, v.ConsumerSecret, v.Token, v.TokenSecret}}
		b, err := s.SignWith(Request{Method: v.Method, URL: v.URL, Form: ParseQuery(v.Body)}, v.Nonce, v.Timestamp)
		if err != nil {
			t.Errorf("%s: %v", v.ID, err)
			continue
		}
		for _, c := range []struct{ what, got, want string }{
			{"base string URI", b.BaseStringURI, v.BaseStringURI},
			{"normalized parameters", b.NormalizedParams, v.Normalized},
			{"base string", b.BaseString, v.BaseString},
			{"signing key", b.SigningKey, v.SigningKey},
			{"signature", b.Signature, v.Signature},
		} {
			if c.got != c.want {
				t.Errorf("%s %v: %s\n got %q\nwant %q", v.ID, v.Tags, c.what, c.got, c.want)
			}
		}
		// Our header and theirs must both verify.
		for _, h := range []string{b.Header, v.Authorization} {
			if _, err := Verify(v.Method, v.URL, h, form, v.ConsumerSecret, v.TokenSecret); err != nil {
				t.Errorf("%s: Verify(%s): %v", v.ID, h, err)
			}
		}
	}
}

func TestEncode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"abcXYZ019-._~", "abcXYZ019-._~"},
		{"Ladies + Gentlemen", "Ladies%20%2B%20Gentlemen"},
		{"!'()*", "%21%27%28%29%2A"},
		{"a/b?c=d&e", "a%2Fb%3Fc%3Dd%26e"},
		{"é", "%C3%A9"},
		{"🐍", "%F0%9F%90%8D"},
		{"\x00\n", "%00%0A"},
	} {
		if got := Encode(c.in); got != c.want {
			t.Errorf("Encode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestBaseStringURI(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"HTTPS://API.X.com:443/2/tweets?x=1#frag", "https://api.x.com/2/tweets"},
		{"http://example.com:80", "http://example.com/"},
		{"http://example.com:8080/a%20b", "http://example.com:8080/a%20b"},
		{"https://example.com:80/", "https://example.com:80/"},
		{"https://[::1]:443/x", "https://[::1]/x"},
		{"https://[::1]:8443/x", "https://[::1]:8443/x"},
	} {
		got, _, err := BaseStringURI(c.in)
		if err != nil || got != c.want {
			t.Errorf("BaseStringURI(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "example.com/x", "https:///x"} {
		if _, _, err := BaseStringURI(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("BaseStringURI(%q) error %v, want ErrMalformed", bad, err)
		}
	}
}

func TestNonce(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]{42}$`)
	seen := map[string]bool{}
	for range 1000 {
		n := NewNonce()
		if !re.MatchString(n) {
			t.Fatalf("nonce %q is not 42 characters of [A-Za-z0-9]", n)
		}
		if seen[n] {
			t.Fatalf("nonce %q repeated", n)
		}
		seen[n] = true
	}
}

func TestSignSeams(t *testing.T) {
	s := Signer{
		Credentials: xExample.creds,
		Now:         func() time.Time { return time.Unix(1318622958, 0) },
		Nonce:       func() string { return xExample.nonce },
	}
	b, err := s.Sign(xExample.req)
	if err != nil {
		t.Fatal(err)
	}
	if b.Signature != "hCtSmYh+iHYCEqBWrE7C7hYmtUk=" || b.Timestamp != "1318622958" || b.Nonce != xExample.nonce {
		t.Errorf("Sign through seams gave %q at %s with %s", b.Signature, b.Timestamp, b.Nonce)
	}
}

func TestNoToken(t *testing.T) {
	s := Signer{Credentials: Credentials{ConsumerKey: "ck", ConsumerSecret: "cs"}}
	b, err := s.SignWith(Request{Method: "GET", URL: "https://api.x.com/2/users/me"}, "n", "1")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.Header, "oauth_token") || b.SigningKey != "cs&" {
		t.Errorf("no-token request: header %s, key %q", b.Header, b.SigningKey)
	}
}

func TestVerifyRejects(t *testing.T) {
	s := Signer{Credentials: xExample.creds}
	b, err := s.SignWith(xExample.req, xExample.nonce, xExample.ts)
	if err != nil {
		t.Fatal(err)
	}
	c := xExample.creds
	ok := func(method, url, h string, form []Param, cs, ts string) error {
		_, err := Verify(method, url, h, form, cs, ts)
		return err
	}
	if err := ok("POST", xExample.req.URL, b.Header, xExample.req.Form, c.ConsumerSecret, c.TokenSecret); err != nil {
		t.Fatalf("good request: %v", err)
	}
	tampered := strings.Replace(b.Header, "hCtSmYh", "hCtSmYi", 1)
	for _, tc := range []struct {
		name string
		err  error
		got  error
	}{
		{"tampered signature", ErrBadSignature, ok("POST", xExample.req.URL, tampered, xExample.req.Form, c.ConsumerSecret, c.TokenSecret)},
		{"other text", ErrBadSignature, ok("POST", xExample.req.URL, b.Header, []Param{{"status", "Hello"}}, c.ConsumerSecret, c.TokenSecret)},
		{"other method", ErrBadSignature, ok("PUT", xExample.req.URL, b.Header, xExample.req.Form, c.ConsumerSecret, c.TokenSecret)},
		{"other host", ErrBadSignature, ok("POST", strings.Replace(xExample.req.URL, "twitter", "x", 1), b.Header, xExample.req.Form, c.ConsumerSecret, c.TokenSecret)},
		{"wrong secret", ErrBadSignature, ok("POST", xExample.req.URL, b.Header, xExample.req.Form, "nope", c.TokenSecret)},
		{"not OAuth", ErrMalformed, ok("POST", xExample.req.URL, "Bearer abc", nil, "", "")},
		{"no signature", ErrMalformed, ok("POST", xExample.req.URL, `OAuth oauth_consumer_key="a", oauth_nonce="b", oauth_timestamp="1", oauth_signature_method="HMAC-SHA1"`, nil, "", "")},
		{"RSA", ErrMalformed, ok("POST", xExample.req.URL, strings.Replace(b.Header, "HMAC-SHA1", "RSA-SHA1", 1), nil, "", "")},
		{"unquoted", ErrMalformed, ok("POST", xExample.req.URL, `OAuth oauth_nonce=abc`, nil, "", "")},
	} {
		if !errors.Is(tc.got, tc.err) {
			t.Errorf("%s: error %v, want %v", tc.name, tc.got, tc.err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	s := Signer{Credentials: xExample.creds}
	req := Request{Method: "POST", URL: "https://api.x.com/2/tweets"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignForm(b *testing.B) {
	s := Signer{Credentials: xExample.creds}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SignWith(xExample.req, xExample.nonce, xExample.ts); err != nil {
			b.Fatal(err)
		}
	}
}
