package bluesky

import (
	"testing"
	"time"

	"pitweet/sender"
)

func FuzzDecodeSession(f *testing.F) {
	f.Add([]byte(`{"accessJwt":"a.b.c","refreshJwt":"d.e.f","handle":"pi.bsky.social","did":"did:plc:abc","didDoc":{"id":"did:plc:abc","service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example"}]}}`))
	f.Add([]byte(`{"accessJwt":"a","refreshJwt":"b","handle":"h","did":"did:x:y","didDoc":{"service":[{"id":"did:x:y#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"http://plain"}]}}`))
	f.Add([]byte(`{"accessJwt":"a\r\nX: y","refreshJwt":"b","handle":"h","did":"did:x:y"}`))
	f.Add([]byte(`{"didDoc":{"service":[{"serviceEndpoint":5}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, pds, err := decodeSession(body)
		if err != nil {
			return
		}
		if !printableToken(a.AccessJwt) || !printableToken(a.RefreshJwt) || a.DID == "" {
			t.Fatalf("accepted %+v", a)
		}
		if pds != "" {
			if _, err := sender.NewTransport(sender.TransportConfig{BaseURL: pds}); err != nil {
				t.Fatalf("PDS endpoint %q accepted but unusable: %v", pds, err)
			}
		}
	})
}

func FuzzDecodeAnswers(f *testing.F) {
	f.Add([]byte(`{"blob":{"$type":"blob","ref":{"$link":"bafkreiabc"},"mimeType":"image/jpeg","size":123}}`))
	f.Add([]byte(`{"uri":"at://did:plc:a/app.bsky.feed.post/3jzfcijpj2z2a","cid":"bafy","value":{"$type":"app.bsky.feed.post","text":"hi","createdAt":"2026-01-01T00:00:00.000Z"}}`))
	f.Add([]byte(`{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if b, err := decodeBlob(body); err == nil && len(b) == 0 {
			t.Fatal("a blob accepted empty")
		}
		decodeGetRecord(body)
		for _, status := range []int{400, 401, 413, 429, 500} {
			resp := &sender.Response{Proto: "HTTP/1.1", StatusCode: status, Header: sender.Header{"ratelimit-reset": {string(body)}, "retry-after": {string(body)}}, Body: body}
			e := classify(resp, time.Now())
			if e == nil || e.Service != "Bluesky" || e.Error() == "" {
				t.Fatalf("classify(%d, %q) = %v", status, body, e)
			}
			if e.Kind == sender.KindRateLimited && e.RetryAt.Sub(time.Now()) > sender.MaxRetryWait+time.Minute {
				t.Fatalf("wait beyond the bound: %v", e.RetryAt)
			}
		}
	})
}
