package fakebsky

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A second account, to show what belongs to whom.
var other = Account{DID: "did:plc:otheraccountaaaaaaaaaaaa", Handle: "other.test", AppPassword: "othe-rapp-pass-word"}

// newServer returns a server for DemoAccount and other on a fake clock at
// 2026-05-01 12:00:00 UTC.
func newServer(t testing.TB) (*Server, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := New(DemoAccount, other)
	s.Now = c.Now
	return s, c
}

// An answer is what the server wrote to one raw request.
type answer struct {
	status int
	header http.Header
	body   string
	reset  bool // no answer: the connection was closed or reset
}

// send writes raw to the server over an in-memory connection and reads
// the answer with net/http as the oracle.
func send(t testing.TB, s *Server, raw string) answer {
	t.Helper()
	client, server := net.Pipe()
	defer client.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.HTTPServer().ServeConn(server)
	}()
	client.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(client, raw)
	resp, err := http.ReadResponse(bufio.NewReader(client), &http.Request{Method: strings.Fields(raw)[0]})
	if err != nil {
		client.Close()
		<-done
		return answer{reset: true}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	client.Close()
	<-done
	return answer{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// request builds a raw HTTP/1.1 request; headers are "Name: value" lines.
func request(method, target, body string, headers ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: bsky.example\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" || method == "POST" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

const jsonType = "Content-Type: application/json"

// xrpc returns a raw POST of a JSON body to an XRPC method.
func xrpc(nsid, body string, headers ...string) string {
	return request("POST", "/xrpc/"+nsid, body, append([]string{jsonType}, headers...)...)
}

// session logs acct in and returns its access and refresh tokens.
func session(t testing.TB, s *Server, acct Account) (access, refresh string) {
	t.Helper()
	a := send(t, s, xrpc("com.atproto.server.createSession", `{"identifier":"`+acct.Handle+`","password":"`+acct.AppPassword+`"}`))
	if a.status != 200 {
		t.Fatalf("createSession: %d %s", a.status, a.body)
	}
	var out struct{ AccessJwt, RefreshJwt string }
	if err := json.Unmarshal([]byte(a.body), &out); err != nil {
		t.Fatal(err)
	}
	return out.AccessJwt, out.RefreshJwt
}

func bearer(token string) string { return "Authorization: Bearer " + token }

// createdAt is a valid createdAt for posts.
const createdAt = "2026-05-01T12:00:00.000Z"

// post returns a raw createRecord of an app.bsky.feed.post whose record
// has text and the extra fields (a JSON fragment, "" for none), with the
// demo account's repo and rkey (none if "").
func post(access, rkey, text, extra string) string {
	rec := `{"$type":"app.bsky.feed.post","text":` + jsonString(text) + `,"createdAt":"` + createdAt + `"`
	if extra != "" {
		rec += "," + extra
	}
	rec += "}"
	body := `{"repo":"` + DemoAccount.DID + `","collection":"app.bsky.feed.post"`
	if rkey != "" {
		body += `,"rkey":"` + rkey + `"`
	}
	body += `,"record":` + rec + "}"
	return xrpc("com.atproto.repo.createRecord", body, bearer(access))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// pngImage returns a w×h PNG; noisy ones do not compress.
func pngImage(t testing.TB, w, h int, noisy bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewSource(1))
	for y := range h {
		for x := range w {
			c := color.RGBA{200, 30, 30, 255}
			if noisy {
				c = color.RGBA{uint8(r.Intn(256)), uint8(r.Intn(256)), uint8(r.Intn(256)), 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upload uploads data as ctype with access and returns the blob object as
// JSON text, for an embed.
func upload(t testing.TB, s *Server, access, ctype string, data []byte) string {
	t.Helper()
	a := send(t, s, request("POST", "/xrpc/com.atproto.repo.uploadBlob", string(data), bearer(access), "Content-Type: "+ctype))
	if a.status != 200 {
		t.Fatalf("uploadBlob: %d %s", a.status, a.body)
	}
	var out struct{ Blob json.RawMessage }
	if err := json.Unmarshal([]byte(a.body), &out); err != nil {
		t.Fatal(err)
	}
	return string(out.Blob)
}

// field returns a top-level field of a JSON object body as JSON text,
// unquoted if it is a string; "" if absent.
func field(t testing.TB, body, name string) string {
	t.Helper()
	var v map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	raw, ok := v[name]
	if !ok {
		return ""
	}
	var s string
	if string(raw) != "null" && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// jwtPart decodes part i (0 header, 1 payload) of a JWT into a map.
func jwtPart(t testing.TB, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", token, len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
