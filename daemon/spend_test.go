package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pitweet/budget"
	"pitweet/outbox"
	"pitweet/sender"
)

// billedX stands in for X at the edge: it accepts every post unless an
// answer is scripted, and answers with the rate-limit headers it is given.
type billedX struct {
	now     func() time.Time
	posted  []string
	answers []error // taken in order before accepting; nil: accepted
	limits  sender.RateLimit
	calls   int
}

func (x *billedX) Post(ctx context.Context, text string) (*sender.Tweet, error) {
	x.calls++
	meta := sender.Meta{Status: 201, Date: x.now().Truncate(time.Second), RateLimit: x.limits}
	if len(x.answers) > 0 {
		err := x.answers[0]
		x.answers = x.answers[1:]
		var apiErr *sender.APIError
		if errors.As(err, &apiErr) {
			e := *apiErr
			e.Meta = meta
			e.Meta.Status = e.Status
			return nil, &e
		}
		if err != nil {
			return nil, err
		}
	}
	x.posted = append(x.posted, text)
	return &sender.Tweet{ID: fmt.Sprint(1000 + len(x.posted)), Text: text, Meta: meta}, nil
}

func (x *billedX) SetClockOffset(time.Duration) {}

func (x *billedX) API() string { return "v2" }

func (x *billedX) UploadImage(context.Context, sender.Image) (*sender.Media, error) {
	return nil, errors.New("billedX: uploads are tested against fakex")
}

func (x *billedX) PostMedia(context.Context, string, []string) (*sender.Tweet, error) {
	return nil, errors.New("billedX: uploads are tested against fakex")
}

// noLimits is what an answer without rate-limit headers says.
var noLimits = sender.RateLimit{Limit: -1, Remaining: -1, UserLimit24h: -1, UserRemaining24h: -1}

type spendRig struct {
	d   *deliverer
	box *outbox.Outbox
	x   *billedX
	now time.Time
	dir string
}

func newSpendRig(t *testing.T, start time.Time, s budget.Settings) *spendRig {
	t.Helper()
	dir := t.TempDir()
	box, err := outbox.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	r := &spendRig{box: box, now: start, dir: dir}
	r.x = &billedX{now: func() time.Time { return r.now }, limits: noLimits}
	r.d = newDeliverer(box, newXDestination("x", r.x), &state{started: start}, discardLog())
	r.d.now = func() time.Time { return r.now }
	r.d.jitter = func() float64 { return 0 }
	r.d.spend = newSpending(dir, s, discardLog())
	t.Cleanup(r.d.spend.close)
	if r.d.spend.ledgerErr != nil {
		t.Fatal(r.d.spend.ledgerErr)
	}
	return r
}

func (r *spendRig) put(t *testing.T, text, kind, onBudget string, expires time.Time) outbox.Message {
	t.Helper()
	m, err := r.box.Put(outbox.Message{Text: text, Kind: kind, Source: kind, Created: r.now, Expires: expires, To: []string{"x"}, OnBudget: onBudget}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// drain delivers until the loop has to wait, and returns the wait.
func (r *spendRig) drain(t *testing.T) time.Duration {
	t.Helper()
	for range 10000 {
		if wait := r.d.deliverOnce(context.Background()); wait != 0 {
			return wait
		}
	}
	t.Fatal("the delivery loop never waits")
	return 0
}

func (r *spendRig) month(t *testing.T) budget.Month {
	t.Helper()
	m, err := r.d.spend.ledger.Month(r.now)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *spendRig) dead(t *testing.T) map[string]int {
	t.Helper()
	dl, err := r.box.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, d := range dl {
		why := d.Reason
		if strings.Contains(why, "over X's monthly budget") {
			why = "budget"
		}
		out[d.Source+": "+why]++
	}
	return out
}

var sep2026 = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)

// A month of simulated posting under a $5.00 budget: a report every hour
// (held when over the budget, and dropped when it expires an hour later,
// as every report is), three doorbell presses a day (held), a mailbox
// press a day whose text has a link (dropped when over the budget), an
// alert a day (held). The month's spend never passes the budget, and
// stops within one post's price of it; what is held goes out first thing
// in October, alerts first.
func TestSpendMonthSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("a month of posts through the outbox")
	}
	budgetAmt := 5 * budget.Dollar
	r := newSpendRig(t, sep2026, budget.Settings{Prices: budget.Published, Budget: budgetAmt, Limited: true})
	rng := rand.New(rand.NewPCG(2026, 9))
	type event struct {
		at                   time.Time
		text, kind, onBudget string
		expires              time.Duration
	}
	var events []event
	end := sep2026.AddDate(0, 1, 0)
	for at := sep2026; at.Before(end); at = at.Add(time.Hour) {
		events = append(events, event{at, "Room 21.5 °C at " + at.Format("Jan 2 15:04"), "report", "hold", time.Hour})
	}
	queued := map[string]int{}
	for day := sep2026; day.Before(end); day = day.AddDate(0, 0, 1) {
		for i := range 3 {
			at := day.Add(time.Duration(rng.IntN(24*60)) * time.Minute).Add(30 * time.Second)
			events = append(events, event{at, fmt.Sprintf("Ding dong %s (%d)", at.Format("Jan 2 15:04:05"), i), "press", "hold", 0})
		}
		at := day.Add(time.Duration(rng.IntN(24*60)) * time.Minute).Add(20 * time.Second)
		events = append(events, event{at, "Mail! example.com/mail " + at.Format("Jan 2 15:04:05"), "press", "drop", 0})
		at = day.Add(time.Duration(rng.IntN(24*60)) * time.Minute).Add(10 * time.Second)
		events = append(events, event{at, "Too warm at " + at.Format("Jan 2 15:04:05"), "alert", "hold", 0})
	}
	slices.SortStableFunc(events, func(a, b event) int { return a.at.Compare(b.at) })
	var maxPrice budget.Amount
	for _, p := range []budget.Amount{budget.Published.Post, budget.Published.PostURL} {
		maxPrice = max(maxPrice, p)
	}
	for _, e := range events {
		r.now = e.at
		var exp time.Time
		if e.expires > 0 {
			exp = e.at.Add(e.expires)
		}
		source := e.kind
		if e.onBudget == "drop" {
			source = "mailbox"
		}
		m, err := r.box.Put(outbox.Message{Text: e.text, Kind: e.kind, Source: source, Created: r.now, Expires: exp, To: []string{"x"}, OnBudget: e.onBudget}, nil)
		if err != nil {
			t.Fatal(err)
		}
		queued[m.Source]++
		r.drain(t)
		if s := r.month(t).Spent; s > budgetAmt {
			t.Fatalf("%v: the month has spent %s, over the budget of %s", r.now, s, budgetAmt)
		}
	}
	// The last hour of September: the last report expires.
	r.now = end.Add(-time.Second)
	r.drain(t)
	sep := r.month(t)
	held := r.box.LenFor("x")
	dead := r.dead(t)
	septPosts := len(r.x.posted)
	if sep.Posts() != septPosts || sep.Spent > budgetAmt || sep.Spent <= budgetAmt-maxPrice {
		t.Fatalf("September: %d posts charged, %d accepted, %s spent of %s; want them equal, within one post of the budget",
			sep.Posts(), septPosts, sep.Spent, budgetAmt)
	}
	var want budget.Amount
	for _, text := range r.x.posted {
		want += budget.Total(budget.Published.ForPost(text, 0))
	}
	if sep.Spent != want {
		t.Fatalf("September spent %s by the ledger, %s by the posts X accepted", sep.Spent, want)
	}
	st := r.d.spend.status(r.now)
	heldShown := 0
	for _, g := range st.Held {
		heldShown += g.Messages
	}
	if heldShown != held || held == 0 {
		t.Fatalf("status shows %d held (%+v); the outbox holds %d for X", heldShown, st.Held, held)
	}
	heldReports := 0
	for _, m := range r.box.Pending() {
		switch {
		case m.OnBudget == "drop":
			t.Errorf("held at the month's end: %q, whose rule drops it", m.Text)
		case m.Kind == "report" && m.Expires.After(end):
			t.Errorf("held at the month's end: %q, which expires after it", m.Text)
		case m.Kind == "report":
			heldReports++ // the last hour's, which expires at midnight
		}
	}
	if dead["mailbox: budget"] == 0 || dead["report: expired"] == 0 {
		t.Fatalf("dead letters %v; want mailbox presses dropped for the budget and reports expired", dead)
	}

	// October: the held presses and alerts go out, alerts first.
	r.now = end.Add(time.Minute)
	before := len(r.x.posted)
	if wait := r.drain(t); wait != idle {
		t.Fatalf("after the held messages, wait %v; want idle", wait)
	}
	october := r.x.posted[before:]
	if len(october) != held-heldReports {
		t.Fatalf("%d posted in October; %d were held, %d of them reports that expired at midnight", len(october), held, heldReports)
	}
	alerts := 0
	for i, text := range october {
		if strings.HasPrefix(text, "Too warm") {
			alerts++
			if alerts != i+1 {
				t.Fatalf("October order %q: an alert after a press", october)
			}
		}
	}
	oct := r.month(t)
	if oct.Name != "2026-10" || oct.Posts() != len(october) {
		t.Fatalf("October's month: %+v", oct)
	}
	t.Logf("September under a %s budget: queued %d reports, %d doorbell presses, %d mailbox presses (with a link), %d alerts",
		budgetAmt, queued["report"], queued["press"], queued["mailbox"], queued["alert"])
	t.Logf("posted %d (%d with a link) for %s, the last at %s; dead letters: %d reports expired while held, %d mailbox presses dropped for the budget; held at the month's end: %d (%d alerts, %d presses, %d report), posted on October 1 but that report, for %s",
		septPosts, sep.Requests[budget.ItemPostURL], sep.Spent, lastPostTime(r), dead["report: expired"], dead["mailbox: budget"], held, alerts, held-alerts-heldReports, heldReports, oct.Spent)
}

// lastPostTime is when the rig's loop last posted in September, from
// status.
func lastPostTime(r *spendRig) string {
	if s := r.d.st.snapshot(r.now, r.box).LastSuccess; s != nil {
		return s.At.Format("Jan 2 15:04")
	}
	return "never"
}

// Under a budget with room for two more posts, the alert goes first, then
// the press, and the reports are held, whatever the order they came in.
func TestSpendPriorityUnderTightBudget(t *testing.T) {
	start := sep2026.Add(12 * time.Hour)
	r := newSpendRig(t, start, budget.Settings{Prices: budget.Published, Budget: 30_000, Limited: true})
	r.put(t, "report one", "report", "hold", time.Time{})
	r.put(t, "press one", "press", "hold", time.Time{})
	r.put(t, "report two", "report", "hold", time.Time{})
	r.put(t, "alert one", "alert", "hold", time.Time{})
	wait := r.drain(t)
	if !slices.Equal(r.x.posted, []string{"alert one", "press one"}) {
		t.Fatalf("posted %q; want the alert, then the press", r.x.posted)
	}
	if until := start.Add(wait); !until.Equal(start.Add(maxHold)) || !r.d.holding {
		t.Fatalf("wait %v (holding %v); want a hold, looked at again within %v", wait, r.d.holding, maxHold)
	}
	if st := r.d.st.snapshot(r.now, r.box); st.Delivery != "holding" {
		t.Fatalf("delivery %q", st.Delivery)
	}
	// A reload with a higher budget lets them through, oldest first.
	r.d.spend.update(budget.Settings{Prices: budget.Published, Budget: 60_000, Limited: true})
	r.drain(t)
	if !slices.Equal(r.x.posted[2:], []string{"report one", "report two"}) {
		t.Fatalf("after the raise: %q", r.x.posted)
	}
	if m := r.month(t); m.Spent != 60_000 || m.Posts() != 4 {
		t.Fatalf("month %+v", m)
	}
}

// on_budget = "drop": a dead letter for X, with the reason.
func TestSpendDrop(t *testing.T) {
	r := newSpendRig(t, sep2026, budget.Settings{Prices: budget.Published, Budget: 100_000, Limited: true})
	r.put(t, "see example.com", "press", "drop", time.Time{})
	if wait := r.drain(t); wait != idle || len(r.x.posted) != 0 {
		t.Fatalf("wait %v, posted %q", wait, r.x.posted)
	}
	dl, _ := r.box.DeadLetters()
	if len(dl) != 1 || !strings.Contains(dl[0].Reason, "over X's monthly budget: $0.00 of $0.10 spent in 2026-09 (UTC), and this post costs $0.20 (its text has a link); dropped") {
		t.Fatalf("dead letters %+v", dl)
	}
	if m := r.month(t); m.Spent != 0 {
		t.Fatalf("a dropped post was charged: %+v", m)
	}
}

// X answers 402 CreditsDepleted: the charge is released, nothing is sent
// for an hour, then one post tries; a reload tries at once; a success
// clears it.
func TestSpendCreditsDepleted(t *testing.T) {
	r := newSpendRig(t, sep2026, budget.Settings{Prices: budget.Published})
	credits := &sender.APIError{Kind: sender.KindCreditsDepleted, Status: 402, Title: "CreditsDepleted", Hint: sender.CreditsHint}
	r.x.answers = []error{credits, credits, credits}
	r.put(t, "one", "press", "", time.Time{})
	r.put(t, "two", "alert", "", time.Time{})
	wait := r.drain(t)
	if r.x.calls != 1 || wait != creditsRetry || !r.d.holding {
		t.Fatalf("calls %d, wait %v, holding %v; want one request, then a hold of an hour", r.x.calls, wait, r.d.holding)
	}
	m := r.month(t)
	if m.Spent != 0 || !m.Depleted.Equal(r.now.Truncate(time.Millisecond)) {
		t.Fatalf("month %+v; want the charge released and the depletion recorded", m)
	}
	st := r.d.spend.status(r.now)
	if len(st.Held) != 1 || st.Held[0].Messages != 2 || !strings.Contains(st.Held[0].Fix, "https://console.x.com") || st.CreditsDepleted.IsZero() {
		t.Fatalf("status %+v", st)
	}
	// Within the hour: no request.
	r.now = r.now.Add(59 * time.Minute)
	r.drain(t)
	if r.x.calls != 1 {
		t.Fatalf("%d requests within the hour", r.x.calls)
	}
	// After it: one, refused again.
	r.now = r.now.Add(time.Minute)
	r.drain(t)
	if r.x.calls != 2 {
		t.Fatalf("%d requests after the hour; want 2", r.x.calls)
	}
	// A reload: at once (refused a third time).
	r.d.spend.update(budget.Settings{Prices: budget.Published})
	r.drain(t)
	if r.x.calls != 3 {
		t.Fatalf("%d requests after the reload; want 3", r.x.calls)
	}
	r.d.spend.update(budget.Settings{Prices: budget.Published})
	if wait := r.drain(t); wait != idle || len(r.x.posted) != 2 || r.x.posted[0] != "two" {
		t.Fatalf("wait %v, posted %q; want both, the alert first", wait, r.x.posted)
	}
	if m := r.month(t); !m.Depleted.IsZero() || m.Spent != 30_000 {
		t.Fatalf("month %+v after posts went through", m)
	}
	if dl, _ := r.box.DeadLetters(); len(dl) != 0 {
		t.Fatalf("dead letters %+v: a credits answer is not a refusal of the message", dl)
	}
}

// X's 24-hour allowance: when it runs low, reports wait and presses go;
// at zero nothing is sent until the reset; headers absent hold nothing.
func TestSpendQuota(t *testing.T) {
	r := newSpendRig(t, sep2026, budget.Settings{Prices: budget.Published})
	reset := sep2026.Add(40 * time.Minute) // within a hold's longest wait
	r.x.limits = sender.RateLimit{Limit: 100, Remaining: 90, Reset: sep2026.Add(15 * time.Minute), UserLimit24h: 17, UserRemaining24h: 3, UserReset24h: reset}
	r.put(t, "first", "press", "", time.Time{})
	r.drain(t)
	r.put(t, "report", "report", "", time.Time{})
	r.put(t, "press", "press", "", time.Time{})
	wait := r.drain(t)
	if !slices.Equal(r.x.posted, []string{"first", "press"}) || !r.d.holding || !sep2026.Add(wait).Equal(reset) {
		t.Fatalf("posted %q, wait %v; want the press, and the report held until the reset", r.x.posted, wait)
	}
	// The last post of the day: remaining 0.
	r.x.limits.UserRemaining24h = 0
	r.put(t, "alert", "alert", "", time.Time{})
	r.drain(t)
	calls := r.x.calls
	r.put(t, "press after", "press", "", time.Time{})
	wait = r.drain(t)
	if r.x.calls != calls || !r.now.Add(wait).Equal(reset) {
		t.Fatalf("%d requests after the allowance ran out, wait %v; want none until %v", r.x.calls-calls, wait, reset)
	}
	st := r.d.spend.status(r.now)
	if st.Quota == nil || st.Quota.Remaining != 0 || st.Quota.Limit != 17 || len(st.Held) == 0 || !strings.Contains(st.Held[0].Why, "24-hour limit of 17 posts is used up") {
		t.Fatalf("status %+v", st)
	}
	// At the reset: everything goes; X's answers now carry no 24-hour
	// headers (unknown: nothing held).
	r.now = reset
	r.x.limits = noLimits
	if wait := r.drain(t); wait != idle || len(r.x.posted) != 5 {
		t.Fatalf("at the reset: wait %v, posted %q", wait, r.x.posted)
	}
}

// A lost answer keeps the charge; the retry that X answers "duplicate"
// costs nothing more; one that succeeds releases the first (X did not
// have it).
func TestSpendLostAnswers(t *testing.T) {
	lost := fmt.Errorf("read response: %w", sender.ErrTransient)
	dup := &sender.APIError{Kind: sender.KindDuplicate, Status: 403, Detail: "duplicate content"}
	r := newSpendRig(t, sep2026, budget.Settings{Prices: budget.Published})
	r.x.answers = []error{lost, dup}
	r.put(t, "one", "press", "", time.Time{})
	r.drain(t)
	if m := r.month(t); m.Posts() != 1 {
		t.Fatalf("after a lost answer: %+v; the charge stays", m)
	}
	r.now = r.now.Add(time.Minute)
	r.drain(t)
	if m := r.month(t); m.Posts() != 1 || r.box.Len() != 0 {
		t.Fatalf("after the duplicate: %+v, queue %d; want one post charged", m, r.box.Len())
	}
	r.x.answers = []error{lost, lost, nil}
	r.put(t, "two", "press", "", time.Time{})
	for range 3 {
		r.drain(t)
		r.now = r.now.Add(time.Minute)
	}
	if m := r.month(t); m.Posts() != 2 || r.box.Len() != 0 {
		t.Fatalf("after two lost answers and a success: %+v; want one charge for it", m)
	}
}

// A destination without X's spending gate (Mastodon, Bluesky) that
// answers 402 holds the message for an hour: no dead letter, no request
// before then, and the next attempt goes once the hour is up.
func TestPaymentRequiredWithoutGate(t *testing.T) {
	r := newDeliveryRig(t, &sender.APIError{Service: "Mastodon", Kind: sender.KindCreditsDepleted, Status: 402, Title: "Payment Required"}, nil)
	r.put(t, "hello", time.Time{})
	wait := r.d.deliverOnce(context.Background())
	if wait != creditsRetry || len(r.deadReasons(t)) != 0 || r.box.Len() != 1 || !r.errLED {
		t.Fatalf("after a 402: wait %v, dead %q, queue %d, error LED %v; want an hour, none, 1, on", wait, r.deadReasons(t), r.box.Len(), r.errLED)
	}
	r.now = r.now.Add(creditsRetry / 2)
	if wait := r.d.deliverOnce(context.Background()); wait != creditsRetry/2 || len(r.x.posted) != 1 {
		t.Fatalf("half an hour on: wait %v, %d requests; want the rest of the hour and no new request", wait, len(r.x.posted))
	}
	r.now = r.now.Add(creditsRetry / 2)
	r.d.deliverOnce(context.Background())
	if len(r.x.posted) != 2 || r.box.Len() != 0 {
		t.Fatalf("after the hour: %d requests, queue %d; want the retry posted", len(r.x.posted), r.box.Len())
	}
}

// pictureX stands in for an X adapter that uploads pictures: it reports
// through xBilled the alt texts X accepted (billed of them), then gets
// the post refused.
type pictureX struct {
	billed int
	refuse error
	calls  int
}

func (x *pictureX) Name() string { return "x" }
func (x *pictureX) Close() error { return nil }
func (x *pictureX) Post(ctx context.Context, p Post, tried int) (Receipt, error) {
	x.calls++
	for range x.billed {
		xBilled(ctx, budget.ItemMediaMetadata)
	}
	return Receipt{}, x.refuse
}

// The charge seam of the X adapter: a post with three captioned pictures
// is charged the post and three alt texts before it is sent; when X
// accepted two alt texts and then refused the post, those two stay
// charged (X billed them) and the post and the third are released.
func TestSpendAltTextsBilledBeforeARefusal(t *testing.T) {
	r := newSpendRig(t, sep2026, budget.Settings{Prices: budget.Published})
	x := &pictureX{billed: 2, refuse: &sender.APIError{Service: "X", Kind: sender.KindPermanent, Status: 400, Title: "Bad Request"}}
	r.d.setDestination(x)
	var pic bytes.Buffer
	if err := png.Encode(&pic, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	pics := []outbox.NewImage{{Data: pic.Bytes(), Alt: "one"}, {Data: pic.Bytes(), Alt: "two"}, {Data: pic.Bytes(), Alt: "three"}}
	if _, err := r.box.Put(outbox.Message{Text: "three pictures", Kind: "press", Source: "button b", Created: r.now, To: []string{"x"}}, pics); err != nil {
		t.Fatal(err)
	}
	r.drain(t)
	m := r.month(t)
	if x.calls != 1 || m.Posts() != 0 || m.Requests[budget.ItemMediaMetadata] != 2 || m.Spent != 2*budget.Published.MediaMetadata {
		t.Fatalf("%d calls; month %+v; want the two accepted alt texts charged, $0.01, and no post", x.calls, m)
	}
}

// BenchmarkSpendDeliver delivers b.N presses to X through the spending
// gate (gate) or without it (none), each queued, charged, posted and
// settled. Counting fsync calls under strace over both (-benchtime Nx)
// gives what the spend record adds per post:
//
//	go test -c -o /tmp/daemon.test ./daemon
//	strace -f -c -e trace=fsync /tmp/daemon.test -test.run '^$' -test.bench 'SpendDeliver/gate' -test.benchtime 200x
func BenchmarkSpendDeliver(b *testing.B) {
	for _, gate := range []bool{true, false} {
		name := "none"
		if gate {
			name = "gate"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			box, err := outbox.Open(dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer box.Close()
			now := sep2026
			x := &billedX{now: func() time.Time { return now }, limits: noLimits}
			d := newDeliverer(box, newXDestination("x", x), &state{started: now}, discardLog())
			d.now = func() time.Time { return now }
			if gate {
				d.spend = newSpending(dir, budget.Settings{Prices: budget.Published, Budget: 1000 * budget.Dollar, Limited: true}, discardLog())
				defer d.spend.close()
			}
			for i := range b.N {
				if _, err := box.Put(outbox.Message{Text: fmt.Sprint("press ", i), Kind: "press", Source: "button b", Created: now, To: []string{"x"}}, nil); err != nil {
					b.Fatal(err)
				}
				if wait := d.deliverOnce(context.Background()); wait != 0 {
					b.Fatalf("wait %v", wait)
				}
				now = now.Add(time.Second)
			}
			if len(x.posted) != b.N {
				b.Fatalf("%d posted of %d", len(x.posted), b.N)
			}
			if gate {
				fi, err := os.Stat(filepath.Join(dir, budget.Dir, budget.MonthOf(now)))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(fi.Size())/float64(b.N), "spend-bytes/post")
			}
		})
	}
}
