// Package signing compares pitweet's OAuth 1.0a signer with
// github.com/dghubble/oauth1 on the request pitweet sends most: POST
// https://api.x.com/2/tweets with a JSON body (which is not signed).
//
// pitweet's Signer takes the nonce and timestamp as arguments. dghubble's
// takes the nonce through its public Noncer but reads the clock itself, so
// its timestamp is the current second; that changes no work done. Its only
// public way to sign is its http.RoundTripper, so each of its signatures
// also clones the request, as every caller of it pays.
package signing

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/dghubble/oauth1"

	"pitweet/fakex"
	"pitweet/oauth"
)

const (
	postURL   = "https://api.x.com/2/tweets"
	nonce     = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
	timestamp = "1318622958"
)

var (
	creds = fakex.DemoCredentials
	body  = []byte(`{"text":"Ding dong at 18:04 on pi-hall"}`)
)

type fixedNoncer string

func (n fixedNoncer) Nonce() string { return string(n) }

// errCaptured stops dghubble's transport after it has signed.
var errCaptured = errors.New("signing: captured")

// capture is the base transport under dghubble's: it keeps the signed
// header and sends nothing.
type capture struct{ header string }

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	c.header = r.Header.Get("Authorization")
	return nil, errCaptured
}

// dghubble returns dghubble's signing transport with its capturing base.
func dghubble(noncer oauth1.Noncer) (http.RoundTripper, *capture) {
	c := &capture{}
	cfg := oauth1.NewConfig(creds.ConsumerKey, creds.ConsumerSecret)
	cfg.Noncer = noncer
	ctx := context.WithValue(context.Background(), oauth1.HTTPClient, &http.Client{Transport: c})
	client := cfg.Client(ctx, oauth1.NewToken(creds.Token, creds.TokenSecret))
	return client.Transport, c
}

func newRequest(tb testing.TB) *http.Request {
	r, err := http.NewRequest(http.MethodPost, postURL, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	return r
}

func signDghubble(tb testing.TB, rt http.RoundTripper, c *capture, r *http.Request) string {
	if _, err := rt.RoundTrip(r); !errors.Is(err, errCaptured) {
		tb.Fatalf("dghubble transport: %v", err)
	}
	return c.header
}

// TestSameSignature checks that both libraries sign the same request
// correctly: each header verifies, and with the same nonce and timestamp
// they compute the same signature.
func TestSameSignature(t *testing.T) {
	rt, c := dghubble(fixedNoncer(nonce))
	theirs := signDghubble(t, rt, c, newRequest(t))
	res, err := oauth.Verify(http.MethodPost, postURL, theirs, nil, creds.ConsumerSecret, creds.TokenSecret)
	if err != nil {
		t.Fatalf("dghubble's header does not verify: %v\n%s", err, theirs)
	}
	if res.Nonce != nonce {
		t.Fatalf("dghubble's nonce = %q, want %q", res.Nonce, nonce)
	}
	s := &oauth.Signer{Credentials: creds}
	b, err := s.SignWith(oauth.Request{Method: http.MethodPost, URL: postURL}, nonce, res.Breakdown.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	if b.Signature != res.Breakdown.Signature {
		t.Fatalf("signatures differ: pitweet %q, dghubble %q", b.Signature, res.Breakdown.Signature)
	}
	if !strings.Contains(theirs, oauth.Encode(b.Signature)) {
		t.Fatalf("dghubble's header %q lacks pitweet's signature %q", theirs, b.Signature)
	}
}

func BenchmarkSignFixed(b *testing.B) {
	b.Run("impl=pitweet", func(b *testing.B) {
		s := &oauth.Signer{Credentials: creds}
		r := oauth.Request{Method: http.MethodPost, URL: postURL}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.SignWith(r, nonce, timestamp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=dghubble", func(b *testing.B) {
		rt, c := dghubble(fixedNoncer(nonce))
		r := newRequest(b)
		b.ReportAllocs()
		for b.Loop() {
			signDghubble(b, rt, c, r)
		}
	})
}

// BenchmarkSignOwnNonce lets each library draw its own random nonce and
// read the clock, as each does in use.
func BenchmarkSignOwnNonce(b *testing.B) {
	b.Run("impl=pitweet", func(b *testing.B) {
		s := &oauth.Signer{Credentials: creds}
		r := oauth.Request{Method: http.MethodPost, URL: postURL}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Sign(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=dghubble", func(b *testing.B) {
		rt, c := dghubble(nil)
		r := newRequest(b)
		b.ReportAllocs()
		for b.Loop() {
			signDghubble(b, rt, c, r)
		}
	})
}
