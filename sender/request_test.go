package sender

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"pitweet/oauth"
)

const (
	goldenText      = "Hello Ladies + Gentlemen, a signed OAuth request!"
	goldenNonce     = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
	goldenTimestamp = "1318622958"
)

var goldenRequests = []struct {
	api  string
	want string
}{
	{"v2", "POST /2/tweets HTTP/1.1\r\n" +
		"Host: api.x.com\r\n" +
		"User-Agent: pitweet/1.0.0\r\n" +
		"Accept: application/json\r\n" +
		"Content-Type: application/json\r\n" +
		"Content-Length: 60\r\n" +
		`Authorization: OAuth oauth_consumer_key="xvz1evFTYgLQxtP3N72r0n3c", oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", oauth_signature="pPyeC0nZw9aOG6nZAIcAG%2F8rv%2F0%3D", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"` + "\r\n" +
		"Connection: close\r\n" +
		"\r\n" +
		`{"text":"Hello Ladies + Gentlemen, a signed OAuth request!"}`},
	{"v1.1", "POST /1.1/statuses/update.json HTTP/1.1\r\n" +
		"Host: api.x.com\r\n" +
		"User-Agent: pitweet/1.0.0\r\n" +
		"Accept: application/json\r\n" +
		"Content-Type: application/x-www-form-urlencoded\r\n" +
		"Content-Length: 76\r\n" +
		`Authorization: OAuth oauth_consumer_key="xvz1evFTYgLQxtP3N72r0n3c", oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", oauth_signature="lB5d6gQ30GOUSBeUNA%2FXtAHIXcM%3D", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"` + "\r\n" +
		"Connection: close\r\n" +
		"\r\n" +
		"status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21"},
}

func TestBuildPostGolden(t *testing.T) {
	for _, tt := range goldenRequests {
		t.Run(tt.api, func(t *testing.T) {
			c, err := New(Config{API: tt.api, Proxy: "none", UserAgent: "pitweet/1.0.0"}, testCreds)
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.BuildPost(goldenText, goldenNonce, goldenTimestamp)
			if err != nil {
				t.Fatal(err)
			}
			if string(p.Request) != tt.want {
				t.Errorf("request bytes differ\ngot:  %q\nwant: %q", p.Request, tt.want)
			}
			if p.Host != "api.x.com" || p.Addr != "api.x.com:443" {
				t.Errorf("Host, Addr = %q, %q; want api.x.com, api.x.com:443", p.Host, p.Addr)
			}
			if p.Breakdown.Nonce != goldenNonce || p.Breakdown.Timestamp != goldenTimestamp {
				t.Errorf("breakdown nonce/timestamp = %q/%q", p.Breakdown.Nonce, p.Breakdown.Timestamp)
			}

			// net/http, as an oracle, reads the same request we meant.
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(p.Request)))
			if err != nil {
				t.Fatalf("net/http cannot read the request: %v", err)
			}
			body, _ := io.ReadAll(req.Body)
			if req.Host != "api.x.com" || req.ContentLength != int64(len(body)) || req.Close != true {
				t.Errorf("net/http read Host %q, Content-Length %d (body %d), Close %v", req.Host, req.ContentLength, len(body), req.Close)
			}
			if tt.api == "v1.1" {
				form, err := url.ParseQuery(string(body))
				if got := form.Get("status"); err != nil || got != goldenText {
					t.Errorf("form status = %q, want %q", got, goldenText)
				}
			}
		})
	}
}

// The golden signatures are recomputed here by hand from RFC 5849 section
// 3.4, so the golden bytes do not only agree with themselves.
func TestGoldenSignaturesByHand(t *testing.T) {
	oauthParams := "oauth_consumer_key=xvz1evFTYgLQxtP3N72r0n3c&oauth_nonce=kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg&oauth_signature_method=HMAC-SHA1&oauth_timestamp=1318622958&oauth_token=370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb&oauth_version=1.0"
	enc := func(s string) string { // RFC 3986 unreserved kept, all else %XX
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
				b.WriteByte(c)
			} else {
				b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
			}
		}
		return b.String()
	}
	key := enc(testCreds.ConsumerSecret) + "&" + enc(testCreds.TokenSecret)
	sign := func(base string) string {
		m := hmac.New(sha1.New, []byte(key))
		m.Write([]byte(base))
		return enc(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	v2 := sign("POST&" + enc("https://api.x.com/2/tweets") + "&" + enc(oauthParams))
	v11 := sign("POST&" + enc("https://api.x.com/1.1/statuses/update.json") + "&" + enc(oauthParams+"&status="+enc(goldenText)))
	if !strings.Contains(goldenRequests[0].want, `oauth_signature="`+v2+`"`) {
		t.Errorf("v2 golden does not carry the hand-made signature %s", v2)
	}
	if !strings.Contains(goldenRequests[1].want, `oauth_signature="`+v11+`"`) {
		t.Errorf("v1.1 golden does not carry the hand-made signature %s", v11)
	}
}

func TestRequestBytes(t *testing.T) {
	tests := []struct {
		name string
		base string
		req  Request
		want string
	}{
		{
			name: "GET has no body headers",
			base: "https://127.0.0.1:8443",
			req:  Request{Method: "GET", Target: "/2/users/me", Authorization: "OAuth x"},
			want: "GET /2/users/me HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nUser-Agent: pitweet/dev\r\nAccept: application/json\r\nAuthorization: OAuth x\r\nConnection: close\r\n\r\n",
		},
		{
			name: "POST with empty body says Content-Length 0",
			base: "https://api.x.com",
			req:  Request{Method: "POST", Target: "/2/tweets"},
			want: "POST /2/tweets HTTP/1.1\r\nHost: api.x.com\r\nUser-Agent: pitweet/dev\r\nAccept: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		},
		{
			name: "IPv6 host on port 443 is bracketed",
			base: "https://[::1]",
			req:  Request{Method: "GET", Target: "/"},
			want: "GET / HTTP/1.1\r\nHost: [::1]\r\nUser-Agent: pitweet/dev\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
		},
	}
	for _, tt := range tests {
		tr := newTestTransport(t, tt.base, TransportConfig{})
		got, err := tr.Render(&tt.req)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("%s:\ngot:  %q\nwant: %q", tt.name, got, tt.want)
		}
	}
}

func TestRequestBytesRefusesInjection(t *testing.T) {
	bad := []Request{
		{Method: "POST", Target: "/2/tweets HTTP/1.1\r\n"},
		{Method: "POST", Target: "/2/tweets\x00"},
		{Method: "POST", Target: "/2/tweets", ContentType: "a\nb"},
		{Method: "POST", Target: "/2/tweets", Authorization: "OAuth\r\n"},
		{Method: "POST", Target: "/2/tweets", Accept: "*/*\r\nX-Evil: 1"},
		{Method: "PO ST", Target: "/"},
		{Method: "GET", Target: "2/tweets"},
		{Method: "GET", Target: "/", Header: []Field{{"Idempotency-Key", "a\r\nX-Evil: 1"}}},
		{Method: "GET", Target: "/", Header: []Field{{"Idempotency-Key", "a\nb"}}},
		{Method: "GET", Target: "/", Header: []Field{{"Idempotency-Key", "a\x00"}}},
		{Method: "GET", Target: "/", Header: []Field{{"X-Evil\r\nHost", "b"}}},
		{Method: "GET", Target: "/", Header: []Field{{"", "b"}}},
		{Method: "GET", Target: "/", Header: []Field{{"Bad Name", "b"}}},
		{Method: "GET", Target: "/", Header: []Field{{"content-length", "5"}}},
		{Method: "GET", Target: "/", Header: []Field{{"Transfer-Encoding", "chunked"}}},
		{Method: "GET", Target: "/", Header: []Field{{"HOST", "evil.example"}}},
		{Method: "GET", Target: "/", Header: []Field{{"Connection", "upgrade"}}},
		{Method: "GET", Target: "/", Header: []Field{{"Authorization", "Bearer twice"}}},
		{Method: "GET", Target: "/", Header: []Field{{"Expect", "100-continue"}}},
		{Method: "POST", Target: "/", Body: new(Body).AppendStream(-1, "photo.jpg", nil)},
	}
	for _, r := range bad {
		for _, base := range []string{"https://api.x.com", "https://api.x.com\r\nX-Evil: 1"} {
			tr, err := NewTransport(TransportConfig{BaseURL: base, Proxy: "none"})
			if err != nil {
				continue // the evil base URL is refused at once
			}
			if b, err := tr.Render(&r); err == nil {
				t.Errorf("Render accepted %+v: %q", r, b)
			}
		}
	}
	if _, err := NewTransport(TransportConfig{BaseURL: "https://api.x.com\r\nX-Evil: 1", Proxy: "none"}); err == nil {
		t.Error("NewTransport accepted a base URL with a line break")
	}
}

func TestBuildPostHostPort(t *testing.T) {
	c, err := New(Config{BaseURL: "https://127.0.0.1:8443", Proxy: "none"}, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.BuildPost("hi", "n", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(p.Request, []byte("\r\nHost: 127.0.0.1:8443\r\n")) || p.Addr != "127.0.0.1:8443" {
		t.Errorf("Host field or Addr wrong: %q, %q", p.Request, p.Addr)
	}
	if !bytes.Contains(p.Request, []byte("\r\nUser-Agent: "+DefaultUserAgent+"\r\n")) {
		t.Errorf("default User-Agent missing: %q", p.Request)
	}
	if _, err := oauth.Verify("POST", "https://127.0.0.1:8443/2/tweets", p.Breakdown.Header, nil, testCreds.ConsumerSecret, testCreds.TokenSecret); err != nil {
		t.Errorf("signature does not verify for the URL with its port: %v", err)
	}
	if _, err := c.BuildPost("hi", "n", "yesterday"); err == nil {
		t.Error("BuildPost accepted a timestamp that is not Unix seconds")
	}
}

// The timestamp is the local clock plus the offset set with SetClockOffset.
func TestClockOffsetSigns(t *testing.T) {
	c, err := New(Config{Proxy: "none"}, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Unix(1000, 0) }
	c.SetClockOffset(90 * time.Second)
	p, err := c.BuildPost("hi", "n", "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Breakdown.Timestamp != "1090" {
		t.Errorf("timestamp = %s, want 1090", p.Breakdown.Timestamp)
	}
}
