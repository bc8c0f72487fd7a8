package main

import (
	"slices"
	"strings"
	"syscall"
	"testing"

	"pitweet/daemon"
	"pitweet/fakex"
)

// bellRule is a button whose text never changes: every press after the
// first is a text X already has. fakex refuses a repeated text as X does.
const bellRule = `
[[button]]
name = "bell"
pin = "GPIO27"
text = "Ding dong"
`

func tweetTexts(x *fakex.Server) []string {
	var out []string
	for _, tw := range x.Tweets() {
		out = append(out, tw.Text)
	}
	return out
}

// A press whose text X already has is posted with a number added, not
// acknowledged and then dropped as a dead letter.
func TestE2ERepeatedTextIsPostedNumbered(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", bellRule)
	e.start()
	for range 3 {
		e.press("bell")
	}
	e.waitTweets(3)
	e.waitStatus("the queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	if got, want := tweetTexts(e.x), []string{"Ding dong", "Ding dong (2)", "Ding dong (3)"}; !slices.Equal(got, want) {
		t.Fatalf("tweets %q, want %q", got, want)
	}
	// The daemon knew X had the text: one request a press.
	if n := len(postRequests(e.x)); n != 3 {
		t.Fatalf("%d posting requests, want 3", n)
	}

	// A new run does not know which numbers X has: X's refusals tell it.
	if err := e.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	e.start()
	e.press("bell")
	e.waitTweets(4)
	s := e.waitStatus("the queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	if got := tweetTexts(e.x); got[3] != "Ding dong (4)" || len(got) != 4 {
		t.Fatalf("tweets %q, want a fourth, \"Ding dong (4)\"", got)
	}
	if s.DeadLetters != 0 {
		t.Fatalf("%d dead letters, want none: %+v", s.DeadLetters, s.RecentDead)
	}
	refused := 0
	for _, r := range postRequests(e.x) {
		if strings.Contains(r.Reason, "duplicate") {
			refused++
		}
	}
	if refused != 3 {
		t.Fatalf("%d duplicate refusals, want 3 (the text and its two numbers X had)", refused)
	}
	if !strings.Contains(e.log.String(), "posting it with a number added") {
		t.Errorf("no log line about numbering the text")
	}
}

// The rule that makes delivery exactly-once holds for a numbered text: its
// answer lost after X took it, the retry is refused as a duplicate, and that
// counts as delivered, not as a reason for another number.
func TestE2ENumberedTextLostAnswerNotDoubled(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", bellRule)
	e.start()
	e.press("bell")
	e.waitTweets(1)
	if err := e.x.SetFault(fakex.Fault{Mode: fakex.ModeResetAfterAccept, Count: 1}); err != nil {
		t.Fatal(err)
	}
	e.press("bell")
	s := e.waitStatus("the retry to settle", func(s *daemon.Status) bool {
		return s.Queue == 0 && s.LastSuccess != nil && s.LastSuccess.Text == "Ding dong (2)"
	})
	if got, want := tweetTexts(e.x), []string{"Ding dong", "Ding dong (2)"}; !slices.Equal(got, want) {
		t.Fatalf("tweets %q, want %q", got, want)
	}
	if s.DeadLetters != 0 {
		t.Fatalf("%d dead letters, want none", s.DeadLetters)
	}
	if n := len(postRequests(e.x)); n != 3 {
		t.Fatalf("%d posting requests, want 3 (the first, the lost answer, the retry)", n)
	}
}
