package fakehw

import (
	"fmt"
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

// Pin is a simulated GPIO line. It implements gpio.PinIO.
//
// As an input, it takes the levels that Board.Press and friends schedule; as
// an output, it records every level written.
//
// Like a line of periph.io's gpioioctl driver it is requested from the
// kernel on its first In or Out, which gives it a file descriptor, and
// keeps that request; gpioioctl takes a descriptor of 0 to mean "not
// requested yet" and requests the line again, which the kernel refuses
// (EBUSY) while the first request holds it.
type Pin struct {
	name  string // the line's name on its chip
	num   int    // the line offset
	chip  string // the chip's label
	clock *Clock

	mu      sync.Mutex
	level   gpio.Level
	pull    gpio.Pull
	out     bool
	fault   PinFault
	waits   int      // WaitForEdge calls
	lineFD  int      // the line request's descriptor as gpioioctl keeps it; 0: none
	held    bool     // the kernel holds the line for a request
	pending []Change // scheduled input levels, in time order
	history []Change
	wake    chan struct{} // closed and replaced when pending changes or on Halt
	waiting int           // WaitForEdge calls in progress
	halted  bool          // Halt was called during a wait: the waits return false
}

// PinFault is a way a simulated line fails.
type PinFault int

const (
	// PinWorks: the line works.
	PinWorks PinFault = iota
	// EdgeFails: waiting for an edge fails at once, as periph's gpioioctl
	// WaitForEdge does when reading the line's events fails (it returns
	// false, like a timeout, and logs).
	EdgeFails
)

func newPin(name string, offset int, chip string, clock *Clock) *Pin {
	p := &Pin{name: name, num: offset, chip: chip, clock: clock, wake: make(chan struct{})}
	// The bias after reset (BCM2835 datasheet §6.2): GPIO0 to GPIO8 pulled
	// up, the others down.
	p.pull = gpio.PullDown
	if offset <= 8 {
		p.pull, p.level = gpio.PullUp, gpio.High
	}
	return p
}

// Chip is the label of the pin's chip.
func (p *Pin) Chip() string { return p.chip }

// LineFD is the descriptor of the pin's line request as periph's gpioioctl
// would keep it, or -1 before the line is requested.
func (p *Pin) LineFD() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.held {
		return -1
	}
	return p.lineFD
}

// Waits counts the WaitForEdge calls so far.
func (p *Pin) Waits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waits
}

// request requests the line as gpioioctl's getLine does: a held
// descriptor other than 0 is kept; otherwise the line is requested, which
// fails with EBUSY while an earlier request holds it.
func (p *Pin) request() error {
	if p.lineFD != 0 {
		return nil
	}
	if p.held {
		return fmt.Errorf("line_request ioctl: %w", errBusy)
	}
	fd, err := openLine()
	if err != nil {
		return fmt.Errorf("line_request ioctl: %w", err)
	}
	p.lineFD, p.held = fd, true
	return nil
}

// release gives the line back to the kernel.
func (p *Pin) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held {
		closeLine(p.lineFD)
		p.lineFD, p.held = 0, false
	}
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
// with gpio.PullDown a press reads High, otherwise Low. gpio.PullNoChange
// and gpio.Float keep the pin's bias, as with periph's gpioioctl driver,
// which sets no bias flag for either.
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.request(); err != nil {
		return err
	}
	p.out = false
	if pull == gpio.PullUp || pull == gpio.PullDown {
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
// it (or to the timeout) at once. A wait with nothing scheduled blocks, in
// real time, until a change is scheduled, Halt is called or the timeout
// passes; in the last case the clock moves forward by the timeout. A
// negative timeout waits for ever.
//
// With the fault EdgeFails it returns false at once.
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	forever := timeout < 0
	deadline := p.clock.Now().Add(timeout)
	p.mu.Lock()
	p.waits++
	if p.fault == EdgeFails {
		p.mu.Unlock()
		return false
	}
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
		if p.halted || p.fault == EdgeFails {
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
			var timer *time.Timer
			var expired <-chan time.Time
			if !forever {
				timer = time.NewTimer(until.Sub(now))
				expired = timer.C
			}
			select {
			case <-wake:
				if timer != nil {
					timer.Stop()
				}
			case <-expired:
				p.clock.advanceTo(deadline)
				return false
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

// DefaultPull implements gpio.PinIn: gpio.PullNoChange, as gpioioctl
// answers.
func (p *Pin) DefaultPull() gpio.Pull { return gpio.PullNoChange }

// Out implements gpio.PinOut and records the level.
func (p *Pin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.request(); err != nil {
		return fmt.Errorf("GPIOLine.Out(): %w", err)
	}
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

var _ gpio.PinIO = (*Pin)(nil)
