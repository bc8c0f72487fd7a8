package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"pitweet/budget"
	"pitweet/daemon"
	"pitweet/fakex"
)

// testdestBin is pitweet built with the tag pitweet_testdest, whose one
// difference is a second X destination, "x2", configured by
// $PITWEET_TEST_X2_URL: a daemon with two destinations, each its own X
// emulator, before a second service is built in.
var testdestBin = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "pitweet-testdest")
	out, err := exec.Command("go", "build", "-tags", "pitweet_testdest", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build -tags pitweet_testdest: %v\n%s", err, out)
	}
	return bin, nil
})

// newTwoDestE2E is a daemon posting to X (e.x) and to x2 (the returned
// emulator), with x2 set up by setupX2 before it starts.
func newTwoDestE2E(t *testing.T, setupX2 func(*fakex.Server)) (*e2e, *fakex.Server) {
	t.Helper()
	bin, err := testdestBin()
	if err != nil {
		t.Fatal(err)
	}
	e := newE2E(t, "127.0.0.1:0", "")
	e.bin = bin
	x2 := fakex.New(fakex.DemoCredentials)
	if setupX2 != nil {
		setupX2(x2)
	}
	if err := x2.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x2.Close() })
	// One CA file that trusts both emulators.
	if err := os.WriteFile(e.ca, append(e.x.CAPEM(), x2.CAPEM()...), 0o644); err != nil {
		t.Fatal(err)
	}
	e.both = append(e.both, "PITWEET_TEST_X2_URL="+x2.URL())
	return e, x2
}

func texts(tweets []fakex.Tweet) []string {
	var out []string
	for _, tw := range tweets {
		out = append(out, tw.Text)
	}
	return out
}

// With one destination down, the other posts every press as if it were
// alone; the one that was down posts each exactly once when it is back.
func TestE2ETwoDestinationsOneDown(t *testing.T) {
	t.Parallel()
	e, x2 := newTwoDestE2E(t, func(x *fakex.Server) {
		if err := x.SetFault(fakex.Fault{Mode: fakex.Mode503}); err != nil {
			t.Fatal(err)
		}
	})
	e.start()
	for range 5 {
		e.press("doorbell")
	}
	got := texts(e.waitTweets(5))
	s := e.waitStatus("x2 to be backing off with five waiting", func(s *daemon.Status) bool {
		return len(s.Destinations) == 2 && s.Destinations[0].Queue == 0 && s.Destinations[1].Queue == 5 && s.Destinations[1].LastError != nil
	})
	if s.Destinations[0].Name != "x" || s.Destinations[0].Queue != 0 || s.Destinations[1].Name != "x2" || s.Queue != 5 {
		t.Fatalf("status %+v; want x done, x2 with five waiting", s.Destinations)
	}
	if len(x2.Tweets()) != 0 {
		t.Fatalf("x2 accepted %d posts while it answered 503", len(x2.Tweets()))
	}
	out, _, code := e.pitweet("status")
	if code != 0 || !regexp.MustCompile(`(?m)^  x:\s+0 waiting; idle; last posted `).MatchString(out) ||
		!regexp.MustCompile(`(?m)^  x2:\s+5 waiting; backing off until .*; last error .*503`).MatchString(out) {
		t.Errorf("pitweet status exit %d:\n%s", code, out)
	}

	// x2 comes back: it posts all five, once each, in order.
	if err := x2.SetFault(fakex.Fault{}); err != nil {
		t.Fatal(err)
	}
	got2 := texts(waitTweetsOn(t, x2, 5))
	e.waitStatus("the queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	if !slices.Equal(got, got2) || len(e.x.Tweets()) != 5 || len(x2.Tweets()) != 5 {
		t.Fatalf("x took %q, x2 took %q; want the same five, once each", texts(e.x.Tweets()), texts(x2.Tweets()))
	}
	if s := e.status(); s.DeadLetters != 0 {
		t.Fatalf("%d dead letters", s.DeadLetters)
	}
}

// pitweet post posts to every destination and prints a line for each; a
// destination that fails is said to have failed, and the exit status is 1.
func TestE2EPostToTwoDestinations(t *testing.T) {
	t.Parallel()
	e, x2 := newTwoDestE2E(t, nil)
	// As a daemon that ran once leaves it: X's spend is recorded there.
	if err := os.Mkdir(filepath.Join(e.dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.pitweet("post", "--config", e.config, "hello from two places")
	if code != 0 || len(e.x.Tweets()) != 1 || len(x2.Tweets()) != 1 {
		t.Fatalf("post: exit %d\n%s%s", code, out, errOut)
	}
	want := fmt.Sprintf("x: posted %s\nx2: posted %s\n", e.x.Tweets()[0].ID, x2.Tweets()[0].ID)
	if out != want {
		t.Errorf("post printed %q, want %q", out, want)
	}

	if err := x2.SetFault(fakex.Fault{Mode: fakex.Mode401}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = e.pitweet("post", "--config", e.config, "second")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 2 || !strings.HasPrefix(lines[0], "x: posted ") || !strings.HasPrefix(lines[1], "x2: failed: ") ||
		errOut != "pitweet post: not posted on x2; its line above says why\n" {
		t.Errorf("post with x2 refusing: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}

	out, errOut, code = e.pitweet("post", "--config", e.config, "--to", "x2", "third")
	if code != 1 || !strings.HasPrefix(out, "x2: failed: ") || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("post --to x2 with x2 refusing: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if len(e.x.Tweets()) != 2 {
		t.Errorf("x took %d posts, want 2: --to x2 posts to x2 only", len(e.x.Tweets()))
	}
}

func TestE2EPost(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	// The state directory, as a daemon that ran once leaves it: the post
	// is charged to the month's X spend there.
	if err := os.Mkdir(filepath.Join(e.dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := e.pitweet("post", "--config", e.config, "hello", "world")
	if code != 0 || len(e.x.Tweets()) != 1 || out != "x: posted "+e.x.Tweets()[0].ID+"\n" || errOut != "" {
		t.Fatalf("post: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	if m := ledgerMonth(t, e); m.Posts() != 1 || m.Spent != budget.Published.Post {
		t.Errorf("the post's charge: %+v; want one post, %s", m, budget.Published.Post)
	}
	if got := e.x.Tweets()[0].Text; got != "hello world" {
		t.Errorf("posted %q", got)
	}
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"--to", "mastodon", "hi"}, 1, "pitweet post: " + e.config + " does not post to mastodon; configured: x (add a [mastodon] section to post there)\n"},
		{[]string{"--to", "facebook", "hi"}, 2, `pitweet post: usage: --to "facebook": "facebook" is not a destination; name x, mastodon or bluesky, separated by commas`},
		{[]string{}, 2, "pitweet post: usage: say what to post"},
		{[]string{strings.Repeat("a", 281)}, 1, "x: failed: the text counts 281 characters as X counts them"},
	} {
		out, errOut, code := e.pitweet(append([]string{"post", "--config", e.config}, tt.args...)...)
		if code != tt.code || !strings.Contains(errOut+out, tt.stderr) {
			t.Errorf("post %q: exit %d\nstdout %q\nstderr %q\nwant exit %d and %q", tt.args, code, out, errOut, tt.code, tt.stderr)
		}
	}
	if len(e.x.Tweets()) != 1 {
		t.Errorf("%d posts, want 1: refused posts reached X", len(e.x.Tweets()))
	}
}

// A queue pitweet 0.1 left (format v1, as 0.1 wrote it) is posted by this
// version, in order and once each.
func TestE2EQueueFrom01(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	spool := filepath.Join(e.dir, "state")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, name := range []string{"v1-queued-tried.msg", "v1-queued.msg"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "outbox", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		header, body, _ := strings.Cut(string(data), "\n")
		if !strings.HasPrefix(header, "pitweet-outbox v1 ") {
			t.Fatalf("%s is not a v1 file", name)
		}
		id := regexp.MustCompile(`"id":"(\d+)"`).FindStringSubmatch(body)[1]
		want = append(want, regexp.MustCompile(`"text":"([^"]+)"`).FindStringSubmatch(body)[1])
		if err := os.WriteFile(filepath.Join(spool, id+".msg"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.start()
	got := texts(e.waitTweets(2))
	e.waitStatus("the queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	if !slices.Equal(got, want) || len(e.x.Tweets()) != 2 {
		t.Fatalf("posted %q, want %q once each", texts(e.x.Tweets()), want)
	}
	// The queue is empty: nothing more will be sent.
	if n := len(postRequests(e.x)); n != 2 {
		t.Fatalf("%d posting requests, want 2", n)
	}
}
