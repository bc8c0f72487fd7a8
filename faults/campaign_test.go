// Package faults holds the fault campaign: the real pitweet daemon, built
// from this tree, against the X API emulator misbehaving in every way it
// knows and against a server that stops answering mid-stream, killed with
// SIGKILL at random moments. Every pressed tweet must reach the emulator
// exactly once, or be refused for good (dead letter) by a fault that
// refuses it; none may be lost or doubled.
package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/fakex"
	"pitweet/outbox"
)

// A scenario is one way of misbehaving. refuses names the dead-letter
// reason the fault may legitimately cause ("" when every tweet must be
// delivered). stall uses the mid-stream proxy instead of an emulator fault.
type scenario struct {
	name    string
	fault   fakex.Fault
	stall   bool
	refuses string
}

var scenarios = []scenario{
	{name: "429", fault: fakex.Fault{Mode: fakex.Mode429, Reset: time.Second}},
	// X calls a text never sent before a duplicate: the daemon posts it
	// again with a number added, so it is delivered as "<text> (2)".
	{name: "403dup", fault: fakex.Fault{Mode: fakex.Mode403Dup, Count: 1}},
	{name: "401", fault: fakex.Fault{Mode: fakex.Mode401, Count: 1}, refuses: "unauthorized"},
	{name: "401skew", fault: fakex.Fault{Mode: fakex.ModeSkew, Skew: 10 * time.Minute}},
	{name: "503", fault: fakex.Fault{Mode: fakex.Mode503}},
	{name: "slow", fault: fakex.Fault{Mode: fakex.ModeSlow, Delay: 400 * time.Millisecond}},
	{name: "reset-after-accept", fault: fakex.Fault{Mode: fakex.ModeResetAfterAccept}},
	{name: "chunked", fault: fakex.Fault{Mode: fakex.ModeChunked}},
	{name: "hang", fault: fakex.Fault{Mode: fakex.ModeHang}},
	{name: "stall mid-stream", stall: true},
}

// trialsPer is how many trials each scenario gets: 6 × 10 = 60 in all.
const trialsPer = 6

// campaign is the state shared by the trials.
type campaign struct {
	t      *testing.T
	bin    string
	dir    string
	cfg    string
	state  string
	socket string
	x      *fakex.Server
	proxy  *stallProxy
	rng    *rand.Rand
	d      *exec.Cmd
	exited chan error
	logs   int
	env    []string // added to the daemon's environment

	pressed map[string]string // text → scenario it was pressed in
}

func TestCampaign(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the campaign builds the pitweet binary and needs the go command")
	}
	c := newCampaign(t)
	seed := uint64(time.Now().UnixNano())
	c.rng = rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d", seed)

	var order []scenario
	for range trialsPer {
		order = append(order, scenarios...)
	}
	c.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })

	c.start()
	for i, s := range order {
		if err := c.trial(i, s); err != nil {
			c.failWithLog("trial %d (%s): %v", i+1, s.name, err)
		}
	}
	c.stop()
	c.count()
}

func newCampaign(t *testing.T) *campaign {
	dir := t.TempDir()
	c := &campaign{t: t, dir: dir, bin: filepath.Join(dir, "pitweet"), pressed: map[string]string{}}
	build := exec.Command("go", "build", "-o", c.bin, "pitweet/cmd/pitweet")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build pitweet: %v\n%s", err, out)
	}
	c.x = fakex.New(fakex.DemoCredentials)
	if err := c.x.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.x.Close() })
	p, err := newStallProxy(strings.TrimPrefix(c.x.URL(), "https://"), func() int { return len(c.x.Tweets()) })
	if err != nil {
		t.Fatal(err)
	}
	c.proxy = p
	t.Cleanup(p.close)

	ca := filepath.Join(dir, "ca.pem")
	creds := filepath.Join(dir, "credentials")
	k := fakex.DemoCredentials
	if err := errors.Join(c.x.WriteCA(ca), os.WriteFile(creds, []byte(fmt.Sprintf(
		"api_key=%s\napi_secret=%s\naccess_token=%s\naccess_secret=%s\n",
		k.ConsumerKey, k.ConsumerSecret, k.Token, k.TokenSecret)), 0o600)); err != nil {
		t.Fatal(err)
	}
	c.state = filepath.Join(dir, "state")
	c.socket = filepath.Join(dir, "run", daemon.SocketName)
	c.cfg = filepath.Join(dir, "pitweet.toml")
	// The emulator's certificate names 127.0.0.1, so the daemon can reach
	// it through the proxy's loopback port with TLS checked end to end.
	config := fmt.Sprintf(`state_dir = %q

[x]
base_url = "https://%s"
ca_file = %q
credentials = %q

[hardware]
mode = "fake"

[[button]]
name = "bell"
pin = "GPIO17"
text = "bell {{.Time.UnixNano}}"
`, c.state, p.addr(), ca, creds)
	if err := os.WriteFile(c.cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// start runs the daemon and waits until its control socket answers.
func (c *campaign) start() {
	c.t.Helper()
	c.logs++
	logf, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("daemon-%03d.log", c.logs)))
	if err != nil {
		c.t.Fatal(err)
	}
	c.d = exec.Command(c.bin, "run", "--fake", "--config", c.cfg)
	c.d.Env = append(append(os.Environ(), "RUNTIME_DIRECTORY="+filepath.Dir(c.socket)), c.env...)
	c.d.Stdout, c.d.Stderr = logf, logf
	if err := c.d.Start(); err != nil {
		c.t.Fatal(err)
	}
	exited := make(chan error, 1)
	c.exited = exited
	go func() { exited <- c.d.Wait(); logf.Close() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := daemon.Call(c.socket, daemon.ControlRequest{Op: "status"})
		if err == nil && resp.OK {
			return
		}
		select {
		case err := <-c.exited:
			c.failWithLog("the daemon exited before answering: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.failWithLog("the daemon did not answer on its control socket within 20s")
		}
	}
}

// kill sends the daemon SIGKILL and waits for it to be gone.
func (c *campaign) kill() {
	c.d.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop ends the daemon with SIGTERM.
func (c *campaign) stop() {
	c.d.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(45 * time.Second):
		c.kill()
		c.failWithLog("the daemon did not stop within 45s of SIGTERM")
	}
}

// trial presses the button a few times with the fault in force, kills the
// daemon at a random moment, clears the fault, restarts the daemon, presses
// the rest and waits until the outbox is empty.
func (c *campaign) trial(i int, s scenario) error {
	presses := 1 + c.rng.IntN(4)
	killAfter := 1 + c.rng.IntN(presses)
	if s.stall {
		c.proxy.stalling.Store(true)
	} else if err := c.x.SetFault(s.fault); err != nil {
		return err
	}
	for p := 0; p < presses; p++ {
		if p == killAfter {
			// The sleep is not a wait for an event: it picks the moment of
			// the kill at random. The kill lands at a random moment after some presses: before,
			// during or after an attempt, or during a wait.
			time.Sleep(time.Duration(c.rng.IntN(700)) * time.Millisecond)
			c.kill()
			c.proxy.stalling.Store(false)
			if err := c.x.SetFault(fakex.Fault{}); err != nil {
				return err
			}
			c.start()
		}
		if _, err := c.press(s.name); err != nil {
			return err
		}
	}
	if killAfter == presses {
		time.Sleep(time.Duration(c.rng.IntN(700)) * time.Millisecond)
		c.kill()
		c.proxy.stalling.Store(false)
		if err := c.x.SetFault(fakex.Fault{}); err != nil {
			return err
		}
		c.start()
	}
	return c.waitEmpty(60 * time.Second)
}

// press presses the button and returns the text it queued.
func (c *campaign) press(scenario string) (string, error) {
	resp, err := daemon.Call(c.socket, daemon.ControlRequest{Op: "press", Button: "bell"})
	if err != nil {
		return "", err
	}
	if !resp.OK {
		return "", fmt.Errorf("press refused: %s", resp.Error)
	}
	if prev, ok := c.pressed[resp.Text]; ok {
		return "", fmt.Errorf("two presses rendered the same text %q (%s and %s); the campaign needs unique texts", resp.Text, prev, scenario)
	}
	c.pressed[resp.Text] = scenario
	return resp.Text, nil
}

// waitEmpty polls the daemon's status until its outbox is empty.
func (c *campaign) waitEmpty(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		resp, err := daemon.Call(c.socket, daemon.ControlRequest{Op: "status"})
		if err == nil && resp.OK && resp.Status.Queue == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil && resp.Status != nil {
				return fmt.Errorf("the outbox still holds %d messages after %s (delivery: %s)", resp.Status.Queue, within, resp.Status.Delivery)
			}
			return fmt.Errorf("the outbox did not empty within %s: %v", within, err)
		case err := <-c.exited:
			return fmt.Errorf("the daemon exited: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// count compares what was pressed with what the emulator accepted and
// what the daemon refused for good, and fails on any loss or double.
func (c *campaign) count() {
	t := c.t
	// A text X called a duplicate is posted again numbered, "<text> (2)":
	// it counts for the text that was pressed.
	accepted := map[string]int{}
	numbered := 0
	for _, tw := range c.x.Tweets() {
		text := tw.Text
		if base, ok := unnumbered(text); ok && c.pressed[text] == "" && c.pressed[base] != "" {
			text = base
			numbered++
		}
		accepted[text]++
	}
	box, err := outbox.Open(c.state, nil)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := box.DeadLetters()
	box.Close()
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]string{}
	for _, d := range dead {
		refused[d.Text] = d.Reason
	}
	resent := 0
	fired := map[string]int{}
	for _, r := range c.x.Requests() {
		if strings.Contains(r.Reason, "duplicate of an accepted tweet") {
			resent++
		}
		if r.Fault != "" {
			fired[r.Fault]++
		}
	}
	byScenario := map[string]string{}
	for _, s := range scenarios {
		byScenario[s.name] = s.refuses
	}
	var lost, doubled, unknown, wrongRefusal, refusedOK, deliveredN int
	for text, sc := range c.pressed {
		n := accepted[text]
		reason, isDead := refused[text]
		switch {
		case n > 1:
			doubled++
			t.Errorf("doubled: %q (%s) accepted %d times", text, sc, n)
		case n == 1 && isDead:
			doubled++
			t.Errorf("delivered and dead-lettered: %q (%s): %s", text, sc, reason)
		case n == 1:
			deliveredN++
		case isDead && byScenario[sc] != "" && strings.Contains(strings.ToLower(reason), byScenario[sc]):
			refusedOK++
		case isDead:
			wrongRefusal++
			t.Errorf("refused for good in scenario %s: %q: %s", sc, text, reason)
		default:
			lost++
			t.Errorf("lost: %q (%s): neither accepted nor in dead letters", text, sc)
		}
	}
	for text := range accepted {
		if _, ok := c.pressed[text]; !ok {
			unknown++
			t.Errorf("the emulator accepted %q, which nobody pressed", text)
		}
	}
	t.Logf("fault campaign: %d trials over %d scenarios; tweets pressed %d, accepted by the emulator %d (%d of them numbered after a duplicate refusal), "+
		"refused for good by a refusing fault %d, re-sent after a lost answer and recognised as duplicates %d, "+
		"doubled %d, lost %d, refused by a fault that should not refuse %d, accepted but never pressed %d",
		trialsPer*len(scenarios), len(scenarios), len(c.pressed), deliveredN, numbered, refusedOK, resent, doubled, lost, wrongRefusal, unknown)
	t.Logf("requests the emulator answered with a fault: %v; answers cut mid-stream by the proxy: %d", fired, c.proxy.stalled.Load())
	fmt.Printf("fault campaign: pressed %d, accepted %d, refused-by-fault %d, resent-as-duplicate %d, doubled %d, lost %d\n",
		len(c.pressed), deliveredN, refusedOK, resent, doubled, lost)
}

// waitPresses waits until posted (what one destination has accepted of the
// trial's texts) reaches n, within; the daemon exiting ends the wait.
func (c *campaign) waitPresses(posted func() int, n int, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		got := posted()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("posted %d of the trial's %d presses within %s", got, n, within)
		case err := <-c.exited:
			return fmt.Errorf("the daemon exited: %v", err)
		case <-time.After(20 * time.Millisecond): // polling interval, not synchronisation
		}
	}
}

// noDeadLetters fails the test for every message the daemon gave up.
func (c *campaign) noDeadLetters() {
	box, err := outbox.Open(c.state, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	dead, err := box.DeadLetters()
	box.Close()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, d := range dead {
		c.t.Errorf("dead letter %q: %s", d.Text, d.Reason)
	}
}

// tally checks what destination name accepted against the presses: each
// pressed text exactly once (a repeat numbered " (2)" counts as its
// press), and nothing nobody pressed. It returns how many were accepted
// (of those pressed), numbered, doubled, lost and unknown.
func (c *campaign) tally(name string, posted []string) (accepted, numbered, doubled, lost, unknown int) {
	got := map[string]int{}
	for _, text := range posted {
		if base, ok := unnumbered(text); ok && c.pressed[text] == "" && c.pressed[base] != "" {
			text = base
			numbered++
		}
		got[text]++
	}
	for text, sc := range c.pressed {
		switch n := got[text]; {
		case n == 0:
			lost++
			c.t.Errorf("%s lost %q (pressed in %s)", name, text, sc)
		case n > 1:
			doubled++
			c.t.Errorf("%s posted %q %d times (pressed in %s)", name, text, n, sc)
		}
	}
	for text := range got {
		if _, ok := c.pressed[text]; !ok {
			unknown++
			c.t.Errorf("%s accepted %q, which nobody pressed", name, text)
		}
	}
	return len(got) - unknown, numbered, doubled, lost, unknown
}

// unnumbered returns text without the " (N)" the daemon adds to a text X
// already has.
func unnumbered(text string) (string, bool) {
	i := strings.LastIndex(text, " (")
	if i < 0 || !strings.HasSuffix(text, ")") {
		return "", false
	}
	n := text[i+2 : len(text)-1]
	if n == "" || strings.Trim(n, "0123456789") != "" {
		return "", false
	}
	return text[:i], true
}

// failWithLog stops the test with the daemon's latest log.
func (c *campaign) failWithLog(format string, a ...any) {
	c.t.Helper()
	if c.d != nil {
		c.d.Process.Signal(syscall.SIGKILL) // an error only says it is gone already
	}
	b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("daemon-%03d.log", c.logs)))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	c.t.Fatalf(format+"\nthe daemon's log ends:\n%s", append(a, b)...)
}
