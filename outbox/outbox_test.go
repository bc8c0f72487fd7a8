package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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

func put(t *testing.T, o *Outbox, text string) Message {
	t.Helper()
	m, err := o.Put(Message{Text: text, Source: "test"})
	if err != nil {
		t.Fatalf("Put(%q): %v", text, err)
	}
	return m
}

// sameMessage reports how got differs from want; times compare as instants.
func sameMessage(got, want Message) error {
	switch {
	case got.ID != want.ID, got.Text != want.Text, got.Source != want.Source,
		got.Attempts != want.Attempts, got.LastError != want.LastError,
		!got.Created.Equal(want.Created), !got.Expires.Equal(want.Expires),
		!got.NotBefore.Equal(want.NotBefore):
		return fmt.Errorf("got  %+v\nwant %+v", got, want)
	}
	return nil
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
		Text:      "Ding dong at 12:00 — 🔔 «quoted» \"text\"\nsecond line",
		Source:    "button doorbell",
		Expires:   clock.Add(time.Hour),
		NotBefore: clock.Add(time.Minute),
	}
	m, err := o.Put(in)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if !validID(m.ID) {
		t.Fatalf("Put gave id %q, want 20 digits", m.ID)
	}
	want := in
	want.ID = m.ID
	want.Created = clock
	if err := sameMessage(m, want); err != nil {
		t.Fatalf("Put returned:\n%v", err)
	}
	if _, err := os.Stat(filepath.Join(o.dir, m.ID+msgSuffix)); err != nil {
		t.Fatalf("message file: %v", err)
	}

	for round := range 2 {
		if round == 1 {
			o = reopen(t, o, nil)
		}
		got, ok, err := o.Next()
		if err != nil || !ok {
			t.Fatalf("round %d: Next = %v, %v, want the message", round, ok, err)
		}
		if err := sameMessage(got, want); err != nil {
			t.Fatalf("round %d: Next:\n%v", round, err)
		}
	}
	if err := o.Done(m.ID); err != nil {
		t.Fatalf("Done: %v", err)
	}
	if n := o.Len(); n != 0 {
		t.Fatalf("Len after Done = %d, want 0", n)
	}
	if _, err := os.Stat(filepath.Join(o.dir, m.ID+msgSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("message file after Done: %v, want it gone", err)
	}
	o = reopen(t, o, nil)
	if _, ok, err := o.Next(); ok || err != nil {
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
	// Done out of order leaves the rest in order.
	p := o.Pending()
	for _, i := range []int{3, 0, 9} {
		if err := o.Done(p[i].ID); err != nil {
			t.Fatalf("Done(%d): %v", i, err)
		}
	}
	next, _, _ := o.Next()
	if next.Text != "before 1" || o.Len() != 7 {
		t.Fatalf("after three Done: Next %q, Len %d; want \"before 1\", 7", next.Text, o.Len())
	}
}

func TestAttemptAndRetryAtAreDurable(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	m := put(t, o, "hello")
	if _, err := o.Attempt(m.ID, ""); err != nil {
		t.Fatalf("Attempt: %v", err)
	}
	retry := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := o.RetryAt(m.ID, retry, "429 rate limited"); err != nil {
		t.Fatalf("RetryAt: %v", err)
	}
	got, err := o.Attempt(m.ID, "")
	if err != nil {
		t.Fatalf("Attempt: %v", err)
	}
	want := m
	want.Attempts = 2
	want.LastError = "429 rate limited"
	want.NotBefore = retry
	if err := sameMessage(got, want); err != nil {
		t.Fatalf("after Attempt, RetryAt, Attempt:\n%v", err)
	}
	o = reopen(t, o, nil)
	got, _, _ = o.Next()
	if err := sameMessage(got, want); err != nil {
		t.Fatalf("after reopen:\n%v", err)
	}
	got, err = o.Attempt(m.ID, "connection reset")
	if err != nil || got.Attempts != 3 || got.LastError != "connection reset" {
		t.Fatalf("Attempt with error text = %+v, %v; want attempts 3, last error set", got, err)
	}
}

func TestUnknownIDIsNotFound(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	m := put(t, o, "x")
	if err := o.Done(m.ID); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Done":    o.Done(m.ID),
		"Dead":    o.Dead("00000000000000000001", "r"),
		"Attempt": func() error { _, err := o.Attempt("nope", ""); return err }(),
		"RetryAt": func() error { _, err := o.RetryAt(m.ID, time.Time{}, ""); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of a missing id: %v, want ErrNotFound", name, err)
		}
	}
}

func TestPutRefusesEmptyText(t *testing.T) {
	o := open(t, t.TempDir(), nil)
	for _, text := range []string{"", "  \n\t"} {
		if _, err := o.Put(Message{Text: text}); err == nil {
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
	a, err := o.Attempt(a.ID, "403 forbidden")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Dead(a.ID, "X refused it: 403 You are not allowed to create a Tweet with duplicate content."); err != nil {
		t.Fatalf("Dead: %v", err)
	}
	if next, _, _ := o.Next(); next.ID != b.ID || o.Len() != 1 {
		t.Fatalf("after Dead: Next %q, Len %d; want %q, 1", next.Text, o.Len(), b.Text)
	}
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

// A crash inside Dead, after the dead copy is written and before the queued
// file is removed, leaves the message in both places; Open finishes the move.
func TestInterruptedDeadIsFinished(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	m := put(t, o, "expired report")
	o.Close()
	r := recordOf(m)
	r.DeadReason = "expired"
	r.DeadAt = time.Now()
	data, err := encode(r)
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
	if _, err := o.Put(Message{Text: "late"}); !errors.Is(err, ErrClosed) {
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
	count("Put", 2, func() (err error) { m, err = o.Put(Message{Text: "a"}); return err })
	count("Attempt", 2, func() error { _, err := o.Attempt(m.ID, ""); return err })
	count("Done", 1, func() error { return o.Done(m.ID) })
	count("Put", 2, func() (err error) { m, err = o.Put(Message{Text: "b"}); return err })
	count("Dead", 3, func() error { return o.Dead(m.ID, "refused") })
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
				m, err := o.Put(Message{Text: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					if err := o.Done(m.ID); err != nil {
						errs <- err
					}
				}
				o.Next()
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
	if _, err := o.Attempt(m.ID, "403 duplicate"); err != nil {
		t.Fatal(err)
	}
	got, err := o.Rewrite(m.ID, "Ding dong (2)")
	if err != nil {
		t.Fatalf("Rewrite: %v", err)
	}
	if got.Text != "Ding dong (2)" || got.Attempts != 0 || got.ID != m.ID {
		t.Fatalf("Rewrite returned %+v; want the new text, no attempts, the same id", got)
	}
	o = reopen(t, o, nil)
	if p := o.Pending(); len(p) != 1 || sameMessage(p[0], got) != nil {
		t.Fatalf("after a restart: %+v, want %+v", p, got)
	}
	if _, err := o.Rewrite(m.ID, " "); err == nil {
		t.Fatal("Rewrite to an empty text succeeded")
	}
	if _, err := o.Rewrite("00000000000000000001", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Rewrite of an unknown id: %v, want ErrNotFound", err)
	}
}
