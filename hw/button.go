package hw

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"
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
	// Pull is the pin's internal resistor: gpio.PullUp for a button that
	// shorts the pin to ground.
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
)

// Button turns the edges of a pin into debounced presses.
type Button struct {
	pin    gpio.PinIn
	cfg    ButtonConfig
	clock  Clock
	active gpio.Level
	// heldAtStart: the button was pressed when the pin was configured.
	heldAtStart bool
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
	if err := pin.In(cfg.Pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("hw: button %q: configuring pin %s as input: %w", cfg.Name, pin, err)
	}
	b := &Button{pin: pin, cfg: cfg, clock: clockOrSystem(cfg.Clock), active: gpio.High}
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
		if !b.pin.WaitForEdge(wait) {
			continue
		}
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
