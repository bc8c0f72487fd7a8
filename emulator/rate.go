package emulator

import "time"

// A Window counts the points requests spend in a fixed time window, as the
// services' rate limiters do. It is not safe for concurrent use: the
// emulator holds its lock around it.
type Window struct {
	Limit  int           // points per window
	Period time.Duration // the window's length
	// Aligned windows start at multiples of Period since the Unix epoch
	// (Mastodon's rack-attack); otherwise a window starts with the first
	// request after the previous one ended (the PDS's limiter).
	Aligned bool

	start time.Time
	used  int
}

// Take spends points at now and returns the points left (never below 0),
// when the window resets, and whether the request is within the limit.
func (w *Window) Take(now time.Time, points int) (left int, reset time.Time, ok bool) {
	w.roll(now)
	w.used += points
	return max(w.Limit-w.used, 0), w.start.Add(w.Period), w.used <= w.Limit
}

// Peek returns what Take would without spending anything.
func (w *Window) Peek(now time.Time) (left int, reset time.Time) {
	w.roll(now)
	return max(w.Limit-w.used, 0), w.start.Add(w.Period)
}

// roll starts a new window if now is past the current one.
func (w *Window) roll(now time.Time) {
	if !w.start.IsZero() && !now.Before(w.start) && now.Sub(w.start) < w.Period {
		return
	}
	w.used = 0
	if w.Aligned {
		// Mastodon: reset = now + (period - now.to_i % period).
		p := max(int64(w.Period/time.Second), 1)
		w.start = time.Unix(now.Unix()-now.Unix()%p, 0).In(now.Location())
		return
	}
	w.start = now
}
