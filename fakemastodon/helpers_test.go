package fakemastodon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
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

// Two accounts; alice's token can only read.
var (
	bob   = Account{ID: "110000000000000002", Username: "bob", Token: "bob-token"}
	alice = Account{ID: "110000000000000003", Username: "alice", Token: "alice-token", Scopes: []string{"read"}}
)

// newServer returns a server for DemoAccount, bob and alice on a fake
// clock at 2026-05-01 12:00:00 UTC.
func newServer(t *testing.T) (*Server, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := New(DemoAccount, bob, alice)
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
func send(t *testing.T, s *Server, raw string) answer {
	t.Helper()
	client, server := net.Pipe()
	defer client.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.HTTPServer().ServeConn(server)
	}()
	client.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		io.WriteString(client, raw)
	}()
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
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: mastodon.example\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" || method == "POST" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

const (
	demoAuth = "Authorization: Bearer pitweet-demo-mastodon-token"
	bobAuth  = "Authorization: Bearer bob-token"
	jsonType = "Content-Type: application/json"
	formType = "Content-Type: application/x-www-form-urlencoded"
)

// pngImage returns a w×h PNG.
func pngImage(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{200, 30, 30, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// animatedGIF returns a 2-frame 4×4 GIF.
func animatedGIF(t testing.TB) []byte {
	t.Helper()
	pal := color.Palette{color.Black, color.White}
	g := &gif.GIF{Image: []*image.Paletted{image.NewPaletted(image.Rect(0, 0, 4, 4), pal), image.NewPaletted(image.Rect(0, 0, 4, 4), pal)}, Delay: []int{10, 10}}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upload returns a raw POST /api/v2/media with a file part (name, type,
// data) and, if description is not "", a description part.
func upload(auth, filename, ctype string, data []byte, description string) string {
	var body strings.Builder
	if description != "" {
		body.WriteString("--pitweet0\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n" + description + "\r\n")
	}
	body.WriteString("--pitweet0\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename + "\"\r\n")
	if ctype != "" {
		body.WriteString("Content-Type: " + ctype + "\r\n")
	}
	body.WriteString("\r\n")
	body.Write(data)
	body.WriteString("\r\n--pitweet0--\r\n")
	return request("POST", "/api/v2/media", body.String(), auth, "Content-Type: multipart/form-data; boundary=pitweet0")
}

// postJSON returns a raw POST /api/v1/statuses with a JSON body.
func postJSON(auth, body string, headers ...string) string {
	return request("POST", "/api/v1/statuses", body, append([]string{auth, jsonType}, headers...)...)
}

// field returns the value of a top-level field of a JSON object body, as
// JSON text ("null", "\"123\"") unquoted when it is a string; "" if absent.
func field(t *testing.T, body, name string) string {
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
