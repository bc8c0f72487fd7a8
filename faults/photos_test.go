package faults

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"pitweet/fakex"
	"pitweet/outbox"
)

// The photo campaign: every press of the button takes a photo (the
// simulated camera, as `run --fake` has it), and the daemon posts it to
// the X emulator by upload, alt text and post, while the emulator
// misbehaves and the daemon is killed with SIGKILL at random moments:
// before the upload, between the upload and the post (a slow post), after
// the post was accepted but before its answer arrived (reset after
// accept), or with the media ids refused as expired. Every press must be
// on X exactly once, with its photo whole; none lost, none doubled, none
// refused.
var photoScenarios = []scenario{
	{name: "none"},
	{name: "slow post", fault: fakex.Fault{Mode: fakex.ModeSlow, Delay: 500 * time.Millisecond}},
	{name: "reset-after-accept", fault: fakex.Fault{Mode: fakex.ModeResetAfterAccept}},
	{name: "media-expired", fault: fakex.Fault{Mode: fakex.ModeMediaExpired, Count: 2}},
	{name: "503", fault: fakex.Fault{Mode: fakex.Mode503}},
	{name: "stall mid-stream", stall: true},
}

const photoTrialsPer = 3

func TestPhotoCampaign(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the campaign builds the pitweet binary and needs the go command")
	}
	c := newCampaign(t)
	cfg, err := os.ReadFile(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, "photo = [\"rpicam-still\", \"-n\", \"-t\", \"1\", \"-o\", \"-\"]\nalt = 'Photo of {{.Button}}'\n"...)
	if err := os.WriteFile(c.cfg, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	c.rng = rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d", seed)

	var order []scenario
	for range photoTrialsPer {
		order = append(order, photoScenarios...)
	}
	c.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	c.start()
	for i, s := range order {
		if err := c.trial(i, s); err != nil {
			c.failWithLog("trial %d (%s): %v", i+1, s.name, err)
		}
	}
	c.stop()

	accepted := map[string]int{}
	for _, tw := range c.x.Tweets() {
		accepted[tw.Text]++
		if _, ok := c.pressed[tw.Text]; !ok {
			t.Errorf("the emulator accepted %q, which nobody pressed", tw.Text)
			continue
		}
		if len(tw.Media) != 1 {
			t.Errorf("%q (%s) posted with %d pictures, want its photo", tw.Text, c.pressed[tw.Text], len(tw.Media))
			continue
		}
		m := tw.Media[0]
		img, err := jpeg.Decode(bytes.NewReader(m.Data))
		if err != nil || img.Bounds().Dx() != 1280 || img.Bounds().Dy() != 720 || m.Alt != "Photo of bell" {
			t.Errorf("%q's photo: %v, %v, alt %q", tw.Text, err, img.Bounds(), m.Alt)
		}
	}
	var lost, doubled int
	for text, sc := range c.pressed {
		switch n := accepted[text]; {
		case n == 0:
			lost++
			t.Errorf("lost: %q (%s)", text, sc)
		case n > 1:
			doubled++
			t.Errorf("doubled: %q (%s) accepted %d times", text, sc, n)
		}
	}
	box, err := outbox.Open(c.state, nil)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := box.DeadLetters()
	box.Close()
	if err != nil || len(dead) != 0 {
		t.Errorf("dead letters %+v (%v); want none", dead, err)
	}
	uploads, posts, dups := 0, 0, 0
	for _, r := range c.x.Requests() {
		switch {
		case r.Path == "/2/media/upload" && r.Status == 200:
			uploads++
		case r.Path == "/2/tweets":
			posts++
			if strings.Contains(r.Reason, "duplicate of an accepted tweet") {
				dups++
			}
		}
	}
	t.Logf("photo campaign: %d trials; presses %d, posted with their photo %d, doubled %d, lost %d; uploads accepted %d (re-uploads %d), post requests %d, of them recognised as duplicates after a lost answer %d",
		len(order), len(c.pressed), len(c.x.Tweets()), doubled, lost, uploads, uploads-len(c.x.Tweets()), posts, dups)
	fmt.Printf("photo campaign: pressed %d, posted %d, doubled %d, lost %d, uploads %d\n", len(c.pressed), len(c.x.Tweets()), doubled, lost, uploads)
}
