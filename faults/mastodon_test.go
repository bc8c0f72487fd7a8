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
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/fakemastodon"
	"pitweet/fakex"
)

// The X and Mastodon campaign runs the release build of the daemon posting
// every press to X and to Mastodon, each emulator behind its own proxy. In
// each trial one of them misbehaves (down, failing, hung, rate limited,
// slow, reset after accepting, cut mid-answer) while the other is healthy,
// and the daemon is killed with SIGKILL at random moments, before and
// after the fault clears. The healthy one must post every press of the
// trial while the other misbehaves; in the end every press must be on each
// exactly once: 0 lost, 0 doubled, on each. On Mastodon a repeat is
// recognised by its Idempotency-Key, not by a duplicate refusal.

// A mixScenario is a misbehaviour both emulators know.
type mixScenario struct {
	name   string
	mode   string
	count  int
	reset  time.Duration
	delay  time.Duration
	down   bool // the proxy refuses every connection
	stall  bool // the proxy cuts the answer after an accepted post
	blocks bool // nothing can be posted while it lasts
}

var mixScenarios = []mixScenario{
	{name: "down", down: true, blocks: true},
	{name: "503", mode: fakex.Mode503, blocks: true},
	{name: "hang", mode: fakex.ModeHang, blocks: true},
	{name: "429", mode: fakex.Mode429, reset: 2 * time.Second, count: 2},
	{name: "slow", mode: fakex.ModeSlow, delay: 400 * time.Millisecond},
	{name: "reset-after-accept", mode: fakex.ModeResetAfterAccept, count: 2},
	{name: "stall mid-stream", stall: true},
}

// mixTrialsPer is how many trials each scenario gets: 4 × 7 = 28.
const mixTrialsPer = 4

// mixEndpoint is one destination: its emulator and the proxy before it.
type mixEndpoint struct {
	name   string
	proxy  *stallProxy
	x      *fakex.Server        // for "x"
	masto  *fakemastodon.Server // for "mastodon"
	posted func() []acceptedPost
}

type acceptedPost struct {
	text string
	at   time.Time
}

func (ep *mixEndpoint) setFault(s mixScenario) error {
	ep.proxy.setDown(s.down)
	ep.proxy.stalling.Store(s.stall)
	if ep.x != nil {
		return ep.x.SetFault(fakex.Fault{Mode: s.mode, Count: s.count, Reset: s.reset, Delay: s.delay})
	}
	return ep.masto.SetFault(fakemastodon.Fault{Mode: s.mode, Count: s.count, Reset: s.reset, Delay: s.delay})
}

func (ep *mixEndpoint) postedOf(texts []string) int {
	n := 0
	for _, p := range ep.posted() {
		if slices.Contains(texts, p.text) {
			n++
		}
	}
	return n
}

func TestCampaignXAndMastodon(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the campaign builds the pitweet binary and needs the go command")
	}
	if testing.Short() {
		t.Skip("the X and Mastodon campaign takes minutes")
	}
	c, eps := newMixCampaign(t)
	seed := uint64(time.Now().UnixNano())
	c.rng = rand.New(rand.NewPCG(seed, seed>>3))
	t.Logf("seed %d", seed)
	var order []mixScenario
	for range mixTrialsPer {
		order = append(order, mixScenarios...)
	}
	c.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })

	c.start()
	lat := map[string][]time.Duration{}
	for i, s := range order {
		faulty := c.rng.IntN(2)
		l, err := mixTrial(c, eps[faulty], eps[1-faulty], s)
		if err != nil {
			c.failWithLog("trial %d (%s on %s): %v", i+1, s.name, eps[faulty].name, err)
		}
		lat[eps[1-faulty].name] = append(lat[eps[1-faulty].name], l...)
	}
	c.stop()
	countMix(c, eps)
	for _, ep := range eps {
		l := lat[ep.name]
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		t.Logf("%s healthy while the other misbehaved, press to post accepted, %d presses after the last restart: p50 %v, p90 %v, max %v",
			ep.name, len(l), l[len(l)/2].Round(time.Millisecond), l[len(l)*9/10].Round(time.Millisecond), l[len(l)-1].Round(time.Millisecond))
	}
}

func newMixCampaign(t *testing.T) (*campaign, []*mixEndpoint) {
	dir := t.TempDir()
	c := &campaign{t: t, dir: dir, bin: filepath.Join(dir, "pitweet"), pressed: map[string]string{}}
	build := exec.Command("go", "build", "-o", c.bin, "pitweet/cmd/pitweet")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build pitweet: %v\n%s", err, out)
	}
	x := fakex.New(fakex.DemoCredentials)
	m := fakemastodon.New()
	for _, start := range []func(string) error{x.StartTLS, m.StartTLS} {
		if err := start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { x.Close(); m.Close() })
	xp, err := newStallProxy(strings.TrimPrefix(x.URL(), "https://"), func() int { return len(x.Tweets()) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(xp.close)
	mp, err := newStallProxy(strings.TrimPrefix(m.URL(), "https://"), func() int { return len(m.Statuses()) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mp.close)
	eps := []*mixEndpoint{
		{name: "x", proxy: xp, x: x, posted: func() []acceptedPost {
			var out []acceptedPost
			for _, tw := range x.Tweets() {
				out = append(out, acceptedPost{tw.Text, tw.At})
			}
			return out
		}},
		{name: "mastodon", proxy: mp, masto: m, posted: func() []acceptedPost {
			var out []acceptedPost
			for _, s := range m.Statuses() {
				out = append(out, acceptedPost{s.Text, s.CreatedAt})
			}
			return out
		}},
	}
	ca := filepath.Join(dir, "ca.pem")
	creds := filepath.Join(dir, "credentials")
	k := fakex.DemoCredentials
	if err := errors.Join(os.WriteFile(ca, append(x.CAPEM(), m.CAPEM()...), 0o644), os.WriteFile(creds, []byte(fmt.Sprintf(
		"api_key=%s\napi_secret=%s\naccess_token=%s\naccess_secret=%s\nmastodon_token=%s\n",
		k.ConsumerKey, k.ConsumerSecret, k.Token, k.TokenSecret, fakemastodon.DemoAccount.Token)), 0o600)); err != nil {
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

[mastodon]
server = "https://%s"
ca_file = %q

[hardware]
mode = "fake"

[[button]]
name = "bell"
pin = "GPIO17"
text = "bell {{.Time.UnixNano}}"
`, c.state, xp.addr(), ca, creds, mp.addr(), ca)
	if err := os.WriteFile(c.cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return c, eps
}

// mixTrial is destTrial for one X and one Mastodon endpoint.
func mixTrial(c *campaign, faulty, healthy *mixEndpoint, s mixScenario) ([]time.Duration, error) {
	if err := faulty.setFault(s); err != nil {
		return nil, err
	}
	pressedAt := map[string]time.Time{}
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
		at := time.Now()
		text, err := c.press(s.name + " on " + faulty.name)
		if err != nil {
			return nil, err
		}
		texts = append(texts, text)
		if p >= killAfter {
			pressedAt[text] = at
		}
	}
	if err := waitMixPosted(c, healthy, texts, 30*time.Second); err != nil {
		return nil, fmt.Errorf("the healthy destination %s: %w", healthy.name, err)
	}
	var lat []time.Duration
	for _, p := range healthy.posted() {
		if at, ok := pressedAt[p.text]; ok {
			lat = append(lat, p.at.Sub(at))
		}
	}
	if s.blocks {
		if got := faulty.postedOf(texts); got > 0 {
			return nil, fmt.Errorf("%s posted %d presses while it was %s", faulty.name, got, s.name)
		}
	}
	if err := faulty.setFault(mixScenario{}); err != nil {
		return nil, err
	}
	time.Sleep(time.Duration(c.rng.IntN(500)) * time.Millisecond) // a random moment of the catching up
	c.kill()
	c.start()
	return lat, c.waitEmpty(90 * time.Second)
}

func waitMixPosted(c *campaign, ep *mixEndpoint, texts []string, within time.Duration) error {
	return c.waitPresses(func() int { return ep.postedOf(texts) }, len(texts), within)
}

// countMix checks that every press is on each destination exactly once,
// and that nothing was given up.
func countMix(c *campaign, eps []*mixEndpoint) {
	t := c.t
	c.noDeadLetters()
	for _, ep := range eps {
		var texts []string
		for _, p := range ep.posted() {
			texts = append(texts, p.text)
		}
		accepted, _, doubled, lost, unknown := c.tally(ep.name, texts)
		repeats := 0
		if ep.masto != nil {
			keys := map[string]int{}
			for _, r := range ep.masto.Requests() {
				if r.Method == "POST" && r.Path == "/api/v1/statuses" {
					keys[r.Header.Get("Idempotency-Key")]++
				}
			}
			for _, n := range keys {
				repeats += n - 1
			}
		}
		t.Logf("X and Mastodon campaign, %s: pressed %d, accepted %d, doubled %d, lost %d, accepted but never pressed %d; answers cut mid-stream %d; status requests repeated with the same Idempotency-Key %d",
			ep.name, len(c.pressed), accepted, doubled, lost, unknown, ep.proxy.stalled.Load(), repeats)
		fmt.Printf("X and Mastodon campaign, %s: pressed %d, accepted %d, doubled %d, lost %d\n", ep.name, len(c.pressed), accepted, doubled, lost)
	}
}
