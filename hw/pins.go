package hw

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// header maps the Raspberry Pi's 40-pin header (P1_1 to P1_40) to BCM GPIO
// numbers; -1 marks a power pin (3.3V, 5V) and -2 a ground pin.
var header = [41]int{
	0,      // no pin 0
	-1, -1, // 1 3V3, 2 5V
	2, -1, // 3 GPIO2 (SDA), 4 5V
	3, -2, // 5 GPIO3 (SCL), 6 GND
	4, 14, // 7, 8
	-2, 15, // 9 GND, 10
	17, 18, // 11, 12
	27, -2, // 13, 14 GND
	22, 23, // 15, 16
	-1, 24, // 17 3V3, 18
	10, -2, // 19, 20 GND
	9, 25, // 21, 22
	11, 8, // 23, 24
	-2, 7, // 25 GND, 26
	0, 1, // 27 ID_SD, 28 ID_SC
	5, -2, // 29, 30 GND
	6, 12, // 31, 32
	13, -2, // 33, 34 GND
	19, 16, // 35, 36
	26, 20, // 37, 38
	-2, 21, // 39 GND, 40
}

// Header GPIOs pitweet drives: GPIO0 and GPIO1 (ID_SD and ID_SC) belong to
// the HAT identification EEPROM on every Pi with a 40-pin header.
const (
	firstGPIO = 2
	lastGPIO  = 27
)

// pinChoices ends every message about a pin name.
const pinChoices = "use GPIO2 to GPIO27 (BCM numbering, also written BCM17 or 17) or a header pin such as P1_11"

// HeaderPin returns the header position (P1_n) of BCM GPIO n, or 0.
func HeaderPin(n int) int {
	for p, g := range header {
		if p > 0 && g == n {
			return p
		}
	}
	return 0
}

// PinNumber turns a pin name as a person writes it into its BCM GPIO
// number: "GPIO17", "BCM17", "17" and the header pin "P1_11" all give 17,
// in any case. Power, ground and the ID EEPROM pins are refused, each with
// what it is; anything else unknown with the names that work.
func PinNumber(name string) (int, error) {
	up := strings.ToUpper(strings.TrimSpace(name))
	digits, pos := up, ""
	switch {
	case strings.HasPrefix(up, "GPIO"):
		digits = up[len("GPIO"):]
	case strings.HasPrefix(up, "BCM"):
		digits = up[len("BCM"):]
	case strings.HasPrefix(up, "P1_"):
		digits, pos = up[len("P1_"):], "P1_"
	}
	n, err := strconv.Atoi(digits)
	if err != nil || digits != strconv.Itoa(n) {
		return 0, fmt.Errorf("unknown pin %q; %s", name, pinChoices)
	}
	if pos != "" {
		if n < 1 || n > 40 {
			return 0, fmt.Errorf("unknown pin %q; the header pins are P1_1 to P1_40; %s", name, pinChoices)
		}
		switch header[n] {
		case -1:
			return 0, fmt.Errorf("pin %q is a power pin (3.3V or 5V), not a GPIO; %s", name, pinChoices)
		case -2:
			return 0, fmt.Errorf("pin %q is a ground pin, not a GPIO; wire the button between a GPIO pin and ground; %s", name, pinChoices)
		}
		n = header[n]
	}
	switch {
	case n == 0 || n == 1:
		return 0, fmt.Errorf("pin %q is GPIO%d (P1_%d, ID_S%c), reserved for the HAT identification EEPROM; %s", name, n, HeaderPin(n), "DC"[n], pinChoices)
	case n < firstGPIO || n > lastGPIO:
		return 0, fmt.Errorf("unknown pin %q; %s", name, pinChoices)
	}
	return n, nil
}

// PinName is PinNumber's answer as the canonical name "GPIO17".
func PinName(name string) (string, error) {
	n, err := PinNumber(name)
	if err != nil {
		return "", err
	}
	return "GPIO" + strconv.Itoa(n), nil
}

// I2CBusNumber turns an I²C bus as a person writes it into its number:
// "1", "/dev/i2c-1", "I2C1", "i2c-1" all give 1.
func I2CBusNumber(name string) (int, error) {
	s := strings.TrimSpace(name)
	for _, prefix := range []string{"/dev/i2c-", "i2c-", "i2c"} {
		if len(s) > len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
			s = s[len(prefix):]
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || s != strconv.Itoa(n) || n < 0 || n > 255 {
		return 0, fmt.Errorf("%q is not an I2C bus; write its number, such as 1 for /dev/i2c-1", name)
	}
	return n, nil
}

// A Chip describes a GPIO chip as Linux presents it through
// /dev/gpiochipN, and as periph.io's gpioioctl driver lists it: the kernel's
// name, the device path, the driver's label and the name of each line, by
// line offset.
type Chip struct {
	Name  string // "gpiochip0"
	Path  string // "/dev/gpiochip0"
	Label string // "pinctrl-bcm2711"
	Lines []string
}

func (c Chip) String() string {
	return fmt.Sprintf("%s [%s] (%d lines)", c.Path, c.Label, len(c.Lines))
}

// HeaderChips maps the label of the GPIO chip that drives the 40-pin header
// of each Raspberry Pi to the boards that have it. On each of them the
// line offset of a header GPIO is its BCM number; the line names differ
// between kernels (GPIO17, or SPI_CE1_N, TXD1 ... on mainline and older
// kernels, or PIN11 on the first Pi 5 kernels), so pins are found by label
// and offset, never by name.
var HeaderChips = map[string]string{
	"pinctrl-bcm2835": "Pi 1, 2, 3 and Zero",
	"pinctrl-bcm2711": "Pi 4 and 400",
	"pinctrl-rp1":     "Pi 5 and 500",
}

// ErrNoGPIOChip means the machine shows no GPIO chip at all.
var ErrNoGPIOChip = errors.New("hw: no GPIO chip found")

// noChipHint says how to look for the chips.
const noChipHint = "check with `ls /dev/gpiochip*` and `gpiodetect` (package gpiod), and that the user is in group gpio; on a machine without GPIO run with --fake"

// FindPin finds the line for the pin called name (as PinNumber reads it)
// among chips: the chip labelled as a Raspberry Pi's header chip (see
// HeaderChips), at the offset of the pin's BCM number. It returns the index
// of the chip in chips and the line offset.
func FindPin(chips []Chip, name string) (chip, offset int, err error) {
	n, err := PinNumber(name)
	if err != nil {
		return 0, 0, fmt.Errorf("hw: %w", err)
	}
	if len(chips) == 0 {
		return 0, 0, fmt.Errorf("%w for pin %s; %s", ErrNoGPIOChip, name, noChipHint)
	}
	for i, c := range chips {
		if _, ok := HeaderChips[c.Label]; !ok {
			continue
		}
		if n >= len(c.Lines) {
			return 0, 0, fmt.Errorf("hw: GPIO chip %s has no line %d for pin %s; is this a Raspberry Pi?", c, n, name)
		}
		return i, n, nil
	}
	var found []string
	for _, c := range chips {
		found = append(found, c.String())
	}
	return 0, 0, fmt.Errorf("hw: none of the GPIO chips drives a Raspberry Pi's header (found %s); pitweet knows the labels pinctrl-bcm2835 (Pi 1, 2, 3, Zero), pinctrl-bcm2711 (Pi 4) and pinctrl-rp1 (Pi 5); `gpiodetect` lists the chips",
		strings.Join(found, ", "))
}
