package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pitweet/bluesky"
	"pitweet/daemon"
	"pitweet/fakebsky"
	"pitweet/hw/fakehw"
)

// blueskyE2E is a daemon's rig posting to X and to a fakebsky.
type blueskyE2E struct {
	*e2e
	bsky  *fakebsky.Server
	shift atomic.Int64 // how far fakebsky's clock is ahead, in nanoseconds
}

// newBlueskyE2E is newE2E with [bluesky] configured on a fakebsky over TLS
// (set up by setup before it starts), the app password in the credentials
// file.
func newBlueskyE2E(t *testing.T, setup func(*fakebsky.Server)) *blueskyE2E {
	t.Helper()
	b := &blueskyE2E{bsky: fakebsky.New()}
	b.bsky.Now = func() time.Time { return time.Now().Add(time.Duration(b.shift.Load())) }
	if setup != nil {
		setup(b.bsky)
	}
	if err := b.bsky.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.bsky.Close() })
	dir := t.TempDir()
	ca := filepath.Join(dir, "bsky-ca.pem")
	if err := b.bsky.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	b.e2e = newE2E(t, "127.0.0.1:0", fmt.Sprintf("\n[bluesky]\nservice = %q\nhandle = %q\nca_file = %q\nlangs = [\"en\"]\n",
		b.bsky.URL(), fakebsky.DemoAccount.Handle, ca))
	f, err := os.OpenFile(filepath.Join(b.dir, "credentials"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "bluesky_app_password=%s\n", fakebsky.DemoAccount.AppPassword)
	f.Close()
	return b
}

func (b *blueskyE2E) waitPosts(n int) []fakebsky.Record {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	posts, err := b.bsky.WaitPosts(ctx, n)
	if err != nil {
		b.t.Fatalf("%v; posts so far: %d", err, len(b.bsky.Posts()))
	}
	return posts
}

func postTexts(posts []fakebsky.Record) []string {
	var out []string
	for _, p := range posts {
		out = append(out, p.Text)
	}
	return out
}

// xrpc lists the XRPC methods fakebsky was asked, "repo.createRecord".
func (b *blueskyE2E) xrpc() []string {
	var out []string
	for _, r := range b.bsky.Requests() {
		out = append(out, strings.TrimPrefix(r.Path, "/xrpc/com.atproto."))
	}
	return out
}

func TestE2EBlueskyPost(t *testing.T) {
	t.Parallel()
	b := newBlueskyE2E(t, nil)
	out, errOut, code := b.pitweet("post", "--config", b.config, "--to", "bluesky", "Hello from a Pi — https://example.com/pi")
	if code != 0 {
		t.Fatalf("post: exit %d\n%s%s", code, out, errOut)
	}
	posts := b.bsky.Posts()
	if len(posts) != 1 || len(b.x.Tweets()) != 0 {
		t.Fatalf("%d posts on Bluesky, %d on X; want 1 and 0", len(posts), len(b.x.Tweets()))
	}
	want := "bluesky: posted https://bsky.app/profile/" + fakebsky.DemoAccount.Handle + "/post/" + posts[0].Rkey + "\n"
	if out != want || !bluesky.ValidTID(posts[0].Rkey) {
		t.Errorf("post printed %q, want %q", out, want)
	}
	if !strings.Contains(string(posts[0].Value), `"facets":[{"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://example.com/pi"}],"index":{"byteEnd":42,"byteStart":20}}]`) {
		t.Errorf("record %s, want the link's facet", posts[0].Value)
	}
	// pitweet post keeps no session: the daemon's refresh token is its own.
	if _, err := os.Lstat(filepath.Join(b.dir, "state", bluesky.SessionFile)); err == nil {
		t.Error("pitweet post wrote the daemon's session file")
	}

	// Everywhere: one line each.
	out, errOut, code = b.pitweet("post", "--config", b.config, "to both")
	if code != 0 || !regexp.MustCompile(`^x: posted \d+[^\n]*\nbluesky: posted https://bsky\.app/profile/\S+/post/[2-7a-z]{13}\n$`).MatchString(out) {
		t.Errorf("post to both: exit %d\n%s%s", code, out, errOut)
	}
}

func TestE2EBlueskyPostRefused(t *testing.T) {
	t.Parallel()
	b := newBlueskyE2E(t, nil)
	long := strings.Repeat("🐦", 301)
	out, errOut, code := b.pitweet("post", "--config", b.config, "--to", "bluesky", long)
	if code != 1 || !strings.Contains(out, "bluesky: failed: the text counts 301 characters as Bluesky counts them") ||
		!strings.Contains(out, "the limit is 300: shorten it by 1") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("too long: exit %d\n%s%s", code, out, errOut)
	}

	b.both = append(b.both, "PITWEET_BLUESKY_APP_PASSWORD=wron-gpas-swor-dxxx")
	out, errOut, code = b.pitweet("post", "--config", b.config, "--to", "bluesky", "hello")
	if code != 1 || !strings.Contains(out, "bluesky: failed: Bluesky answered 401") || !strings.Contains(out, "bluesky_app_password") ||
		strings.Count(errOut, "\n") != 1 || strings.Contains(out+errOut, "wron-gpas") {
		t.Errorf("bad app password: exit %d\n%s%s", code, out, errOut)
	}
	if len(b.bsky.Posts()) != 0 {
		t.Errorf("%d posts made", len(b.bsky.Posts()))
	}
}

// The daemon posts each press to X and Bluesky; Bluesky down (503) holds
// back nothing on X, and once it is back it posts each press once, in
// order.
func TestE2EBlueskyDownThenBack(t *testing.T) {
	t.Parallel()
	b := newBlueskyE2E(t, func(s *fakebsky.Server) {
		s.SetFault(fakebsky.Fault{Mode: fakebsky.Mode503})
	})
	b.start()
	for range 4 {
		b.press("doorbell")
	}
	tweets := texts(b.waitTweets(4))
	b.waitStatus("bluesky backing off with four waiting", func(s *daemon.Status) bool {
		return len(s.Destinations) == 2 && s.Destinations[0].Queue == 0 && s.Destinations[1].Queue == 4 && s.Destinations[1].LastError != nil
	})
	if len(b.bsky.Posts()) != 0 {
		t.Fatal("posted while the server answered 503")
	}
	if err := b.bsky.SetFault(fakebsky.Fault{}); err != nil {
		t.Fatal(err)
	}
	posts := postTexts(b.waitPosts(4))
	b.waitStatus("the queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	if !slices.Equal(tweets, posts) || len(b.bsky.Posts()) != 4 {
		t.Fatalf("X took %q, Bluesky %q; want the same four, once each", tweets, postTexts(b.bsky.Posts()))
	}
	s := b.status()
	a := s.Destinations[1].Account
	if a == nil || !a.LoggedIn || a.RateLimit == nil || a.RateLimit.Remaining < 0 {
		t.Errorf("status of the account %+v, want logged in with rate limits", a)
	}
	out, _, _ := b.pitweet("status")
	if !regexp.MustCompile(`(?m)^  bluesky:\s+0 waiting; idle; last posted .*https://bsky\.app/profile/`).MatchString(out) ||
		!strings.Contains(out, "logged in as "+fakebsky.DemoAccount.Handle) {
		t.Errorf("pitweet status:\n%s", out)
	}
}

// A post whose answer is lost after the server stored it is not made
// twice, whichever way the server answers the retry's duplicate record key.
func TestE2EBlueskyLostAnswerPostedOnce(t *testing.T) {
	t.Parallel()
	for _, status := range []int{500, 400, 409} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			t.Parallel()
			b := newBlueskyE2E(t, func(s *fakebsky.Server) {
				s.DuplicateStatus = status
				// The answer lost twice: the daemon's own getRecord after
				// the first finds the post.
				s.SetFault(fakebsky.Fault{Mode: fakebsky.ModeResetAfterAccept, Count: 1})
			})
			b.start()
			b.press("doorbell")
			b.waitPosts(1)
			b.waitStatus("delivered everywhere", func(s *daemon.Status) bool { return s.Queue == 0 })
			if n := len(b.bsky.Posts()); n != 1 || b.status().DeadLetters != 0 {
				t.Fatalf("%d posts, %d dead letters; want 1 and 0\n%q", n, b.status().DeadLetters, b.xrpc())
			}
			// The daemon killed with the post made and the answer lost: the
			// restart finds it under the same key.
			b.kill()
			b.bsky.SetFault(fakebsky.Fault{Mode: fakebsky.ModeResetAfterAccept, Count: 1})
			b.start()
			b.press("doorbell")
			b.waitPosts(2)
			b.waitStatus("delivered everywhere", func(s *daemon.Status) bool { return s.Queue == 0 })
			if n := len(b.bsky.Posts()); n != 2 {
				t.Fatalf("%d posts, want 2", n)
			}
		})
	}
}

// An expired access token is renewed with the refresh token, and the
// restarted daemon uses the kept refresh token rather than the app
// password; a kept token that was spent already (killed after the server
// rotated it, before the new one was written) is refused, and the app
// password logs in again. Nothing is lost or posted twice.
func TestE2EBlueskySession(t *testing.T) {
	t.Parallel()
	b := newBlueskyE2E(t, nil)
	b.start()
	b.press("doorbell")
	b.waitPosts(1)
	session := filepath.Join(b.dir, "state", bluesky.SessionFile)
	spent, err := os.ReadFile(session)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(session); fi.Mode().Perm() != 0o600 {
		t.Errorf("session file mode %v, want 0600", fi.Mode().Perm())
	}

	b.shift.Store(int64(3 * time.Hour)) // past the access token's two hours
	b.press("doorbell")
	b.waitPosts(2)
	b.waitStatus("delivered everywhere", func(s *daemon.Status) bool { return s.Queue == 0 })
	if got := strings.Join(b.xrpc(), " "); got != "server.createSession repo.createRecord repo.createRecord server.refreshSession repo.createRecord" {
		t.Errorf("requests %s, want the expired token refreshed", got)
	}

	b.kill()
	n := len(b.bsky.Requests())
	b.start()
	b.press("doorbell")
	b.waitPosts(3)
	b.waitStatus("delivered everywhere", func(s *daemon.Status) bool { return s.Queue == 0 })
	if got := strings.Join(b.xrpc()[n:], " "); got != "server.refreshSession repo.createRecord" {
		t.Errorf("after a restart %s, want the kept refresh token used", got)
	}

	b.kill()
	if err := os.WriteFile(session, spent, 0o600); err != nil {
		t.Fatal(err)
	}
	n = len(b.bsky.Requests())
	b.start()
	b.press("doorbell")
	b.waitPosts(4)
	b.waitStatus("delivered everywhere", func(s *daemon.Status) bool { return s.Queue == 0 })
	if got := strings.Join(b.xrpc()[n:], " "); got != "server.refreshSession server.createSession repo.createRecord" {
		t.Errorf("with a spent refresh token %s, want it refused and a login", got)
	}
	if len(b.bsky.Posts()) != 4 || len(b.x.Tweets()) != 4 || b.status().DeadLetters != 0 {
		t.Errorf("%d posts, %d tweets, %d dead letters", len(b.bsky.Posts()), len(b.x.Tweets()), b.status().DeadLetters)
	}
}

// A rate-limited Bluesky waits as Retry-After says, shown in status, while
// X goes on.
func TestE2EBlueskyRateLimited(t *testing.T) {
	t.Parallel()
	b := newBlueskyE2E(t, func(s *fakebsky.Server) {
		s.SetFault(fakebsky.Fault{Mode: fakebsky.Mode429, Count: 1, Reset: time.Hour})
	})
	b.start()
	b.press("doorbell")
	b.press("doorbell")
	b.waitTweets(2)
	s := b.waitStatus("bluesky rate limited", func(s *daemon.Status) bool {
		return len(s.Destinations) == 2 && !s.Destinations[1].RateLimited.IsZero() && s.Destinations[0].Queue == 0
	})
	if wait := time.Until(s.Destinations[1].RateLimited); wait < 50*time.Minute || wait > 70*time.Minute {
		t.Errorf("rate limited until %s, want about an hour from now", s.Destinations[1].RateLimited)
	}
	if s.Destinations[0].Queue != 0 || s.Destinations[1].Queue != 2 || len(b.bsky.Posts()) != 0 {
		t.Errorf("status %+v", s.Destinations)
	}
}

// A press with a photo posts it on Bluesky too: uploaded, embedded with
// its alt text and aspect ratio.
func TestE2EBlueskyPhoto(t *testing.T) {
	t.Parallel()
	b := newBlueskyE2E(t, nil)
	f, err := os.OpenFile(b.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(porchButton)
	f.Close()
	b.start()
	out, errOut, code := b.pitweet("press", "porch")
	if code != 0 || !strings.Contains(out, "with a photo: 1280x720 jpeg") {
		t.Fatalf("press: exit %d\n%s%s", code, out, errOut)
	}
	posts := b.waitPosts(1)
	if len(posts[0].Images) != 1 {
		t.Fatalf("post %s, want one image", posts[0].Value)
	}
	v := string(posts[0].Value)
	if !strings.Contains(v, `"alt":"Photo taken when the porch button was pressed, at `) || !strings.Contains(v, `"aspectRatio":{"height":9,"width":16}`) {
		t.Errorf("record %s, want the photo's alt and 16:9", v)
	}
	if got := strings.Join(b.xrpc(), " "); got != "server.createSession repo.uploadBlob repo.createRecord" {
		t.Errorf("requests %s", got)
	}
}

// explain --to bluesky prints the exact bytes, the app password and the
// token masked, and sends nothing; with --image the upload too.
func TestE2EBlueskyExplain(t *testing.T) {
	t.Parallel()
	b := newBlueskyE2E(t, nil)
	pic := filepath.Join(b.dir, "card.jpg")
	card := testCardJPEG(t)
	if err := os.WriteFile(pic, card, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := b.pitweet("explain", "--config", b.config, "--to", "bluesky", "--image", pic, "--alt", "a test card", "Hello — https://example.com")
	if code != 0 {
		t.Fatalf("explain: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"   POST /xrpc/com.atproto.server.createSession HTTP/1.1⏎\n",
		"   Content-Length: 67⏎\n",
		`   {"identifier":"pitweet-demo.test","password":"****-****-****-****"}` + "\n",
		"   POST /xrpc/com.atproto.repo.uploadBlob HTTP/1.1⏎\n   Host: 127.0.0.1:",
		"   Content-Type: image/jpeg⏎\n   Content-Length: " + fmt.Sprint(len(card)) + "⏎\n   Authorization: Bearer <accessJwt from createSession's answer>⏎\n",
		fmt.Sprintf("   [%d bytes: %s, not shown]\n", len(card), pic),
		`"embed":{"$type":"app.bsky.embed.images","images":[{"alt":"a test card","image":{"$type":"blob","mimeType":"image/jpeg","ref":{"$link":"` + fakebsky.BlobCID(card) + `"},"size":` + fmt.Sprint(len(card)) + `},"aspectRatio":{"width":16,"height":9}}]}`,
		`"facets":[{"index":{"byteStart":10,"byteEnd":29},"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://example.com"}]}]`,
		"Nothing was sent.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, fakebsky.DemoAccount.AppPassword) || len(b.bsky.Requests()) != 0 {
		t.Error("explain showed the app password or sent a request")
	}
}

// check --online logs in with the app password and says what it cost;
// a wrong one fails with one line.
func TestE2EBlueskyCheckOnline(t *testing.T) {
	t.Parallel()
	b := newBlueskyE2E(t, nil)
	out, errOut, code := b.pitweet("check", "--config", b.config, "--online")
	if code != 0 || !strings.Contains(out, "bluesky the app password logs in as pitweet-demo.test (did:plc:pitweetdemoaaaaaaaaaaaaa)") ||
		!strings.Contains(out, "cost nothing") {
		t.Fatalf("check --online: exit %d\n%s%s", code, out, errOut)
	}
	if got := strings.Join(b.xrpc(), " "); got != "server.createSession" {
		t.Errorf("requests %s, want createSession alone", got)
	}
	b.both = append(b.both, "PITWEET_BLUESKY_APP_PASSWORD=wron-gpas-swor-dxxx")
	out, errOut, code = b.pitweet("check", "--config", b.config, "--online")
	if code != 1 || !strings.Contains(out+errOut, "bluesky_app_password") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("check --online with a wrong app password: exit %d\n%s%s", code, out, errOut)
	}
}

// post --image posts the picture with its alt text; one too large for
// Bluesky is made to fit in a directory of its own, not beside the file.
func TestE2EBlueskyPostImage(t *testing.T) {
	t.Parallel()
	b := newBlueskyE2E(t, func(s *fakebsky.Server) { s.ImageLimit = fakebsky.DocumentedImageLimit })
	dir := t.TempDir()
	// Noise does not compress: a PNG of about 4 MB.
	img := image.NewNRGBA(image.Rect(0, 0, 1200, 900))
	r := rand.New(rand.NewPCG(3, 4))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32()) | 0x80
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	pic := filepath.Join(dir, "noise.png")
	if err := os.WriteFile(pic, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := b.pitweet("post", "--config", b.config, "--to", "bluesky", "--image", pic, "--alt", "the test card", "with a picture")
	if code != 0 || !strings.HasPrefix(out, "bluesky: posted https://bsky.app/profile/") {
		t.Fatalf("post --image: exit %d\n%s%s", code, out, errOut)
	}
	posts := b.bsky.Posts()
	if len(posts) != 1 || len(posts[0].Images) != 1 || !strings.Contains(string(posts[0].Value), `"alt":"the test card"`) {
		t.Fatalf("posts %+v", posts)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files beside the picture, want it alone", len(entries))
	}
	blobs := b.bsky.Blobs()
	if len(blobs) != 1 || blobs[0].Size > fakebsky.DocumentedImageLimit || blobs[0].Size >= buf.Len() || blobs[0].Width*3 != blobs[0].Height*4 {
		t.Errorf("blob %+v, want the %d-byte picture made smaller than %d bytes, 4:3", blobs, buf.Len(), fakebsky.DocumentedImageLimit)
	}
}

func testCardJPEG(t *testing.T) []byte {
	t.Helper()
	card, err := fakehw.TestCard(0, 0, 1, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return card
}
