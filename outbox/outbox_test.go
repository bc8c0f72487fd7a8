package outbox

import (
	"bytes"
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

// logBuffer collects log output from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// open opens dir and closes it when the test ends.
func open(t *testing.T, dir string, logs *logBuffer) *Outbox {
	t.Helper()
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewTextHandler(logs, nil))
	}
	o, err := Open(dir, log)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// reopen closes o and opens its directory again, as a restart would.
func reopen(t *testing.T, o *Outbox, logs *logBuffer) *Outbox {
	t.Helper()
	if err := o.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return open(t, o.dir, logs)
}

// toX is the one destination of most tests' messages.
var toX = []string{"x"}

func put(t *testing.T, o *Outbox, text string) Message {
	t.Helper()
	m, err := o.Put(Message{Text: text, Source: "test", To: toX}, nil)
	if err != nil {
		t.Fatalf("Put(%q): %v", text, err)
	}
	return m
}

// sameMessage reports how got differs from want; times compare as instants.
func sameMessage(got, want Message) error {
	switch {
	case got.ID != want.ID, got.Text != want.Text, got.Source != want.Source,
		got.Kind != want.Kind, got.Key != want.Key,
		!got.Created.Equal(want.Created), !got.Expires.Equal(want.Expires),
		!slices.Equal(got.To, want.To), len(got.Dest) != len(want.Dest),
		!slices.Equal(got.Images, want.Images):
		return fmt.Errorf("got  %+v\nwant %+v", got, want)
	}
	for name, w := range want.Dest {
		g, ok := got.Dest[name]
		if !ok || g.Attempts != w.Attempts || g.LastError != w.LastError || !g.NotBefore.Equal(w.NotBefore) ||
			g.Done != w.Done || g.Ref != w.Ref || g.Refused != w.Refused || !g.At.Equal(w.At) || g.Text != w.Text {
			return fmt.Errorf("delivery to %s:\ngot  %+v\nwant %+v", name, g, w)
		}
	}
	return nil
}

// withDelivery returns m with dest's delivery set to d.
func withDelivery(m Message, dest string, d Delivery) Message {
	m = m.clone()
	m.Dest[dest] = d
	return m
}

func texts(ms []Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

func TestPutNextDoneRoundTrip(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	clock := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	o.now = func() time.Time { return clock }
	in := Message{
		Text:    "Ding dong at 12:00 — 🔔 «quoted» \"text\"\nsecond line",
		Source:  "button doorbell",
		Kind:    "press",
		Expires: clock.Add(time.Hour),
		To:      []string{"x", "mastodon"},
		// Put starts every delivery afresh.
		Dest: map[string]Delivery{"x": {Attempts: 3, Done: true}},
	}
	m, err := o.Put(in, nil)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if !validID(m.ID) {
		t.Fatalf("Put gave id %q, want 20 digits", m.ID)
	}
	want := in
	want.ID = m.ID
	want.Created = clock
	want.Dest = map[string]Delivery{"x": {}, "mastodon": {}}
	if err := sameMessage(m, want); err != nil {
		t.Fatalf("Put returned:\n%v", err)
	}
	if _, err := os.Stat(filepath.Join(o.dir, m.ID+msgSuffix)); err != nil {
		t.Fatalf("message file: %v", err)
	}

	for round := range 2 {
		if round == 1 {
			o = reopen(t, o, nil)
			o.now = func() time.Time { return clock }
		}
		for _, dest := range in.To {
			got, ok, err := o.NextFor(dest)
			if err != nil || !ok {
				t.Fatalf("round %d: NextFor(%s) = %v, %v, want the message", round, dest, ok, err)
			}
			if err := sameMessage(got, want); err != nil {
				t.Fatalf("round %d: NextFor(%s):\n%v", round, dest, err)
			}
		}
		if _, ok, _ := o.NextFor("bluesky"); ok {
			t.Fatalf("round %d: NextFor(bluesky) found a message that is not for it", round)
		}
	}
	if err := o.Delivered(m.ID, "x", "1234"); err != nil {
		t.Fatalf("Delivered: %v", err)
	}
	if _, ok, _ := o.NextFor("x"); ok || o.Len() != 1 || o.LenFor("x") != 0 || o.LenFor("mastodon") != 1 {
		t.Fatalf("after x delivered: NextFor(x) %v, Len %d, LenFor(x) %d, LenFor(mastodon) %d; want none, 1, 0, 1",
			ok, o.Len(), o.LenFor("x"), o.LenFor("mastodon"))
	}
	want = withDelivery(want, "x", Delivery{Done: true, Ref: "1234", At: clock})
	o = reopen(t, o, nil)
	if got, ok, _ := o.NextFor("mastodon"); !ok || sameMessage(got, want) != nil {
		t.Fatalf("after a restart: %+v, want %+v", got, want)
	}
	if err := o.Delivered(m.ID, "x", "again"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delivered twice on x: %v, want ErrNotFound", err)
	}
	if err := o.Delivered(m.ID, "mastodon", "https://mastodon.example/@pi/1"); err != nil {
		t.Fatalf("Delivered: %v", err)
	}
	if n := o.Len(); n != 0 {
		t.Fatalf("Len after every destination delivered = %d, want 0", n)
	}
	if _, err := os.Stat(filepath.Join(o.dir, m.ID+msgSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("message file after Done: %v, want it gone", err)
	}
	o = reopen(t, o, nil)
	if _, ok, err := o.NextFor("x"); ok || err != nil {
		t.Fatalf("Next after Done and reopen = %v, %v, want empty", ok, err)
	}
}

func TestOrderAcrossReopen(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	var want []string
	for i := range 5 {
		want = append(want, put(t, o, fmt.Sprintf("before %d", i)).Text)
	}
	o = reopen(t, o, nil)
	// A Pi that boots without network starts in 1970: messages queued now
	// still go after the ones already waiting.
	o.now = func() time.Time { return time.Unix(0, 0) }
	for i := range 5 {
		want = append(want, put(t, o, fmt.Sprintf("after %d", i)).Text)
	}
	for round := range 2 {
		if round == 1 {
			o = reopen(t, o, nil)
		}
		got := o.Pending()
		if strings.Join(texts(got), ",") != strings.Join(want, ",") {
			t.Fatalf("round %d: pending %q, want %q", round, texts(got), want)
		}
		for i := 1; i < len(got); i++ {
			if got[i-1].ID >= got[i].ID {
				t.Fatalf("round %d: ids out of order: %s then %s", round, got[i-1].ID, got[i].ID)
			}
		}
	}
	// Delivered out of order leaves the rest in order.
	p := o.Pending()
	for _, i := range []int{3, 0, 9} {
		if err := o.Delivered(p[i].ID, "x", ""); err != nil {
			t.Fatalf("Done(%d): %v", i, err)
		}
	}
	next, _, _ := o.NextFor("x")
	if next.Text != "before 1" || o.Len() != 7 {
		t.Fatalf("after three deliveries: NextFor %q, Len %d; want \"before 1\", 7", next.Text, o.Len())
	}
}

func TestAttemptAndRetryAtAreDurable(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	m := put(t, o, "hello")
	if _, err := o.Attempt(m.ID, "x", ""); err != nil {
		t.Fatalf("Attempt: %v", err)
	}
	retry := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := o.RetryAt(m.ID, "x", retry, "429 rate limited"); err != nil {
		t.Fatalf("RetryAt: %v", err)
	}
	got, err := o.Attempt(m.ID, "x", "")
	if err != nil {
		t.Fatalf("Attempt: %v", err)
	}
	want := withDelivery(m, "x", Delivery{Attempts: 2, LastError: "429 rate limited", NotBefore: retry})
	if err := sameMessage(got, want); err != nil {
		t.Fatalf("after Attempt, RetryAt, Attempt:\n%v", err)
	}
	o = reopen(t, o, nil)
	got, _, _ = o.NextFor("x")
	if err := sameMessage(got, want); err != nil {
		t.Fatalf("after reopen:\n%v", err)
	}
	got, err = o.Attempt(m.ID, "x", "connection reset")
	if d := got.Dest["x"]; err != nil || d.Attempts != 3 || d.LastError != "connection reset" {
		t.Fatalf("Attempt with error text = %+v, %v; want attempts 3, last error set", got, err)
	}
}

func TestUnknownIDIsNotFound(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	m := put(t, o, "x")
	if err := o.Delivered(m.ID, "x", ""); err != nil {
		t.Fatal(err)
	}
	other := put(t, o, "y")
	for name, err := range map[string]error{
		"Delivered":                      o.Delivered(m.ID, "x", ""),
		"Refuse":                         o.Refuse("00000000000000000001", "x", "r"),
		"Expire":                         o.Expire("00000000000000000001", time.Now()),
		"Attempt":                        func() error { _, err := o.Attempt("nope", "x", ""); return err }(),
		"RetryAt":                        func() error { _, err := o.RetryAt(m.ID, "x", time.Time{}, ""); return err }(),
		"Rewrite":                        func() error { _, err := o.Rewrite(m.ID, "x", "z"); return err }(),
		"Attempt of another destination": func() error { _, err := o.Attempt(other.ID, "mastodon", ""); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of a missing id: %v, want ErrNotFound", name, err)
		}
	}
}

func TestPutRefusesEmptyText(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	for _, text := range []string{"", "  \n\t"} {
		if _, err := o.Put(Message{Text: text, To: toX}, nil); err == nil {
			t.Errorf("Put(%q) succeeded, want an error", text)
		}
	}
	if o.Len() != 0 {
		t.Fatalf("Len = %d after refused puts", o.Len())
	}
}

func TestTempLeftoversRemoved(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	m := put(t, o, "kept")
	o.Close()
	leftovers := []string{
		filepath.Join(dir, tmpPrefix+m.ID+"-123"),
		filepath.Join(dir, tmpPrefix+"00000000000000000009-1"),
		filepath.Join(dir, deadDir, tmpPrefix+m.ID+"-5"),
	}
	for i, p := range leftovers {
		// Half a header, as a write cut short leaves it.
		if err := os.WriteFile(p, []byte("pitweet-outbox v1 5"[:i*5]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o = open(t, dir, nil)
	for _, p := range leftovers {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover %s still there after Open (%v)", p, err)
		}
	}
	if got := texts(o.Pending()); len(got) != 1 || got[0] != "kept" {
		t.Fatalf("pending %q, want [kept]", got)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, corruptDir)); len(entries) != 0 {
		t.Fatalf("corrupt/ has %d files, want none: leftovers are not messages", len(entries))
	}
}

func TestCorruptFileQuarantined(t *testing.T) {
	tests := []struct {
		name   string
		damage func(data []byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"cut in header", func(d []byte) []byte { return d[:10] }},
		{"cut in body", func(d []byte) []byte { return d[:len(d)-7] }},
		{"flipped bit", func(d []byte) []byte {
			d = bytes.Clone(d)
			d[len(d)-5] ^= 0x04
			return d
		}},
		{"trailing bytes", func(d []byte) []byte { return append(bytes.Clone(d), "\x00\x00"...) }},
		{"zeros", func(d []byte) []byte { return make([]byte, len(d)) }},
		{"other message", func(d []byte) []byte {
			r, err := decode(d)
			if err != nil {
				panic(err)
			}
			r.ID = "00000000000000000042"
			d, err = encode(r)
			if err != nil {
				panic(err)
			}
			return d
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := open(t, dir, nil)
			a, b, c := put(t, o, "a"), put(t, o, "b"), put(t, o, "c")
			o.Close()
			path := filepath.Join(dir, b.ID+msgSuffix)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			damaged := tt.damage(data)
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}

			logs := &logBuffer{}
			o = open(t, dir, logs)
			got := o.Pending()
			if len(got) != 2 || got[0].ID != a.ID || got[1].ID != c.ID {
				t.Fatalf("pending %q, want a and c", texts(got))
			}
			moved, err := os.ReadFile(filepath.Join(dir, corruptDir, b.ID+msgSuffix))
			if err != nil {
				t.Fatalf("damaged file not in corrupt/: %v", err)
			}
			if !bytes.Equal(moved, damaged) {
				t.Fatalf("corrupt/ copy differs from the damaged file")
			}
			if !strings.Contains(logs.String(), "damaged message file") || !strings.Contains(logs.String(), b.ID) {
				t.Fatalf("no log line naming the damaged file; log:\n%s", logs)
			}
			if n := put(t, o, "d"); n.ID <= c.ID {
				t.Fatalf("new id %s not after %s", n.ID, c.ID)
			}
		})
	}
}

func TestQuarantineKeepsEarlierCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	m := put(t, o, "a")
	o.Close()
	name := m.ID + msgSuffix
	if err := os.WriteFile(filepath.Join(dir, corruptDir, name), []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, dir, nil)
	for file, want := range map[string]string{name: "first", name + ".2": "second"} {
		got, err := os.ReadFile(filepath.Join(dir, corruptDir, file))
		if err != nil || string(got) != want {
			t.Errorf("corrupt/%s = %q, %v; want %q", file, got, err, want)
		}
	}
}

func TestDeadLetters(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	o.now = func() time.Time { return at }
	a, b := put(t, o, "refused"), put(t, o, "next")
	a, err := o.Attempt(a.ID, "x", "403 forbidden")
	if err != nil {
		t.Fatal(err)
	}
	reason := "X refused it: 403 You are not allowed to create a Tweet with duplicate content."
	if err := o.Refuse(a.ID, "x", reason); err != nil {
		t.Fatalf("Refuse: %v", err)
	}
	if next, _, _ := o.NextFor("x"); next.ID != b.ID || o.Len() != 1 {
		t.Fatalf("after Refuse: NextFor %q, Len %d; want %q, 1", next.Text, o.Len(), b.Text)
	}
	a = withDelivery(a, "x", Delivery{Attempts: 1, LastError: "403 forbidden", Refused: reason, At: at})
	for round := range 2 {
		if round == 1 {
			o = reopen(t, o, nil)
		}
		dead, err := o.DeadLetters()
		if err != nil {
			t.Fatalf("round %d: DeadLetters: %v", round, err)
		}
		if len(dead) != 1 {
			t.Fatalf("round %d: %d dead letters, want 1", round, len(dead))
		}
		if err := sameMessage(dead[0].Message, a); err != nil {
			t.Fatalf("round %d: dead message:\n%v", round, err)
		}
		if !strings.Contains(dead[0].Reason, "duplicate content") || !dead[0].At.Equal(at) {
			t.Fatalf("round %d: reason %q at %v", round, dead[0].Reason, dead[0].At)
		}
		if o.Len() != 1 {
			t.Fatalf("round %d: Len %d, want 1", round, o.Len())
		}
	}
}

// A crash inside a move to dead letters, after the dead copy is written
// and before the queued file is removed, leaves the message in both places;
// Open finishes the move.
func TestInterruptedDeadIsFinished(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	m := put(t, o, "expired report")
	o.Close()
	m.Dest["x"] = Delivery{Refused: "expired", At: time.Now()}
	data, err := encode(recordOf(m))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, deadDir, m.ID+msgSuffix), data, 0o600); err != nil {
		t.Fatal(err)
	}
	o = open(t, dir, nil)
	if o.Len() != 0 {
		t.Fatalf("Len = %d, want 0: the message is dead", o.Len())
	}
	if _, err := os.Stat(filepath.Join(dir, m.ID+msgSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("queued copy still there: %v", err)
	}
	dead, err := o.DeadLetters()
	if err != nil || len(dead) != 1 || dead[0].Reason != "expired" {
		t.Fatalf("DeadLetters = %+v, %v", dead, err)
	}
}

func TestSecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	if o2, err := Open(dir, nil); err == nil {
		o2.Close()
		t.Fatal("second Open of a spool in use succeeded")
	} else if !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: %v", err)
	}
	o.Close()
	if _, err := o.Put(Message{Text: "late", To: toX}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v, want ErrClosed", err)
	}
	open(t, dir, nil)
}

func TestFsyncsPerOperation(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	count := func(name string, want int64, op func() error) {
		t.Helper()
		before := o.syncs.Load()
		if err := op(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := o.syncs.Load() - before; got != want {
			t.Errorf("%s made %d fsyncs, want %d", name, got, want)
		}
	}
	var m Message
	count("Put", 2, func() (err error) { m, err = o.Put(Message{Text: "a", To: toX}, nil); return err })
	count("Attempt", 2, func() error { _, err := o.Attempt(m.ID, "x", ""); return err })
	count("Delivered", 1, func() error { return o.Delivered(m.ID, "x", "") })
	count("Put", 2, func() (err error) { m, err = o.Put(Message{Text: "b", To: toX}, nil); return err })
	count("Refuse", 3, func() error { return o.Refuse(m.ID, "x", "refused") })
	// Three destinations: each delivery but the last is a rewrite.
	three := []string{"x", "mastodon", "bluesky"}
	count("Put", 2, func() (err error) { m, err = o.Put(Message{Text: "c", To: three}, nil); return err })
	count("Delivered", 2, func() error { return o.Delivered(m.ID, "x", "1") })
	count("Delivered", 2, func() error { return o.Delivered(m.ID, "mastodon", "2") })
	count("Delivered", 1, func() error { return o.Delivered(m.ID, "bluesky", "3") })
	// With a key, the last delivery moves the file to done/: one fsync
	// more.
	count("Put", 2, func() (err error) { m, err = o.Put(Message{Text: "d", To: toX, Key: "cmd-1"}, nil); return err })
	count("Delivered", 2, func() error { return o.Delivered(m.ID, "x", "1") })
	// A picture: its file and directory, then the spool after the rename.
	count("Put with a picture", 5, func() (err error) {
		m, err = o.Put(Message{Text: "e", To: toX}, []NewImage{{Data: testPNG(t, 4, 3)}})
		return err
	})
	count("Delivered", 1, func() error { return o.Delivered(m.ID, "x", "1") })
}

func TestIgnoresFilesThatAreNotMessages(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	put(t, o, "a")
	o.Close()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	o = open(t, dir, logs)
	if o.Len() != 1 {
		t.Fatalf("Len = %d, want 1", o.Len())
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatalf("a file that is not a message was touched: %v", err)
	}
	if !strings.Contains(logs.String(), "notes.txt") {
		t.Fatalf("no log line about notes.txt; log:\n%s", logs)
	}
}

func TestConcurrentUse(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	const workers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m, err := o.Put(Message{Text: fmt.Sprintf("w%d-%d", w, i), To: toX}, nil)
				if err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					if err := o.Delivered(m.ID, "x", ""); err != nil {
						errs <- err
					}
				}
				o.NextFor("x")
				o.Len()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	o = reopen(t, o, nil)
	got := o.Pending()
	if len(got) != workers*each/2 {
		t.Fatalf("%d pending after reopen, want %d", len(got), workers*each/2)
	}
	seen := map[string]bool{}
	for _, m := range got {
		if seen[m.Text] {
			t.Fatalf("%q pending twice", m.Text)
		}
		seen[m.Text] = true
	}
}

func TestExpired(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		expires time.Time
		want    bool
	}{
		{time.Time{}, false},
		{now.Add(time.Second), false},
		{now, true},
		{now.Add(-time.Second), true},
	} {
		if got := (Message{Expires: tt.expires}).Expired(now); got != tt.want {
			t.Errorf("Expires %v: Expired = %v, want %v", tt.expires, got, tt.want)
		}
	}
}

func TestRewriteIsDurable(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	m := put(t, o, "Ding dong")
	if _, err := o.Attempt(m.ID, "x", "403 duplicate"); err != nil {
		t.Fatal(err)
	}
	got, err := o.Rewrite(m.ID, "x", "Ding dong (2)")
	if err != nil {
		t.Fatalf("Rewrite: %v", err)
	}
	if got.TextFor("x") != "Ding dong (2)" || got.Text != "Ding dong" || got.Dest["x"].Attempts != 0 || got.ID != m.ID {
		t.Fatalf("Rewrite returned %+v; want x's own text, the message's kept, no attempts, the same id", got)
	}
	o = reopen(t, o, nil)
	if p := o.Pending(); len(p) != 1 || sameMessage(p[0], got) != nil {
		t.Fatalf("after a restart: %+v, want %+v", p, got)
	}
	if _, err := o.Rewrite(m.ID, "x", " "); err == nil {
		t.Fatal("Rewrite to an empty text succeeded")
	}
	if _, err := o.Rewrite("00000000000000000001", "x", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Rewrite of an unknown id: %v, want ErrNotFound", err)
	}
}
