package daemon

import (
	"fmt"
	"pitweet/config"

	"pitweet/hw"
	"pitweet/hw/fakehw"
)

// openBoard opens the hardware cfg names: the Pi's own, or with mode
// "fake" a simulated board carrying an emulated chip for each configured
// I2C sensor.
func openBoard(cfg *config.Config) (hw.Board, error) {
	if !cfg.Hardware.Fake() {
		b, err := hw.OpenReal()
		if err != nil {
			return nil, fmt.Errorf("%w; on a machine without GPIO, run with --fake", err)
		}
		return b, nil
	}
	return newFakeBoard(cfg)
}

// newFakeBoard makes a simulated board that follows the system clock, with
// the configured sensors attached where the config says they are. They
// measure a day's curve with noise, or with [hardware] environment =
// "fixed" a constant room.
func newFakeBoard(cfg *config.Config) (*fakehw.Board, error) {
	b := fakehw.New(fakehw.Options{RealTime: true, Daily: cfg.Hardware.Environment != "fixed"})
	for _, s := range cfg.Sensors {
		if s.Type == "cpu" {
			continue
		}
		if err := b.Attach(s.Type, s.Address); err != nil {
			b.Close()
			return nil, fmt.Errorf("daemon: simulated sensor %q: %w", s.Name, err)
		}
	}
	return b, nil
}

// boardClock is the clock buttons and LEDs must use on board b: the
// simulated board's own, or nil (the system clock) on real hardware.
func boardClock(b hw.Board) hw.Clock {
	if fb, ok := b.(*fakehw.Board); ok {
		return fb.Clock()
	}
	return nil
}
