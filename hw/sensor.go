package hw

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/aht20"
)

// Names of the quantities in Reading.Values, with their units.
const (
	Temperature = "Temperature" // °C
	Humidity    = "Humidity"    // % relative humidity
	Pressure    = "Pressure"    // hPa
	CO2         = "CO2"         // ppm
	Illuminance = "Illuminance" // lux
)

// SensorTypes lists the values SensorConfig.Type accepts.
var SensorTypes = []string{"bme280", "bmp280", "aht20", "scd4x", "bh1750", "cpu"}

// Reading is what one sensor measured at one time.
type Reading struct {
	Sensor string
	At     time.Time
	// Values maps quantity names (Temperature, Humidity, Pressure, CO2,
	// Illuminance) to values in °C, %, hPa, ppm and lux.
	Values map[string]float64
}

// Sensor is one configured sensor.
type Sensor interface {
	Name() string
	Type() string
	// Read measures once. A failed Read returns a *SensorError; the next
	// Read tries again, re-initialising the chip if needed. Read gives up
	// at ctx's deadline (DefaultReadTimeout when ctx has none): from then
	// on every I²C transfer fails, so that a driver polling a chip that
	// never finishes returns.
	Read(ctx context.Context) (Reading, error)
}

// SensorConfig describes one sensor.
type SensorConfig struct {
	Name string
	Type string // one of SensorTypes
	// Bus is the I²C bus name; "" means "1", the bus on the Pi's header.
	Bus string
	// Address is the chip's I²C address; 0 means the type's usual address
	// (bme280 0x76, bmp280 0x77, aht20 0x38, scd4x 0x62, bh1750 0x23).
	Address uint16
	// Path is the temperature file of a cpu sensor; "" means the board's.
	Path string
	// Clock is the time source of pitweet's own waits for a chip (the
	// SCD4x's first measurement); nil means the system clock. Tests pass
	// the simulated board's clock.
	Clock Clock
}

// DefaultReadTimeout bounds a Read whose context has no deadline. An SCD4x
// needs 5 s for its first measurement.
const DefaultReadTimeout = 10 * time.Second

// Kinds of sensor failure, wrapped by SensorError.Err.
var (
	// ErrNoAnswer means no chip acknowledged the address (I²C NACK, which
	// Linux reports as errno 121, remote I/O error).
	ErrNoAnswer = errors.New("hw: no answer from the chip")
	// ErrWrongChip means a chip answered but it is not the configured type.
	ErrWrongChip = errors.New("hw: a different chip answers")
	// ErrTimeout means the chip did not finish its measurement before the
	// read's deadline.
	ErrTimeout = errors.New("hw: the chip did not finish in time")
)

// SensorError is the error of a sensor that cannot be opened or read.
type SensorError struct {
	Sensor, Type string
	Bus          string // "" for the cpu sensor
	Address      uint16
	Err          error
	// Hint says what the user can do about it.
	Hint string
}

func (e *SensorError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hw: sensor %q (%s", e.Sensor, e.Type)
	if e.Bus != "" {
		fmt.Fprintf(&b, " on I2C bus %s at %#02x", e.Bus, e.Address)
	}
	fmt.Fprintf(&b, "): %v", e.Err)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *SensorError) Unwrap() error { return e.Err }

// chip is the part of a sensor that knows one periph.io driver.
type chip interface {
	// open initialises the driver on bus at addr.
	open(bus i2c.Bus, addr uint16) error
	// read measures once into values. Waits of its own go by clock and end
	// with ctx.
	read(ctx context.Context, clock Clock, values map[string]float64) error
}

type chipSpec struct {
	addrs []uint16 // the first is the default
	new   func() chip
}

var chips = map[string]chipSpec{
	"bme280": {[]uint16{0x76, 0x77}, func() chip { return &bmx280{bme: true} }},
	"bmp280": {[]uint16{0x77, 0x76}, func() chip { return &bmx280{} }},
	"aht20":  {[]uint16{0x38}, func() chip { return &aht20Chip{} }},
	"scd4x":  {[]uint16{0x62}, func() chip { return &scd4xChip{} }},
	"bh1750": {[]uint16{0x23, 0x5c}, func() chip { return &bh1750Chip{} }},
}

// OpenSensor prepares the sensor cfg on board b. It checks the configuration
// and opens the bus but does not talk to the chip: the first Read does, so a
// chip that is absent at start is reported by Read and found by a later one.
// The sensor never closes the bus; the board does.
func OpenSensor(b Board, cfg SensorConfig) (Sensor, error) {
	if cfg.Name == "" {
		cfg.Name = cfg.Type
	}
	if cfg.Type == "cpu" {
		if cfg.Path == "" {
			cfg.Path = b.CPUTempPath()
		}
		return &cpuSensor{name: cfg.Name, path: cfg.Path}, nil
	}
	spec, ok := chips[cfg.Type]
	if !ok {
		return nil, fmt.Errorf("hw: sensor %q: unknown type %q; use one of %s", cfg.Name, cfg.Type, strings.Join(SensorTypes, ", "))
	}
	if cfg.Address == 0 {
		cfg.Address = spec.addrs[0]
	}
	if !slices.Contains(spec.addrs, cfg.Address) {
		return nil, fmt.Errorf("hw: sensor %q: a %s cannot use address %#02x; use %s", cfg.Name, cfg.Type, cfg.Address, addrList(spec.addrs))
	}
	if cfg.Bus == "" {
		cfg.Bus = "1"
	}
	s := &i2cSensor{cfg: cfg, chip: spec.new(), clock: clockOrSystem(cfg.Clock)}
	bus, err := b.Bus(cfg.Bus)
	if err != nil {
		return nil, s.fail(err)
	}
	s.bus = &busWatch{Bus: bus, ctx: context.Background()}
	return s, nil
}

func addrList(addrs []uint16) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = fmt.Sprintf("%#02x", a)
	}
	return strings.Join(s, " or ")
}

// i2cSensor runs a chip: it opens the driver on first use and again after a
// failure.
type i2cSensor struct {
	cfg   SensorConfig
	bus   *busWatch
	clock Clock

	mu    sync.Mutex
	chip  chip
	ready bool
}

func (s *i2cSensor) Name() string { return s.cfg.Name }
func (s *i2cSensor) Type() string { return s.cfg.Type }

func (s *i2cSensor) Read(ctx context.Context) (Reading, error) {
	if err := ctx.Err(); err != nil {
		return Reading{}, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultReadTimeout)
		defer cancel()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bus.last, s.bus.ctx = nil, ctx
	defer func() { s.bus.ctx = context.Background() }()
	if !s.ready {
		if err := s.chip.open(s.bus, s.cfg.Address); err != nil {
			return Reading{}, s.fail(err)
		}
		s.ready = true
	}
	values := map[string]float64{}
	if err := s.chip.read(ctx, s.clock, values); err != nil {
		s.ready = false
		return Reading{}, s.fail(err)
	}
	return Reading{Sensor: s.cfg.Name, At: time.Now(), Values: values}, nil
}

// fail turns err into a *SensorError with a hint. Drivers flatten bus errors
// into text, so the bus error itself is taken from busWatch.
func (s *i2cSensor) fail(err error) *SensorError {
	e := &SensorError{Sensor: s.cfg.Name, Type: s.cfg.Type, Bus: s.cfg.Bus, Address: s.cfg.Address, Err: err}
	var busErr error
	if s.bus != nil {
		busErr = s.bus.last
	}
	var ahtTimeout *aht20.ReadTimeoutError
	switch {
	case errors.Is(err, ErrI2CDisabled):
		// The message already says how to enable I2C.
	case errors.Is(busErr, context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ahtTimeout):
		e.Err = ErrTimeout
		e.Hint = "it kept reporting a measurement in progress; check its power and wires; a later read tries again"
	case errors.Is(busErr, context.Canceled) || errors.Is(err, context.Canceled):
		e.Err = fmt.Errorf("%w (driver: %v)", context.Canceled, err)
	case errors.Is(err, ErrWrongChip):
		e.Hint = fmt.Sprintf("check the type and address in the config (`i2cdetect -y %s` lists the addresses that answer)", s.cfg.Bus)
	case busErr != nil && noAnswer(busErr):
		e.Err = fmt.Errorf("%w: %w (driver: %v)", ErrNoAnswer, busErr, err)
		e.Hint = fmt.Sprintf("check the sensor's wires and power, and its address (`i2cdetect -y %s` lists the addresses that answer)", s.cfg.Bus)
	case busErr != nil:
		e.Err = fmt.Errorf("%w (driver: %v)", busErr, err)
		e.Hint = "check the sensor's wires; a later read tries again"
	default:
		e.Hint = "check the sensor's wires and type; a later read tries again"
	}
	return e
}

// noAnswer reports whether a bus error is a NACK. Linux's i2c-dev reports it
// as EREMOTEIO (121) or ENXIO, and periph.io passes it on as text.
func noAnswer(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "remote I/O error") || strings.Contains(msg, "no such device or address")
}

// busWatch bounds the transfers of a read and remembers the last error of
// the bus, which the drivers do not always wrap. Once the read's context is
// done, every transfer fails without touching the bus: a driver that polls
// a chip until it says it is done (periph's bmxx80 waits for the BME280's
// measuring bit with no timeout and no sleep) then returns with the error.
type busWatch struct {
	i2c.Bus
	ctx  context.Context // of the read in progress
	last error
}

func (w *busWatch) Tx(addr uint16, wb, rb []byte) error {
	if err := w.ctx.Err(); err != nil {
		w.last = err
		return fmt.Errorf("hw: I2C transfer after the read's deadline: %w", err)
	}
	err := w.Bus.Tx(addr, wb, rb)
	if err != nil {
		w.last = err
	}
	return err
}

// Unit conversions from periph.io's physic types.

func celsius(t physic.Temperature) float64 {
	return round(float64(t-physic.ZeroCelsius)/float64(physic.Celsius), 2)
}

func percentRH(h physic.RelativeHumidity) float64 {
	return round(float64(h)/float64(physic.PercentRH), 2)
}

func hectopascal(p physic.Pressure) float64 {
	return round(float64(p)/float64(100*physic.Pascal), 2)
}

func round(v float64, digits int) float64 {
	m := math.Pow10(digits)
	return math.Round(v*m) / m
}
