package faults

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/emulator"
	"pitweet/fakebsky"
	"pitweet/fakex"
)

// The Bluesky campaign runs the release build of the daemon posting every
// press to X and to Bluesky (fakebsky), each behind its own proxy. In each
// trial one of them misbehaves while the other is healthy, and the daemon
// is killed with SIGKILL at random moments, before and after the fault
// clears. The healthy destination must post every press of the trial while
// the other still misbehaves, and in the end every press must be on each
// destination exactly once: 0 lost, 0 doubled, on each. It runs once for
// each way a server answers a second record under the same key: 500 (the
// PDS today), 400 and 409 RecordAlreadyExists.

// A bskyScenario is how the faulty destination misbehaves.
type bskyScenario struct {
	name   string
	on     string // "bluesky" or "x"
	fault  emulator.Fault
	down   bool // the proxy refuses every connection
	stall  bool // the proxy cuts the answer after an accepted post
	expire bool // fakebsky's clock jumps past the access token's life
	blocks bool // nothing can be posted there while it lasts
}

var bskyScenarios = []bskyScenario{
	{name: "down", on: "bluesky", down: true, blocks: true},
	{name: "503", on: "bluesky", fault: emulator.Fault{Mode: fakebsky.Mode503}, blocks: true},
	{name: "hang", on: "bluesky", fault: emulator.Fault{Mode: fakebsky.ModeHang}, blocks: true},
	{name: "429", on: "bluesky", fault: emulator.Fault{Mode: fakebsky.Mode429, Reset: 2 * time.Second, Count: 2}},
	{name: "slow", on: "bluesky", fault: emulator.Fault{Mode: fakebsky.ModeSlow, Delay: 400 * time.Millisecond}},
	{name: "reset-after-accept", on: "bluesky", fault: emulator.Fault{Mode: fakebsky.ModeResetAfterAccept, Count: 2}},
	{name: "stall mid-stream", on: "bluesky", stall: true},
	{name: "access token expired", on: "bluesky", expire: true},
	{name: "down", on: "x", down: true, blocks: true},
	{name: "503", on: "x", fault: emulator.Fault{Mode: fakex.Mode503}, blocks: true},
}

// bskyEndpoint is one destination's emulator and the proxy in front of it.
type bskyEndpoint struct {
	name     string
	proxy    *stallProxy
	texts    func() []string // the texts posted, in order
	setFault func(emulator.Fault) error
}

func TestCampaignBluesky(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the campaign builds the pitweet binary and needs the go command")
	}
	if testing.Short() {
		t.Skip("the Bluesky campaign takes minutes")
	}
	bin := filepath.Join(t.TempDir(), "pitweet")
	if out, err := exec.Command("go", "build", "-o", bin, "pitweet/cmd/pitweet").CombinedOutput(); err != nil {
		t.Fatalf("build pitweet: %v\n%s", err, out)
	}
	for _, dup := range []int{500, 400, 409} {
		t.Run(fmt.Sprintf("duplicate answered %d", dup), func(t *testing.T) {
			c, eps, bsky := newBlueskyCampaign(t, bin, dup)
			seed := uint64(time.Now().UnixNano())
			c.rng = rand.New(rand.NewPCG(seed, seed>>2))
			t.Logf("seed %d", seed)
			order := slices.Clone(bskyScenarios)
			c.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			c.start()
			for i, s := range order {
				faulty, healthy := eps[1], eps[0]
				if s.on == "x" {
					faulty, healthy = eps[0], eps[1]
				}
				if err := bskyTrial(c, faulty, healthy, bsky, s); err != nil {
					c.failWithLog("trial %d (%s on %s): %v", i+1, s.name, s.on, err)
				}
			}
			c.stop()
			countBluesky(c, eps, bsky, dup)
		})
	}
}

// blueskyClock is fakebsky's clock: ours, moved on by jumps.
type blueskyClock struct{ ahead atomic.Int64 }

func (k *blueskyClock) now() time.Time { return time.Now().Add(time.Duration(k.ahead.Load())) }

// newBlueskyCampaign starts fakex and fakebsky (answering a duplicate
// record with dup), each behind a proxy, and writes the config and keys
// for both.
func newBlueskyCampaign(t *testing.T, bin string, dup int) (*campaign, []*bskyEndpoint, *fakebsky.Server) {
	dir := t.TempDir()
	c := &campaign{t: t, dir: dir, bin: bin, pressed: map[string]string{}}
	x := fakex.New(fakex.DemoCredentials)
	if err := x.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	clock := &blueskyClock{}
	bsky := fakebsky.New()
	bsky.Now = clock.now
	bsky.DuplicateStatus = dup
	if err := bsky.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bsky.Close() })
	c.x = x
	xp, err := newStallProxy(strings.TrimPrefix(x.URL(), "https://"), func() int { return len(x.Tweets()) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(xp.close)
	bp, err := newStallProxy(strings.TrimPrefix(bsky.URL(), "https://"), func() int { return len(bsky.Posts()) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bp.close)
	eps := []*bskyEndpoint{
		{name: "x", proxy: xp, setFault: func(f emulator.Fault) error {
			return x.SetFault(fakex.Fault{Mode: f.Mode, Count: f.Count, Reset: f.Reset, Delay: f.Delay})
		}, texts: func() []string {
			var out []string
			for _, tw := range x.Tweets() {
				out = append(out, tw.Text)
			}
			return out
		}},
		{name: "bluesky", proxy: bp, setFault: func(f emulator.Fault) error {
			if f.Mode == "expire" {
				clock.ahead.Add(int64(3 * time.Hour))
				return nil
			}
			return bsky.SetFault(f)
		}, texts: func() []string {
			var out []string
			for _, p := range bsky.Posts() {
				out = append(out, p.Text)
			}
			return out
		}},
	}
	xca, bca := filepath.Join(dir, "x-ca.pem"), filepath.Join(dir, "bsky-ca.pem")
	creds := filepath.Join(dir, "credentials")
	k := fakex.DemoCredentials
	if err := errors.Join(x.WriteCA(xca), bsky.WriteCA(bca), os.WriteFile(creds, []byte(fmt.Sprintf(
		"api_key=%s\napi_secret=%s\naccess_token=%s\naccess_secret=%s\nbluesky_app_password=%s\n",
		k.ConsumerKey, k.ConsumerSecret, k.Token, k.TokenSecret, fakebsky.DemoAccount.AppPassword)), 0o600)); err != nil {
		t.Fatal(err)
	}
	c.state = filepath.Join(dir, "state")
	c.socket = filepath.Join(dir, "run", daemon.SocketName)
	c.cfg = filepath.Join(dir, "pitweet.toml")
	config := fmt.Sprintf(`state_dir = %q

[x]
base_url = "https://%s"
ca_file = %q
credentials = %q

[bluesky]
service = "https://%s"
handle = %q
ca_file = %q

[hardware]
mode = "fake"

[[button]]
name = "bell"
pin = "GPIO17"
text = "bell {{.Time.UnixNano}}"
`, c.state, xp.addr(), xca, creds, bp.addr(), fakebsky.DemoAccount.Handle, bca)
	if err := os.WriteFile(c.cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return c, eps, bsky
}

// setBskyFault makes ep misbehave as s says; the zero scenario clears it.
func setBskyFault(ep *bskyEndpoint, s bskyScenario) error {
	ep.proxy.setDown(s.down)
	ep.proxy.stalling.Store(s.stall)
	if s.expire {
		return ep.setFault(emulator.Fault{Mode: "expire"})
	}
	return ep.setFault(s.fault)
}

// bskyTrial is destTrial for X and Bluesky: presses with faulty
// misbehaving and a kill at a random moment among them; every press on
// healthy while the fault lasts; then the fault cleared, another kill at a
// random moment of the catching up, and the outbox emptied.
func bskyTrial(c *campaign, faulty, healthy *bskyEndpoint, bsky *fakebsky.Server, s bskyScenario) error {
	if err := setBskyFault(faulty, s); err != nil {
		return err
	}
	presses := 1 + c.rng.IntN(4)
	killAfter := c.rng.IntN(presses + 1)
	var texts []string
	for p := 0; p <= presses; p++ {
		if p == killAfter {
			// Not a wait for an event: the moment of the kill, at random.
			time.Sleep(time.Duration(c.rng.IntN(700)) * time.Millisecond)
			c.kill()
			c.start()
		}
		if p == presses {
			break
		}
		text, err := c.press(s.name + " on " + faulty.name)
		if err != nil {
			return err
		}
		texts = append(texts, text)
	}
	if err := waitTexts(c, healthy, texts, 30*time.Second); err != nil {
		return fmt.Errorf("the healthy destination %s: %w", healthy.name, err)
	}
	if s.blocks {
		if got := countOf(faulty.texts(), texts); got > 0 {
			return fmt.Errorf("%s posted %d presses while it was %s", faulty.name, got, s.name)
		}
	}
	if err := setBskyFault(faulty, bskyScenario{}); err != nil {
		return err
	}
	time.Sleep(time.Duration(c.rng.IntN(500)) * time.Millisecond) // a random moment of the catching up
	c.kill()
	c.start()
	return c.waitEmpty(90 * time.Second)
}

func countOf(posted, texts []string) int {
	n := 0
	for _, p := range posted {
		if slices.Contains(texts, p) {
			n++
		}
	}
	return n
}

func waitTexts(c *campaign, ep *bskyEndpoint, texts []string, within time.Duration) error {
	return c.waitPresses(func() int { return countOf(ep.texts(), texts) }, len(texts), within)
}

// countBluesky checks that every press is on each destination exactly
// once, and that nothing was given up.
func countBluesky(c *campaign, eps []*bskyEndpoint, bsky *fakebsky.Server, dup int) {
	t := c.t
	c.noDeadLetters()
	dupAnswers, confirmed, logins := 0, 0, 0
	for _, r := range bsky.Requests() {
		switch {
		case strings.HasSuffix(r.Path, "createRecord") && r.Status == dup && r.Fault == "":
			dupAnswers++
		case strings.HasSuffix(r.Path, "getRecord") && r.Status == 200:
			confirmed++
		case strings.HasSuffix(r.Path, "createSession"):
			logins++
		}
	}
	for _, ep := range eps {
		accepted, _, doubled, lost, unknown := c.tally(ep.name, ep.texts())
		t.Logf("Bluesky campaign (duplicate record answered %d), %s: pressed %d, accepted %d, doubled %d, lost %d, never pressed %d; answers cut mid-stream %d",
			dup, ep.name, len(c.pressed), accepted, doubled, lost, unknown, ep.proxy.stalled.Load())
		fmt.Printf("bluesky campaign dup=%d, %s: pressed %d, accepted %d, doubled %d, lost %d\n",
			dup, ep.name, len(c.pressed), accepted, doubled, lost)
	}
	t.Logf("Bluesky: %d createRecord answered %d for a record already there, %d posts found by getRecord, %d logins with the app password",
		dupAnswers, dup, confirmed, logins)
	fmt.Printf("bluesky campaign dup=%d: duplicate answers %d, found by getRecord %d, logins %d\n", dup, dupAnswers, confirmed, logins)
}
