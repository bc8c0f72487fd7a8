package outbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var three = []string{"x", "mastodon", "bluesky"}

func putTo(t *testing.T, o *Outbox, text string, to ...string) Message {
	t.Helper()
	m, err := o.Put(Message{Text: text, Source: "test", To: to}, nil)
	if err != nil {
		t.Fatalf("Put(%q): %v", text, err)
	}
	return m
}

// next returns the text of the message dest would deliver next, "" for
// none.
func next(t *testing.T, o *Outbox, dest string) string {
	t.Helper()
	m, ok, err := o.NextFor(dest)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	return m.Text
}

// Each destination walks the queue in order on its own: one that waits
// (a rate limit, an outage) holds back none of the others.
func TestDestinationsIndependent(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	a := putTo(t, o, "a", three...)
	b := putTo(t, o, "b", "x", "bluesky")
	c := putTo(t, o, "c", three...)

	// X is rate limited on a; Mastodon and Bluesky go on.
	if _, err := o.RetryAt(a.ID, "x", time.Now().Add(time.Hour), "429"); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ dest, id string }{
		{"mastodon", a.ID}, {"bluesky", a.ID}, {"bluesky", b.ID}, {"mastodon", c.ID},
	} {
		if err := o.Delivered(step.id, step.dest, "ref"); err != nil {
			t.Fatalf("Delivered(%s, %s): %v", step.id, step.dest, err)
		}
	}
	if got := next(t, o, "mastodon"); got != "" {
		t.Fatalf("mastodon's next is %q, want none left", got)
	}
	if got := next(t, o, "bluesky"); got != "c" {
		t.Fatalf("bluesky's next is %q, want c", got)
	}
	// X's next is still a, waiting: in order, not skipped.
	m, _, _ := o.NextFor("x")
	if m.Text != "a" || m.Dest["x"].NotBefore.IsZero() || m.Dest["mastodon"].Ref != "ref" {
		t.Fatalf("x's next is %+v, want a, waiting, and delivered on mastodon", m)
	}
	for dest, want := range map[string]int{"x": 3, "mastodon": 0, "bluesky": 1} {
		if n := o.LenFor(dest); n != want {
			t.Errorf("LenFor(%s) = %d, want %d", dest, n, want)
		}
	}
	if o.Len() != 3 {
		t.Fatalf("Len = %d, want 3", o.Len())
	}
	o = reopen(t, o, nil)
	if got := next(t, o, "x") + next(t, o, "bluesky") + next(t, o, "mastodon"); got != "ac" {
		t.Fatalf("after a restart the next of x, bluesky, mastodon are %q, want a, c, none", got)
	}
}

// A message every destination posted is removed, pictures and all; one any
// destination refused is kept in dead/ with every destination's outcome.
func TestFinishedRemovedOrDead(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	o.now = func() time.Time { return at }
	pic := testPNG(t, 8, 6)
	posted, err := o.Put(Message{Text: "posted everywhere", To: three}, []NewImage{{Data: pic, Alt: "a test card"}})
	if err != nil {
		t.Fatal(err)
	}
	refused, err := o.Put(Message{Text: "refused by bluesky", To: three}, []NewImage{{Data: pic}})
	if err != nil {
		t.Fatal(err)
	}
	for _, dest := range three {
		if err := o.Delivered(posted.ID, dest, dest+"-1"); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{posted.ID + msgSuffix, posted.ID + picSuffix} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after every destination posted: %v, want it gone", name, err)
		}
	}
	if err := o.Delivered(refused.ID, "x", "1930"); err != nil {
		t.Fatal(err)
	}
	if err := o.Refuse(refused.ID, "bluesky", "permanent: blob too big"); err != nil {
		t.Fatal(err)
	}
	if o.Len() != 1 {
		t.Fatalf("Len = %d: a message with a destination left is finished", o.Len())
	}
	if err := o.Delivered(refused.ID, "mastodon", "https://m.example/@pi/2"); err != nil {
		t.Fatal(err)
	}
	if o.Len() != 0 {
		t.Fatalf("Len = %d after every destination finished, want 0", o.Len())
	}
	for round := range 2 {
		if round == 1 {
			o = reopen(t, o, nil)
		}
		dead, err := o.DeadLetters()
		if err != nil || len(dead) != 1 {
			t.Fatalf("round %d: DeadLetters = %d, %v; want 1", round, len(dead), err)
		}
		d := dead[0]
		if d.Reason != "bluesky: permanent: blob too big" || !d.At.Equal(at) {
			t.Errorf("round %d: reason %q at %v", round, d.Reason, d.At)
		}
		if x := d.Dest["x"]; !x.Done || x.Ref != "1930" || d.Dest["mastodon"].Ref != "https://m.example/@pi/2" {
			t.Errorf("round %d: the dead letter lost what the others did: %+v", round, d.Dest)
		}
		got, err := os.ReadFile(filepath.Join(dir, deadDir, refused.ID+picSuffix, d.Images[0].Name))
		if err != nil || string(got) != string(pic) {
			t.Errorf("round %d: the dead letter's picture: %d bytes, %v", round, len(got), err)
		}
	}
}

func TestExpireRefusesWhatIsLeft(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	m := putTo(t, o, "report", three...)
	if err := o.Delivered(m.ID, "mastodon", "1"); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC)
	if err := o.Expire(m.ID, now); err != nil {
		t.Fatal(err)
	}
	dead, err := o.DeadLetters()
	if err != nil || len(dead) != 1 {
		t.Fatalf("DeadLetters = %+v, %v", dead, err)
	}
	if dead[0].Reason != "x: expired; bluesky: expired" || !dead[0].Dest["mastodon"].Done {
		t.Fatalf("dead letter %q %+v; want x and bluesky expired, mastodon posted", dead[0].Reason, dead[0].Dest)
	}
}

// A destination's own text (X's numbered repeat) is its alone.
func TestRewriteIsPerDestination(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	m := putTo(t, o, "Ding dong", "x", "mastodon")
	if _, err := o.Attempt(m.ID, "x", "lost"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Rewrite(m.ID, "x", "Ding dong (2)"); err != nil {
		t.Fatal(err)
	}
	o = reopen(t, o, nil)
	got, _, _ := o.NextFor("mastodon")
	if got.TextFor("x") != "Ding dong (2)" || got.TextFor("mastodon") != "Ding dong" || got.Dest["x"].Attempts != 0 {
		t.Fatalf("after a restart x posts %q (attempts %d), mastodon %q", got.TextFor("x"), got.Dest["x"].Attempts, got.TextFor("mastodon"))
	}
}

// Two destinations recording their deliveries of one message at once lose
// neither.
func TestConcurrentDeliveriesOfOneMessage(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	var ids []string
	for i := range 20 {
		ids = append(ids, putTo(t, o, fmt.Sprint("m", i), three...).ID)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for _, dest := range three {
		wg.Go(func() {
			for _, id := range ids {
				if _, err := o.Attempt(id, dest, dest+" failed"); err != nil {
					errs <- err
				}
				if err := o.Delivered(id, dest, dest); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if o.Len() != 0 {
		t.Fatalf("Len = %d after every destination delivered every message, want 0", o.Len())
	}
	if entries, _ := os.ReadDir(o.dir); len(entries) != 3 {
		t.Fatalf("the spool holds %d entries, want dead/, done/ and corrupt/ only", len(entries))
	}
}

func TestPutChecksDestinations(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	for _, to := range [][]string{nil, {}, {"X"}, {"x", "x"}, {"../x"}, {""}, slices.Repeat([]string{"x"}, 9)} {
		if _, err := o.Put(Message{Text: "hi", To: to}, nil); err == nil {
			t.Errorf("Put to %q succeeded", to)
		}
	}
	if o.Len() != 0 {
		t.Fatalf("Len = %d after refused puts", o.Len())
	}
	// A text too long to record its deliveries is refused when it is
	// queued, not when a delivery is recorded.
	if _, err := o.Put(Message{Text: strings.Repeat("\x01", maxBody/6), To: toX}, nil); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("Put of a giant text: %v, want it refused", err)
	}
}

// A repeat of a key (an MQTT command delivered twice) is recognised while
// the message is queued, after it is posted, and after a restart.
func TestRepeatedKey(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	m, err := o.Put(Message{Text: "from the broker", To: toX, Kind: "command", Key: "cmd-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	again := func(when string) {
		t.Helper()
		r, err := o.Put(Message{Text: "from the broker", To: toX, Kind: "command", Key: "cmd-1"}, nil)
		if !errors.Is(err, ErrRepeat) || r.ID != m.ID {
			t.Fatalf("%s: Put of a repeated key = %q, %v; want ErrRepeat and %s", when, r.ID, err, m.ID)
		}
		if o.Len() > 1 {
			t.Fatalf("%s: the repeat was queued", when)
		}
	}
	again("queued")
	if err := o.Delivered(m.ID, "x", "1"); err != nil {
		t.Fatal(err)
	}
	again("posted")
	o = reopen(t, o, nil)
	again("after a restart")
	if _, err := o.Put(Message{Text: "another", To: toX, Key: "cmd-2"}, nil); err != nil {
		t.Fatalf("another key: %v", err)
	}
	// A week later the key is forgotten.
	o.Close()
	o, err = Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	ns, _ := parseID(m.ID)
	later := time.Unix(0, ns).Add(keyMemory + time.Hour)
	o = openAt(t, dir, later)
	if r, err := o.Put(Message{Text: "from the broker", To: toX, Key: "cmd-1"}, nil); err != nil || r.ID == m.ID {
		t.Fatalf("Put a week later = %q, %v; want a new message", r.ID, err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openAt opens dir with its clock at now.
func openAt(t *testing.T, dir string, now time.Time) *Outbox {
	t.Helper()
	o := &Outbox{dir: dir, log: discard(), now: func() time.Time { return now }, unreadLogged: map[string]bool{}, keys: map[string]string{}}
	if err := o.openSpool(); err != nil {
		t.Fatal(err)
	}
	if err := o.recover(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// The largest message Put accepts still has room for the worst its
// deliveries can record: no update ever fails for size.
func TestAcceptedMessageHasRoomForItsDeliveries(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	to := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	// The longest text of control characters (the longest escapes) Put
	// takes for eight destinations.
	lo, hi := 1, maxBody
	for lo < hi {
		mid := (lo + hi + 1) / 2
		m := Message{Text: "t" + strings.Repeat("\x01", mid-1), To: to}
		if err := checkNew(&m, nil); err == nil {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	text := "t" + strings.Repeat("\x01", lo-1)
	m, err := o.Put(Message{Text: text, To: to}, nil)
	if err != nil {
		t.Fatalf("Put of %d bytes: %v", len(text), err)
	}
	worst := strings.Repeat("\x02", 4*maxNote)
	for i, dest := range to {
		if _, err := o.Rewrite(m.ID, dest, text+" (10)"); err != nil {
			t.Fatalf("Rewrite on %s: %v", dest, err)
		}
		if _, err := o.Attempt(m.ID, dest, worst); err != nil {
			t.Fatalf("Attempt on %s: %v", dest, err)
		}
		if _, err := o.RetryAt(m.ID, dest, time.Now(), worst); err != nil {
			t.Fatalf("RetryAt on %s: %v", dest, err)
		}
		if i%2 == 0 {
			err = o.Refuse(m.ID, dest, worst)
		} else {
			err = o.Delivered(m.ID, dest, worst)
		}
		if err != nil {
			t.Fatalf("finishing %s: %v", dest, err)
		}
	}
	if dead, err := o.DeadLetters(); err != nil || len(dead) != 1 {
		t.Fatalf("DeadLetters = %d, %v; want the message with every outcome", len(dead), err)
	}
}

// A message that can never be queued is told apart from a state directory
// that failed: the first matches ErrInvalid, with its own message.
func TestPutInvalid(t *testing.T) {
	o, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for _, c := range []struct {
		m    Message
		pics []NewImage
		want string
	}{
		{Message{Text: " ", To: toX}, nil, "no text"},
		{Message{Text: "a", To: toX}, []NewImage{{Data: []byte("not a picture")}}, "not a JPEG"},
		{Message{Text: "a", To: toX}, make([]NewImage, MaxImages+1), "pictures"},
		{Message{Text: strings.Repeat("\x01", maxBody/6), To: toX}, nil, "too large"},
	} {
		_, err := o.Put(c.m, c.pics)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Put: %v; want ErrInvalid saying %q", err, c.want)
		}
	}
	o.Close()
	if _, err := o.Put(Message{Text: "a", To: toX}, nil); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("Put after Close: %v; want an error that is not ErrInvalid", err)
	}
}
