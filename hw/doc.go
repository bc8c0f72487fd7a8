// Package hw is pitweet's view of the physical world: buttons and LEDs on
// GPIO pins, and environmental sensors on the I²C bus, all through periph.io.
//
// A Board says where pins and buses come from. OpenReal opens the Raspberry
// Pi's own hardware: GPIO lines through periph.io's gpioioctl driver, the
// one periph.io driver pitweet registers, and I²C buses through Linux's
// /dev/i2c-N. A pin is found by the label of the chip that drives the
// header (pinctrl-bcm2835, pinctrl-bcm2711, pinctrl-rp1) and its BCM
// number as the line offset, since the line names differ between kernels
// (FindPin). The package pitweet/hw/fakehw provides a simulated board, of
// any Pi and kernel, on which the same periph.io drivers run unchanged.
//
// A Button turns edges on a gpio.PinIn into debounced Press events, a LED
// blinks a gpio.PinOut, and a Sensor reads one chip (bme280, bmp280, aht20,
// scd4x, bh1750) or the SoC temperature (cpu) into a Reading. Nothing waits
// for ever: a sensor's read ends at its deadline, and a button whose pin
// keeps failing pauses between attempts.
package hw
