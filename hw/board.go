package hw

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
)

// Board is where pins and buses come from: the Pi itself (OpenReal) or a
// simulated board (package pitweet/hw/fakehw).
type Board interface {
	// Pin returns the GPIO pin with a name such as "GPIO17" or the header
	// name "P1_11".
	Pin(name string) (gpio.PinIO, error)
	// Bus returns the I²C bus with a name such as "1". The board owns the
	// bus: it stays open until Close.
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

// hostInit loads periph.io's host drivers once per process. It is what
// host.Init() does, over the drivers a Raspberry Pi needs
// (drivers_linux.go) rather than every board periph knows: the binary is
// 0.6 MB smaller.
var hostInit = sync.OnceValue(func() error {
	_, err := driverreg.Init()
	return err
})

// OpenReal opens the hardware of the machine it runs on through periph.io.
// It loads the host drivers the first time it is called.
func OpenReal() (Board, error) {
	if err := hostInit(); err != nil {
		return nil, fmt.Errorf("hw: loading periph.io host drivers: %w", err)
	}
	return &realBoard{buses: map[string]i2c.BusCloser{}}, nil
}

type realBoard struct {
	mu    sync.Mutex
	buses map[string]i2c.BusCloser
}

func (b *realBoard) Pin(name string) (gpio.PinIO, error) {
	bcm, err := PinName(name)
	if err != nil {
		return nil, fmt.Errorf("hw: %w", err)
	}
	p := gpioreg.ByName(bcm)
	if p == nil {
		return nil, fmt.Errorf("hw: no GPIO pin named %q; use a name such as GPIO17 or P1_11, and check that the user is in group gpio", name)
	}
	return p, nil
}

func (b *realBoard) Bus(name string) (i2c.Bus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bus, ok := b.buses[name]; ok {
		return bus, nil
	}
	bus, err := i2creg.Open(name)
	if err != nil {
		return nil, busError(name, err)
	}
	b.buses[name] = bus
	return bus, nil
}

// ErrI2CDisabled is wrapped by the error of Board.Bus when the kernel does
// not offer the bus at all.
var ErrI2CDisabled = errors.New("hw: I2C bus not present")

// busError explains a bus that cannot be opened, with the fix when the
// device node is missing.
func busError(name string, err error) error {
	dev := "/dev/i2c-" + strings.TrimPrefix(strings.TrimPrefix(name, "/dev/i2c-"), "I2C")
	if _, convErr := strconv.Atoi(strings.TrimPrefix(dev, "/dev/i2c-")); convErr == nil {
		if _, statErr := os.Stat(dev); errors.Is(statErr, os.ErrNotExist) {
			return fmt.Errorf("%w: %s does not exist; is I2C enabled? run `sudo raspi-config nonint do_i2c 0` and reboot (%v)", ErrI2CDisabled, dev, err)
		}
	}
	return fmt.Errorf("hw: opening I2C bus %q: %w; check that the user is in group i2c", name, err)
}

func (b *realBoard) CPUTempPath() string { return DefaultCPUTempPath }

func (b *realBoard) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for name, bus := range b.buses {
		if err := bus.Close(); err != nil {
			errs = append(errs, fmt.Errorf("hw: closing I2C bus %q: %w", name, err))
		}
		delete(b.buses, name)
	}
	return errors.Join(errs...)
}
