package fakehw

import "time"

// bmx280 emulates a Bosch BME280 or BMP280 on I²C (datasheet BST-BME280-DS002
// §5 "Global memory map", BST-BMP280-DS001 §4): chip id at 0xD0, trimming
// parameters at 0x88–0xA1 and 0xE1–0xE7, ctrl_hum 0xF2, status 0xF3,
// ctrl_meas 0xF4, config 0xF5, raw data at 0xF7–0xFE. A forced-mode write to
// ctrl_meas converts the environment into raw counts, inverting the
// datasheet's compensation formulas with this chip's trimming parameters.
//
// The conversion takes the datasheet's maximum measurement time (BME280
// §9.1 and appendix B): status bit 3 (measuring) is set meanwhile and the
// data registers keep the previous result until it is done.
type bmx280 struct {
	bme  bool
	regs [256]byte
	ptr  byte

	measuring bool
	started   instant
	duration  time.Duration
	pending   [8]byte // the raw data 0xF7–0xFE of the conversion in progress
}

// bmxMeasuring is status bit 3, set while a conversion runs.
const bmxMeasuring = 1 << 3

// Register addresses.
const (
	bmxChipID   = 0xD0
	bmxReset    = 0xE0
	bmxCtrlHum  = 0xF2
	bmxStatus   = 0xF3
	bmxCtrlMeas = 0xF4
	bmxConfig   = 0xF5
	bmxData     = 0xF7
)

// bmxTrim holds the trimming parameters of a real BME280 (the ones periph.io's
// own bmxx80 tests use).
var bmxTrim = trim280{
	t1: 28176, t2: 26220, t3: 350,
	p1: 38237, p2: -10824, p3: 3024, p4: 7799, p5: -99, p6: -7, p7: 9900, p8: -10230, p9: 4285,
	h1: 75, h2: 366, h3: 0, h4: 309, h5: 0, h6: 30,
}

type trim280 struct {
	t1                             uint16
	t2, t3                         int16
	p1                             uint16
	p2, p3, p4, p5, p6, p7, p8, p9 int16
	h1, h3                         uint8
	h2, h4, h5                     int16
	h6                             int8
}

func newBMX280(bme bool) *bmx280 {
	c := &bmx280{bme: bme}
	c.reset()
	return c
}

func (c *bmx280) reset() {
	c.regs = [256]byte{}
	c.measuring = false
	c.regs[bmxChipID] = 0x58
	if c.bme {
		c.regs[bmxChipID] = 0x60
	}
	t := bmxTrim
	for i, v := range []uint16{t.t1, uint16(t.t2), uint16(t.t3), t.p1, uint16(t.p2), uint16(t.p3),
		uint16(t.p4), uint16(t.p5), uint16(t.p6), uint16(t.p7), uint16(t.p8), uint16(t.p9)} {
		c.regs[0x88+2*i] = byte(v)
		c.regs[0x88+2*i+1] = byte(v >> 8)
	}
	if c.bme {
		c.regs[0xA1] = t.h1
		c.regs[0xE1] = byte(t.h2)
		c.regs[0xE2] = byte(t.h2 >> 8)
		c.regs[0xE3] = t.h3
		c.regs[0xE4] = byte(t.h4 >> 4)
		c.regs[0xE5] = byte(t.h4&0x0F) | byte(t.h5&0x0F)<<4
		c.regs[0xE6] = byte(t.h5 >> 4)
		c.regs[0xE7] = byte(t.h6)
	}
	// Raw data reads 0x80000 (pressure, temperature) and 0x8000 (humidity)
	// until the first measurement.
	c.regs[0xF7], c.regs[0xFA], c.regs[0xFD] = 0x80, 0x80, 0x80
}

// tx: a write of one byte sets the register pointer; longer writes are
// (register, value) pairs; a read continues from the pointer, which
// auto-increments.
func (c *bmx280) tx(cx chipContext, w, r []byte) error {
	c.finish(cx)
	if len(w) > 0 {
		c.ptr = w[0]
	}
	if len(w) > 1 {
		for i := 0; i+1 < len(w); i += 2 {
			c.write(cx, w[i], w[i+1])
		}
	}
	if len(r) > 0 && c.regs[bmxCtrlMeas]&3 == 3 {
		raw := c.raw(cx.env) // normal mode: a conversion is always fresh
		copy(c.regs[bmxData:], raw[:])
	}
	c.regs[bmxStatus] = 0
	if c.measuring {
		c.regs[bmxStatus] = bmxMeasuring
	}
	for i := range r {
		r[i] = c.regs[c.ptr]
		c.ptr++
	}
	return nil
}

// finish ends the conversion in progress once its time has passed.
func (c *bmx280) finish(cx chipContext) {
	if !c.measuring || cx.stuck || c.started.since(cx.now) < c.duration {
		return
	}
	copy(c.regs[bmxData:], c.pending[:])
	c.regs[bmxCtrlMeas] &^= 3 // back to sleep mode
	c.measuring = false
}

// measureTime is the datasheet's maximum measurement time for the
// oversampling in ctrl_meas and ctrl_hum: 1.25 ms, plus 2.3 ms per
// temperature sample, 2.3 ms per pressure and per humidity sample with
// 0.575 ms each when measured.
func (c *bmx280) measureTime() time.Duration {
	osr := func(code byte) float64 {
		return [8]float64{0, 1, 2, 4, 8, 16, 16, 16}[code&7]
	}
	ctrl := c.regs[bmxCtrlMeas]
	t, p, h := osr(ctrl>>5), osr(ctrl>>2), 0.0
	if c.bme {
		h = osr(c.regs[bmxCtrlHum])
	}
	ms := 1.25 + 2.3*t
	for _, n := range []float64{p, h} {
		if n > 0 {
			ms += 2.3*n + 0.575
		}
	}
	return time.Duration(ms * float64(time.Millisecond))
}

func (c *bmx280) write(cx chipContext, reg, v byte) {
	switch reg {
	case bmxReset:
		if v == 0xB6 {
			c.reset()
		}
	case bmxCtrlHum:
		if c.bme {
			c.regs[reg] = v & 7
		}
	case bmxConfig:
		c.regs[reg] = v
	case bmxCtrlMeas:
		c.regs[reg] = v
		if mode := v & 3; mode == 1 || mode == 2 {
			// Forced mode: one conversion, then sleep.
			c.pending = c.raw(cx.env)
			c.measuring, c.started, c.duration = true, cx.now, c.measureTime()
		}
	}
}

// raw returns the data registers 0xF7–0xFE for counts that compensate to
// env. Skipped measurements (oversampling 0) read as 0x80000 / 0x8000, as on
// the chip.
func (c *bmx280) raw(env Env) [8]byte {
	var out [8]byte
	ctrl := c.regs[bmxCtrlMeas]
	t := clamp(env.Temperature, -40, 85)
	tRaw := search(0, 1<<20, func(raw int32) bool {
		v, _ := bmxTrim.temperature(raw)
		return v >= int32(roundHalf(t*100))
	})
	_, tFine := bmxTrim.temperature(tRaw)
	if ctrl>>5 == 0 {
		tRaw = 0x80000
	}
	putRaw20(out[3:], tRaw)

	p := clamp(env.Pressure, 300, 1100) * 100 * 256 // Pa in Q24.8
	pRaw := search(0, 1<<20, func(raw int32) bool {
		return float64(bmxTrim.pressure(raw, tFine)) <= p
	})
	if ctrl>>2&7 == 0 {
		pRaw = 0x80000
	}
	putRaw20(out[0:], pRaw)

	if c.bme {
		h := clamp(env.Humidity, 0, 100) * 1024 // %RH in Q22.10
		hRaw := search(0, 1<<16, func(raw int32) bool {
			return float64(bmxTrim.humidity(raw, tFine)) >= h
		})
		if c.regs[bmxCtrlHum]&7 == 0 {
			hRaw = 0x8000
		}
		out[6] = byte(hRaw >> 8)
		out[7] = byte(hRaw)
	}
	return out
}

func putRaw20(b []byte, raw int32) {
	b[0] = byte(raw >> 12)
	b[1] = byte(raw >> 4)
	b[2] = byte(raw<<4) & 0xF0
}

// search returns the smallest x in [lo, hi) for which ok is true (ok must be
// monotonic), or hi-1 if there is none.
func search(lo, hi int32, ok func(int32) bool) int32 {
	n := hi
	for lo < hi {
		mid := lo + (hi-lo)/2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return min(lo, n-1)
}

func roundHalf(v float64) float64 {
	if v < 0 {
		return -roundHalf(-v)
	}
	return float64(int64(v + 0.5))
}

// The compensation formulas of the datasheet (BME280 §4.2.3, 32-bit
// temperature and humidity, 64-bit pressure).

// temperature returns °C in hundredths, and t_fine.
func (c trim280) temperature(raw int32) (int32, int32) {
	x := ((raw>>3 - int32(c.t1)<<1) * int32(c.t2)) >> 11
	y := ((((raw>>4 - int32(c.t1)) * (raw>>4 - int32(c.t1))) >> 12) * int32(c.t3)) >> 14
	tFine := x + y
	return (tFine*5 + 128) >> 8, tFine
}

// pressure returns Pa in Q24.8.
func (c trim280) pressure(raw, tFine int32) uint32 {
	x := int64(tFine) - 128000
	y := x * x * int64(c.p6)
	y += (x * int64(c.p5)) << 17
	y += int64(c.p4) << 35
	x = (x*x*int64(c.p3))>>8 + ((x * int64(c.p2)) << 12)
	x = ((int64(1)<<47 + x) * int64(c.p1)) >> 33
	if x == 0 {
		return 0
	}
	p := ((((1048576 - int64(raw)) << 31) - y) * 3125) / x
	x = (int64(c.p9) * (p >> 13) * (p >> 13)) >> 25
	y = (int64(c.p8) * p) >> 19
	return uint32(((p + x + y) >> 8) + (int64(c.p7) << 4))
}

// humidity returns %RH in Q22.10.
func (c trim280) humidity(raw, tFine int32) uint32 {
	x := tFine - 76800
	x1 := raw<<14 - int32(c.h4)<<20 - int32(c.h5)*x
	x2 := (x1 + 16384) >> 15
	x3 := (x * int32(c.h6)) >> 10
	x4 := (x * int32(c.h3)) >> 11
	x5 := (x3 * (x4 + 32768)) >> 10
	x6 := ((x5+2097152)*int32(c.h2) + 8192) >> 14
	x = x2 * x6
	x -= ((((x >> 15) * (x >> 15)) >> 7) * int32(c.h1)) >> 4
	x = max(x, 0)
	x = min(x, 419430400)
	return uint32(x >> 12)
}
