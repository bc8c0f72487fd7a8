package fakehw

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"pitweet/hw"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
)

// Env is what the emulated chips measure.
type Env struct {
	Temperature    float64 // °C
	Humidity       float64 // % relative humidity
	Pressure       float64 // hPa
	CO2            float64 // ppm
	Illuminance    float64 // lux
	CPUTemperature float64 // °C, written to CPUTempPath
}

// DefaultEnv is a room on a normal day.
var DefaultEnv = Env{Temperature: 21.5, Humidity: 45, Pressure: 1013.25, CO2: 600, Illuminance: 320, CPUTemperature: 48.3}

// DefaultChips are the chips a new Board carries on bus 1, by address.
var DefaultChips = map[uint16]string{0x76: "bme280", 0x77: "bmp280", 0x38: "aht20", 0x62: "scd4x", 0x23: "bh1750"}

// Options configure a Board.
type Options struct {
	// RealTime makes the clock follow the system clock (for running the
	// daemon on fake hardware). Otherwise time is virtual, for tests.
	RealTime bool
	// NoChips leaves bus 1 empty instead of attaching DefaultChips.
	NoChips bool
	// Dir is where the CPU temperature file is written; "" means a new
	// temporary directory that Close removes.
	Dir string
	// Board names the Variant whose GPIO chips the board presents (see
	// Variants); "" means DefaultBoard.
	Board string
	// ClosesFD0 makes the board do what periph.io host v3.8.5's gpioioctl
	// driver does when it drops a duplicate chip (the Pi 5's
	// /dev/gpiochip4 link): GPIOChip.Close sets the chip's descriptor to 0
	// before closing it, so it closes file descriptor 0. Only for a test
	// that runs in a process of its own.
	ClosesFD0 bool
	// Daily makes the chips measure DailyEnv at the board's time instead
	// of a fixed Env, so recorded history looks like a real room's. SetEnv
	// fixes the environment again.
	Daily bool
}

// Board is a simulated Raspberry Pi. It implements hw.Board.
type Board struct {
	clock   *Clock
	bus     *Bus
	variant Variant
	chips   []hw.Chip // as gpioioctl keeps them
	dropped []hw.Chip // duplicates gpioioctl closed

	mu        sync.Mutex
	pins      map[[2]int]*Pin // by chip index and line offset
	env       Env
	daily     bool          // env follows DailyEnv until SetEnv
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	following sync.WaitGroup // followDaily
	cpuPath   string
	tempDir   string // removed by Close
	fileErr   error
}

// New returns a board with the default environment and, unless
// opts.NoChips, the DefaultChips attached. An unknown opts.Board gives a
// board without GPIO chips, whose pins all fail with the names of the
// variants; see NewBoard for an error instead.
func New(opts Options) *Board {
	b, err := NewBoard(opts)
	if err != nil {
		asked := opts.Board
		opts.Board = DefaultBoard
		b, _ = NewBoard(opts)
		b.variant, b.chips, b.dropped = Variant{Name: asked}, nil, nil
	}
	return b
}

// NewBoard is New that refuses an unknown opts.Board.
func NewBoard(opts Options) (*Board, error) {
	name := opts.Board
	if name == "" {
		name = DefaultBoard
	}
	v, ok := VariantNamed(name)
	if !ok {
		return nil, fmt.Errorf("fakehw: no simulated board %q; use one of %s", name, variantNames())
	}
	b := &Board{
		clock:   &Clock{real: opts.RealTime, now: Epoch},
		variant: v,
		pins:    map[[2]int]*Pin{},
		env:     DefaultEnv,
		daily:   opts.Daily,
		done:    make(chan struct{}),
	}
	b.chips, b.dropped = openChips(v)
	if opts.ClosesFD0 && len(b.dropped) > 0 {
		closeFD0()
	}
	b.bus = &Bus{name: "1", board: b, chips: map[uint16]chip{}, faults: map[uint16]Fault{}}
	if !opts.NoChips {
		for addr, name := range DefaultChips {
			_ = b.Attach(name, addr) // the names are known
		}
	}
	dir := opts.Dir
	if dir == "" {
		dir, b.fileErr = os.MkdirTemp("", "pitweet-fakehw-")
		b.tempDir = dir
	}
	b.cpuPath = filepath.Join(dir, "thermal_zone0_temp")
	if b.fileErr == nil {
		b.fileErr = b.writeCPUTemp(b.Env().CPUTemperature)
	}
	if opts.Daily {
		b.following.Go(b.followDaily)
	}
	return b, nil
}

// Clock is the board's clock; pass it to hw.ButtonConfig.Clock,
// hw.SensorConfig.Clock and hw.LED.Clock.
func (b *Board) Clock() *Clock { return b.clock }

// Variant is the board and kernel the board presents.
func (b *Board) Variant() Variant { return b.variant }

// Chips are the board's GPIO chips as periph.io's gpioioctl driver keeps
// them, in its order.
func (b *Board) Chips() []hw.Chip { return slices.Clone(b.chips) }

// Dropped are the chips gpioioctl opened twice and closed again: the Pi
// 5's /dev/gpiochip4 link to gpiochip0.
func (b *Board) Dropped() []hw.Chip { return slices.Clone(b.dropped) }

// Pin returns the pin called name ("GPIO17", "BCM17", "17" or the header
// pin "P1_11"), found as the real board finds it (hw.FindPin): on the
// header chip, at the line offset of its BCM number. It refuses what the
// real board refuses, with the same message.
func (b *Board) Pin(name string) (gpio.PinIO, error) { return b.pin(name) }

func (b *Board) pin(name string) (*Pin, error) {
	if len(b.chips) == 0 {
		return nil, fmt.Errorf("%w for pin %s: the simulated board %q is not one of %s", hw.ErrNoGPIOChip, name, b.variant.Name, variantNames())
	}
	ci, off, err := hw.FindPin(b.chips, name)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	key := [2]int{ci, off}
	p, ok := b.pins[key]
	if !ok {
		c := b.chips[ci]
		p = newPin(c.Lines[off], off, c.Label, b.clock)
		b.pins[key] = p
	}
	return p, nil
}

// Bus returns bus 1 under any name hw.I2CBusNumber reads as 1 ("1",
// "I2C1", "/dev/i2c-1"), the only bus the board has.
func (b *Board) Bus(name string) (i2c.Bus, error) {
	if name == "" {
		name = "1"
	}
	if n, err := hw.I2CBusNumber(name); err != nil || n != 1 {
		return nil, fmt.Errorf("fakehw: no I2C bus %q; the simulated board has bus 1", name)
	}
	return b.bus, nil
}

// I2C is bus 1 itself, for tests that inspect it.
func (b *Board) I2C() *Bus { return b.bus }

// CPUTempPath is the file with Env.CPUTemperature in millidegrees.
func (b *Board) CPUTempPath() string { return b.cpuPath }

// Close closes the bus, releases the lines the pins requested and removes
// the temporary directory.
func (b *Board) Close() error {
	b.closeOnce.Do(func() { close(b.done) })
	b.following.Wait()
	_ = b.bus.Close()
	b.mu.Lock()
	for _, p := range b.pins {
		p.release()
	}
	b.mu.Unlock()
	if b.tempDir != "" {
		if err := os.RemoveAll(b.tempDir); err != nil {
			return fmt.Errorf("fakehw: removing %s: %w", b.tempDir, err)
		}
	}
	return nil
}

// Chips lists the chip types Attach accepts.
func Chips() []string { return []string{"aht20", "bh1750", "bme280", "bmp280", "scd4x"} }

// Attach puts an emulated chip of type name (see Chips) at addr on bus 1,
// replacing whatever was there.
func (b *Board) Attach(name string, addr uint16) error {
	var c chip
	switch name {
	case "bme280":
		c = newBMX280(true)
	case "bmp280":
		c = newBMX280(false)
	case "aht20":
		c = &aht20{}
	case "scd4x":
		c = &scd4x{}
	case "bh1750":
		c = newBH1750()
	default:
		return fmt.Errorf("fakehw: cannot emulate a %q; use one of %s", name, strings.Join(Chips(), ", "))
	}
	b.bus.mu.Lock()
	defer b.bus.mu.Unlock()
	b.bus.chips[addr] = c
	return nil
}

// Detach removes the chip at addr.
func (b *Board) Detach(addr uint16) {
	b.bus.mu.Lock()
	defer b.bus.mu.Unlock()
	delete(b.bus.chips, addr)
}

// Addresses lists the addresses that have a chip, in order.
func (b *Board) Addresses() []uint16 {
	b.bus.mu.Lock()
	defer b.bus.mu.Unlock()
	var a []uint16
	for addr := range b.bus.chips {
		a = append(a, addr)
	}
	sort.Slice(a, func(i, j int) bool { return a[i] < a[j] })
	return a
}

// SetFault makes the chip at addr fail as f until set back to NoFault.
func (b *Board) SetFault(addr uint16, f Fault) {
	b.bus.mu.Lock()
	defer b.bus.mu.Unlock()
	b.bus.faults[addr] = f
}

// Env returns what the chips measure: the fixed Env, or with
// Options.Daily, DailyEnv at the board's time.
func (b *Board) Env() Env {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.daily {
		return DailyEnv(b.clock.Now())
	}
	return b.env
}

// SetEnv sets what the chips measure from now on, ending Options.Daily.
// Chips clamp values to their range.
func (b *Board) SetEnv(e Env) error {
	b.mu.Lock()
	b.env, b.daily = e, false
	b.mu.Unlock()
	return b.writeCPUTemp(e.CPUTemperature)
}

// cpuRefresh is how often, with Options.Daily, the CPU temperature file
// is brought up to the board's time.
const cpuRefresh = 5 * time.Second

// followDaily rewrites the CPU temperature file from DailyEnv until Close.
func (b *Board) followDaily() {
	t := time.NewTicker(cpuRefresh)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
			b.mu.Lock()
			daily := b.daily
			b.mu.Unlock()
			if daily {
				_ = b.writeCPUTemp(DailyEnv(b.clock.Now()).CPUTemperature) // a failed write shows as a failed read
			}
		}
	}
}

func (b *Board) writeCPUTemp(c float64) error {
	if b.fileErr != nil {
		return b.fileErr
	}
	// Written aside and renamed over, so a sensor reading the file at the
	// same moment sees the old value or the new, never an empty file.
	f, err := os.CreateTemp(filepath.Dir(b.cpuPath), ".thermal-*")
	if err == nil {
		_, err = fmt.Fprintf(f, "%d\n", int64(roundHalf(c*1000)))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(f.Name(), 0o644)
		}
		if err == nil {
			err = os.Rename(f.Name(), b.cpuPath)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("fakehw: writing CPU temperature: %w", err)
	}
	return nil
}

// Buttons. A button shorts its pin to the level opposite its pull (to
// ground on a pulled-up pin). Actions queue after any still scheduled on the
// same pin.

// ShortPress is how long Press holds a button.
const ShortPress = 120 * time.Millisecond

// pressGap separates actions queued on one pin.
const pressGap = 150 * time.Millisecond

// Bounce is the contact bounce PressBounce simulates on each transition: the
// level flips at these offsets and settles after 18ms.
var Bounce = []time.Duration{0, 1 * time.Millisecond, 2500 * time.Microsecond, 4 * time.Millisecond, 7 * time.Millisecond, 11 * time.Millisecond, 18 * time.Millisecond}

// Press presses and releases the button on pin name cleanly.
func (b *Board) Press(name string) error { return b.Hold(name, ShortPress) }

// Hold presses the button on pin name for d, then releases it.
func (b *Board) Hold(name string, d time.Duration) error {
	return b.script(name, func(down, up gpio.Level) []step {
		return []step{{0, down}, {d, up}}
	})
}

// PressBounce presses the button on pin name for ShortPress with contact
// bounce on both edges.
func (b *Board) PressBounce(name string) error { return b.HoldBounce(name, ShortPress) }

// HoldBounce holds the button on pin name for d with contact bounce on both
// edges; d counts from the first contact.
func (b *Board) HoldBounce(name string, d time.Duration) error {
	return b.script(name, func(down, up gpio.Level) []step {
		var s []step
		for i, t := range Bounce { // an odd number of flips ends pressed
			s = append(s, step{t, [2]gpio.Level{down, up}[i%2]})
		}
		for i, t := range Bounce {
			s = append(s, step{d + t, [2]gpio.Level{up, down}[i%2]})
		}
		return s
	})
}

// Down presses the button on pin name and keeps it pressed.
func (b *Board) Down(name string) error {
	return b.script(name, func(down, _ gpio.Level) []step { return []step{{0, down}} })
}

// Up releases the button on pin name.
func (b *Board) Up(name string) error {
	return b.script(name, func(_, up gpio.Level) []step { return []step{{0, up}} })
}

func (b *Board) script(name string, steps func(down, up gpio.Level) []step) error {
	p, err := b.pin(name)
	if err != nil {
		return err
	}
	down := p.pressedLevel()
	p.schedule(pressGap, steps(down, !down))
	return nil
}

// SetPinFault makes the pin called name fail as f until set back to
// PinWorks. EdgeFails also ends a wait in progress, as an error reading
// the line's events would.
func (b *Board) SetPinFault(name string, f PinFault) error {
	p, err := b.pin(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.fault = f
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
	return nil
}

// Level is the current level of pin name.
func (b *Board) Level(name string) (gpio.Level, error) {
	p, err := b.pin(name)
	if err != nil {
		return gpio.Low, err
	}
	return p.Read(), nil
}

// History is every level pin name took, oldest first: written by Out for a
// LED, or scheduled presses that were read.
func (b *Board) History(name string) ([]Change, error) {
	p, err := b.pin(name)
	if err != nil {
		return nil, err
	}
	return p.History(), nil
}

// AddressOf is the address a chip type has in DefaultChips (0 if none).
func AddressOf(chip string) uint16 {
	for addr, name := range DefaultChips {
		if name == chip {
			return addr
		}
	}
	return 0
}
