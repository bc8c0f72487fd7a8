package hw_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"pitweet/hw"
	"pitweet/hw/fakehw"
)

// resolution is how far a reading may be from the emulated value: the
// chip's resolution plus the rounding of Reading values.
var resolution = map[string]map[string]float64{
	"bme280": {hw.Temperature: 0.015, hw.Humidity: 0.015, hw.Pressure: 0.02},
	"bmp280": {hw.Temperature: 0.015, hw.Pressure: 0.02},
	"aht20":  {hw.Temperature: 0.01, hw.Humidity: 0.01},
	"scd4x":  {hw.Temperature: 0.01, hw.Humidity: 0.01, hw.CO2: 1},
	"bh1750": {hw.Illuminance: 1},
}

var environments = []struct {
	name string
	env  fakehw.Env
}{
	{"default", fakehw.DefaultEnv},
	{"cold", fakehw.Env{Temperature: -9.5, Humidity: 30, Pressure: 1030, CO2: 420, Illuminance: 5}},
	{"hot", fakehw.Env{Temperature: 38.25, Humidity: 20, Pressure: 1005.5, CO2: 800, Illuminance: 900}},
	{"humid", fakehw.Env{Temperature: 26, Humidity: 95.5, Pressure: 990, CO2: 700, Illuminance: 150}},
	{"dry", fakehw.Env{Temperature: 23, Humidity: 8.2, Pressure: 1020, CO2: 450, Illuminance: 300}},
	{"high CO2", fakehw.Env{Temperature: 24, Humidity: 55, Pressure: 1013.25, CO2: 3500, Illuminance: 250}},
	{"dark", fakehw.Env{Temperature: 18, Humidity: 50, Pressure: 960.4, CO2: 500, Illuminance: 0}},
	{"bright", fakehw.Env{Temperature: 30, Humidity: 40, Pressure: 1013, CO2: 410, Illuminance: 40000}},
}

func envValue(e fakehw.Env, q string) float64 {
	return map[string]float64{hw.Temperature: e.Temperature, hw.Humidity: e.Humidity, hw.Pressure: e.Pressure, hw.CO2: e.CO2, hw.Illuminance: e.Illuminance}[q]
}

func openSensor(t *testing.T, board hw.Board, cfg hw.SensorConfig) hw.Sensor {
	t.Helper()
	s, err := hw.OpenSensor(board, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Each periph.io driver, on its emulated chip, reads back what the
// environment was set to, within the chip's resolution.
func TestSensorsReadEnvironment(t *testing.T) {
	for typ, quantities := range resolution {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			board := fakehw.New(fakehw.Options{})
			defer board.Close()
			s := openSensor(t, board, hw.SensorConfig{Name: "room", Type: typ})
			for _, tc := range environments {
				if err := board.SetEnv(tc.env); err != nil {
					t.Fatal(err)
				}
				r, err := s.Read(context.Background())
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if r.Sensor != "room" || len(r.Values) != len(quantities) {
					t.Errorf("%s: reading = %+v, want sensor room with %d values", tc.name, r, len(quantities))
				}
				for q, res := range quantities {
					got, ok := r.Values[q]
					want := envValue(tc.env, q)
					if !ok || math.Abs(got-want) > res {
						t.Errorf("%s: %s = %v, want %v ± %v", tc.name, q, got, want, res)
					}
				}
			}
			if board.I2C().Closed() {
				t.Error("a sensor closed the bus")
			}
		})
	}
}

func TestSensorNACK(t *testing.T) {
	for typ := range resolution {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			board := fakehw.New(fakehw.Options{})
			defer board.Close()
			s := openSensor(t, board, hw.SensorConfig{Name: "room", Type: typ})
			addr := fakehw.AddressOf(typ)

			// Absent at start.
			board.SetFault(addr, fakehw.NACK)
			_, err := s.Read(context.Background())
			checkSensorError(t, err, "room", typ, addr, hw.ErrNoAnswer)
			if err != nil && !strings.Contains(err.Error(), "remote I/O error") {
				t.Errorf("error %q does not name the bus error", err)
			}

			// Back: the next read finds it.
			board.SetFault(addr, fakehw.NoFault)
			if _, err := s.Read(context.Background()); err != nil {
				t.Fatalf("read after the chip came back: %v", err)
			}

			// A loose wire after hours of work, then fixed.
			board.SetFault(addr, fakehw.NACK)
			_, err = s.Read(context.Background())
			checkSensorError(t, err, "room", typ, addr, hw.ErrNoAnswer)
			board.SetFault(addr, fakehw.NoFault)
			if _, err := s.Read(context.Background()); err != nil {
				t.Fatalf("read after the wire was fixed: %v", err)
			}
			if board.I2C().Closed() {
				t.Error("a sensor closed the bus")
			}
		})
	}
}

func checkSensorError(t *testing.T, err error, name, typ string, addr uint16, kind error) {
	t.Helper()
	var se *hw.SensorError
	if !errors.As(err, &se) {
		t.Fatalf("error = %v (%T), want a *hw.SensorError", err, err)
	}
	if se.Sensor != name || se.Type != typ || se.Bus != "1" || se.Address != addr {
		t.Errorf("SensorError names %q %q bus %q address %#x, want %q %q bus 1 address %#x", se.Sensor, se.Type, se.Bus, se.Address, name, typ, addr)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %q is not %v", err, kind)
	}
	if se.Hint == "" {
		t.Errorf("error %q has no hint", err)
	}
}

func TestWrongChip(t *testing.T) {
	board := fakehw.New(fakehw.Options{})
	defer board.Close()

	board.SetFault(0x76, fakehw.WrongChip)
	s := openSensor(t, board, hw.SensorConfig{Name: "room", Type: "bme280", Address: 0x76})
	_, err := s.Read(context.Background())
	checkSensorError(t, err, "room", "bme280", 0x76, hw.ErrWrongChip)
	if err != nil && !strings.Contains(err.Error(), "chip id 0x0") {
		t.Errorf("error %q does not quote the chip id", err)
	}

	// The common mix-up: a BMP280 sold as a BME280.
	board.SetFault(0x76, fakehw.NoFault)
	if err := board.Attach("bmp280", 0x76); err != nil {
		t.Fatal(err)
	}
	_, err = s.Read(context.Background())
	checkSensorError(t, err, "room", "bme280", 0x76, hw.ErrWrongChip)
	if err != nil && !strings.Contains(err.Error(), `type = "bmp280"`) {
		t.Errorf("error %q does not say to configure a bmp280", err)
	}
	// Configured as what it is, it works.
	s = openSensor(t, board, hw.SensorConfig{Name: "room", Type: "bmp280", Address: 0x76})
	if _, err := s.Read(context.Background()); err != nil {
		t.Errorf("bmp280 at 0x76: %v", err)
	}

	// A Sensirion chip that is not one answers with bad CRCs.
	board.SetFault(0x62, fakehw.WrongChip)
	s = openSensor(t, board, hw.SensorConfig{Name: "air", Type: "scd4x"})
	_, err = s.Read(context.Background())
	checkSensorError(t, err, "air", "scd4x", 0x62, hw.ErrWrongChip)
}

func TestCPUSensor(t *testing.T) {
	board := fakehw.New(fakehw.Options{NoChips: true})
	defer board.Close()

	s := openSensor(t, board, hw.SensorConfig{Name: "soc", Type: "cpu", Path: filepath.Join("testdata", "thermal_zone0_temp")})
	r, err := s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Values[hw.Temperature]; got != 48.312 {
		t.Errorf("Temperature = %v, want 48.312", got)
	}

	s = openSensor(t, board, hw.SensorConfig{Name: "soc", Type: "cpu"})
	r, err = s.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Values[hw.Temperature]; got != fakehw.DefaultEnv.CPUTemperature {
		t.Errorf("fake board CPU temperature = %v, want %v", got, fakehw.DefaultEnv.CPUTemperature)
	}

	for _, path := range []string{filepath.Join("testdata", "thermal_garbage"), filepath.Join("testdata", "missing")} {
		s = openSensor(t, board, hw.SensorConfig{Name: "soc", Type: "cpu", Path: path})
		_, err = s.Read(context.Background())
		var se *hw.SensorError
		if !errors.As(err, &se) || se.Sensor != "soc" || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error = %v, want a *hw.SensorError naming the file", path, err)
		}
	}
}

func TestOpenSensorConfigErrors(t *testing.T) {
	board := fakehw.New(fakehw.Options{})
	defer board.Close()
	for _, cfg := range []hw.SensorConfig{
		{Name: "x", Type: "dht22"},
		{Name: "x", Type: "aht20", Address: 0x39},
		{Name: "x", Type: "bme280", Address: 0x40},
		{Name: "x", Type: "bme280", Bus: "7"},
	} {
		if _, err := hw.OpenSensor(board, cfg); err == nil {
			t.Errorf("OpenSensor(%+v) succeeded, want an error", cfg)
		}
	}
	for _, typ := range hw.SensorTypes {
		if _, err := hw.OpenSensor(board, hw.SensorConfig{Type: typ}); err != nil {
			t.Errorf("OpenSensor(type %s) = %v", typ, err)
		}
	}
}

func TestReadHonoursCancelledContext(t *testing.T) {
	board := fakehw.New(fakehw.Options{})
	defer board.Close()
	s := openSensor(t, board, hw.SensorConfig{Type: "bme280"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := board.I2C().Transactions()
	if _, err := s.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Read = %v, want context.Canceled", err)
	}
	if board.I2C().Transactions() != before {
		t.Error("Read with a cancelled context used the bus")
	}
}
