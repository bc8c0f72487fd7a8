package fakehw

import (
	"fmt"
	"pitweet/hw"
	"strconv"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// Change is a level a pin took at a time.
type Change struct {
	At    time.Time
	Level gpio.Level
}

// idleWait is how long, in real time, a wait for an edge with nothing
// scheduled blocks in virtual mode before it gives up. Virtual time does not
// pass meanwhile.
const idleWait = 2 * time.Millisecond

// Pin is a simulated GPIO pin. It implements gpio.PinIO.
//
// As an input, it takes the levels that Board.Press and friends schedule; as
// an output, it records every level written.
type Pin struct {
	name  string
	num   int
	clock *Clock

	mu      sync.Mutex
	level   gpio.Level
	pull    gpio.Pull
	out     bool
	pending []Change // scheduled input levels, in time order
	history []Change
	wake    chan struct{} // closed and replaced when pending changes or on Halt
	waiting int           // WaitForEdge calls in progress
	halted  bool          // Halt was called during a wait: the waits return false
}

func newPin(num int, clock *Clock) *Pin {
	return &Pin{name: "GPIO" + strconv.Itoa(num), num: num, clock: clock, pull: gpio.Float, wake: make(chan struct{})}
}

// String implements conn.Resource.
func (p *Pin) String() string { return p.name }

// Halt implements conn.Resource. Like periph's gpioioctl driver, it makes
// a WaitForEdge in progress return false at once; one that starts later
// waits as usual.
func (p *Pin) Halt() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting > 0 {
		p.halted = true
		close(p.wake)
		p.wake = make(chan struct{})
	}
	return nil
}

// Name implements pin.Pin.
func (p *Pin) Name() string { return p.name }

// Number implements pin.Pin.
func (p *Pin) Number() int { return p.num }

// Function implements pin.Pin: "IN" or "OUT", after the last use.
func (p *Pin) Function() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out {
		return string(gpio.OUT)
	}
	return string(gpio.IN)
}

// In implements gpio.PinIn. The pull decides the idle level of a button:
// with gpio.PullDown a press reads High, otherwise Low.
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = false
	if pull != gpio.PullNoChange {
		p.pull = pull
	}
	switch p.pull {
	case gpio.PullUp:
		p.setLocked(gpio.High)
	case gpio.PullDown:
		p.setLocked(gpio.Low)
	}
	return nil
}

// Read implements gpio.PinIn. It sees a scheduled change as soon as its time
// has come, but leaves the edge to WaitForEdge, as the kernel does.
func (p *Pin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	l := p.level
	for _, c := range p.pending {
		if c.At.After(now) {
			break
		}
		l = c.Level
	}
	return l
}

// WaitForEdge implements gpio.PinIn. It returns true when the next scheduled
// level change happens within timeout.
//
// In virtual time, a wait for a scheduled change moves the clock forward to
// it (or to the timeout) at once; a wait with nothing scheduled blocks for at
// most a couple of real milliseconds and returns false without time passing.
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	forever := timeout < 0
	deadline := p.clock.Now().Add(timeout)
	p.mu.Lock()
	p.waiting++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.waiting--; p.waiting == 0 {
			p.halted = false
		}
		p.mu.Unlock()
	}()
	for {
		p.mu.Lock()
		if p.halted {
			p.mu.Unlock()
			return false
		}
		now := p.clock.Now()
		if len(p.pending) > 0 && !p.pending[0].At.After(now) {
			c := p.pending[0]
			p.pending = p.pending[1:]
			p.setLocked(c.Level)
			p.mu.Unlock()
			return true
		}
		var next time.Time
		scheduled := len(p.pending) > 0
		if scheduled {
			next = p.pending[0].At
		}
		wake := p.wake
		p.mu.Unlock()

		if !forever && !now.Before(deadline) {
			return false
		}
		until := deadline
		if scheduled && (forever || next.Before(until)) {
			until = next
		}
		switch {
		case p.clock.real:
			var timer *time.Timer
			var expired <-chan time.Time
			if scheduled || !forever {
				timer = time.NewTimer(until.Sub(now))
				expired = timer.C
			}
			select {
			case <-expired:
			case <-wake:
			}
			if timer != nil {
				timer.Stop()
			}
		case scheduled:
			p.clock.advanceTo(until)
		default:
			t := time.NewTimer(idleWait)
			select {
			case <-wake:
				t.Stop()
			case <-t.C:
				if !forever {
					return false
				}
			}
		}
	}
}

// Pull implements gpio.PinIn.
func (p *Pin) Pull() gpio.Pull {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pull
}

// DefaultPull implements gpio.PinIn.
func (p *Pin) DefaultPull() gpio.Pull { return gpio.Float }

// Out implements gpio.PinOut and records the level.
func (p *Pin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = true
	p.setLocked(l)
	return nil
}

// PWM implements gpio.PinOut; the simulated board has no PWM.
func (p *Pin) PWM(gpio.Duty, physic.Frequency) error {
	return fmt.Errorf("fakehw: %s: PWM is not simulated; use Out", p.name)
}

// Level returns the current level.
func (p *Pin) Level() gpio.Level { return p.Read() }

// History returns every level the pin took, oldest first.
func (p *Pin) History() []Change {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Change(nil), p.history...)
}

// pressedLevel is the level a pressed button gives: Low when it shorts a
// pulled-up pin to ground, High with a pull-down.
func (p *Pin) pressedLevel() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pull == gpio.PullDown {
		return gpio.High
	}
	return gpio.Low
}

// schedule adds level changes at offsets from start, where start is now or,
// if changes are still pending, gap after the last of them.
func (p *Pin) schedule(gap time.Duration, steps []step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.clock.Now()
	if n := len(p.pending); n > 0 && !p.pending[n-1].At.Add(gap).Before(start) {
		start = p.pending[n-1].At.Add(gap)
	}
	for _, s := range steps {
		p.pending = append(p.pending, Change{At: start.Add(s.after), Level: s.level})
	}
	close(p.wake)
	p.wake = make(chan struct{})
}

// step is one scheduled level change.
type step struct {
	after time.Duration
	level gpio.Level
}

func (p *Pin) setLocked(l gpio.Level) {
	p.level = l
	p.history = append(p.history, Change{At: p.clock.Now(), Level: l})
}

// gpioNumber parses "GPIO17", "P1_11" or "17" into a BCM GPIO number.
func gpioNumber(name string) (int, error) {
	if _, err := strconv.Atoi(name); err == nil {
		name = "GPIO" + name
	}
	bcm, err := hw.PinName(name)
	if err != nil {
		return 0, fmt.Errorf("fakehw: %w", err)
	}
	return strconv.Atoi(strings.TrimPrefix(bcm, "GPIO"))
}

var _ gpio.PinIO = (*Pin)(nil)
