package fakex

import (
	"strconv"
	"time"

	"pitweet/httpd"
)

// A rateWindow counts posting requests in a fixed window, as X's
// x-rate-limit-* (15 minutes) and x-user-limit-24hour-* (24 hours) do.
type rateWindow struct {
	start time.Time
	used  int
}

// take counts one request at now in a window of length d and limit, and
// returns what is left and when the window resets. left < 0 means the
// request is over the limit.
func (w *rateWindow) take(now time.Time, d time.Duration, limit int) (left int, reset time.Time) {
	if w.start.IsZero() || now.Sub(w.start) >= d || now.Before(w.start) {
		w.start, w.used = now, 0
	}
	w.used++
	return limit - w.used, w.start.Add(d)
}

// rateHeaders are the rate-limit headers of one answer.
type rateHeaders struct {
	limit, remaining       int
	reset                  time.Time
	dayLimit, dayRemaining int
	dayReset               time.Time
	// appLimit and appRemaining are the app's 24-hour allowance (its
	// window is the user's: the server has one account); noDay leaves
	// out both 24-hour families, as X's pay-per-use tier was seen to.
	appLimit, appRemaining int
	noDay                  bool
}

func (r *rateHeaders) write(h httpd.Header) {
	h.Set("x-rate-limit-limit", strconv.Itoa(r.limit))
	h.Set("x-rate-limit-remaining", strconv.Itoa(r.remaining))
	h.Set("x-rate-limit-reset", strconv.FormatInt(r.reset.Unix(), 10))
	if r.noDay {
		return
	}
	h.Set("x-user-limit-24hour-limit", strconv.Itoa(r.dayLimit))
	h.Set("x-user-limit-24hour-remaining", strconv.Itoa(r.dayRemaining))
	h.Set("x-user-limit-24hour-reset", strconv.FormatInt(r.dayReset.Unix(), 10))
	if r.appLimit > 0 {
		h.Set("x-app-limit-24hour-limit", strconv.Itoa(r.appLimit))
		h.Set("x-app-limit-24hour-remaining", strconv.Itoa(r.appRemaining))
		h.Set("x-app-limit-24hour-reset", strconv.FormatInt(r.dayReset.Unix(), 10))
	}
}

// countRate counts an authenticated posting request against both windows,
// sets the exchange's rate-limit headers, and reports whether the request
// is within the limits.
func (s *Server) countRate(ex *exchange) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	left, reset := s.window.take(ex.now, 15*time.Minute, s.RateLimit)
	dayLeft, dayReset := s.day.take(ex.now, 24*time.Hour, s.DailyLimit)
	ex.rate = &rateHeaders{
		limit: s.RateLimit, remaining: max(left, 0), reset: reset,
		dayLimit: s.DailyLimit, dayRemaining: max(dayLeft, 0), dayReset: dayReset,
		appLimit: s.AppDailyLimit, appRemaining: max(s.AppDailyLimit-s.day.used, 0), noDay: s.NoDayHeaders,
	}
	return left >= 0 && dayLeft >= 0 && (s.AppDailyLimit == 0 || s.day.used <= s.AppDailyLimit)
}
