package fakebsky

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// FuzzCreateRecord sends createRecord with any body and checks the answer
// is one the PDS gives (200 or an XRPC 4xx; never a 500 for a first
// record, never no answer), that a 200 stored exactly one record, which
// passes the checks again once read back, and a refusal none.
func FuzzCreateRecord(f *testing.F) {
	f.Add([]byte(`{"repo":"pitweet-demo.test","collection":"app.bsky.feed.post","rkey":"3lq2xk5j4hc2a","record":{"text":"hi","createdAt":"2026-05-01T12:00:00.000Z","langs":["en"]}}`))
	f.Add([]byte(`{"repo":"did:plc:pitweetdemoaaaaaaaaaaaaa","collection":"app.bsky.feed.post","record":{"text":"a https://x.org b","createdAt":"2026-05-01T12:00:00Z",` +
		`"facets":[{"index":{"byteStart":2,"byteEnd":15},"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://x.org"}]}]}}`))
	f.Add([]byte(`{"repo":"pitweet-demo.test","collection":"app.bsky.feed.post","record":{"text":"","createdAt":"2026-05-01T12:00:00Z",` +
		`"embed":{"$type":"app.bsky.embed.images","images":[{"image":{"$type":"blob","ref":{"$link":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},"mimeType":"image/png","size":0},"alt":"x"}]}}}`))
	f.Add([]byte(`{"repo":"pitweet-demo.test","collection":"com.example.x","validate":false,"record":{"n":[1,-2,{"$bytes":"AQI"}],"l":{"$link":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, _ := newServer(t)
		access, _ := session(t, s, DemoAccount)
		before := len(s.Records())
		a := send(t, s, xrpc("com.atproto.repo.createRecord", string(body), bearer(access)))
		made := len(s.Records()) - before
		switch {
		case a.reset:
			t.Fatalf("no answer to %q", body)
		case a.status == 200:
			if made != 1 {
				t.Fatalf("200 but %d records for %q", made, body)
			}
			r := s.Records()[0]
			if r.Collection != postNSID || r.ValidationStatus != "valid" {
				return
			}
			var v any
			dec := json.NewDecoder(bytes.NewReader(r.Value))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("stored value %s: %v", r.Value, err)
			}
			rec, err := fromJSON(v)
			if err != nil {
				t.Fatalf("stored value %s: %v", r.Value, err)
			}
			if iss := (postCheck{blobMax: s.ImageLimit}).check(rec.(map[string]any)); iss != nil {
				t.Errorf("stored a post the checks refuse: %s\n%s", iss, r.Value)
			}
		case a.status >= 400 && a.status < 500:
			if made != 0 {
				t.Errorf("%d but %d records for %q", a.status, made, body)
			}
			if field(t, a.body, "error") == "" || field(t, a.body, "message") == "" {
				t.Errorf("error body %q", a.body)
			}
		default:
			t.Errorf("answer %d %s for %q", a.status, a.body, body)
		}
	})
}

// FuzzFacets checks one link facet over any text with any offsets: what
// the checks accept lies inside the text, on character and grapheme
// boundaries, and covers the URI's text.
func FuzzFacets(f *testing.F) {
	f.Add("🐦 see https://example.com now", int64(9), int64(28), "https://example.com")
	f.Add("Cafe\u0301 https://x.org", int64(4), int64(6), "https://x.org")
	f.Add("example.com/lo…", int64(0), int64(17), "https://example.com/long")
	f.Fuzz(func(t *testing.T, text string, start, end int64, uri string) {
		rec := map[string]any{"$type": postNSID, "text": text, "createdAt": "2026-05-01T12:00:00Z",
			"facets": []any{map[string]any{
				"index":    map[string]any{"byteStart": start, "byteEnd": end},
				"features": []any{map[string]any{"$type": "app.bsky.richtext.facet#link", "uri": uri}},
			}}}
		if !utf8.ValidString(text) { // JSON carries no other
			return
		}
		if iss := (postCheck{blobMax: DocumentedImageLimit}).check(rec); iss != nil {
			return
		}
		if start < 0 || start >= end || end > int64(len(text)) {
			t.Fatalf("accepted %d-%d over %d bytes", start, end, len(text))
		}
		covered := text[start:end]
		if !utf8.RuneStart(text[start]) || int(end) < len(text) && !utf8.RuneStart(text[end]) {
			t.Errorf("accepted %d-%d, which cuts a character of %q", start, end, text)
		}
		if n := uniseg.GraphemeClusterCount(text[:start]) + uniseg.GraphemeClusterCount(covered) + uniseg.GraphemeClusterCount(text[end:]); n != uniseg.GraphemeClusterCount(text) {
			t.Errorf("accepted %d-%d, which cuts a grapheme of %q", start, end, text)
		}
		if !validURI(uri) || !linkText(covered, uri) {
			t.Errorf("accepted link %q over %q", uri, covered)
		}
	})
}

// FuzzVerifyJWT reads any bearer token: nothing panics, and only a token
// the server signed, unexpired and of the right kind, passes.
func FuzzVerifyJWT(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	good := signJWT(key, typAccess, claims{Scope: scopeAppPass, Aud: "did:web:localhost", Sub: DemoAccount.DID, Iat: now.Unix(), Exp: now.Unix() + 60})
	f.Add(good)
	f.Add(signJWT(key, typRefresh, claims{Scope: scopeRefresh, Aud: "did:web:localhost", Sub: DemoAccount.DID, Jti: "x", Iat: now.Unix(), Exp: now.Unix() + 60}))
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		c, terr := verifyJWT(key, token, typAccess, "did:web:localhost", accessScopes, now)
		if terr != nil {
			return
		}
		if token != good && signJWT(key, typAccess, c) != token {
			// Another encoding of the same claims would need the key to
			// sign it; any other accepted token is a forgery.
			parts := strings.Split(token, ".")
			mac := hmac.New(sha256.New, key)
			mac.Write([]byte(parts[0] + "." + parts[1]))
			if sig, err := b64.DecodeString(parts[2]); err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
				t.Errorf("accepted a token not signed with the key: %q", token)
			}
		}
		if c.Exp <= now.Unix() || c.Sub == "" {
			t.Errorf("accepted claims %+v", c)
		}
	})
}
