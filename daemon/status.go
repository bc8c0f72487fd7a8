package daemon

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"pitweet/outbox"
)

// Status is what `pitweet status` shows: a snapshot of the running daemon.
type Status struct {
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	Uptime   Duration  `json:"uptime"`
	Hardware string    `json:"hardware"` // "real" or "fake"
	// HardwareError says why the configured hardware did not open; the
	// daemon runs without it and tries again at HardwareRetry.
	HardwareError string        `json:"hardware_error,omitempty"`
	HardwareRetry time.Time     `json:"hardware_retry,omitzero"`
	Buttons       []string      `json:"buttons"`
	ButtonErrors  []ButtonError `json:"button_errors,omitempty"` // the buttons that are failing
	Queue         int           `json:"queue"`
	Delivery      string        `json:"delivery"`                    // idle, sending, backing off, rate limited, waiting, waiting for the system clock …
	NextAttempt   time.Time     `json:"next_attempt,omitzero"`       // when the delivery loop tries again; zero (left out): now or when a message comes
	RateLimited   time.Time     `json:"rate_limited_until,omitzero"` // zero (left out): not rate limited
	DeadLetters   int           `json:"dead_letters"`
	RecentDead    []DeadLetter  `json:"recent_dead,omitempty"` // the last few, newest last
	LastSuccess   *Success      `json:"last_success,omitempty"`
	LastError     *Failure      `json:"last_error,omitempty"`
	Clock         Clock         `json:"clock"`
	Sensors       []SensorState `json:"sensors"`
	History       *HistoryState `json:"history,omitempty"`
}

// HistoryState is how the sensor history is kept.
type HistoryState struct {
	Dir       string `json:"dir"`
	Recording int    `json:"recording"`       // quantities recorded
	Pending   int    `json:"pending"`         // samples not written yet
	Bytes     int64  `json:"bytes"`           // on disk
	Error     string `json:"error,omitempty"` // why it is not recorded, or the last write's error
}

// ButtonError is a button whose pin keeps failing.
type ButtonError struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}

// Duration marshals as a Go duration string ("1h2m3s").
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// DeadLetter is a message the daemon gave up on.
type DeadLetter struct {
	ID     string    `json:"id"`
	Source string    `json:"source"`
	Text   string    `json:"text"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Success is the last post X accepted.
type Success struct {
	At      time.Time `json:"at"`
	TweetID string    `json:"tweet_id,omitempty"` // empty when a retry found X already had it
	Source  string    `json:"source"`
	Text    string    `json:"text"`
}

// Failure is the last attempt that went wrong.
type Failure struct {
	At     time.Time `json:"at"`
	Source string    `json:"source"`
	Error  string    `json:"error"`
}

// Clock says whether the system clock can be trusted for signing.
type Clock struct {
	Now       time.Time `json:"now"`
	Plausible bool      `json:"plausible"`
	Offset    Duration  `json:"offset"` // X's clock minus ours, from X's Date headers (kept across restarts)
}

// SensorState is the latest good reading of one sensor, and the last
// error if the latest read failed.
type SensorState struct {
	Name   string             `json:"name"`
	Type   string             `json:"type"`
	At     time.Time          `json:"at,omitzero"` // of the good reading; zero (left out): none yet
	Values map[string]float64 `json:"values,omitempty"`
	Error  string             `json:"error,omitempty"`
}

// recentDead is how many dead letters status lists.
const recentDead = 5

// state is the daemon's shared, lock-protected picture of itself, from
// which Status snapshots are made.
type state struct {
	mu          sync.Mutex
	pid         int
	started     time.Time
	hardware    string
	hwErr       string
	hwRetry     time.Time
	buttons     []string
	delivery    string
	next        time.Time
	rateLimited time.Time
	lastSuccess *Success
	lastError   *Failure
	plausible   bool
	offset      time.Duration
	sensors     map[string]*SensorState
	recording   int  // quantities whose history is recorded
	deadDirty   bool // dead letters changed since last counted
	dead        []DeadLetter
	changed     func() // called after delivery state changes; nil: nothing
}

func (s *state) setDelivery(what string, next time.Time) {
	s.mu.Lock()
	s.delivery, s.next = what, next
	s.mu.Unlock()
	s.notifyChange()
}

// setHardware records why the hardware did not open and when it is tried
// again, or with err nil that it is open.
func (s *state) setHardware(err error, retry time.Time) {
	s.mu.Lock()
	s.hwErr, s.hwRetry = "", time.Time{}
	if err != nil {
		s.hwErr, s.hwRetry = err.Error(), retry
	}
	s.mu.Unlock()
	s.notifyChange()
}

func (s *state) setRateLimit(until time.Time) {
	s.mu.Lock()
	s.rateLimited = until
	s.mu.Unlock()
}

func (s *state) setClock(plausible bool, now time.Time) {
	s.mu.Lock()
	s.plausible = plausible
	s.mu.Unlock()
}

func (s *state) setOffset(d time.Duration) {
	s.mu.Lock()
	s.offset = d
	s.mu.Unlock()
}

func (s *state) success(at time.Time, m outbox.Message, tweetID string) {
	s.mu.Lock()
	s.lastSuccess = &Success{At: at, TweetID: tweetID, Source: m.Source, Text: m.Text}
	s.rateLimited = time.Time{}
	s.mu.Unlock()
	s.notifyChange()
}

func (s *state) failure(at time.Time, m outbox.Message, err error) {
	s.mu.Lock()
	s.lastError = &Failure{At: at, Source: m.Source, Error: err.Error()}
	s.mu.Unlock()
	s.notifyChange()
}

func (s *state) deadChanged() {
	s.mu.Lock()
	s.deadDirty = true
	s.mu.Unlock()
}

func (s *state) notifyChange() {
	if s.changed != nil {
		s.changed()
	}
}

// sensorRead records a sensor's read: a good reading replaces the last
// one; a failure keeps it and notes the error.
func (s *state) sensorRead(name, typ string, at time.Time, values map[string]float64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sensors == nil {
		s.sensors = make(map[string]*SensorState)
	}
	ss := s.sensors[name]
	if ss == nil {
		ss = &SensorState{Name: name, Type: typ}
		s.sensors[name] = ss
	}
	if err != nil {
		ss.Error = err.Error()
		return
	}
	ss.At, ss.Values, ss.Error = at, maps.Clone(values), ""
}

// readings returns the latest good values of every sensor, by sensor name.
func (s *state) readings() map[string]map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]float64, len(s.sensors))
	for name, ss := range s.sensors {
		if ss.Values != nil {
			out[name] = maps.Clone(ss.Values)
		}
	}
	return out
}

// snapshot makes a Status. box gives the queue depth and dead letters.
func (s *state) snapshot(now time.Time, box *outbox.Outbox) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deadDirty || s.dead == nil {
		s.deadDirty = false
		s.dead = []DeadLetter{}
		if dl, err := box.DeadLetters(); err == nil {
			for _, d := range dl {
				s.dead = append(s.dead, DeadLetter{ID: d.ID, Source: d.Source, Text: d.Text, Reason: d.Reason, At: d.At})
			}
		}
	}
	limited := s.rateLimited
	if !limited.After(now) {
		limited = time.Time{}
	}
	st := Status{
		PID:           s.pid,
		Started:       s.started,
		Uptime:        Duration(now.Sub(s.started).Round(time.Second)),
		Hardware:      s.hardware,
		HardwareError: s.hwErr,
		HardwareRetry: s.hwRetry,
		Buttons:       slices.Clone(s.buttons),
		Queue:         box.Len(),
		Delivery:      s.delivery,
		NextAttempt:   s.next,
		RateLimited:   limited,
		DeadLetters:   len(s.dead),
		RecentDead:    slices.Clone(s.dead[max(0, len(s.dead)-recentDead):]),
		LastSuccess:   s.lastSuccess,
		LastError:     s.lastError,
		Clock:         Clock{Now: now, Plausible: !now.Before(plausibleClock), Offset: Duration(s.offset)},
		Sensors:       []SensorState{},
	}
	for _, name := range slices.Sorted(maps.Keys(s.sensors)) {
		ss := *s.sensors[name]
		ss.Values = maps.Clone(ss.Values)
		st.Sensors = append(st.Sensors, ss)
	}
	return st
}

// summary is the one-line STATUS= text for systemd. It may hold what a
// server said, so it goes through Printable: a newline in it would start
// another notification field (WATCHDOG_USEC=, say).
func (s *state) summary(queue int) string {
	return Printable(s.summaryText(queue))
}

func (s *state) summaryText(queue int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d queued", queue)
	if s.hwErr != "" {
		b.WriteString("; hardware not open, trying again at " + s.hwRetry.Format("15:04:05") + ": " + s.hwErr)
	}
	if s.delivery != "" && s.delivery != "idle" {
		b.WriteString(", " + s.delivery)
		if !s.next.IsZero() {
			b.WriteString(" until " + s.next.Format("15:04:05"))
		}
	}
	if s.lastSuccess != nil {
		b.WriteString("; last posted " + s.lastSuccess.At.Format("2006-01-02 15:04:05"))
	}
	if s.lastError != nil && (s.lastSuccess == nil || s.lastError.At.After(s.lastSuccess.At)) {
		b.WriteString("; last error: " + s.lastError.Error)
	}
	return b.String()
}
