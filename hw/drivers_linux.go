package hw

// The drivers pitweet needs on any Pi: GPIO through the character device
// /dev/gpiochipN, whose lines the Pi's device tree names GPIO0 to GPIO27
// (the only GPIO driver that works on a Pi 5, and as good on the others
// for buttons and LEDs), sysfs GPIO as a fallback, and I²C through
// /dev/i2c-N. The BCM283x register driver and the rpi header names are
// left out: header names (P1_11) are mapped to GPIO names by the config.
import (
	_ "periph.io/x/host/v3/gpioioctl"
	_ "periph.io/x/host/v3/sysfs"
)
