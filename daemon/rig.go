package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"pitweet/config"
	"sync"

	"pitweet/hw"
)

// A rig is the hardware one config uses: its buttons (each watched by a
// goroutine), sensors and LEDs. A reload stops the old rig and opens a new
// one on the same board.
type rig struct {
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	buttons []*hw.Button
	sensors map[string]hw.Sensor
	sent    []*hw.LED
	errs    []*hw.LED
}

// openRig opens cfg's hardware on board and starts watching the buttons;
// presses go to presses until ctx is done or stop is called.
func openRig(ctx context.Context, board hw.Board, cfg *config.Config, presses chan<- hw.Press, log *slog.Logger) (*rig, error) {
	r := &rig{log: log, sensors: map[string]hw.Sensor{}}
	r.ctx, r.cancel = context.WithCancel(ctx)
	clock := boardClock(board)
	for _, b := range cfg.Buttons {
		pin, err := board.Pin(b.Pin)
		if err != nil {
			r.cancel()
			return nil, fmt.Errorf("daemon: button %q: %w", b.Name, err)
		}
		btn, err := hw.NewButton(pin, hw.ButtonConfig{
			Name: b.Name, Pin: b.Pin, Pull: b.GPIOPull(), ActiveLow: b.ActiveLow(),
			Debounce: b.Debounce, LongPress: b.LongPress, Clock: clock, Log: log,
		})
		if err != nil {
			r.cancel()
			return nil, err
		}
		r.buttons = append(r.buttons, btn)
	}
	for _, s := range cfg.Sensors {
		sensor, err := hw.OpenSensor(board, hw.SensorConfig{Name: s.Name, Type: s.Type, Bus: s.Bus, Address: s.Address, Path: s.Path, Clock: clock})
		if err != nil {
			r.cancel()
			return nil, err
		}
		r.sensors[s.Name] = sensor
	}
	for _, l := range cfg.LEDs {
		pin, err := board.Pin(l.Pin)
		if err != nil {
			r.cancel()
			return nil, fmt.Errorf("daemon: led on %s: %w", l.Pin, err)
		}
		led := hw.NewLED(pin)
		led.Clock, led.Pin = clock, l.Pin
		if err := led.Off(); err != nil {
			r.cancel()
			return nil, err
		}
		if l.Shows == "sent" {
			r.sent = append(r.sent, led)
		} else {
			r.errs = append(r.errs, led)
		}
	}
	for _, btn := range r.buttons {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := btn.Run(r.ctx, presses); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("daemon: button stopped", "button", btn.Name(), "err", err)
			}
		}()
	}
	return r, nil
}

// stop ends the button goroutines and waits for them.
func (r *rig) stop() {
	if r == nil {
		return
	}
	r.cancel()
	r.wg.Wait()
}

// buttonErrors lists the buttons that are failing, and why.
func (r *rig) buttonErrors() []ButtonError {
	if r == nil {
		return nil
	}
	var out []ButtonError
	for _, b := range r.buttons {
		if err := b.Err(); err != nil {
			out = append(out, ButtonError{Name: b.Name(), Error: err.Error()})
		}
	}
	return out
}

// sensorsNamed returns the named sensors that are open, in order; none
// when no rig is open (a reload whose hardware would not open).
func (r *rig) sensorsNamed(names []string) []hw.Sensor {
	if r == nil {
		return nil
	}
	var out []hw.Sensor
	for _, n := range names {
		if s, ok := r.sensors[n]; ok {
			out = append(out, s)
		}
	}
	return out
}

// blinkSent flashes the "sent" LEDs without waiting for them.
func (r *rig) blinkSent() {
	for _, l := range r.sent {
		go func() {
			if err := l.Blink(r.ctx, hw.BlinkSent); err != nil && !errors.Is(err, context.Canceled) {
				r.log.Warn("daemon: blink the sent LED", "err", err)
			}
		}()
	}
}

// showError lights or darkens the "error" LEDs.
func (r *rig) showError(on bool) {
	for _, l := range r.errs {
		var err error
		if on {
			err = l.On()
		} else {
			err = l.Off()
		}
		if err != nil {
			r.log.Warn("daemon: set the error LED", "err", err)
		}
	}
}
