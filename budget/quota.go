package budget

import (
	"fmt"
	"time"
)

// Limits is what one answer of X said in its rate-limit headers, with the
// reset times already on the local clock. A count is -1 and a time zero
// when its header was absent: absent means unknown, never zero (X's
// pay-per-use tier was seen leaving out the 24-hour headers).
type Limits struct {
	Limit, Remaining int       // x-rate-limit-limit, -remaining: this endpoint's 15-minute window
	Reset            time.Time // x-rate-limit-reset
	Limit24h         int       // x-user-limit-24hour-limit: posts a user may make in 24 hours
	Remaining24h     int       // x-user-limit-24hour-remaining
	Reset24h         time.Time // x-user-limit-24hour-reset
}

// Quota is what X's last answer said is left of the account's allowance
// for posts: the 24-hour user limit and the 15-minute window of POST
// /2/tweets. The zero Quota knows nothing and holds nothing back.
type Quota struct {
	known24h     bool
	limit24h     int
	remaining24h int
	reset24h     time.Time
	known15m     bool
	remaining15m int
	reset15m     time.Time
}

// Waits when a header says the allowance is used up but not when it comes
// back, and the longest wait a reset time may impose.
const (
	unknownReset24h = time.Hour
	unknownReset15m = 15 * time.Minute
	maxReset        = 24*time.Hour + time.Minute
)

// LowThreshold is how many posts of the 24-hour allowance are kept for
// presses, alerts and commands: when no more than this many are left,
// reports wait for the reset. A tenth of the limit, at least 3 (of X's 17
// a day on the free tier, 3; of 100, 10).
func LowThreshold(limit int) int { return max(3, limit/10) }

// Observe takes in the headers of an answer X gave at now. Each family
// present replaces what was known of it; one absent becomes unknown.
func (q *Quota) Observe(l Limits, now time.Time) {
	var ok bool
	q.reset24h, ok = resetOf(l.Remaining24h, l.Reset24h, now, unknownReset24h)
	q.known24h = ok
	q.limit24h, q.remaining24h = l.Limit24h, l.Remaining24h
	q.reset15m, ok = resetOf(l.Remaining, l.Reset, now, unknownReset15m)
	q.known15m = ok
	q.remaining15m = l.Remaining
}

// resetOf returns when an allowance with remaining left resets, kept
// between now and a day from now, and whether it says anything: not when
// its header is absent, nor when its reset has passed with some left. A
// used-up allowance whose reset is missing or past comes back, as far as
// pitweet knows, after unknown.
func resetOf(remaining int, reset, now time.Time, unknown time.Duration) (time.Time, bool) {
	switch {
	case remaining < 0:
		return time.Time{}, false
	case !reset.After(now) && remaining > 0:
		return time.Time{}, false
	case !reset.After(now):
		return now.Add(unknown), true
	case reset.Sub(now) > maxReset:
		return now.Add(maxReset), true
	}
	return reset, true
}

// Blocked says until when no post may be sent at all, and why: the
// 24-hour allowance or the 15-minute window is used up. until is zero
// when posts may go.
func (q Quota) Blocked(now time.Time) (until time.Time, why string) {
	if q.known24h && q.remaining24h == 0 && now.Before(q.reset24h) {
		until = q.reset24h
		why = fmt.Sprintf("X's 24-hour limit of %d posts is used up (x-user-limit-24hour-remaining: 0)", q.limit24h)
	}
	if q.known15m && q.remaining15m == 0 && now.Before(q.reset15m) && q.reset15m.After(until) {
		until = q.reset15m
		why = "X's 15-minute rate limit is used up (x-rate-limit-remaining: 0)"
	}
	return until, why
}

// Low reports whether so few posts are left of the 24-hour allowance that
// reports should wait for its reset (LowThreshold), and when that is.
func (q Quota) Low(now time.Time) (low bool, until time.Time) {
	if !q.known24h || !now.Before(q.reset24h) {
		return false, time.Time{}
	}
	return q.remaining24h <= LowThreshold(q.limit24h), q.reset24h
}

// Day returns what is known of the 24-hour allowance; ok is false when
// X's answers did not say (or its reset has passed).
func (q Quota) Day(now time.Time) (limit, remaining int, reset time.Time, ok bool) {
	if !q.known24h || !now.Before(q.reset24h) {
		return 0, 0, time.Time{}, false
	}
	return q.limit24h, q.remaining24h, q.reset24h, true
}
