package sender

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pitweet/fakex"
	"pitweet/oauth"
)

// writePNG writes a w×h PNG of a gradient to dir/name and returns its path.
func writePNG(t testing.TB, dir, name string, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeGIF writes an animated GIF of frames w×h frames, of noise so that
// it does not compress, and returns its path.
func writeGIF(t testing.TB, dir string, w, h, frames int) string {
	t.Helper()
	g := &gif.GIF{}
	seed := uint32(1)
	for range frames {
		p := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
		for i := range p.Pix {
			seed = seed*1664525 + 1013904223
			p.Pix[i] = uint8(seed >> 24)
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "anim.gif")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The upload's bytes with a fixed boundary, nonce and timestamp: the
// header block exactly, the multipart framing exactly, the file's bytes
// elided with their size. The signature covers the oauth_* parameters
// only: it verifies with no body parameters at all.
func TestBuildUploadGolden(t *testing.T) {
	dir := t.TempDir()
	path := writePNG(t, dir, "chart.png", 16, 16)
	im, err := ImageFile(path, "A test chart")
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Proxy: "none", UserAgent: "pitweet/1.0.0"}, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.BuildUpload("Room report", []Image{im}, goldenNonce, goldenTimestamp, "pitweet-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Steps) != 3 {
		t.Fatalf("%d steps, want upload, alt text, post", len(up.Steps))
	}
	size := im.Size
	framing := "--pitweet-0123456789abcdef\r\n" +
		"Content-Disposition: form-data; name=\"media_category\"\r\n\r\n" +
		"tweet_image\r\n" +
		"--pitweet-0123456789abcdef\r\n" +
		"Content-Disposition: form-data; name=\"media\"; filename=\"chart.png\"\r\n" +
		"Content-Type: image/png\r\n\r\n"
	closing := "\r\n--pitweet-0123456789abcdef--\r\n"
	want := "POST /2/media/upload HTTP/1.1\r\n" +
		"Host: api.x.com\r\n" +
		"User-Agent: pitweet/1.0.0\r\n" +
		"Accept: application/json\r\n" +
		"Content-Type: multipart/form-data; boundary=pitweet-0123456789abcdef\r\n" +
		"Content-Length: " + itoa(int64(len(framing))+size+int64(len(closing))) + "\r\n" +
		`Authorization: OAuth oauth_consumer_key="xvz1evFTYgLQxtP3N72r0n3c", oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", oauth_signature="` + goldenUploadSignature + `", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", oauth_token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", oauth_version="1.0"` + "\r\n" +
		"Connection: close\r\n\r\n" +
		framing + "[" + itoa(size) + " bytes: chart.png, not shown]" + closing
	if got := string(up.Steps[0].Prepared.Request); got != want {
		t.Errorf("upload request differs\ngot:  %q\nwant: %q", got, want)
	}
	auth := up.Steps[0].Prepared.Breakdown.Header
	if _, err := oauth.Verify("POST", "https://api.x.com/2/media/upload", auth, nil, testCreds.ConsumerSecret, testCreds.TokenSecret); err != nil {
		t.Errorf("the upload's signature does not verify over the oauth_* parameters alone: %v", err)
	}
	// A signature over the multipart fields would be another one.
	withFields := []oauth.Param{{Name: "media_category", Value: "tweet_image"}}
	if _, err := oauth.Verify("POST", "https://api.x.com/2/media/upload", auth, withFields, testCreds.ConsumerSecret, testCreds.TokenSecret); err == nil {
		t.Error("the signature also verifies with media_category signed")
	}
	if strings.Contains(up.Steps[0].Prepared.Breakdown.BaseString, "media_category") {
		t.Error("the base string holds a multipart field")
	}

	alt := string(up.Steps[1].Prepared.Request)
	if !strings.HasPrefix(alt, "POST /2/media/metadata HTTP/1.1\r\n") ||
		!strings.HasSuffix(alt, "\r\n\r\n"+`{"id":"MEDIA_ID_1","metadata":{"alt_text":{"text":"A test chart"}}}`) {
		t.Errorf("alt text request:\n%s", alt)
	}
	post := string(up.Steps[2].Prepared.Request)
	if !strings.HasPrefix(post, "POST /2/tweets HTTP/1.1\r\n") ||
		!strings.HasSuffix(post, "\r\n\r\n"+`{"text":"Room report","media":{"media_ids":["MEDIA_ID_1"]}}`) {
		t.Errorf("post request:\n%s", post)
	}
}

// goldenUploadSignature is the signature of POST
// https://api.x.com/2/media/upload with the golden nonce and timestamp and
// no other parameter, recomputed in TestGoldenUploadSignatureByHand.
const goldenUploadSignature = "edxowjbqr3A%2B%2FfQtBzKGZO5kQGY%3D"

func TestGoldenUploadSignatureByHand(t *testing.T) {
	params := "oauth_consumer_key=xvz1evFTYgLQxtP3N72r0n3c&oauth_nonce=kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg&oauth_signature_method=HMAC-SHA1&oauth_timestamp=1318622958&oauth_token=370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb&oauth_version=1.0"
	base := "POST&" + oauth.Encode("https://api.x.com/2/media/upload") + "&" + oauth.Encode(params)
	sig := hmacSHA1(oauth.Encode(testCreds.ConsumerSecret)+"&"+oauth.Encode(testCreds.TokenSecret), base)
	if got := oauth.Encode(sig); got != goldenUploadSignature {
		t.Errorf("signature by hand %s, golden %s", got, goldenUploadSignature)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func hmacSHA1(key, base string) string {
	m := hmac.New(sha1.New, []byte(key))
	m.Write([]byte(base))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// okJSON is a 200 answer with body.
func okJSON(body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// The upload sent for real: the body, read by net/http's multipart reader
// as an oracle, holds media_category and the file's exact bytes, its
// length is the Content-Length, and the signature verifies without the
// body.
func TestUploadImageOnTheWire(t *testing.T) {
	dir := t.TempDir()
	path := writePNG(t, dir, "photo.png", 64, 48)
	data, _ := os.ReadFile(path)
	c, d := newPipeClient(t, "v2",
		okJSON(`{"data":{"id":"1880028106020515840","media_key":"3_1880028106020515840","expires_after_secs":86400}}`),
		okJSON(`{"data":{"id":"1880028106020515840","associated_metadata":{}}}`))
	im, err := ImageFile(path, "Two people at the door")
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	m, err := c.UploadImage(context.Background(), im)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "1880028106020515840" || m.Expires.Before(before.Add(86399*time.Second)) {
		t.Errorf("media %+v", m)
	}
	s := d.next(t)
	if s.verifyErr != nil {
		t.Fatalf("signature: %v", s.verifyErr)
	}
	if s.req.URL.Path != "/2/media/upload" || s.req.ContentLength != int64(len(s.body)) || s.req.TransferEncoding != nil {
		t.Errorf("%s, Content-Length %d for %d bytes, %v", s.req.URL.Path, s.req.ContentLength, len(s.body), s.req.TransferEncoding)
	}
	mt, params, err := mime.ParseMediaType(s.req.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("Content-Type %q", s.req.Header.Get("Content-Type"))
	}
	r := multipart.NewReader(bytes.NewReader(s.body), params["boundary"])
	var names []string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		names = append(names, p.FormName())
		switch p.FormName() {
		case "media_category":
			if string(b) != "tweet_image" {
				t.Errorf("media_category %q", b)
			}
		case "media":
			if !bytes.Equal(b, data) || p.FileName() != "photo.png" || p.Header.Get("Content-Type") != "image/png" {
				t.Errorf("media part: %d bytes (file %d), %q, %q", len(b), len(data), p.FileName(), p.Header.Get("Content-Type"))
			}
		}
	}
	if strings.Join(names, ",") != "media_category,media" {
		t.Errorf("parts %v, want media_category then media", names)
	}
	s = d.next(t)
	if s.verifyErr != nil || s.req.URL.Path != "/2/media/metadata" ||
		string(s.body) != `{"id":"1880028106020515840","metadata":{"alt_text":{"text":"Two people at the door"}}}` {
		t.Errorf("metadata request %s %q (%v)", s.req.URL.Path, s.body, s.verifyErr)
	}
}

// Against fakex over TLS: a picture in one request, an animated GIF by the
// chunked flow (several segments, STATUS while processing), alt texts,
// and the post with both ids; then a refused file, an expired id, and a
// picture over the limit.
func TestUploadsAgainstFakex(t *testing.T) {
	srv := fakex.New(testCreds)
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{BaseURL: srv.URL(), CAFile: ca, Proxy: "none"}, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()

	photo, _ := ImageFile(writePNG(t, dir, "photo.png", 200, 100), "A photo")
	m1, err := c.UploadImage(ctx, photo)
	if err != nil {
		t.Fatal(err)
	}
	animPath := writeGIF(t, dir, 640, 480, 8)
	anim, err := ImageFile(animPath, "An animation")
	if err != nil {
		t.Fatal(err)
	}
	if !anim.Animated || anim.Size <= ChunkSize {
		t.Fatalf("test GIF: animated %v, %d bytes; want animated and more than one segment", anim.Animated, anim.Size)
	}
	m2, err := c.UploadImage(ctx, anim)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PostMedia(ctx, "both", []string{m1.ID, m2.ID}); err == nil || !strings.Contains(err.Error(), "animated GIF goes alone") {
		t.Errorf("a GIF with a photo: %v", err)
	}
	tw, err := c.PostMedia(ctx, "a GIF", []string{m2.ID})
	if err != nil {
		t.Fatal(err)
	}
	tw2, err := c.PostMedia(ctx, "a photo", []string{m1.ID})
	if err != nil {
		t.Fatal(err)
	}
	tweets := srv.Tweets()
	if len(tweets) != 2 || tweets[0].ID != tw.ID || tweets[1].ID != tw2.ID {
		t.Fatalf("tweets %+v", tweets)
	}
	gifData, _ := os.ReadFile(animPath)
	if g := tweets[0].Media; len(g) != 1 || !g[0].Chunked || g[0].Frames != 8 || g[0].Alt != "An animation" || !bytes.Equal(g[0].Data, gifData) || g[0].Category != "tweet_gif" {
		t.Errorf("the GIF as fakex holds it: %+v", g)
	}
	if p := tweets[1].Media; len(p) != 1 || p[0].Chunked || p[0].Width != 200 || p[0].Alt != "A photo" || p[0].Type != "image/png" {
		t.Errorf("the photo as fakex holds it: %+v", p)
	}
	var paths []string
	for _, r := range srv.Requests() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	segments := (anim.Size + ChunkSize - 1) / ChunkSize
	wantAppends := strings.Repeat("POST /2/media/upload/"+m2.ID+"/append ", int(segments))
	got := strings.Join(paths, " ") + " "
	if !strings.Contains(got, "POST /2/media/upload/initialize "+wantAppends+"POST /2/media/upload/"+m2.ID+"/finalize GET /2/media/upload POST /2/media/metadata ") {
		t.Errorf("requests: %s", got)
	}

	// A file that is not a picture: a permanent refusal with X's reason.
	junk := filepath.Join(dir, "junk.png")
	os.WriteFile(junk, []byte("\x89PNG\r\n\x1a\n this is not really a PNG at all"), 0o600)
	_, err = c.UploadImage(ctx, Image{Path: junk, Type: "image/png", Size: 40})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Kind != KindPermanent || !strings.Contains(err.Error(), "media type unrecognized") {
		t.Errorf("junk upload: %v", err)
	}

	// An expired id: the post's refusal says to upload again.
	srv.ExpireMedia()
	_, err = c.PostMedia(ctx, "late", []string{m1.ID})
	if !errors.Is(err, ErrMediaRefused) || !errors.As(err, &apiErr) || apiErr.Kind != KindPermanent {
		t.Errorf("expired media id: %v", err)
	}
	if _, err := c.PostMedia(ctx, "five", []string{"1", "2", "3", "4", "5"}); err == nil || !strings.Contains(err.Error(), "at most 4") {
		t.Errorf("five pictures: %v", err)
	}
}

func TestClipAltText(t *testing.T) {
	long := strings.Repeat("a", 999) + "🐍🐍"
	if got := ClipAltText(long); got != strings.Repeat("a", 999) {
		t.Errorf("clip of 999 + 2 emoji: %d bytes", len(got))
	}
	if got := ClipAltText("short"); got != "short" {
		t.Errorf("short text changed: %q", got)
	}
}

func TestParseMediaAnswer(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tt := range []struct {
		body, id, state string
		wait            time.Duration
		expires         time.Time
		bad             string
	}{
		{body: `{"data":{"id":"1880028106020515840","media_key":"3_1","expires_after_secs":86400}}`, id: "1880028106020515840", expires: now.Add(24 * time.Hour)},
		{body: `{"data":{"id":"12","processing_info":{"state":"pending","check_after_secs":3}}}`, id: "12", state: "pending", wait: 3 * time.Second},
		{body: `{"data":{"id":"12","processing_info":{"state":"in_progress","check_after_secs":600}}}`, id: "12", state: "in_progress", wait: maxPollWait},
		{body: `{"data":{"id":"12","processing_info":{"state":"failed","error":{"message":"InvalidMedia"}}}}`, bad: "InvalidMedia"},
		{body: `{"data":{"id":"12","processing_info":{"state":"odd"}}}`, bad: "unknown processing state"},
		{body: `{"data":{"id":"12345678901234567890"}}`, bad: "no media id"},
		{body: `{"data":{"id":"12a"}}`, bad: "no media id"},
		{body: `{"errors":[]}`, bad: "no media id"},
		{body: `[1,2]`, bad: "not JSON"},
	} {
		m, state, wait, err := ParseMediaAnswer([]byte(tt.body), now)
		if tt.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("%s: err %v, want %q", tt.body, err, tt.bad)
			}
			continue
		}
		if err != nil || m.ID != tt.id || state != tt.state || wait != tt.wait || !m.Expires.Equal(tt.expires) {
			t.Errorf("%s: %+v %q %v %v", tt.body, m, state, wait, err)
		}
	}
}

func FuzzParseMediaAnswer(f *testing.F) {
	f.Add([]byte(`{"data":{"id":"1880028106020515840","media_key":"3_1880028106020515840","expires_after_secs":86400,"size":100,"image":{"image_type":"image/png","w":16,"h":16}}}`))
	f.Add([]byte(`{"data":{"id":"1","processing_info":{"state":"pending","check_after_secs":-5}}}`))
	f.Add([]byte(`{"data":{"id":"1","expires_after_secs":9223372036854775807}}`))
	f.Add([]byte(`{"data":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		now := time.Unix(1_700_000_000, 0)
		m, state, wait, err := ParseMediaAnswer(body, now)
		if err != nil {
			return
		}
		if !validMediaID(m.ID) {
			t.Fatalf("accepted media id %q", m.ID)
		}
		if wait < 0 || wait > maxPollWait || (state == "") != (wait == 0) {
			t.Fatalf("state %q, wait %v", state, wait)
		}
		if !m.Expires.IsZero() && !m.Expires.After(now) {
			t.Fatalf("expires %v, not after now", m.Expires)
		}
	})
}

// An upload is given time for its size on a slow uplink, on top of the
// transport's timeout; other requests keep the transport's.
func TestUploadTimeout(t *testing.T) {
	c, err := New(Config{Proxy: "none", Timeout: 20 * time.Second}, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	path := writePNG(t, t.TempDir(), "p.png", 32, 32)
	im, _ := ImageFile(path, "")
	k, _, err := uploadCall(im, "")
	if err != nil {
		t.Fatal(err)
	}
	req, _, err := c.request(c.signer(), k)
	if err != nil {
		t.Fatal(err)
	}
	if want := 20*time.Second + time.Duration(im.Size)*time.Second/MinUploadRate; req.Timeout != want {
		t.Errorf("upload timeout %v, want %v", req.Timeout, want)
	}
	if got := UploadTime(5_000_000); got < 2*time.Minute || got > 3*time.Minute {
		t.Errorf("5 MB are given %v", got)
	}
	k, err = metadataCall("1", "alt")
	if err != nil {
		t.Fatal(err)
	}
	if req, _, _ := c.request(c.signer(), k); req.Timeout != 0 {
		t.Errorf("alt text request timeout %v, want the transport's", req.Timeout)
	}
}
