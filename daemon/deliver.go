package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"pitweet/config"
	"sync"
	"time"

	"pitweet/budget"
	"pitweet/outbox"
	"pitweet/sender"
)

// Backoff after transient failures: 1s, 2s, 4s, … up to maxBackoff, each
// with jitter so a fleet of Pis that lost the network together does not
// come back in step.
const (
	firstBackoff = time.Second
	maxBackoff   = 5 * time.Minute
)

// plausibleClock is the earliest time the delivery loop believes. A Pi has
// no real-time clock and boots in 1970 (or at the last saved time); a
// request signed then is refused, so the loop waits for NTP instead.
var plausibleClock = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// clockPoll is how often the loop looks at the clock again while it is
// implausible.
const clockPoll = 5 * time.Second

// idle is returned by deliverOnce when the destination has nothing to
// post: wait until a message is queued.
const idle time.Duration = -1

// deliverer posts the outbox's messages to one destination, oldest first.
// Each configured destination has its own, on its own goroutine: one that
// is down, rate limited or waiting holds back no other.
type deliverer struct {
	name string
	box  *outbox.Outbox
	dest destination // guarded by mu: a reload replaces it
	log  *slog.Logger
	st   *state
	text config.TextRule // how the destination counts a text; zero: no limit
	// idleHook, when not nil, is called each time the destination has
	// nothing left to post.
	idleHook func()
	// wake receives a value when a message for the destination is queued.
	wake chan struct{}

	// Seams for tests.
	now    func() time.Time
	jitter func() float64 // in [0, 1)

	// LED hooks; nil: no LED.
	sent   func()
	failed func(on bool)
	// finished, when not nil, is told each message the destination is
	// done with: posted (ref) or refused (the reason).
	finished func(m outbox.Message, dest, ref, refused string)

	// mayBeSent holds the messages that may already be at the destination:
	// those queued before this run started (the run that crashed or was
	// killed may have sent them and never read the answer) and those this
	// run has sent at least once. A "duplicate" answer for one of them
	// means the service has this very message. Kept in memory, so a
	// failed disk write cannot turn a delivered message into a dead letter.
	mayBeSent map[string]bool
	// posted holds the texts the destination has taken or refused as
	// duplicates in this run; numbers the messages renumbered because it
	// had their text (duplicate.go).
	posted  postedTexts
	numbers map[string]renumbered

	// spend is X's spending gate (spend.go); nil for the destinations
	// X's budget does not hold. holding is set by deliverOnce when its
	// wait holds messages back: a message queued (or a reload) ends it.
	spend   *spending
	holding bool

	backoff     time.Duration // the next transient wait; 0 before any failure
	skewRetried string        // id of the message already retried after a clock correction
	clock       *clockStore   // keeps the clock offset between runs; nil: not kept

	mu        sync.Mutex
	busySince time.Time // start of the request in flight; zero when none
	// busyExtra is how much longer than one request the attempt in flight
	// may take: the uploads of its pictures (pictureTime).
	busyExtra time.Duration
	offset    time.Duration // the service's clock minus ours, as last measured (clock.go)
}

// textRule is how destination name counts a text; the zero rule, for a
// destination that takes any length, counts nothing.
func textRule(name string) config.TextRule {
	rule, _ := config.TextRuleFor(name)
	return rule
}

// newDeliverer returns the delivery loop of dest; every message queued for
// it now may have been sent by an earlier run.
func newDeliverer(box *outbox.Outbox, dest destination, st *state, log *slog.Logger) *deliverer {
	name := dest.Name()
	mayBeSent := map[string]bool{}
	for _, m := range box.Pending() {
		if m.Needs(name) {
			mayBeSent[m.ID] = true
		}
	}
	st.addDestination(name)
	return &deliverer{
		name:      name,
		mayBeSent: mayBeSent,
		posted:    postedTexts{},
		numbers:   map[string]renumbered{},
		box:       box,
		dest:      dest,
		st:        st,
		text:      textRule(name),
		log:       log.With("destination", name),
		now:       time.Now,
		jitter:    rand.Float64,
	}
}

// destination returns the destination; setDestination replaces it after
// a reload.
func (d *deliverer) destination() destination {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dest
}

// setDestination replaces the destination, handing it the clock offset
// measured so far (under the same lock a correction takes, so none is
// lost).
func (d *deliverer) setDestination(dest destination) {
	d.mu.Lock()
	old := d.dest
	if c, ok := dest.(clockSetter); ok {
		c.SetClockOffset(d.offset)
	}
	d.dest = dest
	d.mu.Unlock()
	old.Close()
}

// clockOffset is the service's clock minus ours, as last measured.
func (d *deliverer) clockOffset() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.offset
}

// setOffset makes offset the clock offset the destination signs with.
func (d *deliverer) setOffset(offset time.Duration) {
	d.mu.Lock()
	d.offset = offset
	if c, ok := d.dest.(clockSetter); ok {
		c.SetClockOffset(offset)
	}
	d.mu.Unlock()
	if d.name == "x" {
		// Status shows X's clock offset: the one that signs.
		d.st.setOffset(offset)
	}
}

// restoreOffset starts with the offset an earlier run kept, if any.
func (d *deliverer) restoreOffset() {
	if d.clock == nil {
		return
	}
	if s, ok := d.clock.load(); ok {
		d.setOffset(time.Duration(s.Offset))
		d.log.Info("daemon: clock offset kept from the last run", "offset", time.Duration(s.Offset), "measured", s.Measured)
	}
}

// observeDate checks the clock offset against the Date of an answer to a
// request sent at sent and answered at received, and corrects it when
// the answer shows it wrong (see clock.go). A 401 about the timestamp
// corrects it whatever it was (force).
func (d *deliverer) observeDate(date, sent, received time.Time, force bool) {
	if date.IsZero() {
		return
	}
	cur := d.clockOffset()
	est, agrees := estimateOffset(date, sent, received, cur)
	if agrees && !force {
		return
	}
	d.setOffset(est)
	d.log.Info("daemon: clock offset corrected from the service's Date header", "offset", est.Round(time.Millisecond), "was", cur.Round(time.Millisecond))
	if d.clock != nil {
		d.clock.save(est, received)
	}
}

// run delivers until ctx is done. wake receives a value whenever a message
// is queued. A request in flight when ctx ends runs to completion or to
// the client's timeout: sendCtx is cancelled only after that, by the
// caller.
func (d *deliverer) run(ctx, sendCtx context.Context, wake <-chan struct{}) {
	for ctx.Err() == nil {
		wait := d.deliverOnce(sendCtx)
		if wait == 0 {
			continue
		}
		if wait == idle {
			if d.idleHook != nil {
				d.idleHook()
			}
			select {
			case <-ctx.Done():
			case <-wake:
			}
			continue
		}
		// A backoff or rate-limit wait stands even when new messages are
		// queued: they are posted in order, after this one. A wait that
		// holds messages back (spend.go) ends when one is queued, which
		// may go before them.
		var woken <-chan struct{}
		if d.holding {
			woken = wake
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-woken:
		}
		t.Stop()
	}
}

// deliverOnce makes at most one attempt to post the oldest message the
// destination has still to post, and returns how long to wait before the
// next call: 0 to go on at once, idle when there is none.
func (d *deliverer) deliverOnce(ctx context.Context) time.Duration {
	d.holding = false
	var pass *spendPass
	var m outbox.Message
	var ok bool
	var err error
	if d.spend != nil {
		pass = d.spend.begin(d.now())
		m, ok, err = d.box.NextMatching(d.name, pass.rank)
		holding := 0
		if pass.blocked != "" {
			holding = d.box.LenFor(d.name)
		}
		d.spend.end(pass, holding)
	} else {
		m, ok, err = d.box.NextFor(d.name)
	}
	if err != nil {
		d.log.Error("daemon: read the outbox", "err", err)
		return clockPoll
	}
	if !ok {
		if pass != nil && pass.overBudget+pass.quotaHeld > 0 {
			return d.hold(pass, "holding")
		}
		d.st.setDelivery(d.name, "idle", time.Time{})
		return idle
	}
	now := d.now()
	if now.Before(plausibleClock) {
		d.st.setClock(false, now)
		d.st.setDelivery(d.name, fmt.Sprintf("waiting for the system clock (it says %s; is NTP reachable?)", now.UTC().Format(time.RFC3339)), time.Time{})
		return clockPoll
	}
	d.st.setClock(true, now)
	del := m.Dest[d.name]
	if m.Expired(now) {
		d.log.Warn("daemon: dropping a message that expired before it could be posted",
			"id", m.ID, "source", m.Source, "expired", m.Expires, "attempts", del.Attempts)
		if err := d.box.Refuse(m.ID, d.name, "expired"); err != nil {
			d.log.Error("daemon: record an expired message", "id", m.ID, "err", err)
			return clockPoll
		}
		d.forget(m.ID)
		d.finish(m, "", "expired")
		d.st.deadChanged()
		return 0
	}
	if pass != nil {
		if pass.blocked != "" {
			return d.hold(pass, "holding: "+pass.blocked)
		}
		if !pass.fits(m) {
			if m.OnBudget == "drop" {
				return d.drop(m, pass.overBudgetWhy(m)+"; dropped (on_budget = \"drop\")")
			}
			return d.hold(pass, "holding") // the budget changed under the pass
		}
	}
	if now.Before(del.NotBefore) {
		d.st.setDelivery(d.name, "waiting", del.NotBefore)
		return del.NotBefore.Sub(now)
	}
	// An attempt is written to disk only once it has failed: a message
	// from an earlier run counts as tried (see mayBeSent), so a send needs
	// no write before it, and a press reaches the service sooner.
	tried := del.Attempts
	if d.mayBeSent[m.ID] {
		tried = max(tried, 1)
	}
	if tried == 0 && !takesRepeats(d.destination()) && d.posted.has(m.TextFor(d.name), now) {
		// The service has this text from another message: it would
		// refuse it.
		if m, err = d.renumber(m, now); err != nil {
			d.log.Error("daemon: number a repeated text", "id", m.ID, "err", err)
			return clockPoll
		}
	}
	p, err := d.fitted(ctx, m)
	if errors.Is(err, errPictures) {
		return d.refuse(m, "picture", err, now)
	}
	if err != nil {
		// Nothing was sent: no attempt is recorded.
		d.log.Warn("daemon: the pictures could not be prepared; will retry", "id", m.ID, "err", err)
		d.st.failure(d.name, now, m, err)
		d.st.setDelivery(d.name, "backing off", now.Add(clockPoll))
		return clockPoll
	}
	var charge budget.Charge
	if pass != nil {
		var ok bool
		var cerr error
		if charge, ok, cerr = d.spend.charge(pass, m); !ok {
			d.st.failure(d.name, now, m, cerr)
			d.st.setDelivery(d.name, "holding: the cost of the post cannot be recorded, and a monthly budget is set", now.Add(spendRetry))
			d.holding = true
			return spendRetry
		}
	}
	d.mayBeSent[m.ID] = true
	d.st.setDelivery(d.name, "sending", time.Time{})
	d.setBusyFor(now, pictureTime(p.Images))
	var bill *billedMeter
	if pass != nil {
		ctx, bill = withBilled(ctx)
	}
	rc, err := d.destination().Post(ctx, p, tried)
	d.setBusy(time.Time{})
	if pass == nil {
		return d.settle(m, tried, now, rc, err)
	}
	d.spend.answered(m, tried, charge, bill, err, d.now())
	wait := d.settle(m, tried, now, rc, err)
	// After settle, which corrects the clock offset from this answer's
	// Date: X's resets are on X's clock.
	d.spend.limits(rc, err, d.now(), d.clockOffset())
	return wait
}

// post is message m as the destination posts it.
func (d *deliverer) post(m outbox.Message) Post {
	p := Post{ID: m.ID, Key: m.Key, Text: m.TextFor(d.name), Created: m.Created}
	for _, im := range m.Images {
		p.Images = append(p.Images, Picture{Path: d.box.PicturePath(m.ID, im.Name), Type: im.Type, Alt: im.Alt,
			Width: im.Width, Height: im.Height, Size: im.Size})
	}
	return p
}

// fitted is message m as the destination posts it, its pictures fitted
// to the destination's limits when it has some (see pictureLimiter).
func (d *deliverer) fitted(ctx context.Context, m outbox.Message) (Post, error) {
	p := d.post(m)
	lim, ok := d.destination().(pictureLimiter)
	if !ok || len(p.Images) == 0 {
		return p, nil
	}
	limits, err := lim.PictureLimits(ctx)
	if err != nil {
		return p, err
	}
	p.Images, err = fitPictures(ctx, d.box, m, d.name, limits)
	return p, err
}

// settle decides what the answer to one attempt, sent at sent, means for
// message m, which had been tried tried times before it.
func (d *deliverer) settle(m outbox.Message, tried int, sent time.Time, rc Receipt, err error) time.Duration {
	now := d.now()
	// The offset the request was made with: a rate limit's RetryAt is the
	// wait the answer asks for (counted from its Date) after the time the
	// sender took as the service's, which is ours plus this offset for a
	// destination that signs with it, ours alone for the others.
	var sentOffset time.Duration
	if _, ok := d.destination().(clockSetter); ok {
		sentOffset = d.clockOffset()
	}
	if err == nil {
		d.observeDate(rc.Date, sent, now, false)
		return d.delivered(m, rc.Ref, now)
	}
	if errors.Is(err, errPictures) {
		return d.refuse(m, "picture", err, now)
	}
	var apiErr *sender.APIError
	if errors.As(err, &apiErr) && apiErr.Kind != sender.KindClockSkew {
		// Every answer carries the service's clock.
		d.observeDate(answerDate(apiErr), sent, now, false)
	}
	var perm permanentError
	if errors.As(err, &perm) {
		return d.refuse(m, "refused", err, now)
	}
	if apiErr == nil {
		if errors.Is(err, context.Canceled) {
			// Shutting down mid-request: the outcome is unknown, the
			// message stays queued and Attempts says it may have gone.
			d.log.Info("daemon: request cancelled at shutdown; the message stays queued", "id", m.ID)
			if _, rerr := d.box.Attempt(m.ID, d.name, "cancelled at shutdown with the outcome unknown"); rerr != nil {
				d.log.Error("daemon: record a cancelled attempt", "id", m.ID, "err", rerr)
			}
			return 0
		}
		// Network failures, TLS trouble, protocol errors: the service said
		// nothing usable. Retrying later is the only safe course; nothing
		// is lost.
		return d.retryLater(m, err, now)
	}
	switch apiErr.Kind {
	case sender.KindDuplicate:
		if tried > 0 {
			// An earlier attempt reached the service but its answer was
			// lost.
			d.log.Info("daemon: the service already has this message from an earlier attempt; counted delivered", "id", m.ID, "source", m.Source)
			return d.delivered(m, "", now)
		}
		// Never sent before: the service has the text from another
		// message, and this attempt made no post.
		delete(d.mayBeSent, m.ID)
		d.posted.add(m.TextFor(d.name), now)
		r := d.numbering(m)
		if r.refused++; r.refused >= maxDuplicateRefusals {
			return d.refuse(m, fmt.Sprintf("refused as a duplicate of an earlier post %d times, numbered up to (%d)", r.refused, max(r.n, 1)), err, now)
		}
		d.numbers[m.ID] = r
		if _, rerr := d.renumber(m, now); rerr != nil {
			d.log.Error("daemon: number a repeated text", "id", m.ID, "err", rerr)
			return clockPoll
		}
		return 0
	case sender.KindRateLimited:
		// Back to our clock with the offset the request was made with,
		// not the one this answer taught: a 1 s reset stays 1 s even when
		// the answer shows the clock was 10 minutes off.
		at := apiErr.RetryAt.Add(-sentOffset)
		if !at.After(now) {
			at = now.Add(firstBackoff)
		}
		d.log.Warn("daemon: rate limited; waiting", "until", at, "id", m.ID)
		if _, err := d.box.RetryAt(m.ID, d.name, at, err.Error()); err != nil {
			d.log.Error("daemon: record the rate-limit wait", "id", m.ID, "err", err)
		}
		d.st.failure(d.name, now, m, err)
		d.st.setRateLimit(d.name, at)
		d.st.setDelivery(d.name, "rate limited", at)
		return at.Sub(now)
	case sender.KindClockSkew:
		date := answerDate(apiErr)
		if date.IsZero() {
			return d.refuse(m, "the service refused the request's timestamp and gave no time to correct it by", err, now)
		}
		if d.skewRetried != m.ID {
			d.skewRetried = m.ID
			d.observeDate(date, sent, now, true)
			d.log.Warn("daemon: the service says our clock is off; correcting and retrying once",
				"offset", d.clockOffset().Round(time.Second), "id", m.ID)
			return 0
		}
		if _, agrees := estimateOffset(date, sent, now, sentOffset); !agrees {
			// The clocks moved again after the correction (NTP stepped
			// ours, or the service's changed): correct again and try
			// later. A clock still settling never costs a message.
			d.observeDate(date, sent, now, true)
			d.log.Warn("daemon: the clock moved again after a correction; correcting and trying later",
				"offset", d.clockOffset().Round(time.Second), "id", m.ID)
			return d.backOff(m, err, now)
		}
		return d.refuse(m, "the service refused the request's timestamp even after correcting the clock offset", err, now)
	case sender.KindTransient, sender.KindProtocol:
		return d.retryLater(m, err, now)
	case sender.KindCreditsDepleted:
		// Held, not retried in a loop, never a dead letter.
		if tried == 0 {
			delete(d.mayBeSent, m.ID) // the service did not act on it
		}
		d.st.failure(d.name, now, m, err)
		if d.failed != nil {
			d.failed(true)
		}
		if d.spend != nil {
			// X: the spending gate holds every message for an hour, or
			// until a reload (spend.go).
			d.log.Error("daemon: X says the account's credits are depleted; holding X's messages, trying again in an hour or at a reload", "id", m.ID, "err", err)
			return 0
		}
		return d.paymentRequired(m, err, now)
	default: // permanent, forbidden, unauthorized
		return d.refuse(m, apiErr.Kind.String(), err, now)
	}
}

func (d *deliverer) delivered(m outbox.Message, ref string, now time.Time) time.Duration {
	d.posted.add(m.TextFor(d.name), now)
	delete(d.numbers, m.ID)
	if err := d.box.Delivered(m.ID, d.name, ref); err != nil {
		d.log.Error("daemon: record a delivered message in the outbox", "id", m.ID, "err", err)
	} else {
		delete(d.mayBeSent, m.ID)
		if refusedElsewhere(m, d.name) {
			d.st.deadChanged()
		}
	}
	d.log.Info("daemon: posted", "id", m.ID, "ref", ref, "source", m.Source, "attempts", m.Dest[d.name].Attempts+1)
	d.finish(m, ref, "")
	d.backoff = 0
	d.st.success(d.name, now, m, ref)
	if d.sent != nil {
		d.sent()
	}
	if d.failed != nil {
		d.failed(false)
	}
	return 0
}

// refusedElsewhere reports whether another destination refused m: once
// this one is done, m may be a dead letter.
func refusedElsewhere(m outbox.Message, name string) bool {
	for _, other := range m.To {
		if other != name && m.Dest[other].Refused != "" {
			return true
		}
	}
	return false
}

// refuse gives up m on this destination: the service refused it for good.
func (d *deliverer) refuse(m outbox.Message, why string, err error, now time.Time) time.Duration {
	reason := why + ": " + err.Error()
	if rerr := d.box.Refuse(m.ID, d.name, reason); rerr != nil {
		d.log.Error("daemon: record a refused message", "id", m.ID, "err", rerr)
		return clockPoll
	}
	d.forget(m.ID)
	d.finish(m, "", reason)
	d.log.Error("daemon: the service refused a message for good; kept in dead letters", "id", m.ID, "source", m.Source, "err", err)
	d.st.failure(d.name, now, m, err)
	d.st.deadChanged()
	if d.failed != nil {
		d.failed(true)
	}
	return 0
}

// finish tells the finished hook, if any, that the destination is done
// with m.
func (d *deliverer) finish(m outbox.Message, ref, refused string) {
	if d.finished != nil {
		d.finished(m, d.name, ref, refused)
	}
}

// forget drops what the loop knows of a message it has finished.
func (d *deliverer) forget(id string) {
	delete(d.mayBeSent, id)
	delete(d.numbers, id)
}

// retryLater waits out a transient failure with exponential backoff and
// jitter: half the step fixed, half random.
func (d *deliverer) retryLater(m outbox.Message, err error, now time.Time) time.Duration {
	// The request may have reached the service: record the attempt, so a
	// later "duplicate" counts as delivered.
	if _, rerr := d.box.Attempt(m.ID, d.name, err.Error()); rerr != nil {
		d.log.Error("daemon: record a failed attempt", "id", m.ID, "err", rerr)
	}
	return d.backOff(m, err, now)
}

// backOff keeps m queued for the next step of the exponential backoff
// and shows err in the status; it records no attempt (retryLater does,
// for a request that may have reached the service).
func (d *deliverer) backOff(m outbox.Message, err error, now time.Time) time.Duration {
	step := d.backoff
	if step == 0 {
		step = firstBackoff
	}
	d.backoff = min(2*step, maxBackoff)
	wait := step/2 + time.Duration(d.jitter()*float64(step/2))
	d.log.Warn("daemon: posting failed; will retry", "id", m.ID, "in", wait.Round(time.Millisecond), "err", err)
	d.st.failure(d.name, now, m, err)
	d.st.setDelivery(d.name, "backing off", now.Add(wait))
	return wait
}

func (d *deliverer) setBusy(t time.Time) { d.setBusyFor(t, 0) }

// setBusyFor marks an attempt in flight since t that may take extra
// longer than one request.
func (d *deliverer) setBusyFor(t time.Time, extra time.Duration) {
	d.mu.Lock()
	d.busySince, d.busyExtra = t, extra
	d.mu.Unlock()
}

// stuckFor reports how long the request in flight has been running,
// less the extra time its attempt is allowed (see setBusyFor); 0 when
// none is.
func (d *deliverer) stuckFor(now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.busySince.IsZero() {
		return 0
	}
	return max(now.Sub(d.busySince)-d.busyExtra, 0)
}

// pictureTime is how much longer than one request an attempt that
// uploads pics may take: for each, its upload request (or the chunked
// flow's: INITIALIZE, an APPEND a ChunkSize, FINALIZE and a few STATUS
// polls) and its alt text, each within the request timeout, and its
// bytes at sender.MinUploadRate.
func pictureTime(pics []Picture) time.Duration {
	var d time.Duration
	for _, p := range pics {
		requests := int64(2) // the upload and the alt text
		if p.Type == "image/gif" || p.Size > sender.MaxOneShot {
			requests = 4 + (p.Size+sender.ChunkSize-1)/sender.ChunkSize + 6
		}
		d += time.Duration(requests)*sender.DefaultTimeout + sender.UploadTime(p.Size)
	}
	return d
}
