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
//
// Destinations says how the delivery to each configured destination
// stands. The fields above it summarise them all, as they did when X was
// the one destination: Delivery joins the states of those not idle,
// NextAttempt is the soonest of their next attempts, RateLimited the
// latest end of their rate limits, LastSuccess and LastError the latest
// of each.
type Status struct {
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	Uptime   Duration  `json:"uptime"`
	Hardware string    `json:"hardware"` // "real" or "fake"
	// HardwareError says why the configured hardware did not open; the
	// daemon runs without it and tries again at HardwareRetry.
	HardwareError string              `json:"hardware_error,omitempty"`
	HardwareRetry time.Time           `json:"hardware_retry,omitzero"`
	Buttons       []string            `json:"buttons"`
	ButtonErrors  []ButtonError       `json:"button_errors,omitempty"`     // the buttons that are failing
	Queue         int                 `json:"queue"`                       // messages not yet finished by every destination
	Delivery      string              `json:"delivery"`                    // idle, sending, backing off, rate limited, waiting, waiting for the system clock …
	NextAttempt   time.Time           `json:"next_attempt,omitzero"`       // when a delivery loop tries again; zero (left out): now or when a message comes
	RateLimited   time.Time           `json:"rate_limited_until,omitzero"` // zero (left out): not rate limited
	DeadLetters   int                 `json:"dead_letters"`
	RecentDead    []DeadLetter        `json:"recent_dead,omitempty"` // the last few, newest last
	LastSuccess   *Success            `json:"last_success,omitempty"`
	LastError     *Failure            `json:"last_error,omitempty"`
	Destinations  []DestinationStatus `json:"destinations"`
	Clock         Clock               `json:"clock"`
	Sensors       []SensorState       `json:"sensors"`
	History       *HistoryState       `json:"history,omitempty"`
	Pictures      *PictureStatus      `json:"pictures,omitempty"` // with photos or charts configured
	MQTT          *MQTTStatus         `json:"mqtt,omitempty"`     // nil without [mqtt]
	// Spend is what X costs this month and what its budget, credits and
	// quota hold back; absent when X is not a destination.
	Spend *SpendStatus `json:"x_spend,omitempty"`
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

// DestinationStatus is how the delivery to one destination stands.
type DestinationStatus struct {
	Name        string    `json:"name"`                        // "x", "mastodon", "bluesky", "forward"
	Queue       int       `json:"queue"`                       // messages it has still to post
	Delivery    string    `json:"delivery"`                    // idle, sending, backing off, rate limited, waiting, …
	NextAttempt time.Time `json:"next_attempt,omitzero"`       // zero (left out): now or when a message comes
	RateLimited time.Time `json:"rate_limited_until,omitzero"` // zero (left out): not rate limited
	LastSuccess *Success  `json:"last_success,omitempty"`
	LastError   *Failure  `json:"last_error,omitempty"`
	// Limits says what the service allows as last reported (Mastodon:
	// its length limit and the rate limit left); "" when it says nothing.
	Limits string `json:"limits,omitempty"`
	// Account says how the destination's account stands, for those that
	// log in (Bluesky); nil for the others.
	Account *AccountStatus `json:"account,omitempty"`
}

// Duration marshals as a Go duration string ("1h2m3s").
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// DeadLetter is a message the daemon gave up on, with what each of its
// destinations did.
type DeadLetter struct {
	ID       string    `json:"id"`
	Source   string    `json:"source"`
	Text     string    `json:"text"`
	Reason   string    `json:"reason"` // the refusal; "bluesky: …; mastodon: …" for several destinations
	At       time.Time `json:"at"`
	Outcomes []Outcome `json:"outcomes"`
}

// Outcome is what one destination did with a dead letter.
type Outcome struct {
	Destination string `json:"destination"`
	Posted      bool   `json:"posted"`
	Ref         string `json:"ref,omitempty"`     // the remote id or URL, when posted
	Refused     string `json:"refused,omitempty"` // why not, when refused
}

// Success is the last post a destination accepted.
type Success struct {
	At          time.Time `json:"at"`
	Destination string    `json:"destination"`
	Ref         string    `json:"ref,omitempty"`      // the remote id or URL; empty when a retry found the service already had it
	TweetID     string    `json:"tweet_id,omitempty"` // Ref, on X
	Source      string    `json:"source"`
	Text        string    `json:"text"`
}

// Failure is the last attempt that went wrong.
type Failure struct {
	At          time.Time `json:"at"`
	Destination string    `json:"destination"`
	Source      string    `json:"source"`
	Error       string    `json:"error"`
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
	mu        sync.Mutex
	pid       int
	started   time.Time
	hardware  string
	hwErr     string
	hwRetry   time.Time
	buttons   []string
	dests     []*destState // in the config's order
	plausible bool
	offset    time.Duration
	sensors   map[string]*SensorState
	recording int  // quantities whose history is recorded
	deadDirty bool // dead letters changed since last counted
	dead      []DeadLetter
	changed   func() // called after delivery state changes; nil: nothing
}

// destState is the delivery state of one destination.
type destState struct {
	name        string
	delivery    string
	next        time.Time
	rateLimited time.Time
	lastSuccess *Success
	lastError   *Failure
}

// addDestination makes room for destination name's state.
func (s *state) addDestination(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dest(name) == nil {
		s.dests = append(s.dests, &destState{name: name, delivery: "starting"})
	}
}

// dest returns destination name's state. The caller holds s.mu.
func (s *state) dest(name string) *destState {
	for _, d := range s.dests {
		if d.name == name {
			return d
		}
	}
	return nil
}

// with runs f on destination name's state under the lock, if it has one.
func (s *state) with(name string, f func(*destState)) {
	s.mu.Lock()
	if d := s.dest(name); d != nil {
		f(d)
	}
	s.mu.Unlock()
}

func (s *state) setDelivery(name, what string, next time.Time) {
	s.with(name, func(d *destState) { d.delivery, d.next = what, next })
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

func (s *state) setRateLimit(name string, until time.Time) {
	s.with(name, func(d *destState) { d.rateLimited = until })
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

func (s *state) success(name string, at time.Time, m outbox.Message, ref string) {
	ok := &Success{At: at, Destination: name, Ref: ref, Source: m.Source, Text: m.TextFor(name)}
	if name == "x" {
		ok.TweetID = ref
	}
	s.with(name, func(d *destState) {
		d.lastSuccess = ok
		d.rateLimited = time.Time{}
	})
	s.notifyChange()
}

func (s *state) failure(name string, at time.Time, m outbox.Message, err error) {
	f := &Failure{At: at, Destination: name, Source: m.Source, Error: err.Error()}
	s.with(name, func(d *destState) { d.lastError = f })
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

// deadLetter is how status shows a dead letter.
func deadLetter(d outbox.Dead) DeadLetter {
	dl := DeadLetter{ID: d.ID, Source: d.Source, Text: d.Text, Reason: d.Reason, At: d.At, Outcomes: []Outcome{}}
	for _, name := range d.To {
		del := d.Dest[name]
		dl.Outcomes = append(dl.Outcomes, Outcome{Destination: name, Posted: del.Done, Ref: del.Ref, Refused: del.Refused})
	}
	return dl
}

// snapshot makes a Status. box gives the queue depths and dead letters.
func (s *state) snapshot(now time.Time, box *outbox.Outbox) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deadDirty || s.dead == nil {
		s.deadDirty = false
		s.dead = []DeadLetter{}
		if dl, err := box.DeadLetters(); err == nil {
			for _, d := range dl {
				s.dead = append(s.dead, deadLetter(d))
			}
		}
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
		DeadLetters:   len(s.dead),
		RecentDead:    slices.Clone(s.dead[max(0, len(s.dead)-recentDead):]),
		Destinations:  []DestinationStatus{},
		Clock:         Clock{Now: now, Plausible: !now.Before(plausibleClock), Offset: Duration(s.offset)},
		Sensors:       []SensorState{},
	}
	var states []string
	for _, d := range s.dests {
		limited := d.rateLimited
		if !limited.After(now) {
			limited = time.Time{}
		}
		ds := DestinationStatus{Name: d.name, Queue: box.LenFor(d.name), Delivery: d.delivery, NextAttempt: d.next,
			RateLimited: limited, LastSuccess: d.lastSuccess, LastError: d.lastError}
		st.Destinations = append(st.Destinations, ds)
		if d.delivery != "idle" || len(s.dests) == 1 {
			states = append(states, d.delivery)
			if len(s.dests) > 1 {
				states[len(states)-1] = d.name + ": " + d.delivery
			}
		}
		if !d.next.IsZero() && (st.NextAttempt.IsZero() || d.next.Before(st.NextAttempt)) {
			st.NextAttempt = d.next
		}
		if limited.After(st.RateLimited) {
			st.RateLimited = limited
		}
		if d.lastSuccess != nil && (st.LastSuccess == nil || d.lastSuccess.At.After(st.LastSuccess.At)) {
			st.LastSuccess = d.lastSuccess
		}
		if d.lastError != nil && (st.LastError == nil || d.lastError.At.After(st.LastError.At)) {
			st.LastError = d.lastError
		}
	}
	st.Delivery = strings.Join(states, "; ")
	if st.Delivery == "" {
		st.Delivery = "idle"
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
	var last *Success
	var lastErr *Failure
	for _, d := range s.dests {
		if d.delivery != "" && d.delivery != "idle" {
			b.WriteString(", ")
			if len(s.dests) > 1 {
				b.WriteString(d.name + " ")
			}
			b.WriteString(d.delivery)
			if !d.next.IsZero() {
				b.WriteString(" until " + d.next.Format("15:04:05"))
			}
		}
		if d.lastSuccess != nil && (last == nil || d.lastSuccess.At.After(last.At)) {
			last = d.lastSuccess
		}
		if d.lastError != nil && (lastErr == nil || d.lastError.At.After(lastErr.At)) {
			lastErr = d.lastError
		}
	}
	if last != nil {
		b.WriteString("; last posted " + last.At.Format("2006-01-02 15:04:05"))
		if len(s.dests) > 1 {
			b.WriteString(" on " + last.Destination)
		}
	}
	if lastErr != nil && (last == nil || lastErr.At.After(last.At)) {
		b.WriteString("; last error")
		if len(s.dests) > 1 {
			b.WriteString(" on " + lastErr.Destination)
		}
		b.WriteString(": " + lastErr.Error)
	}
	return b.String()
}
