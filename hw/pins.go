package hw

import (
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

// PinName turns a pin name as a person writes it into the BCM name a board
// opens: "GPIO17", "gpio17" and "P1_11" all give "GPIO17". GPIO0 to GPIO27
// exist on every Pi's header; power and ground pins are refused with what
// they are.
func PinName(name string) (string, error) {
	up := strings.ToUpper(strings.TrimSpace(name))
	switch {
	case strings.HasPrefix(up, "GPIO"):
		n, err := strconv.Atoi(up[len("GPIO"):])
		if err != nil || n < 0 || n > 27 || up[len("GPIO"):] != strconv.Itoa(n) {
			return "", fmt.Errorf("unknown pin %q; use GPIO0 to GPIO27 (BCM numbering) or a header pin P1_1 to P1_40", name)
		}
		return "GPIO" + strconv.Itoa(n), nil
	case strings.HasPrefix(up, "P1_"):
		n, err := strconv.Atoi(up[len("P1_"):])
		if err != nil || n < 1 || n > 40 {
			return "", fmt.Errorf("unknown pin %q; header pins are P1_1 to P1_40", name)
		}
		switch g := header[n]; g {
		case -1:
			return "", fmt.Errorf("pin %q is a power pin (3.3V or 5V), not a GPIO; pick a GPIO pin such as P1_11 (GPIO17)", name)
		case -2:
			return "", fmt.Errorf("pin %q is a ground pin, not a GPIO; wire the button between a GPIO pin and ground", name)
		default:
			return "GPIO" + strconv.Itoa(g), nil
		}
	}
	return "", fmt.Errorf("unknown pin %q; use GPIO0 to GPIO27 (BCM numbering) or a header pin P1_1 to P1_40", name)
}
