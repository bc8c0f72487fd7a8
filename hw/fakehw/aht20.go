package fakehw

import "errors"

// aht20 emulates an Aosong AHT20 (datasheet v1.1 §5.3–5.4): status command
// 0x71, initialise (calibrate) 0xBE 0x08 0x00, trigger measurement
// 0xAC 0x33 0x00, soft reset 0xBA; a plain read returns the status byte,
// 20-bit humidity, 20-bit temperature and a CRC-8.
type aht20 struct {
	calibrated bool
	data       [6]byte // status and raw counts of the last measurement
}

const (
	ahtBusy       = 1 << 7
	ahtCalibrated = 1 << 3
	ahtIdle       = 1 << 4 // set on every real chip seen; meaning undocumented
)

func (c *aht20) status() byte {
	s := byte(ahtIdle)
	if c.calibrated {
		s |= ahtCalibrated
	}
	return s
}

func (c *aht20) tx(env Env, w, r []byte) error {
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
			c.measure(env)
		case 0xBA:
			c.calibrated = false
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

// measure converts the environment to counts: RH = h/2²⁰·100 %,
// T = t/2²⁰·200 − 50 °C. An uncalibrated chip measures nothing.
func (c *aht20) measure(env Env) {
	if !c.calibrated {
		return
	}
	h := uint32(roundHalf(clamp(env.Humidity, 0, 100) / 100 * (1 << 20)))
	t := uint32(roundHalf((clamp(env.Temperature, -40, 85) + 50) / 200 * (1 << 20)))
	h = min(h, 1<<20-1)
	c.data = [6]byte{0, byte(h >> 12), byte(h >> 4), byte(h<<4) | byte(t>>16&0x0F), byte(t >> 8), byte(t)}
}
