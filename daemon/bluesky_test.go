package daemon

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pitweet/config"
	"pitweet/fakebsky"
	"pitweet/media"
	"pitweet/outbox"
)

// A picture over Bluesky's 1,000,000 bytes is made to fit by the delivery
// loop, beside the original in the outbox, and a later attempt uses that
// version as it is; the post carries it with its alt text and the aspect
// ratio of the picture.
func TestBlueskyFitsALargePicture(t *testing.T) {
	srv := fakebsky.New()
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	// Noise does not compress: a PNG of several MB.
	img := image.NewRGBA(image.Rect(0, 0, 1600, 900))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32())
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	img.Set(0, 0, color.RGBA{1, 2, 3, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if b.Len() <= 1_000_000 {
		t.Fatalf("the picture is %d bytes, not over the limit", b.Len())
	}
	box, err := outbox.Open(filepath.Join(dir, "state"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	m, err := box.Put(outbox.Message{Text: "noise", To: []string{"bluesky"}}, []outbox.NewImage{{Data: b.Bytes(), Alt: "static"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Bluesky: config.BlueskyConfig{Service: srv.URL(), Handle: fakebsky.DemoAccount.Handle, CAFile: ca}}
	dest, err := newBlueskyDestination("bluesky", cfg, config.Credentials{BlueskyAppPassword: fakebsky.DemoAccount.AppPassword}, destOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dest.Close()
	lim, err := dest.PictureLimits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pics, err := fitPictures(context.Background(), box, m, "bluesky", lim)
	if err != nil {
		t.Fatal(err)
	}
	p := Post{ID: m.ID, Text: m.Text, Created: m.Created, Images: pics}
	rc, err := dest.Post(context.Background(), p, 0)
	if err != nil {
		t.Fatal(err)
	}
	variant := pics[0].Path
	info, err := media.Probe(variant)
	if err != nil || info.Size > 1_000_000 || !strings.Contains(filepath.Base(variant), ".bluesky.") {
		t.Fatalf("variant %s %+v, %v: want Bluesky's version under 1,000,000 bytes", variant, info, err)
	}
	posts := srv.Posts()
	if len(posts) != 1 || len(posts[0].Images) != 1 || rc.Ref == "" {
		t.Fatalf("posts %+v, receipt %+v", posts, rc)
	}
	blob := srv.BlobData(fakebsky.DemoAccount.DID, posts[0].Images[0])
	data, _ := os.ReadFile(variant)
	if !bytes.Equal(blob, data) {
		t.Error("the blob is not the variant")
	}
	if !bytes.Contains(posts[0].Value, []byte(`"aspectRatio":{"height":9,"width":16}`)) || !bytes.Contains(posts[0].Value, []byte(`"alt":"static"`)) {
		t.Errorf("record %s, want alt and a 16:9 aspect ratio", posts[0].Value)
	}
	// The next attempt (as after a lost answer) uses the same version and
	// finds the post.
	fi, _ := os.Stat(variant)
	again, err := fitPictures(context.Background(), box, m, "bluesky", lim)
	if err != nil || again[0].Path != variant {
		t.Fatalf("fitted again: %+v, %v", again, err)
	}
	if _, err := dest.Post(context.Background(), Post{ID: m.ID, Text: m.Text, Created: m.Created, Images: again}, 1); err != nil {
		t.Fatal(err)
	}
	if fi2, _ := os.Stat(variant); !fi2.ModTime().Equal(fi.ModTime()) || len(srv.Posts()) != 1 {
		t.Error("the variant was made again, or a second post made")
	}
}
