package fakehw

import (
	"errors"
	"fmt"
	"time"
)

// scd4x emulates a Sensirion SCD41 (datasheet v1.5 §3): 16-bit commands,
// arguments and answers in 16-bit words each followed by a CRC-8.
//
// After start_periodic_measurement the chip measures every 5 s, the first
// time 5 s after the start (§3.5.1). get_data_ready_status says whether a
// measurement came since the last read_measurement, which empties the
// buffer; read_measurement with no new data is not acknowledged.
//
// The real chip never acknowledges wake_up; periph.io's driver answers that
// with stop_periodic_measurement and a 550 ms wait. The emulation NACKs it
// only during periodic measurement (where the driver needs that path to start
// again after a lost connection) and ACKs it when idle, to keep tests fast.
type scd4x struct {
	measuring bool
	started   instant
	consumed  int    // measurements since the start that were read or lost
	pressure  uint16 // hPa
}

// scdInterval is the period of the periodic measurement.
const scdInterval = 5 * time.Second

// ready reports whether a measurement came since the last read.
func (c *scd4x) ready(cx chipContext) bool {
	return c.measuring && !cx.stuck && int(c.started.since(cx.now)/scdInterval) > c.consumed
}

// errSCDCommand is a command the chip does not acknowledge; Linux reports
// the NACK as a remote I/O error.
var errSCDCommand = fmt.Errorf("scd4x emulation: command not acknowledged: %w", errNACK)

func (c *scd4x) tx(cx chipContext, w, r []byte) error {
	env := cx.env
	if len(w) < 2 {
		return errSCDCommand
	}
	cmd := uint16(w[0])<<8 | uint16(w[1])
	args := w[2:]
	if len(args)%3 != 0 {
		return errSCDCommand
	}
	for i := 0; i < len(args); i += 3 {
		if crc8(args[i:i+2]) != args[i+2] {
			return errors.New("scd4x emulation: argument CRC mismatch")
		}
	}
	var words []uint16
	switch cmd {
	case 0x36f6: // wake_up
		if c.measuring {
			return errSCDCommand
		}
	case 0x21b1: // start_periodic_measurement
		if c.measuring {
			return errSCDCommand
		}
		c.measuring, c.started, c.consumed = true, cx.now, 0
	case 0x3f86: // stop_periodic_measurement
		c.measuring = false
	case 0xe4b8: // get_data_ready_status: lower 11 bits not 0 means ready
		words = []uint16{0x8000}
		if c.ready(cx) {
			words[0] |= 0x0006
		}
	case 0xec05: // read_measurement
		if !c.ready(cx) {
			return errSCDCommand
		}
		c.consumed = int(c.started.since(cx.now) / scdInterval)
		co2 := roundHalf(clamp(env.CO2, 0, 40000))
		t := roundHalf((clamp(env.Temperature, -10, 60) + 45) * 65535 / 175)
		h := roundHalf(clamp(env.Humidity, 0, 100) * 65535 / 100)
		words = []uint16{uint16(co2), uint16(t), uint16(h)}
	case 0xe000: // get/set_ambient_pressure
		if len(args) == 3 {
			c.pressure = uint16(args[0])<<8 | uint16(args[1])
		} else {
			words = []uint16{c.pressure}
		}
	case 0x3682: // get_serial_number
		words = []uint16{0xf896, 0x9f07, 0x3bb5}
	case 0x202f: // get_sensor_variant: SCD41
		words = []uint16{0x1440}
	case 0x2318: // get_temperature_offset: 4 °C
		words = []uint16{1498}
	case 0x2322, 0x2313, 0x233f, 0x2340, 0x234b: // altitude, ASC enabled, target, periods
		words = map[uint16][]uint16{0x2322: {0}, 0x2313: {1}, 0x233f: {400}, 0x2340: {44}, 0x234b: {156}}[cmd]
	case 0x241d, 0x2427, 0x2416, 0x243a, 0x2445, 0x244e, 0x3615, 0x3632, 0x3646: // setters, persist, resets
		if c.measuring {
			return errSCDCommand
		}
	default:
		return errSCDCommand
	}
	var out []byte
	for _, word := range words {
		b := []byte{byte(word >> 8), byte(word)}
		out = append(out, b[0], b[1], crc8(b))
	}
	clear(r)
	copy(r, out)
	return nil
}
