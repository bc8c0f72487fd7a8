package hw_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"pitweet/hw"
)

// On a machine without /dev/i2c-1 (any x86 host, or a Pi with I2C off) the
// bus error says how to turn I2C on.
func TestRealBoardWithoutI2C(t *testing.T) {
	if _, err := os.Stat("/dev/i2c-1"); err == nil {
		t.Skip("/dev/i2c-1 exists here")
	}
	board, err := hw.OpenReal()
	if err != nil {
		t.Skipf("no periph.io host here: %v", err)
	}
	defer board.Close()
	_, err = board.Bus("1")
	if !errors.Is(err, hw.ErrI2CDisabled) || !strings.Contains(err.Error(), "sudo raspi-config nonint do_i2c 0") {
		t.Errorf("Bus(\"1\") = %v, want ErrI2CDisabled with the raspi-config hint", err)
	}
	if board.CPUTempPath() != hw.DefaultCPUTempPath {
		t.Errorf("CPUTempPath() = %q", board.CPUTempPath())
	}
	// A second OpenReal does not initialise periph.io again.
	again, err := hw.OpenReal()
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
}
