package main

import (
	"bytes"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pitweet/budget"
	"pitweet/fakex"
)

// writeTestPNG writes a w×h PNG to dir/name: a gradient, or noise (which
// does not compress) when noisy.
func writeTestPNG(t testing.TB, dir, name string, w, h int, noisy bool) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	seed := uint32(7)
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(x), uint8(y), uint8(x + y), 255}
			if noisy {
				seed = seed*1664525 + 1013904223
				c = color.NRGBA{uint8(seed >> 24), uint8(seed >> 16), uint8(seed >> 8), 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The real binary posts pictures to fakex over TLS: one with its alt
// text, four in order, one too large for X scaled to fit first, and the
// ids X refuses as expired uploaded again; a file that is not a picture,
// or a fifth picture, is refused before anything is sent, in one line.
func TestTweetImages(t *testing.T) {
	dir := t.TempDir()
	var pics []string
	for i := range 4 {
		pics = append(pics, writeTestPNG(t, dir, "pic"+string(rune('1'+i))+".png", 64+i, 48, false))
	}

	t.Run("one", func(t *testing.T) {
		x := startX(t, "v2", fakex.DemoCredentials)
		code, out, errOut := runPitweet(t, "tweet", "--config", x.config, "--image", pics[0], "--alt", "A gradient", "Look at this")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		tw := x.srv.Tweets()
		if len(tw) != 1 || strings.TrimSpace(out) != tw[0].ID || tw[0].Text != "Look at this" {
			t.Fatalf("tweets %+v, printed %q", tw, out)
		}
		m := tw[0].Media
		if len(m) != 1 || !bytes.Equal(m[0].Data, readBytes(t, pics[0])) || m[0].Alt != "A gradient" || m[0].Chunked {
			t.Errorf("media %+v", m)
		}
		var paths []string
		for _, r := range x.srv.Requests() {
			paths = append(paths, r.Method+" "+r.Path)
		}
		if got := strings.Join(paths, ", "); got != "POST /2/media/upload, POST /2/media/metadata, POST /2/tweets" {
			t.Errorf("requests: %s", got)
		}
	})

	t.Run("post", func(t *testing.T) {
		x := startX(t, "v2", fakex.DemoCredentials)
		code, out, errOut := runPitweet(t, "post", "--config", x.config, "--to", "x", "--image", pics[1], "--alt", "Posted", "By post")
		tw := x.srv.Tweets()
		if code != 0 || len(tw) != 1 || !strings.HasPrefix(out, "x: posted "+tw[0].ID) {
			t.Fatalf("exit %d, printed %q (%s); tweets %+v", code, out, errOut, tw)
		}
		if m := tw[0].Media; len(m) != 1 || m[0].Alt != "Posted" || !bytes.Equal(m[0].Data, readBytes(t, pics[1])) {
			t.Errorf("media %+v", m)
		}
	})

	t.Run("four", func(t *testing.T) {
		x := startX(t, "v2", fakex.DemoCredentials)
		args := []string{"tweet", "--config", x.config}
		for i, p := range pics {
			args = append(args, "--image", p)
			if i != 2 {
				args = append(args, "--alt", "picture "+string(rune('1'+i)))
			}
		}
		code, _, errOut := runPitweet(t, append(args, "Four")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		tw := x.srv.Tweets()
		if len(tw) != 1 || len(tw[0].Media) != 4 {
			t.Fatalf("tweets %+v", tw)
		}
		for i, m := range tw[0].Media {
			want := "picture " + string(rune('1'+i))
			if i == 2 {
				want = ""
			}
			if !bytes.Equal(m.Data, readBytes(t, pics[i])) || m.Alt != want {
				t.Errorf("picture %d: %d bytes, alt %q; want %s with alt %q", i+1, len(m.Data), m.Alt, pics[i], want)
			}
		}
	})

	t.Run("too large", func(t *testing.T) {
		x := startX(t, "v2", fakex.DemoCredentials)
		big := writeTestPNG(t, t.TempDir(), "big.png", 1600, 1100, true)
		if n := len(readBytes(t, big)); n <= 5_000_000 {
			t.Fatalf("test picture is %d bytes, not over X's 5 MB", n)
		}
		code, _, errOut := runPitweet(t, "tweet", "--config", x.config, "--image", big, "Big")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if !strings.Contains(errOut, "picture 1 ("+big+") encoded again as JPEG") || !strings.Contains(errOut, "to fit X's limits") {
			t.Errorf("stderr does not say how the picture was fitted: %q", errOut)
		}
		tw := x.srv.Tweets()
		if len(tw) != 1 || len(tw[0].Media) != 1 {
			t.Fatalf("tweets %+v", tw)
		}
		m := tw[0].Media[0]
		if m.Type != "image/jpeg" || m.Size > 5_000_000 || m.Width != 1600 || m.Height != 1100 {
			t.Errorf("uploaded %s %d bytes %dx%d", m.Type, m.Size, m.Width, m.Height)
		}
		if _, err := jpeg.Decode(bytes.NewReader(m.Data)); err != nil {
			t.Error(err)
		}
	})

	t.Run("animated GIF", func(t *testing.T) {
		x := startX(t, "v2", fakex.DemoCredentials)
		g := &gif.GIF{}
		seed := uint32(3)
		for range 6 {
			p := image.NewPaletted(image.Rect(0, 0, 600, 400), palette.Plan9)
			for i := range p.Pix {
				seed = seed*1664525 + 1013904223
				p.Pix[i] = uint8(seed >> 24)
			}
			g.Image, g.Delay = append(g.Image, p), append(g.Delay, 20)
		}
		var b bytes.Buffer
		if err := gif.EncodeAll(&b, g); err != nil {
			t.Fatal(err)
		}
		anim := filepath.Join(t.TempDir(), "anim.gif")
		os.WriteFile(anim, b.Bytes(), 0o644)
		code, _, errOut := runPitweet(t, "tweet", "--config", x.config, "--image", anim, "--alt", "Moving", "Animated")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		tw := x.srv.Tweets()
		if len(tw) != 1 || len(tw[0].Media) != 1 {
			t.Fatalf("tweets %+v", tw)
		}
		m := tw[0].Media[0]
		if !m.Chunked || m.Frames != 6 || m.Category != "tweet_gif" || m.Alt != "Moving" || !bytes.Equal(m.Data, b.Bytes()) {
			t.Errorf("GIF as X holds it: chunked %v, %d frames, %s, alt %q, %d bytes of %d", m.Chunked, m.Frames, m.Category, m.Alt, len(m.Data), b.Len())
		}
		appends := 0
		for _, r := range x.srv.Requests() {
			if strings.HasSuffix(r.Path, "/append") {
				appends++
			}
		}
		if want := (b.Len() + 1<<20 - 1) >> 20; appends != want {
			t.Errorf("%d APPENDs for %d bytes, want %d", appends, b.Len(), want)
		}
	})

	t.Run("expired", func(t *testing.T) {
		x := startX(t, "v2", fakex.DemoCredentials)
		if err := x.srv.SetFault(fakex.Fault{Mode: fakex.ModeMediaExpired, Count: 1}); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runPitweet(t, "tweet", "--config", x.config, "--image", pics[1], "--alt", "again", "Late")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		tw := x.srv.Tweets()
		if len(tw) != 1 || len(tw[0].Media) != 1 || tw[0].Media[0].Alt != "again" {
			t.Fatalf("tweets %+v", tw)
		}
		uploads := x.srv.Uploads()
		if len(uploads) != 2 || tw[0].Media[0].MediaID != uploads[1].MediaID {
			t.Errorf("uploads %d, posted %s; want the picture uploaded again and the new id posted", len(uploads), tw[0].Media[0].MediaID)
		}
	})

	t.Run("refused", func(t *testing.T) {
		x := startX(t, "v2", fakex.DemoCredentials)
		junk := filepath.Join(t.TempDir(), "notes.txt")
		os.WriteFile(junk, []byte("not a picture\n"), 0o644)
		// A PNG header over data that does not decode: pitweet reads the
		// header alone, X decodes the whole.
		broken := filepath.Join(t.TempDir(), "broken.png")
		good := readBytes(t, pics[0])
		os.WriteFile(broken, append(good[:60:60], bytes.Repeat([]byte{0xAA}, 200)...), 0o644)
		for _, tt := range []struct {
			args     []string
			code     int
			want     string
			requests int
		}{
			{[]string{"--image", junk, "Notes"}, 1, junk + " is not a JPEG, PNG, GIF or WebP picture; give a picture to --image", 0},
			{[]string{"--image", filepath.Join(dir, "missing.png"), "Gone"}, 1, "--image " + filepath.Join(dir, "missing.png") + ": media: open", 0},
			{[]string{"--image", pics[0], "--image", pics[1], "--image", pics[2], "--image", pics[3], "--image", pics[0], "Five"}, 2, "5 pictures; a post carries at most 4", 0},
			{[]string{"--alt", "first", "--image", pics[0], "Order"}, 2, "--alt describes the --image before it", 0},
			{[]string{"--api", "v1.1", "--image", pics[0], "Old API"}, 1, `daemon: the pictures cannot be posted with api = "v1.1": pictures are posted through X API v2; set api = "v2" in [x]`, 0},
			{[]string{"--image", broken, "Broken"}, 1, "X answered 400 Invalid Request: One or more parameters to your request was invalid. the PNG does not decode", 1},
		} {
			before := len(x.srv.Requests())
			code, _, errOut := runPitweet(t, append([]string{"tweet", "--config", x.config}, tt.args...)...)
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if code != tt.code || !strings.Contains(lines[0], tt.want) || (code == 1 && len(lines) != 1) {
				t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, errOut, tt.code, tt.want)
			}
			if n := len(x.srv.Requests()) - before; n != tt.requests {
				t.Errorf("%v: %d requests reached X, want %d", tt.args, n, tt.requests)
			}
		}
		if tw := x.srv.Tweets(); len(tw) != 0 {
			t.Errorf("tweets %+v", tw)
		}
	})
}

// explain --image shows the upload on the wire and sends nothing.
func TestExplainImage(t *testing.T) {
	dir := t.TempDir()
	pic := writeTestPNG(t, dir, "chart.png", 32, 16, false)
	size := len(readBytes(t, pic))
	x := startX(t, "v2", fakex.DemoCredentials)
	code, out, errOut := runPitweet(t, "explain", "--config", x.config, "--nonce", "abc", "--timestamp", "1318622958",
		"--boundary", "pitweet-fixed", "--image", pic, "--alt", "A chart", "Room report")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Request 1: picture 1: upload in one request (tweet_image, ",
		"   POST /2/media/upload HTTP/1.1⏎\n",
		"   Content-Type: multipart/form-data; boundary=pitweet-fixed⏎\n",
		"   --pitweet-fixed⏎\n   Content-Disposition: form-data; name=\"media_category\"⏎\n   ⏎\n   tweet_image⏎\n",
		"   Content-Disposition: form-data; name=\"media\"; filename=\"chart.png\"⏎\n   Content-Type: image/png⏎\n   ⏎\n",
		"   [" + strconv.Itoa(size) + " bytes: chart.png, not shown]⏎\n   --pitweet-fixed--⏎\n",
		"%2F2%2Fmedia%2Fupload&oauth_consumer_key%3D",
		"The multipart body is not signed. RFC 5849 section 3.4.1.3.1",
		"Request 2: picture 1: its alt text",
		`{"id":"MEDIA_ID_1","metadata":{"alt_text":{"text":"A chart"}}}`,
		"Request 3: the post, with the pictures' media ids",
		`{"text":"Room report","media":{"media_ids":["MEDIA_ID_1"]}}`,
		"Nothing was sent.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain --image lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "media_category%3D") {
		t.Error("the base string holds media_category")
	}
	if n := len(x.srv.Requests()); n != 0 {
		t.Errorf("explain sent %d requests", n)
	}
}

// Each alt text is a priced request on X (POST /2/media/metadata): tweet
// --image charges it with the post, keeps it when X set it, and releases
// what X did not act on.
func TestTweetImageSpend(t *testing.T) {
	x := startX(t, "v2", fakex.DemoCredentials)
	// The state directory, as the daemon leaves it: tweet records its
	// spend there.
	if err := os.Mkdir(filepath.Join(filepath.Dir(x.config), "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := writeTestPNG(t, dir, "a.png", 40, 30, false)
	b := writeTestPNG(t, dir, "b.png", 30, 40, false)
	code, _, errOut := runPitweet(t, "tweet", "--config", x.config, "--image", a, "--alt", "first", "--image", b, "Two pictures, one alt text")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	month := func() budget.Month {
		l, err := budget.Open(filepath.Join(filepath.Dir(x.config), "state"), budget.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		m, err := l.Month(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := month(); m.Posts() != 1 || m.Requests[budget.ItemMediaMetadata] != 1 {
		t.Fatalf("spend %+v; want one post and one alt text", m.Requests)
	}
	// Refused at the post (a duplicate of the text): the alt text X set
	// stays charged, the post is released.
	code, _, errOut = runPitweet(t, "tweet", "--config", x.config, "--image", a, "--alt", "again", "Two pictures, one alt text")
	if code != 1 || !strings.Contains(errOut, "duplicate") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if m := month(); m.Posts() != 1 || m.Requests[budget.ItemMediaMetadata] != 2 {
		t.Errorf("spend %+v after a refused post; want one post and two alt texts", m.Requests)
	}
}
