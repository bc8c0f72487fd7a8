package hw_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"periph.io/x/devices/v3/scd4x"

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

// openSensor opens a sensor that waits by the simulated board's clock.
func openSensor(t *testing.T, board *fakehw.Board, cfg hw.SensorConfig) hw.Sensor {
	t.Helper()
	cfg.Clock = board.Clock()
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
		if err != nil && strings.Contains(err.Error(), "hot") {
			t.Errorf("%s: error = %v, quotes the file", path, err)
		}
	}
}

// A cpu sensor whose path names something else than a temperature file
// reads at most a few bytes, never waits, and never quotes what it read.
func TestCPUSensorReadsOnlyATemperatureFile(t *testing.T) {
	board := fakehw.New(fakehw.Options{NoChips: true})
	defer board.Close()
	dir := t.TempDir()
	secrets := filepath.Join(dir, "credentials")
	if err := os.WriteFile(secrets, []byte("api_key=SECRET\napi_secret=SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	digits := filepath.Join(dir, "digits")
	if err := os.WriteFile(digits, []byte(strings.Repeat("1", 1<<20)), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		secrets:     "does not hold a temperature in millidegrees",
		digits:      "does not hold a temperature in millidegrees",
		"/dev/zero": "is not a regular file but a character device",
		dir:         "is not a regular file but a directory",
	}
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err == nil {
		cases[fifo] = "is not a regular file but a FIFO"
	} else if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatal(err)
	}
	for path, want := range cases {
		s := openSensor(t, board, hw.SensorConfig{Name: "soc", Type: "cpu", Path: path})
		done := make(chan error, 1)
		go func() {
			_, err := s.Read(context.Background())
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Read still waiting after 10s", path)
		}
		if err == nil || !strings.Contains(err.Error(), path+" "+want) {
			t.Errorf("%s: error %v, want %q", path, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "111")) {
			t.Errorf("%s: error %v quotes the file", path, err)
		}
	}
}

func TestCheckCPUTempPath(t *testing.T) {
	for _, path := range []string{
		hw.DefaultCPUTempPath,
		"/sys/class/thermal/thermal_zone12/temp",
		"/sys/devices/virtual/thermal/thermal_zone0/temp",
		"/sys/class/hwmon/hwmon0/temp1_input",
		"/sys/devices/platform/soc/soc:firmware/raspberrypi-hwmon/hwmon/hwmon1/temp1_input",
		"/sys/devices/pci0000:00/0000:00:18.3/hwmon/hwmon2/temp10_input",
	} {
		if err := hw.CheckCPUTempPath(path); err != nil {
			t.Errorf("CheckCPUTempPath(%q) = %v, want nil", path, err)
		}
	}
	for _, path := range []string{
		"", "temp", "sys/class/thermal/thermal_zone0/temp",
		"/etc/pitweet/credentials", "/dev/zero", "/proc/self/environ",
		"/sys/class/thermal/thermal_zone0/type",
		"/sys/class/thermal/thermal_zone/temp",
		"/sys/class/thermal/thermal_zonex/temp",
		"/sys/class/thermal/thermal_zone0/temp/",
		"/sys/class/thermal/thermal_zone0/../../../../etc/shadow",
		"/sys/class/thermal/thermal_zone0/./temp",
		"/sys//class/thermal/thermal_zone0/temp",
		"/sys/class/hwmon/hwmon0/temp1_label",
		"/sys/class/hwmon/hwmon0/device/temp1_input",
		"/sys/devices/hwmon/hwmon0/temp1_input",
		"/sys/devices/x/hwmon/hwmon0/temp_input",
		"/sys/kernel/security/hwmon/hwmon0/temp1_input",
		"/tmp/sys/class/thermal/thermal_zone0/temp",
	} {
		err := hw.CheckCPUTempPath(path)
		if err == nil || !strings.HasPrefix(err.Error(), "hw: "+path+" is not a temperature file of the kernel; use one such as") {
			t.Errorf("CheckCPUTempPath(%q) = %v, want a refusal", path, err)
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

// Under the chips' real timing each periph.io driver, through pitweet,
// reads what the room was when the measurement ran, and a measurement
// takes its time on the board's clock: the SCD41's first comes 5 s after
// the start, the next 5 s later.
func TestSensorsUnderRealTiming(t *testing.T) {
	board := fakehw.New(fakehw.Options{})
	defer board.Close()
	air := openSensor(t, board, hw.SensorConfig{Name: "air", Type: "scd4x"})
	t0 := board.Clock().Now()
	r, err := air.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first := board.Clock().Now().Sub(t0)
	if first < 5*time.Second || first > 6*time.Second || r.Values[hw.CO2] != fakehw.DefaultEnv.CO2 {
		t.Errorf("first SCD41 reading %v after %v of board time; want %v ppm after 5s to 6s", r.Values, first, fakehw.DefaultEnv.CO2)
	}
	env := fakehw.DefaultEnv
	env.CO2 = 1234
	board.SetEnv(env)
	t1 := board.Clock().Now()
	r, err = air.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if next := board.Clock().Now().Sub(t1); next <= 0 || next > 5*time.Second || r.Values[hw.CO2] != 1234 {
		t.Errorf("second SCD41 reading %v after %v; want 1234 ppm within the next 5s", r.Values, next)
	}

	// The BME280's and AHT20's drivers wait in real time; the readings are
	// of the environment at the read.
	for _, typ := range []string{"bme280", "aht20"} {
		s := openSensor(t, board, hw.SensorConfig{Name: "room", Type: typ})
		env.Temperature = 17.25
		board.SetEnv(env)
		r, err := s.Read(context.Background())
		if err != nil || math.Abs(r.Values[hw.Temperature]-17.25) > 0.015 {
			t.Errorf("%s: %v, %v; want 17.25 °C", typ, r.Values, err)
		}
	}
}

// A chip that never finishes its measurement does not hang a read: the
// BME280's driver polls its measuring bit with no timeout, and every bus
// transfer fails from the read's deadline on; the AHT20's driver gives up
// by itself; pitweet stops waiting for the SCD41's data at the deadline.
func TestStuckChipsTimeOut(t *testing.T) {
	for typ := range resolution {
		if typ == "bh1750" || typ == "bmp280" {
			continue // no busy state; the bmp280 shares the bme280's driver
		}
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			board := fakehw.New(fakehw.Options{})
			defer board.Close()
			s := openSensor(t, board, hw.SensorConfig{Name: "room", Type: typ})
			addr := fakehw.AddressOf(typ)
			board.SetFault(addr, fakehw.Stuck)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := s.Read(ctx)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Read of a stuck chip did not return within 30s")
			}
			checkSensorError(t, err, "room", typ, addr, hw.ErrTimeout)
			// Unstuck, it reads again.
			board.SetFault(addr, fakehw.NoFault)
			if _, err := s.Read(context.Background()); err != nil {
				t.Errorf("read after the chip recovered: %v", err)
			}
		})
	}
}

// periph.io's scd4x driver alone: after start it asks whether data is
// ready about once a second and gives up 5 to 6 s later, taking its
// deadline from the wall clock's whole seconds. A chip whose measurement
// is not there by then fails the read: periph's Sense returns its timeout,
// which is why pitweet waits for data itself (TestSensorsUnderRealTiming).
func TestPeriphSCD4xGivesUpAfterItsWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 5 to 6 s of real time")
	}
	t.Parallel()
	board := fakehw.New(fakehw.Options{})
	defer board.Close()
	board.SetFault(0x62, fakehw.Stuck)
	dev, err := scd4x.NewI2C(board.I2C(), 0x62)
	if err != nil {
		t.Fatal(err)
	}
	before := board.I2C().Transactions()
	var e scd4x.Env
	err = dev.Sense(&e)
	polls := board.I2C().Transactions() - before
	// The driver polls about once a second until its deadline, taken from
	// the wall clock's whole seconds: 5 to 7 polls on an idle machine,
	// fewer when the machine is busy and its sleeps run long. What matters
	// is that it gives up, after a bounded number of polls.
	if err == nil || !strings.Contains(err.Error(), "timeout waiting for data ready status") || polls < 1 || polls > 7 {
		t.Errorf("Sense = %v after %d data-ready polls; want the driver's timeout after at most 7", err, polls)
	}
}
