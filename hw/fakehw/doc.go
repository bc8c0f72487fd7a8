// Package fakehw is a simulated Raspberry Pi for tests and for pitweet's
// fake mode. A Board implements hw.Board.
//
// Pins are created on first use, by name ("GPIO17" or the header name
// "P1_11"). A button on a pin can be pressed, with or without contact bounce,
// or held; output pins keep the history of their levels, so that a test can
// check how a LED blinked.
//
// The I²C bus "1" carries chips emulated at register level (BME280, BMP280,
// AHT20, SCD4x, BH1750), so periph.io's own drivers run unchanged against
// them and compute the values from raw counts and calibration data, as on
// real hardware. What the chips measure comes from a settable Env. A chip can
// be made to fail: to not acknowledge its address (NACK, as a loose wire
// does) or to answer as a different chip.
//
// Time is virtual unless Options.RealTime is set: scheduled edges happen at
// virtual instants, and a wait for an edge that is scheduled moves the clock
// forward at once, so a two-second long press takes microseconds to test.
package fakehw
