package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/fakemastodon"
)

// newMastodonE2E is a daemon posting to X (e.x) and to Mastodon (the
// returned emulator, over TLS on loopback, set up by setup before it
// starts), with token as mastodon_token ("" for the emulator's).
func newMastodonE2E(t testing.TB, extra, token string, setup func(*fakemastodon.Server)) (*e2e, *fakemastodon.Server) {
	t.Helper()
	e := newE2E(t, "127.0.0.1:0", extra)
	srv := fakemastodon.New()
	if setup != nil {
		setup(srv)
	}
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	// One CA file that trusts both emulators.
	if err := os.WriteFile(e.ca, append(e.x.CAPEM(), srv.CAPEM()...), 0o644); err != nil {
		t.Fatal(err)
	}
	appendFile(t, e.config, fmt.Sprintf("\n[mastodon]\nserver = %q\nca_file = %q\n", srv.URL(), e.ca))
	if token == "" {
		token = fakemastodon.DemoAccount.Token
	}
	appendFile(t, filepath.Join(e.dir, "credentials"), "mastodon_token="+token+"\n")
	return e, srv
}

func appendFile(t testing.TB, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func waitStatuses(t *testing.T, srv *fakemastodon.Server, n int) []fakemastodon.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sts, err := srv.WaitStatuses(ctx, n)
	if err != nil {
		t.Fatalf("%v; statuses so far: %+v", err, srv.Statuses())
	}
	return sts
}

func statusTexts(sts []fakemastodon.Status) []string {
	var out []string
	for _, s := range sts {
		out = append(out, s.Text)
	}
	return out
}

// Presses go to X and Mastodon, each once and in order; status shows each
// destination and Mastodon's limits.
func TestE2EMastodonPresses(t *testing.T) {
	t.Parallel()
	e, srv := newMastodonE2E(t, "", "", nil)
	e.start()
	for range 3 {
		e.press("doorbell")
	}
	tweets := texts(e.waitTweets(3))
	sts := waitStatuses(t, srv, 3)
	if !slices.Equal(statusTexts(sts), tweets) {
		t.Fatalf("Mastodon has %q, X has %q: want the same texts in the same order", statusTexts(sts), tweets)
	}
	for _, s := range sts {
		if s.Visibility != "public" || !strings.HasPrefix(s.IdempotencyKey, "pitweet-") {
			t.Errorf("status %+v", s)
		}
	}
	s := e.waitStatus("both destinations idle", func(s *daemon.Status) bool {
		return len(s.Destinations) == 2 && s.Destinations[1].Queue == 0 && s.Destinations[1].LastSuccess != nil
	})
	if m := s.Destinations[1]; m.Name != "mastodon" || !strings.HasPrefix(m.Limits, "500 characters; ") || !strings.Contains(m.LastSuccess.Ref, "/@pitweet_demo/") {
		t.Errorf("mastodon's status %+v", m)
	}
	out, _, _ := e.pitweet("status")
	if !strings.Contains(out, "  mastodon: 0 waiting; idle; last posted ") || !strings.Contains(out, "; limits: 500 characters; ") {
		t.Errorf("status:\n%s", out)
	}
}

// Mastodon down: X posts every press as if it were alone; Mastodon posts
// each once, in order, when it is back.
func TestE2EMastodonDownXUnaffected(t *testing.T) {
	t.Parallel()
	e, srv := newMastodonE2E(t, "", "", func(s *fakemastodon.Server) {
		if err := s.SetFault(fakemastodon.Fault{Mode: fakemastodon.Mode503}); err != nil {
			t.Fatal(err)
		}
	})
	e.start()
	for range 5 {
		e.press("doorbell")
	}
	tweets := texts(e.waitTweets(5))
	e.waitStatus("mastodon backing off with five waiting", func(s *daemon.Status) bool {
		return len(s.Destinations) == 2 && s.Destinations[0].Queue == 0 && s.Destinations[1].Queue == 5 && s.Destinations[1].LastError != nil
	})
	if err := srv.SetFault(fakemastodon.Fault{}); err != nil {
		t.Fatal(err)
	}
	sts := waitStatuses(t, srv, 5)
	e.waitStatus("mastodon done", func(s *daemon.Status) bool { return s.Queue == 0 })
	if got := statusTexts(srv.Statuses()); !slices.Equal(got, tweets) || len(sts) != 5 {
		t.Fatalf("Mastodon has %q, want %q once each", got, tweets)
	}
}

// The connection is reset after Mastodon made the status: the retry
// carries the same Idempotency-Key, and there is one status.
func TestE2EMastodonResetAfterAccept(t *testing.T) {
	t.Parallel()
	e, srv := newMastodonE2E(t, "", "", func(s *fakemastodon.Server) {
		if err := s.SetFault(fakemastodon.Fault{Mode: fakemastodon.ModeResetAfterAccept, Count: 1}); err != nil {
			t.Fatal(err)
		}
	})
	e.start()
	e.press("doorbell")
	e.waitStatus("the press posted everywhere", func(s *daemon.Status) bool { return s.Queue == 0 })
	var keys []string
	for _, r := range srv.Requests() {
		if r.Method == "POST" && r.Path == "/api/v1/statuses" {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
		}
	}
	if n := len(srv.Statuses()); n != 1 || len(keys) != 2 || keys[0] != keys[1] {
		t.Fatalf("%d statuses from requests with keys %q; want 1 from two requests with one key", n, keys)
	}
}

// Rate limited: the message waits for X-RateLimit-Reset, status says so,
// and it is posted after.
func TestE2EMastodonRateLimited(t *testing.T) {
	t.Parallel()
	e, srv := newMastodonE2E(t, "", "", func(s *fakemastodon.Server) {
		if err := s.SetFault(fakemastodon.Fault{Mode: fakemastodon.Mode429, Count: 1, Reset: 2 * time.Second}); err != nil {
			t.Fatal(err)
		}
	})
	e.start()
	e.press("doorbell")
	e.waitStatus("mastodon rate limited", func(s *daemon.Status) bool {
		return len(s.Destinations) == 2 && !s.Destinations[1].RateLimited.IsZero()
	})
	waitStatuses(t, srv, 1)
}

// A press with a photo: Mastodon gets the picture, with its alt text, on
// the one status.
func TestE2EMastodonPhoto(t *testing.T) {
	t.Parallel()
	e, srv := newMastodonE2E(t, porchButton, "", nil)
	e.start()
	e.press("porch")
	sts := waitStatuses(t, srv, 1)
	media := srv.Media()
	if len(sts[0].MediaIDs) != 1 || len(media) != 1 || media[0].MIMEType != "image/jpeg" || media[0].Width != 1280 ||
		!strings.HasPrefix(media[0].Description, "Photo taken when the porch button was pressed, at ") {
		t.Fatalf("status %+v with media %+v", sts[0], media)
	}
}

// pitweet post --to mastodon prints the status's URL; a text too long, a
// token refused and the server's own refusal (422) each fail with one line
// saying why.
func TestE2EPostToMastodon(t *testing.T) {
	t.Parallel()
	e, srv := newMastodonE2E(t, "", "", func(s *fakemastodon.Server) { s.MaxCharacters = 600 })
	out, errOut, code := e.pitweet("post", "--config", e.config, "--to", "mastodon", "hello", "fediverse")
	sts := srv.Statuses()
	if code != 0 || len(sts) != 1 || sts[0].Text != "hello fediverse" || errOut != "" {
		t.Fatalf("post: exit %d\nstdout %q\nstderr %q\nstatuses %+v", code, out, errOut, sts)
	}
	if want := "mastodon: posted " + srv.URL() + "/@pitweet_demo/" + sts[0].ID + "\n"; out != want {
		t.Errorf("post printed %q, want %q", out, want)
	}
	if len(e.x.Tweets()) != 0 {
		t.Error("--to mastodon posted to X")
	}

	// 550 characters: more than 500, the limit before the server's is
	// known, within the server's 600.
	long := strings.Repeat("a", 550)
	out, errOut, code = e.pitweet("post", "--config", e.config, "--to", "mastodon", long)
	if code != 1 || !strings.Contains(out, "mastodon: failed: the text counts 550 characters as Mastodon counts them") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("too long: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}

	out, errOut, code = e.pitweet("post", "--config", e.config, "--to", "x,mastodon", "both")
	if code != 0 || !strings.HasPrefix(out, "x: posted ") || !strings.Contains(out, "\nmastodon: posted https://") {
		t.Errorf("post to both: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if n := len(srv.Statuses()); n != 2 {
		t.Errorf("%d statuses, want 2", n)
	}
}

func TestE2EPostToMastodonRefused(t *testing.T) {
	t.Parallel()
	e, srv := newMastodonE2E(t, "", "wrong-token", func(s *fakemastodon.Server) { s.MaxCharacters = 60 })
	out, errOut, code := e.pitweet("post", "--config", e.config, "--to", "mastodon", "hello")
	if code != 1 || !strings.Contains(out, "mastodon: failed: Mastodon answered 401") || !strings.Contains(errOut, "mastodon_token") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("bad token: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}

	// The server refuses what it counts longer than its limit (60), its
	// limit not known: the instance document does not answer.
	e2, srv2 := newMastodonE2E(t, "", "", func(s *fakemastodon.Server) {
		s.MaxCharacters = 60
		if err := s.SetFault(fakemastodon.Fault{Mode: fakemastodon.Mode503, Path: "/api/v2/instance"}); err != nil {
			t.Fatal(err)
		}
	})
	out, errOut, code = e2.pitweet("post", "--config", e2.config, "--to", "mastodon", strings.Repeat("long ", 20))
	if code != 1 || !strings.Contains(errOut, "422") || !strings.Contains(errOut, "Validation failed: Text character limit of 60 exceeded") {
		t.Errorf("422: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if len(srv.Statuses())+len(srv2.Statuses()) != 0 {
		t.Error("a refused post made a status")
	}
}

// pitweet check --online asks Mastodon whose the token is and reads the
// server's limits.
func TestE2ECheckOnlineMastodon(t *testing.T) {
	t.Parallel()
	e, srv := newMastodonE2E(t, "", "", func(s *fakemastodon.Server) { s.MaxCharacters = 20 })
	out, errOut, code := e.pitweet("check", "--config", e.config, "--online", "--fake")
	host := strings.TrimPrefix(srv.URL(), "https://")
	for _, want := range []string{
		"ok    mastodon account @pitweet_demo@" + host + " (id " + fakemastodon.DemoAccount.ID + "), posting public\n",
		"ok    mastodon limits: 20 characters (a link counts 23), 4 pictures of at most 16 MiB, alt text up to 1500 characters\n",
		"FAIL  template button mailbox text on mastodon: 37 characters with sample readings, more than this server's 20; shorten the text",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check --online lacks\n%s\ngot (exit %d)\n%s%s", want, code, out, errOut)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1 for the template too long", code)
	}
}

// pitweet explain --to mastodon prints the exact request bytes, the token
// masked, and with --image the upload's multipart layout.
func TestE2EExplainMastodon(t *testing.T) {
	t.Parallel()
	e, srv := newMastodonE2E(t, "", "", nil)
	host := strings.TrimPrefix(srv.URL(), "https://")
	photo := filepath.Join(e.dir, "door.png")
	if err := os.WriteFile(photo, testPNG(t, 40, 30), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.pitweet("explain", "--config", e.config, "--to", "mastodon", "--image", photo, "--alt", "The door", "Door opened")
	if code != 0 {
		t.Fatalf("explain: exit %d\n%s%s", code, out, errOut)
	}
	masked := "pitw" + strings.Repeat("*", len(fakemastodon.DemoAccount.Token)-4)
	for _, want := range []string{
		"   POST /api/v2/media HTTP/1.1⏎\n   Host: " + host + "⏎\n",
		"   Content-Type: multipart/form-data; boundary=pitweet-EXPLAINED-BOUNDARY⏎\n",
		"   Authorization: Bearer " + masked + "⏎\n",
		"   Content-Disposition: form-data; name=\"description\"⏎\n   ⏎\n   The door⏎\n",
		"   Content-Disposition: form-data; name=\"file\"; filename=\"picture.png\"⏎\n   Content-Type: image/png⏎\n",
		"   POST /api/v1/statuses HTTP/1.1⏎\n",
		"   Idempotency-Key: pitweet-",
		`   {"status":"Door opened","media_ids":["ID1"],"visibility":"public"}` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks\n%s\ngot\n%s", want, out)
		}
	}
	if strings.Contains(out, fakemastodon.DemoAccount.Token) {
		t.Error("explain printed the token")
	}
	out, _, _ = e.pitweet("explain", "--config", e.config, "--to", "mastodon", "--show-secrets", "hi")
	if !strings.Contains(out, "Authorization: Bearer "+fakemastodon.DemoAccount.Token+"⏎") {
		t.Errorf("--show-secrets does not show the token:\n%s", out)
	}
	if len(srv.Requests()) != 0 {
		t.Errorf("explain sent %d requests", len(srv.Requests()))
	}
	_, errOut, code = e.pitweet("explain", "--config", e.config, "--to", "mastodon", strings.Repeat("b", 501))
	if code != 1 || !strings.Contains(errOut, "the text counts 501 characters as Mastodon counts them") {
		t.Errorf("too long: exit %d, %q", code, errOut)
	}
}

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pitweet post --image: each picture fitted to the server's limits (in a
// directory of its own, removed after: nothing is written beside the
// user's files), uploaded with its alt text, attached to the one status.
func TestE2EPostImagesToMastodon(t *testing.T) {
	t.Parallel()
	e, srv := newMastodonE2E(t, "", "", func(s *fakemastodon.Server) { s.ImageMatrixLimit = 100 * 100 })
	pics := t.TempDir()
	big, small := filepath.Join(pics, "big.png"), filepath.Join(pics, "small.png")
	if err := os.WriteFile(big, testPNG(t, 400, 300), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(small, testPNG(t, 20, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.pitweet("post", "--config", e.config, "--to", "mastodon", "--image", big, "--alt", "A wide view", "--image", small, "two pictures")
	if code != 0 || !strings.HasPrefix(out, "mastodon: posted https://") {
		t.Fatalf("post: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	sts, media := srv.Statuses(), srv.Media()
	if len(sts) != 1 || len(sts[0].MediaIDs) != 2 || len(media) != 2 {
		t.Fatalf("statuses %+v, media %+v", sts, media)
	}
	if m := media[0]; m.Description != "A wide view" || m.Width*m.Height > 100*100 || m.Width <= m.Height {
		t.Errorf("first picture %+v, want it fitted within 100×100 pixels, wider than high, with its alt text", m)
	}
	if m := media[1]; m.Description != "" || m.Width != 20 || m.Height != 10 || m.Size != int(fileSize(t, small)) {
		t.Errorf("second picture %+v, want it as it was", m)
	}
	if entries, _ := os.ReadDir(pics); len(entries) != 2 {
		t.Errorf("the pictures' directory has %d files, want the 2 given", len(entries))
	}

	_, errOut, code = e.pitweet("post", "--config", e.config, "--to", "mastodon", "--image", filepath.Join(pics, "none.png"), "x")
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "none.png") {
		t.Errorf("a missing picture: exit %d, %q", code, errOut)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
