package emulator

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"pitweet/httpd"
)

// Fault modes.
const (
	ModeNone             = ""
	Mode429              = "429"                // 429 Too Many Requests, the rate limit exhausted until now+Reset
	Mode500              = "500"                // 500 Internal Server Error
	Mode503              = "503"                // 503 Service Unavailable
	ModeSlow             = "slow"               // answer normally after Delay
	ModeResetAfterAccept = "reset-after-accept" // do what the request asks, then reset the connection instead of answering
	ModeHang             = "hang"               // never answer, until the client gives up or the server closes
)

// Modes lists every fault mode, for flag help and validation.
var Modes = []string{Mode429, Mode500, Mode503, ModeSlow, ModeResetAfterAccept, ModeHang}

// AnyPath, as a Fault's Path, makes the fault apply to every API request.
const AnyPath = "*"

// A Fault makes the emulator misbehave on purpose.
type Fault struct {
	Mode string
	// Path is the request path the fault applies to, such as
	// "/api/v2/media"; "" is the emulator's posting endpoint (Core.PostPath)
	// and AnyPath every API request. Other requests pass untouched and do
	// not count.
	Path string
	// Count is how many requests the fault applies to; 0 means until it
	// is replaced or cleared.
	Count int
	// Reset is how far after now the exhausted rate limit resets, for
	// Mode429 (default 15 minutes).
	Reset time.Duration
	// Delay is how long ModeSlow waits before answering.
	Delay time.Duration
}

func (f Fault) String() string {
	if f.Mode == ModeNone {
		return "none"
	}
	s := f.Mode
	switch f.Mode {
	case Mode429:
		s += " reset=" + f.reset().String()
	case ModeSlow:
		s += " delay=" + f.Delay.String()
	}
	if f.Path != "" {
		s += " path=" + f.Path
	}
	if f.Count > 0 {
		s += fmt.Sprintf(" count=%d", f.Count)
	}
	return s
}

func (f Fault) reset() time.Duration {
	if f.Reset <= 0 {
		return 15 * time.Minute
	}
	return f.Reset
}

// Check reports whether f is a fault the emulators know how to apply.
func (f Fault) Check() error {
	if f.Mode != ModeNone && !slices.Contains(Modes, f.Mode) {
		return fmt.Errorf("emulator: unknown fault mode %q; use one of %v", f.Mode, Modes)
	}
	if f.Count < 0 {
		return fmt.Errorf("emulator: fault count %d is negative; use 0 for until cleared", f.Count)
	}
	if f.Delay < 0 || f.Reset < 0 {
		return fmt.Errorf("emulator: fault delay and reset must not be negative")
	}
	if f.Path != "" && f.Path != AnyPath && f.Path[0] != '/' {
		return fmt.Errorf("emulator: fault path %q must start with / (or be * for every request)", f.Path)
	}
	return nil
}

// faultJSON is a Fault as the control endpoint reads and writes it, with
// durations in Go syntax ("90s").
type faultJSON struct {
	Mode  string `json:"mode"`
	Path  string `json:"path,omitempty"`
	Count int    `json:"count"`
	Reset string `json:"reset,omitempty"`
	Delay string `json:"delay,omitempty"`
}

// MarshalJSON writes f with its durations as "90s".
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{Mode: f.Mode, Path: f.Path, Count: f.Count}
	if f.Reset != 0 {
		j.Reset = f.Reset.String()
	}
	if f.Delay != 0 {
		j.Delay = f.Delay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	g, err := parseFault(j)
	if err != nil {
		return err
	}
	*f = g
	return nil
}

func parseFault(j faultJSON) (Fault, error) {
	f := Fault{Mode: j.Mode, Path: j.Path, Count: j.Count}
	for _, d := range []struct {
		name, text string
		to         *time.Duration
	}{{"reset", j.Reset, &f.Reset}, {"delay", j.Delay, &f.Delay}} {
		if d.text == "" {
			continue
		}
		v, err := time.ParseDuration(d.text)
		if err != nil {
			return Fault{}, fmt.Errorf("emulator: fault %s %q is not a duration such as 30s", d.name, d.text)
		}
		*d.to = v
	}
	return f, nil
}

// SetFault replaces any pending faults with f; the zero Fault clears them.
// It returns an error for an unknown mode.
func (c *Core) SetFault(f Fault) error {
	return c.Script([]Fault{f})
}

// Script queues faults to apply one after the other: each in turn applies
// to its Count of matching requests, then the next takes over. A fault
// with Count 0 stays until the next SetFault or Script.
func (c *Core) Script(faults []Fault) error {
	queue := make([]Fault, 0, len(faults))
	for _, f := range faults {
		if err := f.Check(); err != nil {
			return err
		}
		if f.Mode == ModeNone && f.Count == 0 {
			continue
		}
		queue = append(queue, f)
	}
	c.mu.Lock()
	c.faults = queue
	c.mu.Unlock()
	return nil
}

// Fault returns the fault in force now (the zero Fault when none).
func (c *Core) Fault() Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.faults) == 0 {
		return Fault{}
	}
	return c.faults[0]
}

// takeFault returns the fault for one request to path, if the fault in
// force applies to it, and counts it against the fault's Count. c.mu must
// be held.
func (c *Core) takeFault(path string) Fault {
	if len(c.faults) == 0 {
		return Fault{}
	}
	f := c.faults[0]
	want := f.Path
	if want == "" {
		want = c.PostPath
	}
	if want != AnyPath && want != path {
		return Fault{}
	}
	if f.Count > 0 {
		c.faults[0].Count--
		if c.faults[0].Count == 0 {
			c.faults = c.faults[1:]
		}
	}
	return f
}

// controlSetFault sets the fault from a form (mode=429&count=1&reset=60s)
// or a JSON object ({"mode":"429","count":1,"reset":"60s"}); path and delay
// too. An empty mode clears the fault.
func (c *Core) controlSetFault(w *httpd.Response, r *httpd.Request) {
	var j faultJSON
	if httpd.MediaType(r.Header.Get("Content-Type")) == "application/json" {
		if err := json.Unmarshal(r.Body, &j); err != nil {
			TextError(w, 400, c.Name+": fault body is not JSON: "+err.Error())
			return
		}
	} else {
		form, err := url.ParseQuery(string(r.Body))
		if err != nil {
			TextError(w, 400, c.Name+": fault body is not a form: "+err.Error())
			return
		}
		j = faultJSON{Mode: form.Get("mode"), Path: form.Get("path"), Reset: form.Get("reset"), Delay: form.Get("delay")}
		if s := form.Get("count"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				TextError(w, 400, fmt.Sprintf("%s: fault count %q is not a number", c.Name, s))
				return
			}
			j.Count = n
		}
	}
	f, err := parseFault(j)
	if err == nil {
		err = c.SetFault(f)
	}
	if err != nil {
		TextError(w, 400, err.Error())
		return
	}
	c.Log().Info(c.Name+" fault set", "fault", f.String())
	WriteJSON(w, 200, c.Fault())
}
