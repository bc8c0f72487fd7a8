package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/fakex"
)

// X's clock 250 s ahead of ours is inside its ±5 min window: no request is
// refused for its timestamp, so no 401 ever teaches the daemon the offset.
// A 429's reset is on X's clock: converted with no offset, a 2 s reset
// becomes a wait of over four minutes. The daemon learns the offset from
// the Date header of every answer, the 429 included.
func TestE2ERateLimitResetOnXClock(t *testing.T) {
	t.Parallel()
	const ahead = 250 * time.Second
	e := newE2EWith(t, "127.0.0.1:0", "", func(x *fakex.Server) {
		x.Now = func() time.Time { return time.Now().Add(ahead) }
	})
	if err := e.x.SetFault(fakex.Fault{Mode: fakex.Mode429, Count: 1, Reset: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.press("doorbell")
	s := e.waitStatus("the rate-limit wait", func(s *daemon.Status) bool { return !s.RateLimited.IsZero() })
	// Compared as instants, not timed: the wait the daemon chose, on our
	// clock, ends within a minute of now (it was now + 4m12s before the
	// daemon read the offset from the 429's Date).
	if limit := time.Now().Add(time.Minute); s.RateLimited.After(limit) {
		t.Fatalf("rate limited until %v, more than a minute from now: the 2 s reset was read on our clock", s.RateLimited.Format(time.TimeOnly))
	}
	if off := time.Duration(s.Clock.Offset); off < ahead-5*time.Second || off > ahead+5*time.Second {
		t.Fatalf("status clock offset %v, want about %v", off, ahead)
	}
	e.waitTweets(1)
	reqs := postRequests(e.x)
	if len(reqs) != 2 || reqs[0].Status != 429 {
		t.Fatalf("requests %+v; want the 429 then the post", reqs)
	}
}

// The offset learned from a 401 is kept in the state directory: after a
// restart the first post is signed with it and accepted, with no 401.
func TestE2EClockOffsetKeptAcrossRestart(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	if err := e.x.SetFault(fakex.Fault{Mode: fakex.ModeSkew, Skew: time.Hour}); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.press("doorbell")
	e.waitTweets(1)
	if reqs := postRequests(e.x); len(reqs) != 2 || reqs[0].Status != 401 {
		t.Fatalf("first run's requests %+v; want a 401 then the post", reqs)
	}
	if err := e.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	fi, err := os.Lstat(filepath.Join(e.dir, "state", ".clock-offset"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("kept clock offset: %v, %v; want a file only its owner can read", fi, err)
	}

	e.start()
	if off := time.Duration(e.status().Clock.Offset); off < 59*time.Minute || off > 61*time.Minute {
		t.Fatalf("status clock offset %v after the restart, want about 1h before any post", off)
	}
	e.press("mailbox")
	e.waitTweets(2)
	// fakex records an answer's status as it sends it; the daemon has it
	// once the message is done.
	e.waitStatus("the queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	reqs := postRequests(e.x)
	if len(reqs) != 3 || reqs[2].Status/100 != 2 {
		t.Fatalf("requests %+v; want the second run's first post accepted at once", reqs)
	}
}
