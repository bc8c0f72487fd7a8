package daemon

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pitweet/config"
	"pitweet/fakemastodon"
	"pitweet/outbox"
)

// mastoRig is an outbox delivered to a fakemastodon server over TLS on
// loopback, through the real Mastodon destination.
type mastoRig struct {
	srv  *fakemastodon.Server
	box  *outbox.Outbox
	st   *state
	dest *mastodonDestination
	d    *deliverer
	now  time.Time
}

func newMastoRig(t *testing.T, token string, setup func(*fakemastodon.Server)) *mastoRig {
	t.Helper()
	srv := fakemastodon.New()
	if setup != nil {
		setup(srv)
	}
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	box, err := outbox.Open(filepath.Join(dir, "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	cfg := &config.Config{Mastodon: config.MastodonConfig{Server: srv.URL(), Visibility: "public", CAFile: ca}}
	dest, err := newDestination("mastodon", cfg, config.Credentials{MastodonToken: token}, destOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dest.Close() })
	r := &mastoRig{srv: srv, box: box, st: &state{started: time.Now()}, dest: dest.(*mastodonDestination), now: time.Now()}
	r.d = newDeliverer(box, dest, r.st, discardLog())
	r.d.now = func() time.Time { return r.now }
	r.d.jitter = func() float64 { return 0 }
	return r
}

func (r *mastoRig) put(t *testing.T, text string, pics ...outbox.NewImage) outbox.Message {
	t.Helper()
	m, err := r.box.Put(outbox.Message{Text: text, Source: "button test", Kind: "press", Created: r.now, To: []string{"mastodon"}}, pics)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// deliver runs the loop until the destination is idle.
func (r *mastoRig) deliver(t *testing.T) {
	t.Helper()
	for range 10 {
		wait := r.d.deliverOnce(context.Background())
		if wait == idle {
			return
		}
		r.now = r.now.Add(wait + time.Millisecond)
	}
	t.Fatal("still delivering after 10 attempts")
}

// The answer to the status is lost (the connection reset after the server
// made it): the retry carries the same Idempotency-Key, the server answers
// with the same status, and the message is delivered once, with its URL.
func TestMastodonExactlyOnceAfterLostAnswer(t *testing.T) {
	r := newMastoRig(t, fakemastodon.DemoAccount.Token, nil)
	r.srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.ModeResetAfterAccept, Count: 1})
	m := r.put(t, "Ding dong")
	if wait := r.d.deliverOnce(context.Background()); wait <= 0 {
		t.Fatalf("after the reset: wait %v, want a backoff", wait)
	}
	r.now = r.now.Add(time.Second)
	r.deliver(t)
	sts := r.srv.Statuses()
	if len(sts) != 1 || sts[0].Text != "Ding dong" || sts[0].IdempotencyKey != "pitweet-"+m.ID {
		t.Fatalf("server has %+v, want one status with key pitweet-%s", sts, m.ID)
	}
	var keys []string
	for _, req := range r.srv.Requests() {
		if req.Method == "POST" && req.Path == "/api/v1/statuses" {
			keys = append(keys, req.Header.Get("Idempotency-Key"))
		}
	}
	if len(keys) != 2 || keys[0] != keys[1] {
		t.Fatalf("Idempotency-Keys sent %q, want the same twice", keys)
	}
	st := r.st.snapshot(r.now, r.box)
	if r.box.Len() != 0 || len(st.Destinations) != 1 || st.Destinations[0].LastSuccess == nil ||
		!strings.HasSuffix(st.Destinations[0].LastSuccess.Ref, "/"+sts[0].ID) {
		t.Fatalf("queue %d, status %+v", r.box.Len(), st.Destinations)
	}
}

// A 422 is a refusal for good: the message is a dead letter with the
// server's reason. The server's limit (60) is not known here: its instance
// document does not answer, so 500 is assumed and the server refuses.
func TestMastodonValidationFailureIsDeadLetter(t *testing.T) {
	r := newMastoRig(t, fakemastodon.DemoAccount.Token, func(s *fakemastodon.Server) { s.MaxCharacters = 60 })
	r.srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.Mode503, Path: "/api/v2/instance"})
	r.put(t, strings.Repeat("long ", 20))
	r.deliver(t)
	dead, err := r.box.DeadLetters()
	if err != nil || len(dead) != 1 || !strings.Contains(dead[0].Reason, "422") || !strings.Contains(dead[0].Reason, "Text character limit of 60 exceeded") {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	if len(r.srv.Statuses()) != 0 {
		t.Fatal("the server made a status")
	}
}

// A token the server refuses: dead letter, saying what to do.
func TestMastodonBadTokenIsDeadLetter(t *testing.T) {
	r := newMastoRig(t, "not-the-token", nil)
	r.put(t, "hello")
	r.deliver(t)
	dead, err := r.box.DeadLetters()
	if err != nil || len(dead) != 1 || !strings.Contains(dead[0].Reason, "401") || !strings.Contains(dead[0].Reason, "mastodon_token") {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
}

// Rate limited: the message waits until X-RateLimit-Reset, and status says
// so.
func TestMastodonRateLimitWaits(t *testing.T) {
	r := newMastoRig(t, fakemastodon.DemoAccount.Token, nil)
	r.srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.Mode429, Count: 1, Reset: 10 * time.Minute})
	r.put(t, "hello")
	wait := r.d.deliverOnce(context.Background())
	if wait < 9*time.Minute || wait > 11*time.Minute {
		t.Fatalf("wait %v, want about 10 minutes", wait)
	}
	st := r.st.snapshot(r.now, r.box)
	if st.Destinations[0].RateLimited.IsZero() || st.Destinations[0].Delivery != "rate limited" {
		t.Fatalf("status %+v", st.Destinations[0])
	}
	r.now = r.now.Add(wait)
	r.deliver(t)
	if len(r.srv.Statuses()) != 1 {
		t.Fatalf("statuses %+v", r.srv.Statuses())
	}
}

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x * 7), uint8(y * 3), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A picture larger than the server takes is fitted once (kept beside the
// original for the next attempt), uploaded once with its alt text, and
// attached to the one status.
func TestMastodonPictureFittedOnce(t *testing.T) {
	r := newMastoRig(t, fakemastodon.DemoAccount.Token, func(s *fakemastodon.Server) { s.ImageMatrixLimit = 100 * 100 })
	r.srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.Mode503, Count: 1})
	m := r.put(t, "A photo", outbox.NewImage{Data: testPNG(t, 400, 300), Alt: "The front door"})
	if wait := r.d.deliverOnce(context.Background()); wait <= 0 {
		t.Fatalf("after the 503: wait %v", wait)
	}
	dir := filepath.Dir(r.box.PicturePath(m.ID, m.Images[0].Name))
	if kept, _ := filepath.Glob(filepath.Join(dir, "*.mastodon.*")); len(kept) != 1 || filepath.Ext(kept[0]) != ".png" {
		t.Fatalf("versions kept after the first attempt: %q, want one PNG", kept)
	}
	r.now = r.now.Add(time.Second)
	r.deliver(t)
	sts, media := r.srv.Statuses(), r.srv.Media()
	if len(sts) != 1 || len(sts[0].MediaIDs) != 1 || len(media) != 1 {
		t.Fatalf("statuses %+v, media %+v: want one status, one upload", sts, media)
	}
	if w, h := media[0].Width, media[0].Height; media[0].Description != "The front door" || w*h > 100*100 || w*h < 90*90 || w*3-h*4 > 4 || h*4-w*3 > 4 {
		t.Fatalf("uploaded %+v, want 4:3 within 100×100 pixels", media[0])
	}
}

func TestClipDescription(t *testing.T) {
	long := strings.Repeat("e\u0301", 1000) // 2,000 code points, 1,000 characters as seen
	got := clipDescription(long, 1500)
	if n := len([]rune(got)); n > 1500 || n < 1497 || !strings.HasSuffix(got, "e\u0301…") {
		t.Errorf("clipped to %d code points, ends %q", n, got[len(got)-8:])
	}
	if clipDescription("short", 1500) != "short" {
		t.Error("a short alt text was changed")
	}
}

// Once the server's limit is read, texts are checked against it at queue
// time: one longer than the server's 100 characters is shortened for
// Mastodon alone.
func TestMastodonQueueTimeLimitIsTheServers(t *testing.T) {
	r := newMastoRig(t, fakemastodon.DemoAccount.Token, func(s *fakemastodon.Server) { s.MaxCharacters = 100 })
	d := &runner{cfg: &config.Config{}, log: discardLog(), fired: map[string]int{}, dels: []*deliverer{r.d}}
	tmpl, err := config.ParseTemplate("text", strings.Repeat("tick ", 30))
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.message("button a", "press", tmpl, []string{"mastodon"}, config.TemplateData{}, time.Time{})
	if err != nil || m.Dest["mastodon"].Text != "" {
		t.Fatalf("before the limit is known (500): %+v, %v", m.Dest, err)
	}
	r.put(t, "first")
	r.deliver(t)
	m, err = d.message("button a", "press", tmpl, []string{"mastodon"}, config.TemplateData{}, time.Time{})
	short := m.Dest["mastodon"].Text
	if err != nil || short == "" || len([]rune(short)) > 100 || !strings.HasSuffix(short, "…") {
		t.Fatalf("after: %q (%d characters), %v", short, len([]rune(short)), err)
	}
}

// A command (a message with an outside id) carries an Idempotency-Key made
// from that id: a second poster given the same command, with an outbox of
// its own, gets the first status back instead of posting another.
func TestMastodonCommandKeySharedByPosters(t *testing.T) {
	r := newMastoRig(t, fakemastodon.DemoAccount.Token, nil)
	second, err := outbox.Open(filepath.Join(t.TempDir(), "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	d2 := newDeliverer(second, r.dest, &state{}, discardLog())
	for _, box := range []*outbox.Outbox{r.box, second} {
		if _, err := box.Put(outbox.Message{Text: "from MQTT", Source: "command", Kind: "command", Key: "kitchen:42", Created: r.now, To: []string{"mastodon"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	r.deliver(t)
	if wait := d2.deliverOnce(context.Background()); wait != 0 {
		t.Fatalf("second poster: wait %v", wait)
	}
	sts := r.srv.Statuses()
	if len(sts) != 1 || !strings.HasPrefix(sts[0].IdempotencyKey, "pitweet-c-") || len(sts[0].IdempotencyKey) > 64 {
		t.Fatalf("statuses %+v, want one with a key from the command id", sts)
	}
	if second.Len() != 0 || r.box.Len() != 0 {
		t.Fatalf("queues %d and %d, want both delivered", r.box.Len(), second.Len())
	}
}

// A picture that cannot be made to fit (an animated GIF the server does
// not take: it is never re-encoded) makes the message a dead letter on
// Mastodon, saying why, without an upload.
func TestMastodonPictureThatCannotFit(t *testing.T) {
	r := newMastoRig(t, fakemastodon.DemoAccount.Token, func(s *fakemastodon.Server) { s.SupportedMIMETypes = []string{"image/jpeg", "image/png"} })
	var b bytes.Buffer
	pal := color.Palette{color.Black, color.White}
	anim := &gif.GIF{Image: []*image.Paletted{image.NewPaletted(image.Rect(0, 0, 8, 8), pal), image.NewPaletted(image.Rect(0, 0, 8, 8), pal)}, Delay: []int{10, 10}}
	if err := gif.EncodeAll(&b, anim); err != nil {
		t.Fatal(err)
	}
	r.put(t, "an animation", outbox.NewImage{Data: b.Bytes(), Alt: "blinking"})
	r.deliver(t)
	dead, err := r.box.DeadLetters()
	if err != nil || len(dead) != 1 || !strings.Contains(dead[0].Reason, "the pictures cannot be posted") || !strings.Contains(dead[0].Reason, "animated GIF") {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
	if len(r.srv.Media()) != 0 || len(r.srv.Statuses()) != 0 {
		t.Fatal("something was sent")
	}
}
