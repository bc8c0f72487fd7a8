package bluesky

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pitweet/fakebsky"
	"pitweet/sender"
)

// server starts a fakebsky on loopback over TLS, with set applied first,
// and returns it with the path of its CA.
func server(t *testing.T, set func(*fakebsky.Server)) (*fakebsky.Server, string) {
	t.Helper()
	srv := fakebsky.New()
	if set != nil {
		set(srv)
	}
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

// client makes a client of the demo account on srv, keeping its session
// in stateDir ("" for none).
func client(t *testing.T, srv *fakebsky.Server, ca, stateDir string) *Client {
	t.Helper()
	c, err := New(Config{Service: srv.URL(), Handle: fakebsky.DemoAccount.Handle, AppPassword: fakebsky.DemoAccount.AppPassword,
		CAFile: ca, StateDir: stateDir, Langs: []string{"en"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var created = time.Date(2026, 12, 1, 23, 4, 5, 678_901_234, time.UTC)

func post(text string) Post {
	id := "1764630245678901234"
	return Post{Text: text, Created: created, Rkey: RecordKey(id, created)}
}

func paths(reqs []fakebsky.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, strings.TrimPrefix(r.Path, "/xrpc/com.atproto."))
	}
	return out
}

func TestPostMakesTheRecord(t *testing.T) {
	srv, ca := server(t, nil)
	c := client(t, srv, ca, "")
	p := post("Doorbell at 23:04 — see https://example.com/cam.")
	res, err := c.Post(context.Background(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "https://bsky.app/profile/" + fakebsky.DemoAccount.Handle + "/post/" + p.Rkey
	if res.URL != want || res.Found || !strings.HasSuffix(res.URI, "/app.bsky.feed.post/"+p.Rkey) {
		t.Errorf("result %+v, want URL %s, a new record", res, want)
	}
	posts := srv.Posts()
	if len(posts) != 1 || posts[0].Text != p.Text || posts[0].Rkey != p.Rkey {
		t.Fatalf("server has %+v", posts)
	}
	reqs := srv.Requests()
	if got := paths(reqs); strings.Join(got, " ") != "server.createSession repo.createRecord" {
		t.Errorf("requests %q, want createSession then createRecord", got)
	}
	// The exact body: the record's fields in order, the facet's offsets
	// in bytes (the dash is 3 bytes of UTF-8: 26, not 24), its trailing "." left out.
	wantBody := `{"repo":"did:plc:pitweetdemoaaaaaaaaaaaaa","collection":"app.bsky.feed.post","rkey":"` + p.Rkey + `",` +
		`"record":{"$type":"app.bsky.feed.post","text":"Doorbell at 23:04 — see https://example.com/cam.","createdAt":"2026-12-01T23:04:05.678Z","langs":["en"],` +
		`"facets":[{"index":{"byteStart":26,"byteEnd":49},"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://example.com/cam"}]}]}}`
	if reqs[1].Body != wantBody {
		t.Errorf("createRecord body\n%s\nwant\n%s", reqs[1].Body, wantBody)
	}
	if got := reqs[1].Header.Get("Authorization"); !strings.HasPrefix(got, "Bearer ") {
		t.Errorf("createRecord Authorization %q, want a bearer token", got)
	}
	var v struct{ Facets []json.RawMessage }
	json.Unmarshal(posts[0].Value, &v)
	if len(v.Facets) != 1 {
		t.Errorf("stored record %s, want one facet", posts[0].Value)
	}
}

func TestBadAppPassword(t *testing.T) {
	srv, ca := server(t, nil)
	c, err := New(Config{Service: srv.URL(), Handle: fakebsky.DemoAccount.Handle, AppPassword: "wrong-pass-word-here", CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Post(context.Background(), post("hello"), false)
	var e *sender.APIError
	if !errors.As(err, &e) || e.Kind != sender.KindUnauthorized || !strings.Contains(err.Error(), "bluesky_app_password") {
		t.Fatalf("err = %v, want unauthorized naming bluesky_app_password", err)
	}
	if len(srv.Posts()) != 0 {
		t.Error("a post was made")
	}
	if st := c.Status(); st.LoggedIn || !strings.Contains(st.Session, "login refused") {
		t.Errorf("status %+v, want the refused login", st)
	}
}

// A lost answer to createRecord (the server stores the post and resets the
// connection) is followed by getRecord, which finds the post: delivered,
// once.
func TestResetAfterAcceptFindsThePost(t *testing.T) {
	srv, ca := server(t, nil)
	c := client(t, srv, ca, "")
	if err := srv.SetFault(fakebsky.Fault{Mode: fakebsky.ModeResetAfterAccept, Count: 1}); err != nil {
		t.Fatal(err)
	}
	p := post("once only")
	res, err := c.Post(context.Background(), p, false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || len(srv.Posts()) != 1 {
		t.Errorf("result %+v with %d posts, want the post found, one post", res, len(srv.Posts()))
	}
}

// A retry of a post already made meets the duplicate answer of each kind
// of server: 500 (the PDS today), 400 and 409 RecordAlreadyExists; each is
// confirmed with getRecord and counted delivered, and no second post is
// made.
func TestDuplicateAnswersAreConfirmed(t *testing.T) {
	for _, status := range []int{500, 400, 409} {
		t.Run(http(status), func(t *testing.T) {
			srv, ca := server(t, func(s *fakebsky.Server) { s.DuplicateStatus = status })
			c := client(t, srv, ca, "")
			p := post("posted once")
			if _, err := c.Post(context.Background(), p, false); err != nil {
				t.Fatal(err)
			}
			// Not told it was tried: createRecord meets the record.
			res, err := c.Post(context.Background(), p, false)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Found || len(srv.Posts()) != 1 {
				t.Errorf("result %+v, %d posts; want found, one post", res, len(srv.Posts()))
			}
			reqs := srv.Requests()
			last := reqs[len(reqs)-2:]
			if last[0].Status != status || !strings.HasSuffix(last[1].Path, "getRecord") || last[1].Status != 200 {
				t.Errorf("last requests %+v, want createRecord answered %d then getRecord", last, status)
			}
			// Told it was tried: getRecord first, no createRecord.
			n := len(reqs)
			if res, err := c.Post(context.Background(), p, true); err != nil || !res.Found {
				t.Fatalf("tried again: %+v, %v", res, err)
			}
			if got := paths(srv.Requests()[n:]); strings.Join(got, " ") != "repo.getRecord" {
				t.Errorf("requests %q, want getRecord alone", got)
			}
		})
	}
}

func http(status int) string { return map[int]string{500: "500", 400: "400", 409: "409"}[status] }

// A record under the key with other content is not this post: a permanent
// error, nothing posted over it.
func TestCollisionIsPermanent(t *testing.T) {
	srv, ca := server(t, nil)
	c := client(t, srv, ca, "")
	p := post("first")
	if _, err := c.Post(context.Background(), p, false); err != nil {
		t.Fatal(err)
	}
	p.Text = "second"
	_, err := c.Post(context.Background(), p, false)
	var e *sender.APIError
	if !errors.As(err, &e) || e.Kind != sender.KindPermanent || !strings.Contains(err.Error(), "different post") {
		t.Fatalf("err = %v, want a permanent collision", err)
	}
}

// A 500 with no record made leaves the post to be tried again later.
func TestServerErrorIsTransient(t *testing.T) {
	srv, ca := server(t, nil)
	c := client(t, srv, ca, "")
	if err := srv.SetFault(fakebsky.Fault{Mode: fakebsky.Mode500, Count: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Post(context.Background(), post("later"), false)
	if !errors.Is(err, sender.ErrTransient) {
		t.Fatalf("err = %v, want transient", err)
	}
	if res, err := c.Post(context.Background(), post("later"), true); err != nil || res.Found {
		t.Fatalf("retry: %+v, %v; want a new post", res, err)
	}
	if len(srv.Posts()) != 1 {
		t.Errorf("%d posts, want 1", len(srv.Posts()))
	}
}

func TestRateLimited(t *testing.T) {
	srv, ca := server(t, nil)
	c := client(t, srv, ca, "")
	if err := srv.SetFault(fakebsky.Fault{Mode: fakebsky.Mode429, Count: 1, Reset: 90 * time.Second}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	_, err := c.Post(context.Background(), post("limited"), false)
	var e *sender.APIError
	if !errors.As(err, &e) || e.Kind != sender.KindRateLimited {
		t.Fatalf("err = %v, want rate limited", err)
	}
	if wait := e.RetryAt.Sub(before); wait < 80*time.Second || wait > 100*time.Second {
		t.Errorf("retry at %s, %s from now; want about 90s (Retry-After)", e.RetryAt, wait)
	}
	if rl := c.Status().RateLimit; !rl.Known() || rl.Remaining != 0 {
		t.Errorf("rate limit %+v, want the 429's, none remaining", rl)
	}
}

// An expired access token (400 ExpiredToken) is renewed with the refresh
// token, which is kept in the state directory, and the post made.
func TestExpiredAccessTokenIsRefreshed(t *testing.T) {
	now := time.Now()
	clock := &now
	srv, ca := server(t, func(s *fakebsky.Server) { s.Now = func() time.Time { return *clock } })
	dir := t.TempDir()
	c := client(t, srv, ca, dir)
	if _, err := c.Post(context.Background(), post("one"), false); err != nil {
		t.Fatal(err)
	}
	kept := readKept(t, dir)
	later := now.Add(3 * time.Hour)
	clock = &later
	p := post("two")
	p.Rkey = RecordKey("1764630245678901999", created)
	if _, err := c.Post(context.Background(), p, false); err != nil {
		t.Fatal(err)
	}
	got := paths(srv.Requests())
	if strings.Join(got, " ") != "server.createSession repo.createRecord repo.createRecord server.refreshSession repo.createRecord" {
		t.Errorf("requests %q, want the expired token refreshed and the post sent again", got)
	}
	if again := readKept(t, dir); again.Refresh == kept.Refresh || again.DID != fakebsky.DemoAccount.DID {
		t.Errorf("kept session not renewed: %+v", again)
	}
	if fi, err := os.Stat(filepath.Join(dir, SessionFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("session file: %v, %v; want mode 0600", fi, err)
	}
}

func readKept(t *testing.T, dir string) sessionFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, SessionFile))
	if err != nil {
		t.Fatal(err)
	}
	var f sessionFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// A new client (a restart) uses the kept refresh token, not the app
// password; a kept token that was spent already (the process killed after
// the server rotated it, before the new one was written) is refused, and
// the app password logs in again.
func TestRestartUsesTheKeptSession(t *testing.T) {
	srv, ca := server(t, nil)
	dir := t.TempDir()
	first := client(t, srv, ca, dir)
	if _, err := first.Post(context.Background(), post("before"), false); err != nil {
		t.Fatal(err)
	}
	first.Close()
	spent, err := os.ReadFile(filepath.Join(dir, SessionFile))
	if err != nil {
		t.Fatal(err)
	}

	second := client(t, srv, ca, dir)
	p := post("after a restart")
	p.Rkey = RecordKey("1764630245678902000", created)
	if _, err := second.Post(context.Background(), p, false); err != nil {
		t.Fatal(err)
	}
	n := len(srv.Requests())
	got := paths(srv.Requests())[2:]
	if strings.Join(got, " ") != "server.refreshSession repo.createRecord" {
		t.Errorf("after the restart %q, want refreshSession then createRecord", got)
	}

	// Put back the token the second client spent: the server refuses it.
	if err := os.WriteFile(filepath.Join(dir, SessionFile), spent, 0o600); err != nil {
		t.Fatal(err)
	}
	third := client(t, srv, ca, dir)
	p.Rkey = RecordKey("1764630245678902001", created)
	if _, err := third.Post(context.Background(), p, false); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()[n:]
	if got := paths(reqs); strings.Join(got, " ") != "server.refreshSession server.createSession repo.createRecord" {
		t.Errorf("with a spent token %q, want it refused, a login, the post", got)
	}
	if reqs[0].Status != 400 {
		t.Errorf("the spent token was answered %d, want 400", reqs[0].Status)
	}
	if len(srv.Posts()) != 3 {
		t.Errorf("%d posts, want 3", len(srv.Posts()))
	}
}

// A session file planted by someone else (a link, garbage) is not used:
// the app password logs in, and the file is replaced.
func TestPlantedSessionFile(t *testing.T) {
	srv, ca := server(t, nil)
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(`{"refresh_jwt":"x"}`), 0o600)
	if err := os.Symlink(secret, filepath.Join(dir, SessionFile)); err != nil {
		t.Fatal(err)
	}
	c := client(t, srv, ca, dir)
	if _, err := c.Post(context.Background(), post("planted"), false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, SessionFile)); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("session file %v, %v: want a regular file in place of the link", fi, err)
	}
	if data, _ := os.ReadFile(secret); string(data) != `{"refresh_jwt":"x"}` {
		t.Error("the link's target was written")
	}
}

// The session's didDoc names the PDS; without a didDoc the service itself
// takes the posts.
func TestWithoutDIDDoc(t *testing.T) {
	srv, ca := server(t, func(s *fakebsky.Server) { s.OmitDIDDoc = true })
	c := client(t, srv, ca, "")
	if _, err := c.Post(context.Background(), post("no didDoc"), false); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.PDS != srv.URL() {
		t.Errorf("posts go to %q, want the service %q", st.PDS, srv.URL())
	}
}

func TestTooLongIsPermanent(t *testing.T) {
	srv, ca := server(t, nil)
	c := client(t, srv, ca, "")
	_, err := c.Post(context.Background(), post(strings.Repeat("é", 301)), false)
	var e *sender.APIError
	if !errors.As(err, &e) || e.Kind != sender.KindPermanent || !strings.Contains(err.Error(), "301 characters") {
		t.Fatalf("err = %v, want a permanent refusal counting 301 characters", err)
	}
	if len(srv.Requests()) != 0 {
		t.Error("a request was sent")
	}
}

// writeJPEG writes a w×h JPEG to a file and returns its Image.
func writeJPEG(t *testing.T, w, h int, alt string) Image {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pic.jpg")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return Image{Path: path, Type: "image/jpeg", Size: int64(b.Len()), Alt: alt, Width: w, Height: h}
}

// Pictures are uploaded as they are (raw bytes, their type), and the post
// embeds each blob as the server answered it, with its alt text and aspect
// ratio.
func TestPostWithImages(t *testing.T) {
	srv, ca := server(t, nil)
	c := client(t, srv, ca, "")
	p := post("two pictures")
	p.Images = []Image{writeJPEG(t, 320, 240, "a test card"), writeJPEG(t, 100, 100, "")}
	if _, err := c.Post(context.Background(), p, false); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if got := strings.Join(paths(reqs), " "); got != "server.createSession repo.uploadBlob repo.uploadBlob repo.createRecord" {
		t.Fatalf("requests %s", got)
	}
	if ct := reqs[1].Header.Get("Content-Type"); ct != "image/jpeg" || reqs[1].BodySize != int(p.Images[0].Size) {
		t.Errorf("upload: Content-Type %q, %d bytes; want image/jpeg, %d", ct, reqs[1].BodySize, p.Images[0].Size)
	}
	posts := srv.Posts()
	if len(posts) != 1 || len(posts[0].Images) != 2 {
		t.Fatalf("posts %+v", posts)
	}
	data, _ := os.ReadFile(p.Images[0].Path)
	if !bytes.Equal(srv.BlobData(fakebsky.DemoAccount.DID, posts[0].Images[0]), data) {
		t.Error("the first blob is not the first picture's bytes")
	}
	var v struct {
		Embed struct {
			Type   string `json:"$type"`
			Images []struct {
				Alt         string
				AspectRatio struct{ Width, Height int }
			}
		}
	}
	if err := json.Unmarshal(posts[0].Value, &v); err != nil {
		t.Fatal(err)
	}
	if v.Embed.Type != "app.bsky.embed.images" || len(v.Embed.Images) != 2 ||
		v.Embed.Images[0].Alt != "a test card" || v.Embed.Images[0].AspectRatio != (struct{ Width, Height int }{4, 3}) ||
		v.Embed.Images[1].Alt != "" || v.Embed.Images[1].AspectRatio != (struct{ Width, Height int }{1, 1}) {
		t.Errorf("embed %+v", v.Embed)
	}
}

// A picture over the server's limit is refused at createRecord, for good.
func TestImageTooLargeIsPermanent(t *testing.T) {
	srv, ca := server(t, func(s *fakebsky.Server) { s.ImageLimit = 1000 })
	c := client(t, srv, ca, "")
	p := post("too large")
	p.Images = []Image{writeJPEG(t, 320, 240, "big")}
	_, err := c.Post(context.Background(), p, false)
	var e *sender.APIError
	if !errors.As(err, &e) || e.Kind != sender.KindPermanent || !strings.Contains(err.Error(), "too big") {
		t.Fatalf("err = %v, want a permanent refusal of the blob", err)
	}
}

func TestBlobCIDIsTheServers(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{0xff}, 100_000)} {
		if got, want := BlobCID(data), fakebsky.BlobCID(data); got != want {
			t.Errorf("BlobCID = %s, fakebsky says %s", got, want)
		}
	}
}

// The session's DID document names the account's PDS: the posts go there,
// the sessions to the service.
func TestPostsGoToThePDS(t *testing.T) {
	// The server under its other name stands for a PDS apart from the
	// entryway; its port is chosen first, for the didDoc to name it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	pds := "https://localhost:" + port
	srv := fakebsky.New()
	srv.ServiceEndpoint = pds
	if err := srv.StartTLS(addr); err != nil {
		t.Skipf("the port chosen was taken meanwhile: %v", err)
	}
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	c := client(t, srv, ca, "")
	if _, err := c.Post(context.Background(), post("to the PDS"), false); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Header.Get("Host") != addr || reqs[1].Header.Get("Host") != "localhost:"+port {
		t.Errorf("requests %+v: want createSession to %s, createRecord to localhost:%s", reqs, addr, port)
	}
	if st := c.Status(); st.PDS != pds {
		t.Errorf("status says posts go to %q, want %q", st.PDS, pds)
	}
}
