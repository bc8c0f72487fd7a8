package hw

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/pin"
)

// Press is one press of a button.
type Press struct {
	Button string
	// Long is true when the button was held for at least LongPress.
	Long bool
	// At is when the button went down.
	At time.Time
}

// ButtonConfig describes how a button is wired and how it is read.
type ButtonConfig struct {
	Name string
	// Pin names the pin in messages, such as "GPIO17"; "" means the line's
	// own name.
	Pin string
	// Pull is the pin's internal resistor: gpio.PullUp for a button that
	// shorts the pin to ground. gpio.PullNoChange leaves it as it is
	// (periph's gpioioctl driver cannot switch it off: it treats
	// gpio.Float the same).
	Pull gpio.Pull
	// ActiveLow is true when a pressed button reads gpio.Low.
	ActiveLow bool
	// Debounce is how long the level must stay unchanged before it counts;
	// 0 means DefaultDebounce. It must cover the contact bounce of the switch.
	Debounce time.Duration
	// LongPress, when not 0, turns a press held that long into one Long
	// event instead of a short one. Short presses are then reported when
	// the button is released.
	LongPress time.Duration
	// Clock is the time source; nil means the system clock.
	Clock Clock
	// Log receives one line when waiting for edges starts failing and one
	// when it works again; nil discards them.
	Log *slog.Logger
}

const (
	// DefaultDebounce is used when ButtonConfig.Debounce is 0.
	DefaultDebounce = 30 * time.Millisecond
	// MinDebounce is the longest contact bounce of a common switch; a
	// shorter debounce could turn one press into two.
	MinDebounce = 20 * time.Millisecond
	// edgeWait bounds each wait for an edge. Run also halts the pin when
	// its context ends, which interrupts the wait at once with periph's
	// gpioioctl driver; the bound covers drivers that cannot be halted.
	edgeWait = 5 * time.Second

	// A wait for an edge that returns false before half its timeout has
	// passed failed: periph's gpioioctl returns false, as for a timeout,
	// when it cannot read the line's events. failAfter such waits in a row
	// make the button failing; it then pauses between attempts, from
	// failPause doubling to maxFailPause, and configures the pin again
	// before each.
	failAfter    = 5
	failPause    = time.Second
	maxFailPause = time.Minute
)

// Button turns the edges of a pin into debounced presses.
type Button struct {
	pin    gpio.PinIn
	cfg    ButtonConfig
	clock  Clock
	log    *slog.Logger
	active gpio.Level
	// heldAtStart: the button was pressed when the pin was configured.
	heldAtStart bool

	mu  sync.Mutex
	err error // why the button is failing; nil while it works
}

// NewButton configures pin as an input with pull cfg.Pull and edge detection
// on both edges.
func NewButton(pin gpio.PinIn, cfg ButtonConfig) (*Button, error) {
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Debounce < MinDebounce {
		return nil, fmt.Errorf("hw: button %q: debounce %v is shorter than the %v a switch may bounce; use at least %v", cfg.Name, cfg.Debounce, MinDebounce, MinDebounce)
	}
	if cfg.LongPress < 0 {
		return nil, fmt.Errorf("hw: button %q: long press %v is negative", cfg.Name, cfg.LongPress)
	}
	if cfg.LongPress > 0 && cfg.LongPress <= cfg.Debounce {
		return nil, fmt.Errorf("hw: button %q: long press %v must be longer than debounce %v", cfg.Name, cfg.LongPress, cfg.Debounce)
	}
	if cfg.Pin == "" {
		cfg.Pin = pinLabel(pin)
	}
	if err := pin.In(cfg.Pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("hw: button %q: configuring %s as input: %w", cfg.Name, cfg.Pin, err)
	}
	b := &Button{pin: pin, cfg: cfg, clock: clockOrSystem(cfg.Clock), log: cfg.Log, active: gpio.High}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if cfg.ActiveLow {
		b.active = gpio.Low
	}
	// Edges from here on are queued by the kernel until Run waits for them,
	// so the starting level is the one at configuration time.
	b.heldAtStart = pin.Read() == b.active
	return b, nil
}

// Name is the button's configured name.
func (b *Button) Name() string { return b.cfg.Name }

// pinLabel names a line in messages: its name and offset. (The String of
// periph's gpioioctl lines is a JSON document.)
func pinLabel(p pin.Pin) string {
	return fmt.Sprintf("%s (line %d)", p.Name(), p.Number())
}

// Err says why the button is failing: waiting for its pin's edges keeps
// failing at once. It is nil while the button works.
func (b *Button) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// failing marks the button failing, logging it the first time.
func (b *Button) failing(pause time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return
	}
	b.err = fmt.Errorf("hw: button %q: waiting for an edge on %s fails at once; trying again every %v to %v (another program may use the line: `gpioinfo` shows it; restarting pitweet configures it again)",
		b.cfg.Name, b.cfg.Pin, pause, maxFailPause)
	b.log.Error("hw: button failing: waiting for an edge fails at once; trying again with growing pauses", "button", b.cfg.Name, "pin", b.cfg.Pin)
}

// works clears the failing state, logging that it ended.
func (b *Button) works() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		return
	}
	b.err = nil
	b.log.Info("hw: button works again", "button", b.cfg.Name, "pin", b.cfg.Pin)
}

// Check waits for an edge on the button's pin failAfter times, 10 ms each,
// and reports an error when every wait failed at once, as Run would find.
// An edge or a wait that times out means the pin works. It is for a button
// that does not Run.
func (b *Button) Check() error {
	const wait = 10 * time.Millisecond
	for range failAfter {
		start := b.clock.Now()
		if b.pin.WaitForEdge(wait) || b.clock.Now().Sub(start) >= wait/2 {
			return nil
		}
	}
	return fmt.Errorf("hw: button %q: waiting for an edge on %s fails at once, %d times in a row; another program may use the line (`gpioinfo` shows it)", b.cfg.Name, b.cfg.Pin, failAfter)
}

// Run may be called once. It sends one Press on out for each press of the button until ctx is done,
// then returns ctx.Err(). It waits on edges with a bounded timeout and checks
// ctx between waits; a cancelled ctx halts the pin, which ends the wait in
// progress, so it stops promptly.
func (b *Button) Run(ctx context.Context, out chan<- Press) error {
	stop := context.AfterFunc(ctx, func() { b.pin.Halt() })
	defer stop()
	pressed := b.heldAtStart
	var down time.Time  // when the current press began
	longSent := pressed // a button held at start never gives an event
	early, pause := 0, failPause
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait := edgeWait
		if pressed && b.cfg.LongPress > 0 && !longSent {
			left := down.Add(b.cfg.LongPress).Sub(b.clock.Now())
			if left <= 0 {
				longSent = true
				if err := b.send(ctx, out, Press{Button: b.cfg.Name, Long: true, At: down}); err != nil {
					return err
				}
				continue
			}
			wait = min(wait, left)
		}
		start := b.clock.Now()
		if !b.pin.WaitForEdge(wait) {
			if err := ctx.Err(); err != nil {
				return err
			}
			if b.clock.Now().Sub(start) >= wait/2 {
				early, pause = 0, failPause
				b.works()
				continue
			}
			if early++; early < failAfter {
				continue
			}
			b.failing(pause)
			if err := b.clock.Sleep(ctx, pause); err != nil {
				return err
			}
			pause = min(2*pause, maxFailPause)
			_ = b.pin.In(b.cfg.Pull, gpio.BothEdges) // may heal the line; the next wait tells
			continue
		}
		early, pause = 0, failPause
		b.works()
		first := b.clock.Now()
		level, err := b.settle(ctx)
		if err != nil {
			return err
		}
		now := level == b.active
		if now == pressed {
			continue // a glitch shorter than the debounce time
		}
		pressed = now
		switch {
		case pressed:
			down, longSent = first, false
			if b.cfg.LongPress == 0 {
				if err := b.send(ctx, out, Press{Button: b.cfg.Name, At: down}); err != nil {
					return err
				}
			}
		case b.cfg.LongPress > 0 && !longSent:
			if err := b.send(ctx, out, Press{Button: b.cfg.Name, At: down}); err != nil {
				return err
			}
		}
	}
}

// settle waits until no edge came for the debounce time and returns the
// level the pin then holds.
func (b *Button) settle(ctx context.Context) (gpio.Level, error) {
	for b.pin.WaitForEdge(b.cfg.Debounce) {
		if err := ctx.Err(); err != nil {
			return gpio.Low, err
		}
	}
	return b.pin.Read(), nil
}

func (b *Button) send(ctx context.Context, out chan<- Press, p Press) error {
	select {
	case out <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
