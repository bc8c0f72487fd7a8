package mastodon

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pitweet/fakemastodon"
	"pitweet/sender"
)

// fakeClock is the time of the emulator and the client's polling, moved
// by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// start runs fakemastodon over TLS on loopback and returns a client that
// trusts its CA, for account (DemoAccount when zero).
func start(t *testing.T, configure func(*fakemastodon.Server), cfg Config) (*fakemastodon.Server, *Client) {
	t.Helper()
	srv := fakemastodon.New()
	if configure != nil {
		configure(srv)
	}
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	cfg.Server, cfg.CAFile, cfg.Timeout = srv.URL(), ca, 10*time.Second
	if cfg.Token == "" {
		cfg.Token = fakemastodon.DemoAccount.Token
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// writeJPEG writes a w×h JPEG and returns it as an Image with alt text.
func writeJPEG(t *testing.T, w, h int, alt string) Image {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return Image{Path: path, Size: int64(b.Len()), Type: "image/jpeg", Filename: "photo.jpg", Description: alt}
}

// The exact bytes of a status, as the transport writes them.
func TestStatusRequestBytes(t *testing.T) {
	c, err := New(Config{Server: "https://mastodon.example", Token: "tok-123", Visibility: "unlisted", Language: "en", UserAgent: "pitweet/test"})
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.StatusRequest(NewStatus{Text: "Door <opened> & \"now\" 🚪", MediaIDs: []string{"7", "8"}, IdempotencyKey: IdempotencyKey("m1")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Transport().Render(req)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"status":"Door <opened> & \"now\" 🚪","media_ids":["7","8"],"visibility":"unlisted","language":"en"}`
	want := "POST /api/v1/statuses HTTP/1.1\r\n" +
		"Host: mastodon.example\r\n" +
		"User-Agent: pitweet/test\r\n" +
		"Accept: application/json\r\n" +
		"Content-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Authorization: Bearer tok-123\r\n" +
		"Idempotency-Key: pitweet-m1\r\n" +
		"Connection: close\r\n\r\n" + body
	if string(got) != want {
		t.Errorf("request:\n%q\nwant\n%q", got, want)
	}
}

func TestUploadRequestLayout(t *testing.T) {
	c, err := New(Config{Server: "https://mastodon.example", Token: "tok-123"})
	if err != nil {
		t.Fatal(err)
	}
	img := writeJPEG(t, 8, 8, "A test card")
	req, mp, err := c.UploadRequest(img, "BOUNDARY")
	if err != nil {
		t.Fatal(err)
	}
	want := "--BOUNDARY⏎\nContent-Disposition: form-data; name=\"description\"⏎\n⏎\nA test card⏎\n" +
		"--BOUNDARY⏎\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"⏎\nContent-Type: image/jpeg⏎\n⏎\n"
	if got := mp.Layout(); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "⏎\n--BOUNDARY--⏎\n") {
		t.Errorf("layout:\n%s\nwant it to start\n%s", got, want)
	}
	if req.ContentType != "multipart/form-data; boundary=BOUNDARY" || req.Body.Len() != mp.ContentLength() || req.Target != "/api/v2/media" {
		t.Errorf("request %+v", req)
	}
}

func TestPublishText(t *testing.T) {
	srv, c := start(t, nil, Config{Visibility: "unlisted", Language: "de"})
	ctx := ctxT(t)
	st, err := c.Publish(ctx, Message{Key: IdempotencyKey("1"), Text: "Hallo vom Pi https://example.com/" + strings.Repeat("x", 100), Since: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Statuses()
	if len(got) != 1 || got[0].ID != st.ID || got[0].Visibility != "unlisted" || got[0].Language != "de" || got[0].IdempotencyKey != "pitweet-1" {
		t.Fatalf("server has %+v; client got %+v", got, st)
	}
	if !strings.HasPrefix(st.Link(), "https://") || !strings.Contains(st.Link(), st.ID) {
		t.Errorf("link %q", st.Link())
	}
	if rl := c.RateLimit(); rl.Limit <= 0 || rl.Remaining < 0 || rl.Reset.IsZero() {
		t.Errorf("rate limit not read: %+v", rl)
	}
}

// A reset after the server made the status: the retry carries the same
// Idempotency-Key and gets the same status; the server has one.
func TestPublishExactlyOnceAfterLostAnswer(t *testing.T) {
	srv, c := start(t, nil, Config{})
	ctx := ctxT(t)
	srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.ModeResetAfterAccept, Count: 1})
	m := Message{Key: IdempotencyKey("42"), Text: "Door opened", Since: time.Now()}
	_, err := c.Publish(ctx, m)
	if !errors.Is(err, sender.ErrTransient) {
		t.Fatalf("first attempt: %v, want a transient error", err)
	}
	m.Tried = true
	st, err := c.Publish(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Statuses()
	if len(got) != 1 || got[0].ID != st.ID {
		t.Fatalf("server has %d statuses (%+v), client got %s", len(got), got, st.ID)
	}
}

// A retry more than an hour after a lost answer: the server has forgotten
// the key, so the status is looked for among the account's latest.
func TestPublishAfterKeyExpired(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	srv, c := start(t, func(s *fakemastodon.Server) { s.Now = clk.Now }, Config{})
	c.now = clk.Now
	ctx := ctxT(t)
	srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.ModeResetAfterAccept, Count: 1})
	m := Message{Key: IdempotencyKey("7"), Text: "Door opened\n\nat 10:00 & later <b>", Since: clk.Now()}
	if _, err := c.Publish(ctx, m); err == nil {
		t.Fatal("first attempt succeeded despite the reset")
	}
	// Another status with the same text, made by another message before
	// this one, is not taken for it.
	clk.Add(2 * time.Hour)
	m.Tried = true
	st, err := c.Publish(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Statuses(); len(got) != 1 || got[0].ID != st.ID {
		t.Fatalf("server has %d statuses after the retry, want 1 (client got %s)", len(got), st.ID)
	}
	// The next message with the same text is posted: the status found
	// is claimed by the first.
	m2 := Message{Key: IdempotencyKey("8"), Text: m.Text, Since: clk.Now().Add(-3 * time.Hour), Tried: true}
	if _, err := c.Publish(ctx, m2); err != nil {
		t.Fatal(err)
	}
	if got := srv.Statuses(); len(got) != 2 {
		t.Fatalf("server has %d statuses, want 2", len(got))
	}
}

func TestPublishPictures(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	srv, c := start(t, func(s *fakemastodon.Server) {
		s.Now = clk.Now
		s.AsyncOver = 1 // every upload processed asynchronously: 202, then 206 until done
		s.ProcessingTime = 5 * time.Second
	}, Config{})
	c.now = clk.Now
	var slept []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error { slept = append(slept, d); clk.Add(d); return nil }
	ctx := ctxT(t)
	imgs := []Image{writeJPEG(t, 64, 48, "A door, open"), writeJPEG(t, 32, 32, "")}
	st, err := c.Publish(ctx, Message{Key: IdempotencyKey("p"), Text: "With pictures", Images: imgs, Since: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	sts, media := srv.Statuses(), srv.Media()
	if len(sts) != 1 || len(sts[0].MediaIDs) != 2 || len(media) != 2 || len(st.Media) != 2 {
		t.Fatalf("statuses %+v, media %+v", sts, media)
	}
	if media[0].Description != "A door, open" || media[1].Description != "" || media[0].Width != 64 || media[0].MIMEType != "image/jpeg" {
		t.Errorf("media %+v", media)
	}
	data, _ := os.ReadFile(imgs[0].Path)
	if !bytes.Equal(srv.MediaData(media[0].ID), data) {
		t.Error("the server has other bytes than the file")
	}
	if len(slept) == 0 || slept[0] != firstPoll {
		t.Errorf("polled after %v, want %v first", slept, firstPoll)
	}
}

// A server that never finishes processing: given up after MaxProcessing,
// as a transient failure.
func TestWaitMediaBounded(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	_, c := start(t, func(s *fakemastodon.Server) {
		s.Now = clk.Now
		s.AsyncOver = 1
		s.ProcessingTime = time.Hour
	}, Config{})
	c.now = clk.Now
	c.sleep = func(ctx context.Context, d time.Duration) error { clk.Add(d); return nil }
	_, err := c.Publish(ctxT(t), Message{Key: "k", Text: "x", Images: []Image{writeJPEG(t, 8, 8, "")}})
	if !errors.Is(err, sender.ErrTransient) || !strings.Contains(err.Error(), "still processing") {
		t.Fatalf("err = %v", err)
	}
}

func TestRefusals(t *testing.T) {
	srv, c := start(t, nil, Config{})
	ctx := ctxT(t)
	kindOf := func(err error) *sender.APIError {
		t.Helper()
		var e *sender.APIError
		if !errors.As(err, &e) {
			t.Fatalf("err = %v, want an *APIError", err)
		}
		return e
	}

	e := kindOf(c.Publish2(ctx, strings.Repeat("a", 501)))
	if e.Kind != sender.KindPermanent || e.Status != 422 || !strings.Contains(e.Error(), "Text character limit of 500 exceeded") {
		t.Errorf("too long: %v (%v)", e, e.Kind)
	}

	srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.Mode429, Count: 1, Reset: 7 * time.Minute})
	before := time.Now()
	e = kindOf(c.Publish2(ctx, "rate"))
	if e.Kind != sender.KindRateLimited || e.RetryAt.Before(before.Add(6*time.Minute)) || e.RetryAt.After(time.Now().Add(8*time.Minute)) {
		t.Errorf("429: %v, retry at %v", e, e.RetryAt)
	}

	srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.Mode503, Count: 1})
	e = kindOf(c.Publish2(ctx, "busy"))
	if e.Kind != sender.KindTransient || !errors.Is(e, sender.ErrTransient) {
		t.Errorf("503: %v", e)
	}

	_, bad := start(t, nil, Config{Token: "wrong-token"})
	e = kindOf(bad.Publish2(ctx, "hello"))
	if e.Kind != sender.KindUnauthorized || !strings.Contains(e.Error(), "mastodon_token") {
		t.Errorf("bad token: %v", e)
	}
	if len(srv.Statuses()) != 0 {
		t.Errorf("refused posts made statuses: %+v", srv.Statuses())
	}
}

func TestScopes(t *testing.T) {
	readOnly := fakemastodon.Account{ID: "9", Username: "ro", Token: "ro-token", Scopes: []string{"read"}}
	srv2 := fakemastodon.New(readOnly)
	if err := srv2.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv2.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	c2, err := New(Config{Server: srv2.URL(), CAFile: ca, Token: readOnly.Token})
	if err != nil {
		t.Fatal(err)
	}
	err = c2.Publish2(ctxT(t), "hello")
	var e *sender.APIError
	if !errors.As(err, &e) || e.Kind != sender.KindForbidden || !strings.Contains(e.Error(), "write:statuses") {
		t.Errorf("read-only token: %v", err)
	}
	a, err := c2.VerifyCredentials(ctxT(t))
	if err != nil || a.Username != "ro" || a.ID != "9" {
		t.Errorf("verify_credentials: %+v, %v", a, err)
	}
}

// Publish2 posts text alone, for the refusal tests.
func (c *Client) Publish2(ctx context.Context, text string) error {
	_, err := c.Publish(ctx, Message{Key: IdempotencyKey(text[:min(len(text), 8)]), Text: text})
	return err
}

func TestInstance(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	srv, c := start(t, func(s *fakemastodon.Server) {
		s.MaxCharacters = 1000
		s.CharactersPerURL = 30
		s.ImageSizeLimit = 1 << 20
	}, Config{})
	c.now = clk.Now
	ctx := ctxT(t)
	if got := c.Cached(); got.Known || got.MaxCharacters != 500 {
		t.Errorf("before any read: %+v", got)
	}
	in := c.Instance(ctx)
	if !in.Known || in.MaxCharacters != 1000 || in.CharactersPerURL != 30 || in.ImageSizeLimit != 1<<20 || in.MaxMediaAttachments != 4 {
		t.Fatalf("instance %+v", in)
	}
	if l := in.MediaLimits(); l.MaxBytes != 1<<20 || l.MaxPixels != 33177600 || len(l.Formats) != 3 {
		t.Errorf("media limits %+v", l)
	}
	n := len(srv.Requests())
	c.Instance(ctx)
	if len(srv.Requests()) != n {
		t.Error("the instance was read again within its lifetime")
	}
	// A day later the server does not answer: the last document stands.
	clk.Add(InstanceTTL + time.Minute)
	srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.Mode503, Path: "/api/v2/instance"})
	if in := c.Instance(ctx); !in.Known || in.MaxCharacters != 1000 {
		t.Errorf("server down: %+v", in)
	}
	// ... and it is not asked at every call.
	n = len(srv.Requests())
	c.Instance(ctx)
	if len(srv.Requests()) != n {
		t.Error("asked again right after a failure")
	}
}

func TestInstanceNeverRead(t *testing.T) {
	srv, c := start(t, nil, Config{})
	srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.Mode503, Path: "/api/v2/instance"})
	if in := c.Instance(ctxT(t)); in.Known || in.MaxCharacters != 500 || in.CharactersPerURL != 23 || in.Domain == "" {
		t.Errorf("defaults %+v", in)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []Config{
		{Server: "https://m.example"},
		{Server: "http://m.example", Token: "t"},
		{Server: "https://m.example", Token: "t", Visibility: "friends"},
		{Server: "https://m.example", Token: "a b"},
	} {
		if _, err := New(cfg); err == nil || !strings.HasPrefix(err.Error(), "mastodon: ") {
			t.Errorf("New(%+v) = %v", cfg, err)
		}
	}
}

func TestParseReset(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-01-02T03:05:00.000000Z": time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC),
		"2026-01-02T03:05:00Z":        time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC),
		"2026-01-02T04:05:00+01:00":   time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC),
		"1767323100":                  time.Unix(1767323100, 0).UTC(),
		"soon":                        {},
		"":                            {},
	} {
		if got := parseReset(in); !got.Equal(want) {
			t.Errorf("parseReset(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestPlainText(t *testing.T) {
	content := `<p>Door &amp; window<br />open</p><p>see <a href="https://example.com/x"><span class="invisible">https://</span><span class="">example.com/x</span></a></p>`
	if got, want := PlainText(content), "Door & window\nopen\n\nsee https://example.com/x"; got != want {
		t.Errorf("PlainText = %q, want %q", got, want)
	}
}

// A token that may not read the account: the look before a late retry
// fails, and the message is posted rather than lost.
func TestPublishLateRetryWithoutReadScope(t *testing.T) {
	writeOnly := fakemastodon.Account{ID: "7", Username: "wo", Token: "wo-token", Scopes: []string{"write:statuses", "write:media"}}
	srv := fakemastodon.New(writeOnly)
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Server: srv.URL(), CAFile: ca, Token: writeOnly.Token})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Publish(ctxT(t), Message{Key: "pitweet-late", Text: "late", Tried: true, Since: time.Now().Add(-2 * time.Hour)})
	if err != nil || len(srv.Statuses()) != 1 || srv.Statuses()[0].ID != st.ID {
		t.Fatalf("Publish: %+v, %v; statuses %+v", st, err, srv.Statuses())
	}
	err = c.CheckReadStatuses(ctxT(t))
	var e *sender.APIError
	if !errors.As(err, &e) || e.Kind != sender.KindForbidden || !strings.Contains(err.Error(), "read:statuses") {
		t.Errorf("CheckReadStatuses: %v", err)
	}
}
