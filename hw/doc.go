// Package hw is pitweet's view of the physical world: buttons and LEDs on
// GPIO pins, and environmental sensors on the I²C bus, all through periph.io.
//
// A Board says where pins and buses come from. OpenReal opens the Raspberry
// Pi's own hardware through periph.io's registries (gpioreg, i2creg); the
// package pitweet/hw/fakehw provides a simulated board on which the same
// periph.io drivers run unchanged.
//
// A Button turns edges on a gpio.PinIn into debounced Press events, a LED
// blinks a gpio.PinOut, and a Sensor reads one chip (bme280, bmp280, aht20,
// scd4x, bh1750) or the SoC temperature (cpu) into a Reading.
package hw
