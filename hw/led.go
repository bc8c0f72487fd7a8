package hw

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Pattern is a blink pattern: durations alternately on and off, starting
// with on. The LED is off after the pattern.
type Pattern []time.Duration

// Patterns for the daemon's feedback.
var (
	// BlinkSent is two short flashes: a post went out.
	BlinkSent = Pattern{80 * time.Millisecond, 120 * time.Millisecond, 80 * time.Millisecond}
	// BlinkError is three long flashes: a post failed.
	BlinkError = Pattern{400 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
)

// ErrLEDPattern is returned by Blink for a pattern with a negative duration.
var ErrLEDPattern = errors.New("hw: LED pattern has a negative duration")

// LED drives a LED wired from a pin through a resistor to ground (lit when
// the pin is High).
type LED struct {
	// Clock times Blink; nil means the system clock. Set it before use.
	Clock Clock
	// Pin names the pin in messages, such as "GPIO27"; "" means the line's
	// own name.
	Pin string

	pin gpio.PinOut
	mu  sync.Mutex // one Blink at a time
}

// NewLED returns a LED on pin. It does not change the pin.
func NewLED(pin gpio.PinOut) *LED { return &LED{pin: pin} }

// On lights the LED.
func (l *LED) On() error { return l.set(gpio.High) }

// Off darkens the LED.
func (l *LED) Off() error { return l.set(gpio.Low) }

func (l *LED) set(level gpio.Level) error {
	if err := l.pin.Out(level); err != nil {
		name := l.Pin
		if name == "" {
			name = pinLabel(l.pin)
		}
		return fmt.Errorf("hw: LED on %s: %w", name, err)
	}
	return nil
}

// Blink plays pattern once and leaves the LED off. When ctx is done it turns
// the LED off and returns ctx.Err().
func (l *LED) Blink(ctx context.Context, pattern Pattern) error {
	for _, d := range pattern {
		if d < 0 {
			return ErrLEDPattern
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	clock := clockOrSystem(l.Clock)
	for i, d := range pattern {
		level := gpio.Level(i%2 == 0)
		if err := l.set(level); err != nil {
			return err
		}
		if err := clock.Sleep(ctx, d); err != nil {
			_ = l.Off()
			return err
		}
	}
	return l.Off()
}
