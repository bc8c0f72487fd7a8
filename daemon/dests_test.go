package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pitweet/outbox"
	"pitweet/sender"
)

// twoRig is an outbox delivered to X and to a second destination, "x2",
// that speaks X's protocol, each through its own scripted server.
type twoRig struct {
	box    *outbox.Outbox
	st     *state
	x, x2  *scriptedX
	dx, d2 *deliverer
	now    time.Time
}

func newTwoRig(t *testing.T) *twoRig {
	t.Helper()
	box, err := outbox.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	r := &twoRig{box: box, st: &state{started: t0}, x: &scriptedX{}, x2: &scriptedX{}, now: t0}
	r.dx = newDeliverer(box, newXDestination("x", r.x), r.st, discardLog())
	r.d2 = newDeliverer(box, newXDestination("x2", r.x2), r.st, discardLog())
	for _, d := range []*deliverer{r.dx, r.d2} {
		d.now = func() time.Time { return r.now }
		d.jitter = func() float64 { return 0 }
	}
	return r
}

func (r *twoRig) put(t *testing.T, text string, expires time.Time) outbox.Message {
	t.Helper()
	m, err := r.box.Put(outbox.Message{Text: text, Source: "button test", Kind: "press", Created: r.now, Expires: expires, To: []string{"x", "x2"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var unavailable = &sender.APIError{Kind: sender.KindTransient, Status: 503, Err: sender.ErrTransient}

// One destination down: the other posts every message at once, and the
// one that was down posts them all, once, when it is back.
func TestOneDestinationDownTheOtherUnaffected(t *testing.T) {
	r := newTwoRig(t)
	for i := range 5 {
		r.put(t, fmt.Sprint("press ", i), time.Time{})
	}
	r.x.answers = []error{unavailable, unavailable}
	r.x2.answers = []error{nil, nil, nil, nil, nil}
	if wait := r.dx.deliverOnce(context.Background()); wait <= 0 {
		t.Fatalf("x down: wait %v, want a backoff", wait)
	}
	for i := range 5 {
		if wait := r.d2.deliverOnce(context.Background()); wait != 0 {
			t.Fatalf("x2 message %d: wait %v while x is down, want 0", i, wait)
		}
	}
	if wait := r.d2.deliverOnce(context.Background()); wait != idle {
		t.Fatalf("x2 after its five: wait %v, want idle", wait)
	}
	if len(r.x2.posted) != 5 || r.box.Len() != 5 || r.box.LenFor("x2") != 0 || r.box.LenFor("x") != 5 {
		t.Fatalf("x2 posted %d; queue %d, x2 %d, x %d; want 5, 5, 0, 5", len(r.x2.posted), r.box.Len(), r.box.LenFor("x2"), r.box.LenFor("x"))
	}
	st := r.st.snapshot(r.now, r.box)
	if len(st.Destinations) != 2 || st.Destinations[0].Delivery != "backing off" || st.Destinations[1].Delivery != "idle" ||
		st.Destinations[0].Queue != 5 || st.Destinations[1].Queue != 0 || st.Destinations[1].LastSuccess == nil {
		t.Fatalf("status per destination %+v", st.Destinations)
	}
	if st.Delivery != "x: backing off" || st.Queue != 5 {
		t.Fatalf("status delivery %q, queue %d; want x backing off, 5", st.Delivery, st.Queue)
	}

	r.now = r.now.Add(time.Minute)
	r.dx.deliverOnce(context.Background()) // the second 503
	r.now = r.now.Add(time.Minute)
	r.x.answers = []error{nil, nil, nil, nil, nil}
	for range 5 {
		if wait := r.dx.deliverOnce(context.Background()); wait != 0 {
			t.Fatalf("x back: wait %v", wait)
		}
	}
	if r.box.Len() != 0 {
		t.Fatalf("queue %d after both posted everything, want 0", r.box.Len())
	}
	want := []string{"press 0", "press 1", "press 2", "press 3", "press 4"}
	// X was tried twice with the first message before it got through: the
	// attempts may have reached it, so it is retried, never skipped.
	if !slices.Equal(r.x.posted[2:], want) || !slices.Equal(r.x2.posted, want) {
		t.Fatalf("x posted %q, x2 posted %q; want each once, in order", r.x.posted, r.x2.posted)
	}
}

// X numbers a text it already has on its own: the other destination posts
// the text as it is.
func TestNumberingIsPerDestination(t *testing.T) {
	r := newTwoRig(t)
	r.put(t, "Ding dong", time.Time{})
	r.x.answers = []error{&sender.APIError{Kind: sender.KindDuplicate, Status: 403, Detail: "duplicate content"}, nil}
	r.x2.answers = []error{nil}
	r.dx.deliverOnce(context.Background())
	r.d2.deliverOnce(context.Background())
	r.dx.deliverOnce(context.Background())
	if !slices.Equal(r.x.posted, []string{"Ding dong", "Ding dong (2)"}) || !slices.Equal(r.x2.posted, []string{"Ding dong"}) {
		t.Fatalf("x posted %q, x2 posted %q", r.x.posted, r.x2.posted)
	}
	if r.box.Len() != 0 {
		t.Fatal("the message is still queued")
	}
	st := r.st.snapshot(r.now, r.box)
	if st.Destinations[0].LastSuccess.Text != "Ding dong (2)" || st.Destinations[1].LastSuccess.Text != "Ding dong" {
		t.Fatalf("status last successes %+v and %+v", st.Destinations[0].LastSuccess, st.Destinations[1].LastSuccess)
	}
}

// A duplicate after an attempt that may have reached X counts as
// delivered there, whatever the other destination did.
func TestDuplicateAfterLostAnswerWithTwoDestinations(t *testing.T) {
	r := newTwoRig(t)
	r.put(t, "hello", time.Time{})
	r.x.answers = []error{fmt.Errorf("read response: %w", sender.ErrTransient), &sender.APIError{Kind: sender.KindDuplicate, Status: 403}}
	r.x2.answers = []error{nil}
	r.dx.deliverOnce(context.Background())
	r.d2.deliverOnce(context.Background())
	r.now = r.now.Add(time.Minute)
	r.dx.deliverOnce(context.Background())
	if r.box.Len() != 0 || len(r.x.posted) != 2 || r.x.posted[1] != "hello" {
		t.Fatalf("queue %d, x posted %q; want the retry counted delivered", r.box.Len(), r.x.posted)
	}
	if dl, _ := r.box.DeadLetters(); len(dl) != 0 {
		t.Fatalf("dead letters %+v", dl)
	}
}

// A refusal or an expiry is per destination: the message is a dead letter
// once every destination is done with it, and status shows what each did.
func TestRefusedOnOneDestination(t *testing.T) {
	r := newTwoRig(t)
	r.put(t, "refused by x2", time.Time{})
	r.put(t, "a stale report", t0.Add(time.Hour))
	r.x.answers = []error{nil}
	r.x2.answers = []error{&sender.APIError{Kind: sender.KindForbidden, Status: 403, Detail: "this app may not post"}}
	r.d2.deliverOnce(context.Background())
	if dl, _ := r.box.DeadLetters(); len(dl) != 0 {
		t.Fatal("a dead letter before x is done with the message")
	}
	r.dx.deliverOnce(context.Background())
	// x2 is stuck until the report is stale; x too.
	r.now = t0.Add(time.Hour)
	r.d2.deliverOnce(context.Background())
	r.dx.deliverOnce(context.Background())
	if r.box.Len() != 0 {
		t.Fatalf("queue %d, want 0", r.box.Len())
	}
	st := r.st.snapshot(r.now, r.box)
	if st.DeadLetters != 2 {
		t.Fatalf("%d dead letters, want 2", st.DeadLetters)
	}
	refused, stale := st.RecentDead[0], st.RecentDead[1]
	if !strings.HasPrefix(refused.Reason, "x2: forbidden: ") || len(refused.Outcomes) != 2 ||
		!refused.Outcomes[0].Posted || refused.Outcomes[0].Ref != "1001" || refused.Outcomes[1].Posted || refused.Outcomes[1].Refused == "" {
		t.Errorf("the refused message in status: %+v", refused)
	}
	if stale.Reason != "x: expired; x2: expired" {
		t.Errorf("the stale report in status: %+v", stale)
	}
}
