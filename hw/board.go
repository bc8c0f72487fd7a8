package hw

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"

	// The one periph.io host driver pitweet registers: GPIO through the
	// character devices /dev/gpiochipN, the only GPIO driver that works on
	// a Pi 5 and as good on the others for buttons and LEDs.
	//
	// Not periph's sysfs package: importing it registers five drivers
	// (sysfs-gpio, -i2c, -spi, -led, -thermal), and driverreg.Init, the
	// only way to start gpioioctl, starts every registered driver;
	// sysfs-gpio would claim the names GPIO0 to GPIO53 on kernels before
	// 6.6 and fail to open /sys/class/gpio/export under the hardened unit.
	// I²C goes through /dev/i2c-N directly (i2c_linux.go). Nor the BCM283x
	// register driver and the rpi header names: pins are found by chip
	// label and line offset (pins.go).
	"periph.io/x/host/v3/gpioioctl"
)

// Board is where pins and buses come from: the Pi itself (OpenReal) or a
// simulated board (package pitweet/hw/fakehw).
type Board interface {
	// Pin returns the GPIO line of the header pin called name, written as
	// PinNumber reads it ("GPIO17", "BCM17", "17", "P1_11"), found with
	// FindPin among Chips.
	Pin(name string) (gpio.PinIO, error)
	// Chips lists the GPIO chips, in the order the driver keeps them.
	Chips() []Chip
	// Bus returns the I²C bus with a name such as "1" (see I2CBusNumber).
	// The board owns the bus: it stays open until Close.
	Bus(name string) (i2c.Bus, error)
	// CPUTempPath is the file holding the SoC temperature in millidegrees
	// Celsius.
	CPUTempPath() string
	// Close releases the buses the board opened.
	Close() error
}

// DefaultCPUTempPath is where Linux publishes the SoC temperature of a
// Raspberry Pi.
const DefaultCPUTempPath = "/sys/class/thermal/thermal_zone0/temp"

// Host is what periph.io found when its drivers loaded.
type Host struct {
	// Drivers lists every registered periph.io driver and how it loaded.
	Drivers []Driver
	// Chips are the GPIO chips gpioioctl opened, in its order.
	Chips []Chip
}

// Driver is one periph.io driver and how it loaded.
type Driver struct {
	Name  string
	State string // "loaded", "skipped" or "failed"
	Err   error  // why it was skipped or failed
}

func (d Driver) String() string {
	if d.Err == nil {
		return d.Name + " " + d.State
	}
	return fmt.Sprintf("%s %s: %v", d.Name, d.State, d.Err)
}

// Failed lists the drivers that failed to load.
func (h Host) Failed() []Driver {
	var out []Driver
	for _, d := range h.Drivers {
		if d.State == "failed" {
			out = append(out, d)
		}
	}
	return out
}

// LoadDrivers runs load, which loads periph.io's drivers, with file
// descriptor 0 held open before and after it.
//
// periph.io host v3.8.5's gpioioctl closes file descriptor 0 when it drops a
// chip it opened twice (on a Pi 5, /dev/gpiochip4 is a link to gpiochip0):
// GPIOChip.Close sets the chip's descriptor to 0 before closing it. The next
// line request would then get descriptor 0, which gpioioctl takes for "no
// line yet": configuring the line again, as a reload does, requests it a
// second time and the kernel refuses (EBUSY). So descriptor 0 is opened on
// /dev/null if it is closed before load (else the first chip would get it,
// and lose it) and again after.
func LoadDrivers(load func() error) error {
	if err := holdFD0(); err != nil {
		return err
	}
	err := load()
	if herr := holdFD0(); herr != nil {
		return errors.Join(err, herr)
	}
	return err
}

// host loads periph.io's drivers once per process, as host.Init() does,
// over the one driver pitweet registers.
var host = sync.OnceValues(func() (Host, error) {
	var state *driverreg.State
	err := LoadDrivers(func() error {
		var err error
		state, err = driverreg.Init()
		return err
	})
	if err != nil {
		return Host{}, fmt.Errorf("hw: loading periph.io drivers: %w", err)
	}
	var h Host
	for _, d := range state.Loaded {
		h.Drivers = append(h.Drivers, Driver{Name: d.String(), State: "loaded"})
	}
	for _, f := range state.Skipped {
		h.Drivers = append(h.Drivers, Driver{Name: f.D.String(), State: "skipped", Err: f.Err})
	}
	for _, f := range state.Failed {
		h.Drivers = append(h.Drivers, Driver{Name: f.D.String(), State: "failed", Err: f.Err})
	}
	for _, c := range gpioioctl.Chips {
		chip := Chip{Name: c.Name(), Path: c.Path(), Label: c.Label()}
		for _, l := range c.Lines() {
			chip.Lines = append(chip.Lines, l.Name())
		}
		h.Chips = append(h.Chips, chip)
	}
	return h, nil
})

// RealHost loads periph.io's drivers the first time it is called, and says
// what they found.
func RealHost() (Host, error) { return host() }

// OpenReal opens the hardware of the machine it runs on through periph.io.
// It loads the drivers the first time it is called. A driver that failed
// is in RealHost's answer; a missing GPIO chip is the error of Pin.
func OpenReal() (Board, error) {
	h, err := host()
	if err != nil {
		return nil, err
	}
	return &realBoard{host: h, chips: slices.Clone(gpioioctl.Chips), buses: map[int]*i2cBus{}}, nil
}

type realBoard struct {
	host  Host
	chips []*gpioioctl.GPIOChip // host.Chips, as periph's own

	mu    sync.Mutex
	buses map[int]*i2cBus
}

func (b *realBoard) Pin(name string) (gpio.PinIO, error) {
	if len(b.chips) == 0 {
		if _, err := PinNumber(name); err != nil {
			return nil, fmt.Errorf("hw: %w", err)
		}
		return nil, noChipError(name)
	}
	ci, off, err := FindPin(b.host.Chips, name)
	if err != nil {
		return nil, err
	}
	return b.chips[ci].ByNumber(off), nil
}

// ErrRestart means the hardware is there now but this process cannot use
// it: periph.io looks for GPIO chips once, when it loads.
var ErrRestart = errors.New("hw: restart pitweet")

// noChipError says why periph.io found no GPIO chip, and how to check.
func noChipError(pin string) error {
	paths, _ := filepath.Glob("/dev/gpiochip*")
	if len(paths) == 0 {
		return fmt.Errorf("%w (no /dev/gpiochip*) for pin %s; %s", ErrNoGPIOChip, pin, noChipHint)
	}
	f, err := os.Open(paths[0])
	if err != nil {
		return fmt.Errorf("%w that pitweet may open, for pin %s: %w; add the user to group gpio (sudo adduser $USER gpio, then log in again) and check with `gpiodetect`", ErrNoGPIOChip, pin, err)
	}
	f.Close()
	return fmt.Errorf("%w: %s appeared after pitweet started, and periph.io looks for GPIO chips once", ErrRestart, paths[0])
}

func (b *realBoard) Chips() []Chip { return slices.Clone(b.host.Chips) }

func (b *realBoard) Bus(name string) (i2c.Bus, error) {
	if name == "" {
		name = "1"
	}
	n, err := I2CBusNumber(name)
	if err != nil {
		return nil, fmt.Errorf("hw: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if bus, ok := b.buses[n]; ok {
		return bus, nil
	}
	bus, err := openI2C(n)
	if err != nil {
		return nil, busError(n, err)
	}
	b.buses[n] = bus
	return bus, nil
}

// ErrI2CDisabled is wrapped by the error of Board.Bus when the kernel does
// not offer the bus at all.
var ErrI2CDisabled = errors.New("hw: I2C bus not present")

// busError explains a bus that cannot be opened, with the fix.
func busError(n int, err error) error {
	dev := fmt.Sprintf("/dev/i2c-%d", n)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist; is I2C enabled? run `sudo raspi-config nonint do_i2c 0` and reboot (%v)", ErrI2CDisabled, dev, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("hw: opening I2C bus %d: %w; add the user to group i2c (sudo adduser $USER i2c, then log in again)", n, err)
	}
	return fmt.Errorf("hw: opening I2C bus %d: %w", n, err)
}

func (b *realBoard) CPUTempPath() string { return DefaultCPUTempPath }

func (b *realBoard) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for n, bus := range b.buses {
		if err := bus.Close(); err != nil {
			errs = append(errs, fmt.Errorf("hw: closing I2C bus %d: %w", n, err))
		}
		delete(b.buses, n)
	}
	return errors.Join(errs...)
}
