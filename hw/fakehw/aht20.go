package fakehw

import (
	"errors"
	"time"
)

// aht20 emulates an Aosong AHT20 (datasheet v1.1 §5.3–5.4): status command
// 0x71, initialise (calibrate) 0xBE 0x08 0x00, trigger measurement
// 0xAC 0x33 0x00, soft reset 0xBA; a plain read returns the status byte,
// 20-bit humidity, 20-bit temperature and a CRC-8.
//
// A measurement takes 80 ms (§5.4 step 3): the status byte's busy bit is
// set meanwhile and the data bytes hold the previous result.
type aht20 struct {
	calibrated bool
	data       [6]byte // status and raw counts of the last measurement

	measuring bool
	started   instant
	pending   [6]byte
}

const (
	ahtBusy       = 1 << 7
	ahtCalibrated = 1 << 3
	ahtIdle       = 1 << 4 // set on every real chip seen; meaning undocumented

	// ahtMeasureTime is how long a measurement takes.
	ahtMeasureTime = 80 * time.Millisecond
)

func (c *aht20) status() byte {
	s := byte(ahtIdle)
	if c.calibrated {
		s |= ahtCalibrated
	}
	if c.measuring {
		s |= ahtBusy
	}
	return s
}

func (c *aht20) tx(cx chipContext, w, r []byte) error {
	if c.measuring && !cx.stuck && c.started.since(cx.now) >= ahtMeasureTime {
		c.data, c.measuring = c.pending, false
	}
	if len(w) > 0 {
		switch w[0] {
		case 0x71:
			if len(r) > 0 {
				r[0] = c.status()
				clear(r[1:])
			}
			return nil
		case 0xBE:
			c.calibrated = true
		case 0xAC:
			if len(w) != 3 || w[1] != 0x33 || w[2] != 0x00 {
				return errors.New("aht20 emulation: malformed trigger command")
			}
			if c.calibrated && !c.measuring { // an uncalibrated chip measures nothing
				c.pending = measureAHT20(cx.env)
				c.measuring, c.started = true, cx.now
			}
		case 0xBA:
			c.calibrated, c.measuring = false, false
			c.data = [6]byte{}
		default:
			return errors.New("aht20 emulation: unknown command")
		}
	}
	if len(r) > 0 {
		var out [7]byte
		copy(out[:], c.data[:])
		out[0] = c.status()
		out[6] = crc8(out[:6])
		copy(r, out[:])
	}
	return nil
}

// measureAHT20 converts the environment to counts: RH = h/2²⁰·100 %,
// T = t/2²⁰·200 − 50 °C.
func measureAHT20(env Env) [6]byte {
	h := uint32(roundHalf(clamp(env.Humidity, 0, 100) / 100 * (1 << 20)))
	t := uint32(roundHalf((clamp(env.Temperature, -40, 85) + 50) / 200 * (1 << 20)))
	h = min(h, 1<<20-1)
	return [6]byte{0, byte(h >> 12), byte(h >> 4), byte(h<<4) | byte(t>>16&0x0F), byte(t >> 8), byte(t)}
}
