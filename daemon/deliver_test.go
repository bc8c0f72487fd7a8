package daemon

import (
	"context"
	"errors"
	"fmt"
	"pitweet/textlen"
	"slices"
	"strings"
	"testing"
	"time"

	"pitweet/outbox"
	"pitweet/sender"
)

// scriptedX stands in for X: each Post takes the next answer in order.
type scriptedX struct {
	answers []error // nil: accepted
	posted  []string
	offset  time.Duration
	offsets int // SetClockOffset calls
	// date, when set, is X's clock: every answer carries it, to the
	// second, as its Date header.
	date func() time.Time
}

func (x *scriptedX) Post(ctx context.Context, text string) (*sender.Tweet, error) {
	x.posted = append(x.posted, text)
	if len(x.answers) == 0 {
		return nil, errors.New("scriptedX: no answer scripted")
	}
	err := x.answers[0]
	x.answers = x.answers[1:]
	var meta sender.Meta
	if x.date != nil {
		meta.Date = x.date().Truncate(time.Second)
	}
	var apiErr *sender.APIError
	if errors.As(err, &apiErr) && x.date != nil {
		e := *apiErr
		e.Meta = meta
		return nil, &e
	}
	if err != nil {
		return nil, err
	}
	return &sender.Tweet{ID: fmt.Sprint(1000 + len(x.posted)), Text: text, Meta: meta}, nil
}

func (x *scriptedX) SetClockOffset(d time.Duration) { x.offset = d; x.offsets++ }

func (x *scriptedX) API() string { return "v2" }

func (x *scriptedX) UploadImage(context.Context, sender.Image) (*sender.Media, error) {
	return nil, errors.New("scriptedX: uploads are tested against fakex")
}

func (x *scriptedX) PostMedia(ctx context.Context, text string, ids []string) (*sender.Tweet, error) {
	return nil, errors.New("scriptedX: uploads are tested against fakex")
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type deliveryRig struct {
	d       *deliverer
	box     *outbox.Outbox
	x       *scriptedX
	now     time.Time
	blinks  int
	errLED  bool
	jitterV float64
}

func newDeliveryRig(t *testing.T, answers ...error) *deliveryRig {
	t.Helper()
	box, err := outbox.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	r := &deliveryRig{box: box, x: &scriptedX{answers: answers}, now: t0}
	r.d = newDeliverer(box, newXDestination("x", r.x), &state{started: t0}, discardLog())
	r.d.now = func() time.Time { return r.now }
	r.d.jitter = func() float64 { return r.jitterV }
	r.d.sent = func() { r.blinks++ }
	r.d.failed = func(on bool) { r.errLED = on }
	return r
}

func (r *deliveryRig) put(t *testing.T, text string, expires time.Time) outbox.Message {
	t.Helper()
	m, err := r.box.Put(outbox.Message{Text: text, Source: "button test", Created: r.now, Expires: expires, To: []string{"x"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *deliveryRig) deadReasons(t *testing.T) []string {
	t.Helper()
	dl, err := r.box.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dl {
		out = append(out, d.Reason)
	}
	return out
}

func TestDeliverSuccess(t *testing.T) {
	r := newDeliveryRig(t, nil)
	r.put(t, "hello", time.Time{})
	if wait := r.d.deliverOnce(context.Background()); wait != 0 {
		t.Fatalf("wait after success = %v, want 0", wait)
	}
	if r.box.Len() != 0 || r.blinks != 1 || len(r.x.posted) != 1 {
		t.Fatalf("queue %d, blinks %d, posted %q; want 0, 1, one post", r.box.Len(), r.blinks, r.x.posted)
	}
	if wait := r.d.deliverOnce(context.Background()); wait != idle {
		t.Fatalf("wait on an empty outbox = %v, want idle", wait)
	}
	st := r.d.st.snapshot(r.now, r.box)
	if st.LastSuccess == nil || st.LastSuccess.TweetID != "1001" {
		t.Fatalf("status last success = %+v, want tweet 1001", st.LastSuccess)
	}
}

func TestDeliverDuplicate(t *testing.T) {
	dup := &sender.APIError{Kind: sender.KindDuplicate, Status: 403, Detail: "duplicate content"}
	t.Run("after an unknown outcome", func(t *testing.T) {
		r := newDeliveryRig(t, fmt.Errorf("read response: %w", sender.ErrTransient), dup)
		r.put(t, "hello", time.Time{})
		r.d.deliverOnce(context.Background())
		r.now = r.now.Add(time.Minute)
		r.d.deliverOnce(context.Background())
		if r.box.Len() != 0 || len(r.deadReasons(t)) != 0 || r.blinks != 1 {
			t.Fatalf("queue %d, dead %q, blinks %d; want a delivered message", r.box.Len(), r.deadReasons(t), r.blinks)
		}
	})
	t.Run("queued before a restart", func(t *testing.T) {
		// The run that queued it may have sent it and died before the
		// answer: a duplicate now means X has it.
		r := newDeliveryRig(t, dup)
		r.put(t, "hello", time.Time{})
		r.d = newDeliverer(r.box, newXDestination("x", r.x), r.d.st, discardLog())
		r.d.now = func() time.Time { return r.now }
		r.d.deliverOnce(context.Background())
		if r.box.Len() != 0 || len(r.deadReasons(t)) != 0 {
			t.Fatalf("queue %d, dead %q; want the message counted delivered", r.box.Len(), r.deadReasons(t))
		}
	})
	t.Run("first attempt", func(t *testing.T) {
		// X has the text from another message: the press is posted with
		// a number, not dropped.
		r := newDeliveryRig(t, dup, nil)
		r.put(t, "hello", time.Time{})
		r.d.deliverOnce(context.Background())
		r.d.deliverOnce(context.Background())
		if r.box.Len() != 0 || len(r.deadReasons(t)) != 0 || r.blinks != 1 {
			t.Fatalf("queue %d, dead %q, blinks %d; want the message posted", r.box.Len(), r.deadReasons(t), r.blinks)
		}
		if want := []string{"hello", "hello (2)"}; !slices.Equal(r.x.posted, want) {
			t.Fatalf("posted %q, want %q", r.x.posted, want)
		}
		if st := r.d.st.snapshot(r.now, r.box); st.LastSuccess == nil || st.LastSuccess.Text != "hello (2)" {
			t.Fatalf("status last success %+v, want the numbered text", st.LastSuccess)
		}
	})
	t.Run("numbered text after an unknown outcome", func(t *testing.T) {
		// The numbered text is on disk before it is sent: its retry
		// sends the same text, and a duplicate then means delivered.
		r := newDeliveryRig(t, dup, fmt.Errorf("read response: %w", sender.ErrTransient), dup)
		r.put(t, "hello", time.Time{})
		for range 3 {
			r.d.deliverOnce(context.Background())
			r.now = r.now.Add(time.Minute)
		}
		if want := []string{"hello", "hello (2)", "hello (2)"}; !slices.Equal(r.x.posted, want) {
			t.Fatalf("posted %q, want %q", r.x.posted, want)
		}
		if r.box.Len() != 0 || len(r.deadReasons(t)) != 0 {
			t.Fatalf("queue %d, dead %q; want the message counted delivered", r.box.Len(), r.deadReasons(t))
		}
	})
	t.Run("numbered text after a restart", func(t *testing.T) {
		r := newDeliveryRig(t, dup, dup)
		r.put(t, "hello", time.Time{})
		r.d.deliverOnce(context.Background())
		// The run that numbered it dies before sending "hello (2)": the
		// next run counts it as maybe sent, and a duplicate as delivered.
		r.d = newDeliverer(r.box, newXDestination("x", r.x), r.d.st, discardLog())
		r.d.now = func() time.Time { return r.now }
		r.d.deliverOnce(context.Background())
		if want := []string{"hello", "hello (2)"}; !slices.Equal(r.x.posted, want) || r.box.Len() != 0 {
			t.Fatalf("posted %q, queue %d; want %q and the message counted delivered", r.x.posted, r.box.Len(), want)
		}
	})
	t.Run("a text X took in this run", func(t *testing.T) {
		// The second message is numbered before its first send: one
		// request each.
		r := newDeliveryRig(t, nil, nil, nil)
		for range 3 {
			r.put(t, "hello", time.Time{})
		}
		for range 3 {
			r.d.deliverOnce(context.Background())
		}
		if want := []string{"hello", "hello (2)", "hello (3)"}; !slices.Equal(r.x.posted, want) {
			t.Fatalf("posted %q, want %q", r.x.posted, want)
		}
	})
	t.Run("a server that calls everything a duplicate", func(t *testing.T) {
		var answers []error
		for range maxDuplicateRefusals {
			answers = append(answers, dup)
		}
		r := newDeliveryRig(t, answers...)
		r.put(t, "hello", time.Time{})
		for range maxDuplicateRefusals {
			r.d.deliverOnce(context.Background())
		}
		if reasons := r.deadReasons(t); len(reasons) != 1 || !strings.Contains(reasons[0], "duplicate") || !r.errLED {
			t.Fatalf("dead letters %q, error LED %v; want one duplicate dead letter and the LED on", reasons, r.errLED)
		}
		if len(r.x.posted) != maxDuplicateRefusals {
			t.Fatalf("%d requests, want %d", len(r.x.posted), maxDuplicateRefusals)
		}
	})
}

func TestNumberedTextFitsAPost(t *testing.T) {
	long := strings.Repeat("x", textlen.MaxX)
	got := numbered(long, 12, textRule("x"))
	if n := textlen.X(got); n > textlen.MaxX || !strings.HasSuffix(got, " (12)") {
		t.Fatalf("numbered text is %d characters, ends %q", n, got[len(got)-8:])
	}
	if got := numbered("Ding dong at 14:30", 2, textRule("x")); got != "Ding dong at 14:30 (2)" {
		t.Fatalf("numbered = %q", got)
	}
}

func TestDeliverRateLimit(t *testing.T) {
	reset := t0.Add(10 * time.Minute)
	r := newDeliveryRig(t, &sender.APIError{Kind: sender.KindRateLimited, Status: 429, RetryAt: reset}, nil)
	r.put(t, "hello", time.Time{})
	if wait := r.d.deliverOnce(context.Background()); wait != 10*time.Minute {
		t.Fatalf("wait after 429 = %v, want 10m", wait)
	}
	r.now = reset.Add(-time.Second)
	if wait := r.d.deliverOnce(context.Background()); wait != time.Second {
		t.Fatalf("wait a second before the reset = %v, want 1s", wait)
	}
	if len(r.x.posted) != 1 {
		t.Fatalf("%d requests before the reset, want 1", len(r.x.posted))
	}
	st := r.d.st.snapshot(r.now, r.box)
	if !st.RateLimited.Equal(reset) {
		t.Fatalf("status rate limited until %v, want %v", st.RateLimited, reset)
	}
	r.now = reset
	r.d.deliverOnce(context.Background())
	if len(r.x.posted) != 2 || r.box.Len() != 0 {
		t.Fatalf("after the reset: %d requests, queue %d; want 2, 0", len(r.x.posted), r.box.Len())
	}
}

func TestDeliverBackoff(t *testing.T) {
	var answers []error
	for range 12 {
		answers = append(answers, &sender.APIError{Kind: sender.KindTransient, Status: 503, Err: sender.ErrTransient})
	}
	r := newDeliveryRig(t, append(answers, nil)...)
	r.jitterV = 0.999999
	r.put(t, "hello", time.Time{})
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}
	for i, w := range want {
		w *= time.Second
		got := r.d.deliverOnce(context.Background())
		if got < w/2 || got > w {
			t.Fatalf("wait after failure %d = %v, want between %v and %v", i+1, got, w/2, w)
		}
		r.now = r.now.Add(got)
	}
	r.d.deliverOnce(context.Background())
	if r.box.Len() != 0 {
		t.Fatal("message not delivered after the server recovered")
	}
	if r.d.backoff != 0 {
		t.Fatalf("backoff %v after a success, want reset to 0", r.d.backoff)
	}
}

func TestDeliverClockSkew(t *testing.T) {
	serverDate := t0.Add(2 * time.Hour)
	skew := &sender.APIError{Kind: sender.KindClockSkew, Status: 401, Meta: sender.Meta{Date: serverDate}}
	r := newDeliveryRig(t, skew, nil, skew, skew)
	r.put(t, "first", time.Time{})
	r.d.deliverOnce(context.Background())
	// The Date header has one-second resolution: the offset is taken from
	// the middle of its second.
	if r.x.offset < 2*time.Hour || r.x.offset > 2*time.Hour+time.Second {
		t.Fatalf("clock offset set to %v, want 2h to the second", r.x.offset)
	}
	r.d.deliverOnce(context.Background())
	if r.box.Len() != 0 {
		t.Fatal("not posted after the clock correction")
	}
	// A second complaint about the same message after correcting: give up.
	r.put(t, "second", time.Time{})
	r.d.deliverOnce(context.Background())
	r.d.deliverOnce(context.Background())
	if reasons := r.deadReasons(t); len(reasons) != 1 || !strings.Contains(reasons[0], "timestamp") {
		t.Fatalf("dead letters %q, want one about the timestamp", reasons)
	}
	if len(r.x.posted) != 4 {
		t.Fatalf("%d requests, want 4 (one retry per message)", len(r.x.posted))
	}
}

// The clocks move between the correction and the retry (NTP steps ours,
// or the fault on the service's side ends): the message waits and goes,
// it is never a dead letter.
func TestDeliverClockMovesAfterTheCorrection(t *testing.T) {
	ahead := &sender.APIError{Kind: sender.KindClockSkew, Status: 401, Meta: sender.Meta{Date: t0.Add(10 * time.Minute)}}
	back := &sender.APIError{Kind: sender.KindClockSkew, Status: 401, Meta: sender.Meta{Date: t0}}
	r := newDeliveryRig(t, ahead, back, nil)
	r.put(t, "bell", time.Time{})
	if wait := r.d.deliverOnce(context.Background()); wait != 0 {
		t.Fatalf("wait %v after the first correction, want an immediate retry", wait)
	}
	wait := r.d.deliverOnce(context.Background())
	if wait <= 0 || r.box.Len() != 1 {
		t.Fatalf("after the clock moved again: wait %v, %d queued; want a backoff with the message kept", wait, r.box.Len())
	}
	if r.x.offset < -time.Second || r.x.offset > time.Second {
		t.Fatalf("clock offset %v after the service's clock came back, want about 0", r.x.offset)
	}
	r.now = r.now.Add(wait)
	r.d.deliverOnce(context.Background())
	if r.box.Len() != 0 || len(r.deadReasons(t)) != 0 || len(r.x.posted) != 3 {
		t.Fatalf("%d queued, dead letters %q, %d requests; want it posted on the third request", r.box.Len(), r.deadReasons(t), len(r.x.posted))
	}
}

func TestDeliverPermanent(t *testing.T) {
	for _, e := range []*sender.APIError{
		{Kind: sender.KindPermanent, Status: 400, Detail: "text too long"},
		{Kind: sender.KindForbidden, Status: 403, Detail: "read-only app"},
		{Kind: sender.KindUnauthorized, Status: 401, Detail: "bad token"},
	} {
		r := newDeliveryRig(t, e)
		r.put(t, "hello", time.Time{})
		r.d.deliverOnce(context.Background())
		reasons := r.deadReasons(t)
		if len(reasons) != 1 || !strings.Contains(reasons[0], e.Detail) || !r.errLED {
			t.Fatalf("%v: dead letters %q, error LED %v; want the reason kept and the LED on", e.Kind, reasons, r.errLED)
		}
		st := r.d.st.snapshot(r.now, r.box)
		if st.DeadLetters != 1 || len(st.RecentDead) != 1 || st.LastError == nil {
			t.Fatalf("%v: status %+v does not show the dead letter and error", e.Kind, st)
		}
	}
}

func TestDeliverExpired(t *testing.T) {
	r := newDeliveryRig(t)
	r.put(t, "stale report", t0.Add(time.Hour))
	r.now = t0.Add(time.Hour)
	r.d.deliverOnce(context.Background())
	if len(r.x.posted) != 0 {
		t.Fatal("an expired message was posted")
	}
	if reasons := r.deadReasons(t); len(reasons) != 1 || reasons[0] != "expired" {
		t.Fatalf("dead letters %q, want [expired]", reasons)
	}
}

func TestDeliverWaitsForClock(t *testing.T) {
	r := newDeliveryRig(t, nil)
	r.now = time.Date(1970, 1, 1, 0, 0, 42, 0, time.UTC)
	r.put(t, "hello", time.Time{})
	if wait := r.d.deliverOnce(context.Background()); wait != clockPoll {
		t.Fatalf("wait with the clock in 1970 = %v, want %v", wait, clockPoll)
	}
	if len(r.x.posted) != 0 {
		t.Fatal("posted with the clock in 1970")
	}
	if st := r.d.st.snapshot(r.now, r.box); st.Clock.Plausible || !strings.Contains(st.Delivery, "clock") {
		t.Fatalf("status clock %+v, delivery %q; want implausible and said so", st.Clock, st.Delivery)
	}
	r.now = t0
	r.d.deliverOnce(context.Background())
	if len(r.x.posted) != 1 {
		t.Fatal("not posted once the clock was set")
	}
}

// X's clock 250 s ahead is inside its ±5 min window, so no 401 ever says
// so; a 429's reset is on X's clock. The answer's own Date corrects the
// offset before the reset is converted, so a 2 s reset is a 2 s wait, not
// four minutes.
func TestDeliverRateLimitResetOnXClock(t *testing.T) {
	r := newDeliveryRig(t)
	ahead := 250 * time.Second
	r.x.date = func() time.Time { return r.now.Add(ahead) }
	// As the sender sets it: the wait the answer asks for (reset minus its
	// Date) after the request's time on the clock it signed with, which
	// had no offset yet.
	r.x.answers = []error{&sender.APIError{Kind: sender.KindRateLimited, Status: 429, RetryAt: t0.Add(2 * time.Second)}, nil}
	r.put(t, "hello", time.Time{})
	wait := r.d.deliverOnce(context.Background())
	if wait < time.Second || wait > 3*time.Second {
		t.Fatalf("wait after a 429 with a reset 2 s away on X's clock = %v, want about 2s", wait)
	}
	if off := r.d.clockOffset(); off < ahead || off > ahead+time.Second {
		t.Fatalf("clock offset %v, want %v to the second", off, ahead)
	}
	if st := r.d.st.snapshot(r.now, r.box); time.Duration(st.Clock.Offset) != r.d.clockOffset() {
		t.Fatalf("status offset %v, want %v", st.Clock.Offset, r.d.clockOffset())
	}
}

// A 429 whose answer shows that the clock offset the request was signed
// with is wrong (X's clock was set right again) waits what the answer
// asks, not that plus the old offset's error.
func TestDeliverRateLimitAfterTheOffsetChanged(t *testing.T) {
	r := newDeliveryRig(t)
	const was = 10 * time.Minute
	r.d.setOffset(was)
	r.x.date = func() time.Time { return r.now }
	// The sender's RetryAt: the request's time on the clock it signed
	// with (ours plus the old offset), plus the 1 s the answer asks for.
	r.x.answers = []error{&sender.APIError{Kind: sender.KindRateLimited, Status: 429, RetryAt: t0.Add(was + time.Second)}, nil}
	r.put(t, "hello", time.Time{})
	wait := r.d.deliverOnce(context.Background())
	if wait > 2*time.Second {
		t.Fatalf("wait after a 429 asking for 1 s = %v, want about 1s (the old offset was %v)", wait, was)
	}
	if off := r.d.clockOffset(); off > time.Second || off < -time.Second {
		t.Fatalf("clock offset %v after X's answer, want about 0", off)
	}
}

// Answers keep the offset current without jittering it: Date's rounding
// and the round trip move nothing; a real change of a few seconds does.
func TestDeliverClockOffsetFollowsDateHeaders(t *testing.T) {
	var answers []error
	for range 40 {
		answers = append(answers, nil)
	}
	r := newDeliveryRig(t, answers...)
	ahead := 250*time.Second + 300*time.Millisecond
	r.x.date = func() time.Time { return r.now.Add(ahead) }
	post := func() {
		t.Helper()
		r.put(t, fmt.Sprint("post ", len(r.x.posted)), time.Time{})
		if wait := r.d.deliverOnce(context.Background()); wait != 0 {
			t.Fatalf("post %d: wait %v, want 0", len(r.x.posted), wait)
		}
	}
	post()
	if r.x.offsets != 1 {
		t.Fatalf("%d offset changes after the first answer, want 1", r.x.offsets)
	}
	first := r.d.clockOffset()
	if d := first - ahead; d < -time.Second || d > time.Second {
		t.Fatalf("offset %v, want %v to the second", first, ahead)
	}
	// Twenty answers over the next eight seconds, each Date rounded down
	// to its second: the offset stays.
	for range 20 {
		r.now = r.now.Add(400 * time.Millisecond)
		post()
	}
	if r.x.offsets != 1 || r.d.clockOffset() != first {
		t.Fatalf("offset changed %d times (now %v) on answers that agree with it", r.x.offsets-1, r.d.clockOffset())
	}
	// NTP steps our clock back by 3 s: X's Date now disagrees by 3 s.
	ahead += 3 * time.Second
	post()
	if r.x.offsets != 2 {
		t.Fatalf("%d offset changes after a 3 s step, want 2", r.x.offsets)
	}
	if d := r.d.clockOffset() - ahead; d < -time.Second || d > time.Second {
		t.Fatalf("offset %v after the step, want %v to the second", r.d.clockOffset(), ahead)
	}
}

// An attempt that uploads pictures may run longer than one request
// before the watchdog calls it stuck: each picture's requests and its
// bytes at the slowest uplink allowed.
func TestStuckAllowsPictureUploads(t *testing.T) {
	d := &deliverer{}
	pics := []Picture{{Type: "image/jpeg", Size: 4_900_000}}
	extra := pictureTime(pics)
	if want := 2*sender.DefaultTimeout + sender.UploadTime(4_900_000); extra != want {
		t.Errorf("allowance %v, want %v", extra, want)
	}
	d.setBusyFor(t0, extra)
	if s := d.stuckFor(t0.Add(extra + time.Second)); s != time.Second {
		t.Errorf("stuck %v one second past the allowance", s)
	}
	if s := d.stuckFor(t0.Add(extra / 2)); s != 0 {
		t.Errorf("stuck %v within the allowance", s)
	}
	d.setBusy(t0)
	if s := d.stuckFor(t0.Add(40 * time.Second)); s != 40*time.Second {
		t.Errorf("a text post: stuck %v after 40s", s)
	}
	if gif := pictureTime([]Picture{{Type: "image/gif", Size: 3 << 20}}); gif <= extra {
		t.Errorf("a 3 MiB GIF by the chunked flow is allowed %v, no more than a photo's %v", gif, extra)
	}
}
