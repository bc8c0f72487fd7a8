package fakehw

// bh1750 emulates a ROHM BH1750FVI (datasheet §"Instruction Set
// Architecture"): one-byte opcodes power down 0x00, power on 0x01, reset 0x07,
// continuous modes 0x10/0x11/0x13, one-time modes 0x20/0x21/0x23, and
// measurement time 0x40–0x47 / 0x60–0x7F; a read returns the 16-bit count,
// lux·1.2 at the default measurement time.
type bh1750 struct {
	powered bool
	mode    byte
	mtreg   byte
	count   uint16
}

func newBH1750() *bh1750 { return &bh1750{mtreg: 69} }

func (c *bh1750) tx(cx chipContext, w, r []byte) error {
	env := cx.env
	for _, op := range w {
		switch {
		case op == 0x00:
			c.powered = false
		case op == 0x01:
			c.powered = true
		case op == 0x07:
			if c.powered {
				c.count = 0
			}
		case op == 0x10 || op == 0x11 || op == 0x13 || op == 0x20 || op == 0x21 || op == 0x23:
			c.mode, c.powered = op, true
		case op&0xF8 == 0x40:
			c.mtreg = c.mtreg&0x1F | (op&7)<<5
		case op&0xE0 == 0x60:
			c.mtreg = c.mtreg&0xE0 | op&0x1F
		}
	}
	if len(r) > 0 {
		if c.mode != 0 {
			c.measure(env)
			if c.mode >= 0x20 { // one-time modes power down afterwards
				c.powered = false
			}
		}
		clear(r)
		r[0] = byte(c.count >> 8)
		if len(r) > 1 {
			r[1] = byte(c.count)
		}
	}
	return nil
}

// measure converts illuminance to counts: 1.2 counts per lux at MTreg 69,
// twice that in the 0.5 lx modes, in steps of 4 lux in the low-resolution
// modes.
func (c *bh1750) measure(env Env) {
	counts := clamp(env.Illuminance, 0, 100000) * 1.2 * float64(c.mtreg) / 69
	switch c.mode {
	case 0x11, 0x21:
		counts *= 2
	case 0x13, 0x23:
		counts = roundHalf(counts/4.8) * 4.8
	}
	c.count = uint16(min(roundHalf(counts), 65535))
}
