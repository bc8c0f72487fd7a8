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
	// Read tries again, re-initialising the chip if needed.
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
}

// Kinds of sensor failure, wrapped by SensorError.Err.
var (
	// ErrNoAnswer means no chip acknowledged the address (I²C NACK, which
	// Linux reports as errno 121, remote I/O error).
	ErrNoAnswer = errors.New("hw: no answer from the chip")
	// ErrWrongChip means a chip answered but it is not the configured type.
	ErrWrongChip = errors.New("hw: a different chip answers")
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
	// read measures once into values.
	read(values map[string]float64) error
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
	s := &i2cSensor{cfg: cfg, chip: spec.new()}
	bus, err := b.Bus(cfg.Bus)
	if err != nil {
		return nil, s.fail(err)
	}
	s.bus = &busWatch{Bus: bus}
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
	cfg SensorConfig
	bus *busWatch

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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bus.last = nil
	if !s.ready {
		if err := s.chip.open(s.bus, s.cfg.Address); err != nil {
			return Reading{}, s.fail(err)
		}
		s.ready = true
	}
	values := map[string]float64{}
	if err := s.chip.read(values); err != nil {
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
	switch {
	case errors.Is(err, ErrI2CDisabled):
		// The message already says how to enable I2C.
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

// busWatch remembers the last error of the bus, which the drivers do not
// always wrap.
type busWatch struct {
	i2c.Bus
	last error
}

func (w *busWatch) Tx(addr uint16, wb, rb []byte) error {
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
