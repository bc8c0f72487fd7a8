package daemon

import (
	"fmt"
	"slices"
	"strings"

	"pitweet/config"
	"pitweet/hw"
)

// CheckHardware opens the hardware the config uses, as the daemon would:
// on the Pi, the periph.io drivers (a driver that failed is a failure) and
// the GPIO chips; then every button's and LED's pin, found as the daemon
// finds it, and every I2C bus a sensor is on. A button's pin is also
// waited on, as the daemon's button loop waits, to find a pin whose waits
// fail at once; while the daemon runs it holds the pins, so its own word
// on its buttons is taken instead. socket is the running daemon's control
// socket ("" for DefaultSocket()). It is config.Check's Hardware for
// pitweet check.
func CheckHardware(cfg *config.Config, socket string) []config.CheckResult {
	var results []config.CheckResult
	var buses []string
	for _, s := range cfg.Sensors {
		if s.Type != "cpu" && !slices.Contains(buses, s.Bus) {
			buses = append(buses, s.Bus)
		}
	}
	if len(cfg.Buttons) == 0 && len(cfg.LEDs) == 0 && len(buses) == 0 {
		return nil
	}
	var board hw.Board
	var err error
	if cfg.Hardware.Fake() {
		board, err = newFakeBoard(cfg)
	} else {
		board, err = hw.OpenReal()
	}
	if err != nil {
		return append(results, config.CheckResult{What: "hardware", Detail: cfg.Hardware.Mode, Err: err})
	}
	defer board.Close()
	if !cfg.Hardware.Fake() {
		if h, err := hw.RealHost(); err == nil {
			results = append(results, driverResults(h.Drivers)...)
		}
	}
	var failing map[string]string // the running daemon's failing buttons
	if socket == "" {
		socket = DefaultSocket()
	}
	if resp, err := Call(socket, ControlRequest{Op: "status"}); err == nil && resp.Status != nil {
		failing = map[string]string{}
		for _, b := range resp.Status.ButtonErrors {
			failing[b.Name] = b.Error
		}
	}
	chips := board.Chips()
	where := func(pin string) string {
		ci, off, err := hw.FindPin(chips, pin)
		if err != nil {
			return pin
		}
		return fmt.Sprintf("%s = %s line %d %q", pin, chips[ci], off, chips[ci].Lines[off])
	}
	for _, b := range cfg.Buttons {
		res := config.CheckResult{What: "button", Detail: b.Name}
		pin, err := board.Pin(b.Pin)
		switch {
		case err != nil:
			res.Err = err
		case failing != nil:
			res.Detail = fmt.Sprintf("%s: %s, pull %s; the running daemon watches it", b.Name, where(b.Pin), b.Pull)
			if msg, ok := failing[b.Name]; ok {
				res.Detail, res.Err = b.Name, fmt.Errorf("the running daemon reports: %s", strings.TrimPrefix(msg, "hw: "))
			}
		default:
			res.Detail = fmt.Sprintf("%s: %s, pull %s", b.Name, where(b.Pin), b.Pull)
			btn, err := hw.NewButton(pin, hw.ButtonConfig{Name: b.Name, Pin: b.Pin, Pull: b.GPIOPull(), ActiveLow: b.ActiveLow(),
				Debounce: b.Debounce, LongPress: b.LongPress, Clock: boardClock(board)})
			if err == nil {
				err = btn.Check()
			}
			if err != nil {
				res.Detail, res.Err = b.Name, err
			}
		}
		results = append(results, res)
	}
	for i, l := range cfg.LEDs {
		res := config.CheckResult{What: "led", Detail: fmt.Sprintf("%d (%s): %s", i+1, l.Shows, where(l.Pin))}
		if _, err := board.Pin(l.Pin); err != nil {
			res.Detail, res.Err = fmt.Sprintf("%d (%s)", i+1, l.Shows), err
		}
		results = append(results, res)
	}
	for _, bus := range buses {
		res := config.CheckResult{What: "i2c", Detail: "bus " + bus}
		if _, err := board.Bus(bus); err != nil {
			res.Err = err
		} else if !cfg.Hardware.Fake() {
			res.Detail += ": /dev/i2c-" + bus
		}
		results = append(results, res)
	}
	return results
}

// driverResults is a line for each periph.io driver and how it loaded; a
// driver that failed to load is a failure.
func driverResults(drivers []hw.Driver) []config.CheckResult {
	var results []config.CheckResult
	for _, d := range drivers {
		res := config.CheckResult{What: "driver", Detail: d.String()}
		if d.State == "failed" {
			res.Detail, res.Err = d.Name, fmt.Errorf("periph.io driver %s failed to load: %w", d.Name, d.Err)
		}
		results = append(results, res)
	}
	return results
}
