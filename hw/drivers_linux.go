package hw

// The drivers every Linux board needs: GPIO through the character device
// /dev/gpiochipN (the only one that works on a Pi 5) or sysfs, and I²C
// through /dev/i2c-N.
import (
	_ "periph.io/x/host/v3/gpioioctl"
	_ "periph.io/x/host/v3/sysfs"
)
