package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"pitweet/outbox"
	"pitweet/sender"
)

// poster is what the delivery loop needs from an X client; *sender.Client
// provides it.
type poster interface {
	Post(ctx context.Context, text string) (*sender.Tweet, error)
	SetClockOffset(d time.Duration)
}

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

// idle is returned by deliverOnce when the outbox is empty: wait until a
// message is queued.
const idle time.Duration = -1

// deliverer posts the outbox's messages, oldest first.
type deliverer struct {
	box *outbox.Outbox
	x   poster
	log *slog.Logger
	st  *state

	// Seams for tests.
	now    func() time.Time
	jitter func() float64 // in [0, 1)

	// LED hooks; nil: no LED.
	sent   func()
	failed func(on bool)

	// mayBeOnX holds the messages that may already be on X: those queued
	// before this run started (the run that crashed or was killed may
	// have sent them and never read the answer) and those this run has
	// sent at least once. A "duplicate" answer for one of them means X has
	// it. Kept in memory, so a failed disk write cannot turn a delivered
	// message into a dead letter.
	mayBeOnX map[string]bool
	// posted holds the texts X has taken or refused as duplicates in this
	// run; numbers the messages renumbered because X had their text
	// (duplicate.go).
	posted  postedTexts
	numbers map[string]renumbered

	backoff     time.Duration // the next transient wait; 0 before any failure
	skewRetried string        // id of the message already retried after a clock correction
	clock       *clockStore   // keeps the clock offset between runs; nil: not kept

	mu        sync.Mutex
	busySince time.Time     // start of the request in flight; zero when none
	offset    time.Duration // server clock minus local clock, as last measured (clock.go)
}

// poster returns the X client; setPoster replaces it after a reload.
func (d *deliverer) poster() poster {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.x
}

// setPoster replaces the X client, handing it the clock offset measured so
// far (under the same lock a correction takes, so none is lost).
func (d *deliverer) setPoster(x poster) {
	d.mu.Lock()
	old := d.x
	x.SetClockOffset(d.offset)
	d.x = x
	d.mu.Unlock()
	closePoster(old)
}

// closePoster closes the connection a client keeps open, if it keeps one.
func closePoster(x poster) {
	if c, ok := x.(io.Closer); ok {
		c.Close()
	}
}

// clockOffset is X's clock minus ours, as last measured.
func (d *deliverer) clockOffset() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.offset
}

// setOffset makes offset the clock offset the X client signs with.
func (d *deliverer) setOffset(offset time.Duration) {
	d.mu.Lock()
	d.offset = offset
	d.x.SetClockOffset(offset)
	d.mu.Unlock()
	d.st.setOffset(offset)
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
	d.log.Info("daemon: clock offset corrected from X's Date header", "offset", est.Round(time.Millisecond), "was", cur.Round(time.Millisecond))
	if d.clock != nil {
		d.clock.save(est, received)
	}
}

func newDeliverer(box *outbox.Outbox, x poster, st *state, log *slog.Logger) *deliverer {
	mayBeOnX := map[string]bool{}
	for _, m := range box.Pending() {
		mayBeOnX[m.ID] = true
	}
	return &deliverer{
		mayBeOnX: mayBeOnX,
		posted:   postedTexts{},
		numbers:  map[string]renumbered{},
		box:      box,
		x:        x,
		st:       st,
		log:      log,
		now:      time.Now,
		jitter:   rand.Float64,
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
			// Nothing left to post: hand the memory a burst of requests
			// used (TLS state, the parsed system roots) back to the
			// kernel, so a small Pi sees the daemon at its idle size.
			debug.FreeOSMemory()
			select {
			case <-ctx.Done():
			case <-wake:
			}
			continue
		}
		// A backoff or rate-limit wait stands even when new messages are
		// queued: they are posted in order, after this one.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// deliverOnce makes at most one attempt to post the oldest message and
// returns how long to wait before the next call: 0 to go on at once, idle
// when the outbox is empty.
func (d *deliverer) deliverOnce(ctx context.Context) time.Duration {
	m, ok, err := d.box.Next()
	if err != nil {
		d.log.Error("daemon: read the outbox", "err", err)
		return clockPoll
	}
	if !ok {
		d.st.setDelivery("idle", time.Time{})
		return idle
	}
	now := d.now()
	if now.Before(plausibleClock) {
		d.st.setClock(false, now)
		d.st.setDelivery(fmt.Sprintf("waiting for the system clock (it says %s; is NTP reachable?)", now.UTC().Format(time.RFC3339)), time.Time{})
		return clockPoll
	}
	d.st.setClock(true, now)
	if m.Expired(now) {
		d.log.Warn("daemon: dropping a message that expired before it could be posted",
			"id", m.ID, "source", m.Source, "expired", m.Expires, "attempts", m.Attempts)
		if err := d.box.Dead(m.ID, "expired"); err != nil {
			d.log.Error("daemon: move expired message to dead letters", "id", m.ID, "err", err)
			return clockPoll
		}
		delete(d.numbers, m.ID)
		d.st.deadChanged()
		return 0
	}
	if now.Before(m.NotBefore) {
		d.st.setDelivery("waiting", m.NotBefore)
		return m.NotBefore.Sub(now)
	}
	// An attempt is written to disk only once it has failed: a message
	// from an earlier run counts as tried (see mayBeOnX), so a send needs no
	// write before it, and a press reaches X sooner.
	tried := m.Attempts
	if d.mayBeOnX[m.ID] {
		tried = max(tried, 1)
	}
	if tried == 0 && d.posted.has(m.Text, now) {
		// X has this text from another message: it would refuse it.
		if m, err = d.renumber(m, now); err != nil {
			d.log.Error("daemon: number a repeated text", "id", m.ID, "err", err)
			return clockPoll
		}
	}
	d.mayBeOnX[m.ID] = true
	d.st.setDelivery("sending", time.Time{})
	d.setBusy(now)
	tw, err := d.poster().Post(ctx, m.Text)
	d.setBusy(time.Time{})
	return d.settle(m, tried, now, tw, err)
}

// settle decides what the answer to one attempt, sent at sent, means for
// message m, which had been tried tried times before it.
func (d *deliverer) settle(m outbox.Message, tried int, sent time.Time, tw *sender.Tweet, err error) time.Duration {
	now := d.now()
	if err == nil {
		d.observeDate(tw.Meta.Date, sent, now, false)
		return d.delivered(m, tw.ID, now)
	}
	var apiErr *sender.APIError
	if errors.As(err, &apiErr) && apiErr.Kind != sender.KindClockSkew {
		// Every answer carries X's clock: the 429 below is converted
		// with the offset this very answer shows.
		d.observeDate(apiErr.Meta.Date, sent, now, false)
	}
	if apiErr == nil {
		if errors.Is(err, context.Canceled) {
			// Shutting down mid-request: the outcome is unknown, the
			// message stays queued and Attempts says it may have gone.
			d.log.Info("daemon: request cancelled at shutdown; the message stays queued", "id", m.ID)
			if _, rerr := d.box.Attempt(m.ID, "cancelled at shutdown with the outcome unknown"); rerr != nil {
				d.log.Error("daemon: record a cancelled attempt", "id", m.ID, "err", rerr)
			}
			return 0
		}
		// Network failures, TLS trouble, protocol errors: X said nothing
		// usable. Retrying later is the only safe course; nothing is lost.
		return d.retryLater(m, err, now)
	}
	switch apiErr.Kind {
	case sender.KindDuplicate:
		if tried > 0 {
			// An earlier attempt reached X but its answer was lost.
			d.log.Info("daemon: X already has this message from an earlier attempt; counted delivered", "id", m.ID, "source", m.Source)
			return d.delivered(m, "", now)
		}
		// Never sent before: X has the text from another message, and
		// this attempt made no post.
		delete(d.mayBeOnX, m.ID)
		d.posted.add(m.Text, now)
		r := d.numbering(m)
		if r.refused++; r.refused >= maxDuplicateRefusals {
			return d.dead(m, fmt.Sprintf("X refused it as a duplicate of an earlier post %d times, numbered up to (%d)", r.refused, max(r.n, 1)), err, now)
		}
		d.numbers[m.ID] = r
		if _, rerr := d.renumber(m, now); rerr != nil {
			d.log.Error("daemon: number a repeated text", "id", m.ID, "err", rerr)
			return clockPoll
		}
		return 0
	case sender.KindRateLimited:
		at := apiErr.RetryAt.Add(-d.clockOffset()) // X's clock to ours
		if !at.After(now) {
			at = now.Add(firstBackoff)
		}
		d.log.Warn("daemon: rate limited by X; waiting", "until", at, "id", m.ID)
		if _, err := d.box.RetryAt(m.ID, at, err.Error()); err != nil {
			d.log.Error("daemon: record the rate-limit wait", "id", m.ID, "err", err)
		}
		d.st.failure(now, m, err)
		d.st.setRateLimit(at)
		d.st.setDelivery("rate limited", at)
		return at.Sub(now)
	case sender.KindClockSkew:
		if d.skewRetried != m.ID && !apiErr.Meta.Date.IsZero() {
			d.skewRetried = m.ID
			d.observeDate(apiErr.Meta.Date, sent, now, true)
			d.log.Warn("daemon: X says our clock is off; correcting and retrying once",
				"offset", d.clockOffset().Round(time.Second), "id", m.ID)
			return 0
		}
		return d.dead(m, "X refused the request's timestamp even after correcting the clock offset", err, now)
	case sender.KindTransient, sender.KindProtocol:
		return d.retryLater(m, err, now)
	default: // permanent, forbidden, unauthorized
		return d.dead(m, apiErr.Kind.String(), err, now)
	}
}

func (d *deliverer) delivered(m outbox.Message, tweetID string, now time.Time) time.Duration {
	d.posted.add(m.Text, now)
	delete(d.numbers, m.ID)
	if err := d.box.Done(m.ID); err != nil {
		d.log.Error("daemon: remove a delivered message from the outbox", "id", m.ID, "err", err)
	} else {
		delete(d.mayBeOnX, m.ID)
	}
	d.log.Info("daemon: posted", "id", m.ID, "tweet", tweetID, "source", m.Source, "attempts", m.Attempts+1)
	d.backoff = 0
	d.st.success(now, m, tweetID)
	if d.sent != nil {
		d.sent()
	}
	if d.failed != nil {
		d.failed(false)
	}
	return 0
}

func (d *deliverer) dead(m outbox.Message, why string, err error, now time.Time) time.Duration {
	reason := why + ": " + err.Error()
	if derr := d.box.Dead(m.ID, reason); derr != nil {
		d.log.Error("daemon: move a refused message to dead letters", "id", m.ID, "err", derr)
		return clockPoll
	}
	delete(d.mayBeOnX, m.ID)
	delete(d.numbers, m.ID)
	d.log.Error("daemon: X refused a message for good; kept in dead letters", "id", m.ID, "source", m.Source, "err", err)
	d.st.failure(now, m, err)
	d.st.deadChanged()
	if d.failed != nil {
		d.failed(true)
	}
	return 0
}

// retryLater waits out a transient failure with exponential backoff and
// jitter: half the step fixed, half random.
func (d *deliverer) retryLater(m outbox.Message, err error, now time.Time) time.Duration {
	step := d.backoff
	if step == 0 {
		step = firstBackoff
	}
	d.backoff = min(2*step, maxBackoff)
	wait := step/2 + time.Duration(d.jitter()*float64(step/2))
	d.log.Warn("daemon: posting failed; will retry", "id", m.ID, "in", wait.Round(time.Millisecond), "err", err)
	// The request may have reached X: record the attempt, so a later
	// "duplicate" counts as delivered.
	if _, rerr := d.box.Attempt(m.ID, err.Error()); rerr != nil {
		d.log.Error("daemon: record a failed attempt", "id", m.ID, "err", rerr)
	}
	d.st.failure(now, m, err)
	d.st.setDelivery("backing off", now.Add(wait))
	return wait
}

func (d *deliverer) setBusy(t time.Time) {
	d.mu.Lock()
	d.busySince = t
	d.mu.Unlock()
}

// stuckFor reports how long the request in flight has been running; 0 when
// none is.
func (d *deliverer) stuckFor(now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.busySince.IsZero() {
		return 0
	}
	return now.Sub(d.busySince)
}
