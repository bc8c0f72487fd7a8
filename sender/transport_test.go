package sender

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// photo writes size pseudo-random bytes to a file and returns its path and
// contents.
func photo(t testing.TB, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	path := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b
}

// openCounter opens path and counts how often it was opened.
func openCounter(path string, n *atomic.Int32) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		n.Add(1)
		return os.Open(path)
	}
}

// mediaRequest is a Mastodon-style upload: a bearer token, an
// Idempotency-Key, and a multipart body whose file part is streamed.
func mediaRequest(path string, size int64, opened *atomic.Int32) *Request {
	body := new(Body).
		Append([]byte("--pitweet-boundary\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nThe doorbell camera\r\n"+
			"--pitweet-boundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")).
		AppendStream(size, "photo.jpg", openCounter(path, opened)).
		Append([]byte("\r\n--pitweet-boundary--\r\n"))
	return &Request{
		Method:        "POST",
		Target:        "/api/v2/media",
		ContentType:   "multipart/form-data; boundary=pitweet-boundary",
		Authorization: "Bearer mastodon-token-1234",
		Header:        []Field{{"Idempotency-Key", "msg-42-media-0"}, {"X-Pitweet-Trace", "a b\tc"}},
		Body:          body,
	}
}

const mediaHead = "POST /api/v2/media HTTP/1.1\r\n" +
	"Host: social.example\r\n" +
	"User-Agent: pitweet/1.0.0\r\n" +
	"Accept: application/json\r\n" +
	"Content-Type: multipart/form-data; boundary=pitweet-boundary\r\n" +
	"Content-Length: 1234\r\n" +
	"Authorization: Bearer mastodon-token-1234\r\n" +
	"Idempotency-Key: msg-42-media-0\r\n" +
	"X-Pitweet-Trace: a b\tc\r\n" +
	"Connection: close\r\n" +
	"\r\n"

const mediaBodyShown = "--pitweet-boundary\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nThe doorbell camera\r\n" +
	"--pitweet-boundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" +
	"[1000 bytes: photo.jpg, not shown]" +
	"\r\n--pitweet-boundary--\r\n"

// Render shows the exact header block and the body with the streamed part
// elided, and opens nothing.
func TestRenderBearerStreamGolden(t *testing.T) {
	path, _ := photo(t, 1000)
	var opened atomic.Int32
	tr := newTestTransport(t, "https://social.example", TransportConfig{UserAgent: "pitweet/1.0.0"})
	got, err := tr.Render(mediaRequest(path, 1000, &opened))
	if err != nil {
		t.Fatal(err)
	}
	if want := mediaHead + mediaBodyShown; string(got) != want {
		t.Errorf("rendered request differs\ngot:  %q\nwant: %q", got, want)
	}
	if n := opened.Load(); n != 0 {
		t.Errorf("Render opened the stream %d times; it sends nothing", n)
	}
}

// rawServer serves each TLS connection with serve and is closed with the
// test.
func rawServer(t *testing.T, ca *testCA, serve func(tc *tls.Conn, br *bufio.Reader)) string {
	return listen(t, func(c net.Conn) {
		defer c.Close()
		tc := tls.Server(c, ca.serverConfig())
		serve(tc, bufio.NewReader(tc))
	})
}

// On the wire, the same request carries the file's bytes where Render
// showed their size; net/http, as an oracle, reads the fields and the
// multipart body back.
func TestDoBearerStreamOnTheWire(t *testing.T) {
	ca := newTestCA(t)
	path, file := photo(t, 1000)
	type got struct {
		raw  []byte
		req  *http.Request
		body []byte
	}
	saw := make(chan got, 1)
	addr := rawServer(t, ca, func(tc *tls.Conn, br *bufio.Reader) {
		var raw bytes.Buffer
		req, err := http.ReadRequest(bufio.NewReader(io.TeeReader(br, &raw)))
		if err != nil {
			saw <- got{}
			return
		}
		body, _ := io.ReadAll(req.Body)
		io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"id\":\"1234\"}")
		saw <- got{raw.Bytes(), req, body}
	})
	tr := newTestTransport(t, "https://"+addr, TransportConfig{CAFile: ca.caFile, UserAgent: "pitweet/1.0.0"})
	var opened atomic.Int32
	resp, err := tr.Do(context.Background(), mediaRequest(path, int64(len(file)), &opened))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(resp.Body) != `{"id":"1234"}` {
		t.Errorf("response %d %q", resp.StatusCode, resp.Body)
	}
	g := <-saw
	if g.req == nil {
		t.Fatal("the server could not read the request")
	}
	wantHead := strings.Replace(mediaHead, "Host: social.example", "Host: "+addr, 1)
	wantBody := strings.Replace(mediaBodyShown, "[1000 bytes: photo.jpg, not shown]", string(file), 1)
	if string(g.raw) != wantHead+wantBody {
		t.Errorf("wire bytes differ from the rendered request with the file in place")
	}
	if g.req.Header.Get("Authorization") != "Bearer mastodon-token-1234" || g.req.Header.Get("Idempotency-Key") != "msg-42-media-0" ||
		g.req.Header.Get("X-Pitweet-Trace") != "a b\tc" || g.req.ContentLength != int64(len(wantBody)) {
		t.Errorf("net/http read headers %v, Content-Length %d", g.req.Header, g.req.ContentLength)
	}
	_, params, err := mime.ParseMediaType(g.req.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(g.body), params["boundary"])
	form, err := mr.ReadForm(1 << 20)
	if err != nil {
		t.Fatalf("multipart: %v", err)
	}
	fh := form.File["file"]
	if len(form.Value["description"]) != 1 || form.Value["description"][0] != "The doorbell camera" || len(fh) != 1 || fh[0].Filename != "photo.jpg" {
		t.Fatalf("multipart form %v, files %v", form.Value, form.File)
	}
	f, err := fh[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(f); !bytes.Equal(b, file) {
		t.Error("the file part is not the file")
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("the stream was opened %d times for one request", n)
	}
}

// A request whose first attempt is cut off mid-body sends the whole body
// again on the next attempt, from a fresh open of the stream.
func TestStreamedBodyReplays(t *testing.T) {
	ca := newTestCA(t)
	path, file := photo(t, 300<<10)
	var conns atomic.Int32
	bodies := make(chan []byte, 2)
	addr := rawServer(t, ca, func(tc *tls.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if conns.Add(1) == 1 {
			io.CopyN(io.Discard, req.Body, 1000) // then drop the connection
			tc.NetConn().(*net.TCPConn).SetLinger(0)
			return
		}
		b, _ := io.ReadAll(req.Body)
		bodies <- b
		io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
	})
	tr := newTestTransport(t, "https://"+addr, TransportConfig{CAFile: ca.caFile})
	var opened atomic.Int32
	req := &Request{Method: "PUT", Target: "/upload", ContentType: "image/jpeg",
		Body: new(Body).AppendStream(int64(len(file)), "photo.jpg", openCounter(path, &opened))}
	_, err := tr.Do(context.Background(), req)
	var be *bodyError
	if !errors.Is(err, ErrTransient) || errors.As(err, &be) {
		t.Fatalf("first attempt: %v; want a transient network error", err)
	}
	if _, err := tr.Do(context.Background(), req); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	if b := <-bodies; !bytes.Equal(b, file) {
		t.Errorf("the second attempt sent %d bytes, not the file's %d", len(b), len(file))
	}
	if n := opened.Load(); n != 2 {
		t.Errorf("the stream was opened %d times for two attempts", n)
	}
}

// A stream that does not hold its stated size fails the request with an
// error that says so (not a transient one), and the server never gets a
// complete request.
func TestStreamedBodyWrongSize(t *testing.T) {
	ca := newTestCA(t)
	path, file := photo(t, 5000)
	complete := make(chan bool, 4)
	addr := rawServer(t, ca, func(tc *tls.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			complete <- false
			return
		}
		_, err = io.ReadAll(req.Body)
		complete <- err == nil
		if err == nil {
			io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
		}
	})
	tr := newTestTransport(t, "https://"+addr, TransportConfig{CAFile: ca.caFile})
	for _, tt := range []struct {
		size int64
		want string
	}{
		{int64(len(file)) + 10, "ended after 5000 of its 5010 bytes"},
		{int64(len(file)) - 10, "holds more than its 4990 bytes"},
	} {
		var opened atomic.Int32
		req := &Request{Method: "POST", Target: "/upload", Body: new(Body).AppendStream(tt.size, "photo.jpg", openCounter(path, &opened))}
		_, err := tr.Do(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrTransient) {
			t.Errorf("size %d: %v; want an error saying %q, not transient", tt.size, err, tt.want)
		}
		if <-complete {
			t.Errorf("size %d: the server read a complete request", tt.size)
		}
	}
	missing := &Request{Method: "POST", Target: "/upload", Body: new(Body).AppendStream(10, "gone.jpg", func() (io.ReadCloser, error) {
		return os.Open(filepath.Join(t.TempDir(), "gone.jpg"))
	})}
	if _, err := tr.Do(context.Background(), missing); !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrTransient) {
		t.Errorf("missing file: %v; want os.ErrNotExist, not transient", err)
	}
}

// A Transport is one origin shared by goroutines: concurrent requests all
// get their own answers, on kept connections where possible.
func TestTransportConcurrent(t *testing.T) {
	ca := newTestCA(t)
	var conns atomic.Int32
	addr := rawServer(t, ca, func(tc *tls.Conn, br *bufio.Reader) {
		conns.Add(1)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, _ := io.ReadAll(req.Body)
			echo := fmt.Sprintf(`{"target":%q,"key":%q,"body":%q}`, req.URL.Path, req.Header.Get("Idempotency-Key"), body)
			fmt.Fprintf(tc, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(echo), echo)
		}
	})
	tr := newTestTransport(t, "https://"+addr, TransportConfig{CAFile: ca.caFile, KeepAlive: time.Minute})
	defer tr.Close()
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("k%d", i)
			req := &Request{Method: "POST", Target: fmt.Sprintf("/p/%d", i), Header: []Field{{"Idempotency-Key", key}},
				Body: BytesBody([]byte(fmt.Sprintf("body %d", i)))}
			resp, err := tr.Do(context.Background(), req)
			if err != nil {
				errs <- err
				return
			}
			if want := fmt.Sprintf(`{"target":"/p/%d","key":%q,"body":"body %d"}`, i, key, i); string(resp.Body) != want {
				errs <- fmt.Errorf("request %d got %s", i, resp.Body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c := conns.Load(); c < 1 || c > n {
		t.Errorf("%d connections for %d requests", c, n)
	}
}

// Another service's refusals are APIErrors with the same kinds, found with
// errors.As, and its own headers are kept for limits only it sends.
func TestNewAPIErrorForAnotherService(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		answer  string
		kind    Kind
		is      error
		retryAt time.Time
		message string
	}{
		{"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\nX-RateLimit-Remaining: 0\r\nContent-Length: 0\r\n\r\n",
			KindRateLimited, nil, now.Add(2 * time.Minute), "sender: Mastodon answered 429 Too Many Requests; rate limited until 2026-11-01T12:02:00Z"},
		{"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n",
			KindRateLimited, nil, now.Add(15 * time.Minute), "sender: Mastodon answered 429 Too Many Requests; rate limited until 2026-11-01T12:15:00Z"},
		{"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", KindUnauthorized, nil, time.Time{}, "sender: Mastodon answered 401 Unauthorized"},
		{"HTTP/1.1 402 Payment Required\r\nContent-Length: 0\r\n\r\n", KindCreditsDepleted, nil, time.Time{},
			"sender: Mastodon answered 402 Payment Required; the service wants payment (402): settle the account with it, then pitweet reload"},
		{"HTTP/1.1 422 Unprocessable Content\r\nContent-Length: 0\r\n\r\n", KindPermanent, nil, time.Time{}, "sender: Mastodon answered 422 Unprocessable Content"},
		{"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", KindTransient, ErrTransient, time.Time{}, "sender: Mastodon answered 502 Bad Gateway"},
	}
	for _, tt := range tests {
		resp, err := ReadResponse(bufio.NewReader(strings.NewReader(tt.answer)))
		if err != nil {
			t.Fatal(err)
		}
		e := NewAPIError("Mastodon", resp)
		if e.Kind == KindRateLimited {
			e.SetRetryAt(time.Time{}, now)
		}
		var err2 error = fmt.Errorf("mastodon: post: %w", e)
		var ae *APIError
		if !errors.As(err2, &ae) || ae.Kind != tt.kind || !ae.RetryAt.Equal(tt.retryAt) || ae.Error() != tt.message {
			t.Errorf("%q: got kind %v, retry %v, %q; want %v, %v, %q", tt.answer, ae.Kind, ae.RetryAt, ae.Error(), tt.kind, tt.retryAt, tt.message)
		}
		if tt.is != nil && !errors.Is(err2, tt.is) {
			t.Errorf("%q: does not wrap %v", tt.answer, tt.is)
		}
		if tt.kind == KindRateLimited && tt.retryAt.Sub(now) == 2*time.Minute && ae.Header.Get("x-ratelimit-remaining") != "0" {
			t.Errorf("the service's own header is not kept: %v", ae.Header)
		}
	}
}

// BenchmarkStreamUpload posts a 5 MB streamed body over loopback TLS; its
// B/op shows the body is not held in memory (compare with the body size).
func BenchmarkStreamUpload(b *testing.B) {
	ca := newTestCA(b)
	path, file := photo(b, 5<<20)
	addr := listen(b, func(c net.Conn) {
		defer c.Close()
		tc := tls.Server(c, ca.serverConfig())
		req, err := http.ReadRequest(bufio.NewReader(tc))
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
	})
	tr := newTestTransport(b, "https://"+addr, TransportConfig{CAFile: ca.caFile})
	var opened atomic.Int32
	req := &Request{Method: "POST", Target: "/upload", Body: new(Body).AppendStream(int64(len(file)), "photo.jpg", openCounter(path, &opened))}
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Do(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}
