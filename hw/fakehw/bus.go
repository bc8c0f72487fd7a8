package fakehw

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Fault is a way an emulated chip fails.
type Fault int

const (
	// NoFault: the chip works.
	NoFault Fault = iota
	// NACK: nothing acknowledges the address, as with a loose wire or a
	// chip that is not there. Linux reports it as errno 121.
	NACK
	// WrongChip: a different chip answers at the address; every register
	// reads 0x00 (so a Bosch chip id is 0x00 and Sensirion CRCs fail).
	WrongChip
	// Stuck: the chip starts a measurement and never finishes it: the
	// BME280's measuring bit, the AHT20's busy bit stay set and the SCD4x
	// never has data ready, as with a chip whose supply sags.
	Stuck
)

// errNACK is what the bus returns when no chip acknowledges; the text is
// what Linux's i2c-dev reports through periph.io's sysfs-i2c.
var errNACK = errors.New("remote I/O error")

// chip is an emulated I²C device. tx handles one transaction: write w, then
// read len(r) bytes.
type chip interface {
	tx(cx chipContext, w, r []byte) error
}

// chipContext is what a chip sees during a transaction.
type chipContext struct {
	env   Env     // the world it measures
	now   instant // the time
	stuck bool    // the fault Stuck
}

// instant is a moment on the board's clock and on the real clock.
//
// periph.io's drivers wait for a conversion in real time (time.Sleep),
// while pitweet's own waits go by the clock it is given, the board's: a
// conversion is done once its time has passed on either clock. With a
// real-time board the two are the same; in virtual time, a test where
// pitweet does the waiting does not wait for real.
type instant struct{ board, real time.Time }

// since is how long passed from i to now: the longer of the two clocks.
func (i instant) since(now instant) time.Duration {
	return max(now.board.Sub(i.board), now.real.Sub(i.real))
}

// Bus is the simulated I²C bus. It implements i2c.BusCloser and dispatches
// each transaction to the chip attached at its address.
type Bus struct {
	name  string
	board *Board

	mu     sync.Mutex
	chips  map[uint16]chip
	faults map[uint16]Fault
	closed bool
	txs    int
}

// String implements i2c.Bus.
func (b *Bus) String() string { return "I2C" + b.name + " (simulated)" }

// Tx implements i2c.Bus.
func (b *Bus) Tx(addr uint16, w, r []byte) error {
	cx := chipContext{env: b.board.Env(), now: instant{b.board.clock.Now(), time.Now()}}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("fakehw-i2c: bus is closed")
	}
	b.txs++
	c, ok := b.chips[addr]
	if !ok || b.faults[addr] == NACK {
		return fmt.Errorf("fakehw-i2c: %w", errNACK)
	}
	if b.faults[addr] == WrongChip {
		clear(r)
		return nil
	}
	cx.stuck = b.faults[addr] == Stuck
	if err := c.tx(cx, w, r); err != nil {
		return fmt.Errorf("fakehw-i2c: %w", err)
	}
	return nil
}

// SetSpeed implements i2c.Bus.
func (b *Bus) SetSpeed(physic.Frequency) error { return nil }

// Close implements i2c.BusCloser. Board.Close calls it.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// Closed reports whether the bus was closed.
func (b *Bus) Closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Transactions is the number of transactions addressed so far.
func (b *Bus) Transactions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.txs
}

var _ i2c.BusCloser = (*Bus)(nil)

// crc8 is the CRC of Sensirion and Aosong chips: polynomial 0x31, init 0xFF.
func crc8(data []byte) byte {
	crc := byte(0xFF)
	for _, b := range data {
		crc ^= b
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x31
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }
