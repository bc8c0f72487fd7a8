// Package fakehw is a simulated Raspberry Pi for tests and for pitweet's
// fake mode. A Board implements hw.Board.
//
// A Board presents the GPIO chips of one Pi model and kernel (a Variant,
// Options.Board): the device nodes, each chip's label and its line names,
// from the device trees the kernels ship, as periph.io's gpioioctl driver
// lists them (the Pi 5's /dev/gpiochip4 link dropped). Pins are found as on
// the real board (hw.FindPin), created on first use, and requested the way
// gpioioctl requests lines, file descriptor included. A button on a pin can
// be pressed, with or without contact bounce, or held; output pins keep the
// history of their levels, so that a test can check how a LED blinked. A
// pin can be made to fail (SetPinFault).
//
// The I²C bus "1" carries chips emulated at register level (BME280, BMP280,
// AHT20, SCD4x, BH1750), so periph.io's own drivers run unchanged against
// them and compute the values from raw counts and calibration data, as on
// real hardware. The chips take the datasheets' time to measure: the
// BME280's measuring bit, the AHT20's busy bit, the SCD4x's first
// measurement 5 s after its start. What the chips measure comes from a
// settable Env. A chip can be made to fail: to not acknowledge its address
// (NACK, as a loose wire does), to answer as a different chip, or to never
// finish a measurement.
//
// Time is virtual unless Options.RealTime is set: scheduled edges happen at
// virtual instants, and a wait for an edge that is scheduled moves the clock
// forward at once, so a two-second long press takes microseconds to test.
// A measurement is done once its time has passed on the board's clock or
// in real time, since periph's drivers wait in real time.
package fakehw
