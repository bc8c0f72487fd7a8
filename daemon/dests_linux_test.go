//go:build linux

package daemon

import (
	"path/filepath"
	"testing"

	"pitweet/outbox"
)

// A message queued for a destination the config no longer names is given
// up there at start, not kept waiting for ever; the others post it.
func TestUnconfiguredDestinationGivenUp(t *testing.T) {
	d := startDaemonWith(t, "fake", testButton, nil, func(o *Options) {
		box, err := outbox.Open(filepath.Join(filepath.Dir(o.ConfigPath), "state"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer box.Close()
		if _, err := box.Put(outbox.Message{Text: "queued for two", To: []string{"x", "bluesky"}}, nil); err != nil {
			t.Fatal(err)
		}
	})
	waitTweets(t, d.x, 1)
	s := waitStatus(t, d.socket, "the message to be a dead letter", func(s *Status) bool { return s.Queue == 0 && s.DeadLetters == 1 })
	dl := s.RecentDead[0]
	if dl.Text != "queued for two" || dl.Reason != "bluesky: not posted: the destination is no longer configured" ||
		len(dl.Outcomes) != 2 || !dl.Outcomes[0].Posted || dl.Outcomes[1].Posted {
		t.Fatalf("dead letter %+v", dl)
	}
}
