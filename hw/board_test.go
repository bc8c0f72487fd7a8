package hw_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pitweet/hw"
)

// noGPIOHere skips a test on a machine that has GPIO chips.
func noGPIOHere(t *testing.T) {
	t.Helper()
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		t.Skipf("this machine has %v", chips)
	}
}

// pitweet registers exactly one periph.io driver, gpioioctl: no sysfs
// drivers.
func TestOnlyGPIOIoctlRegistered(t *testing.T) {
	h, err := hw.RealHost()
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Drivers) != 1 || h.Drivers[0].Name != "ioctl-gpio" {
		t.Errorf("drivers %v, want only ioctl-gpio", h.Drivers)
	}
}

// On a machine without GPIO (any x86 host) a pin's error says that no GPIO
// chip was found and how to check.
func TestRealBoardWithoutGPIOChip(t *testing.T) {
	noGPIOHere(t)
	board, err := hw.OpenReal()
	if err != nil {
		t.Fatal(err)
	}
	defer board.Close()
	_, err = board.Pin("GPIO17")
	if !errors.Is(err, hw.ErrNoGPIOChip) {
		t.Fatalf("Pin(GPIO17) = %v, want ErrNoGPIOChip", err)
	}
	for _, want := range []string{"no GPIO chip found", "ls /dev/gpiochip*", "gpiodetect", "group gpio", "--fake"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// A bad name is still refused for what it is.
	if _, err := board.Pin("GPIO0"); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("Pin(GPIO0) = %v, want the reserved pin refused", err)
	}
	if len(board.Chips()) != 0 {
		t.Errorf("Chips() = %v on a machine without GPIO", board.Chips())
	}
}

// On a machine without /dev/i2c-1 (any x86 host, or a Pi with I2C off) the
// bus error says how to turn I2C on.
func TestRealBoardWithoutI2C(t *testing.T) {
	if _, err := os.Stat("/dev/i2c-1"); err == nil {
		t.Skip("/dev/i2c-1 exists here")
	}
	board, err := hw.OpenReal()
	if err != nil {
		t.Fatal(err)
	}
	defer board.Close()
	for _, name := range []string{"1", "/dev/i2c-1", "I2C1"} {
		_, err = board.Bus(name)
		if !errors.Is(err, hw.ErrI2CDisabled) || !strings.Contains(err.Error(), "sudo raspi-config nonint do_i2c 0") {
			t.Errorf("Bus(%q) = %v, want ErrI2CDisabled with the raspi-config hint", name, err)
		}
	}
	if _, err := board.Bus("spi0"); err == nil || errors.Is(err, hw.ErrI2CDisabled) {
		t.Errorf("Bus(spi0) = %v, want the name refused", err)
	}
	if board.CPUTempPath() != hw.DefaultCPUTempPath {
		t.Errorf("CPUTempPath() = %q", board.CPUTempPath())
	}
	// A second OpenReal does not load periph.io again.
	again, err := hw.OpenReal()
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
}
