package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"pitweet/config"
	"strings"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/hw"
	"pitweet/hw/fakehw"
)

// A config of real hardware on a machine without GPIO: `pitweet run` stops
// with one line that says no GPIO chip was found and how to check; `check`
// says the same, and passes with --fake.
func TestWithoutGPIOChip(t *testing.T) {
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		t.Skipf("this machine has %v", chips)
	}
	dir := t.TempDir()
	chkWriteCredentials(t, dir, 0o600)
	config := filepath.Join(dir, "pitweet.toml")
	text := "state_dir = \"" + filepath.Join(dir, "state") + "\"\n[x]\ncredentials = \"credentials\"\n" +
		"[[button]]\nname = \"doorbell\"\npin = \"P1_11\"\ntext = \"ding\"\n"
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := e2eEnv("RUNTIME_DIRECTORY=" + dir)
	stdout, stderr, code := execPitweet(t, dir, env, "run", "--config", config)
	want := "pitweet run: daemon: button \"doorbell\": hw: no GPIO chip found (no /dev/gpiochip*) for pin GPIO17; check with `ls /dev/gpiochip*` and `gpiodetect` (package gpiod), and that the user is in group gpio; on a machine without GPIO run with --fake\n"
	if code != 1 || !strings.HasSuffix(stderr, want) {
		t.Errorf("run: exit %d\nstdout:\n%s\nstderr:\n%s\nwant the last line %q", code, stdout, stderr, want)
	}
	stdout, stderr, code = execPitweet(t, dir, env, "check", "--config", config)
	if code != 1 || !strings.HasPrefix(stderr, "pitweet check: button doorbell: no GPIO chip found") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("check: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	stdout, stderr, code = execPitweet(t, dir, env, "check", "--fake", "--config", config)
	if code != 0 || !strings.Contains(stdout, `ok    button doorbell: GPIO17 = /dev/gpiochip0 [pinctrl-bcm2711] (58 lines) line 17 "GPIO17", pull up`) {
		t.Errorf("check --fake: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// A chip that never finishes its measurement makes `pitweet sensors` show
// the sensor as failed once the read's deadline passes, not hang.
func TestSensorsStuckChip(t *testing.T) {
	board := fakehw.New(fakehw.Options{})
	defer board.Close()
	board.SetFault(0x76, fakehw.Stuck)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	room := config.SensorConfig{Name: "room", Type: "bme280", Bus: "1", Address: 0x76}
	hall := config.SensorConfig{Name: "hall", Type: "bmp280", Bus: "1", Address: 0x77}
	results := []sensorResult{readSensor(ctx, board, room), readSensor(context.Background(), board, hall)}
	if !errors.Is(results[0].err, hw.ErrTimeout) || results[1].err != nil {
		t.Fatalf("errors %v, %v; want the stuck chip's timeout and a reading", results[0].err, results[1].err)
	}
	var out bytes.Buffer
	if err := printSensorsTable(&out, results); err != nil {
		t.Fatal(err)
	}
	if want := "room    bme280  i2c-1 0x76  error: sensor \"room\" (bme280 on I2C bus 1 at 0x76): hw: the chip did not finish in time; it kept reporting a measurement in progress"; !strings.Contains(out.String(), want) {
		t.Errorf("table:\n%s\nwant a line with %q", out.String(), want)
	}
}

// status shows the hardware that did not open, failing buttons and failed
// sensors.
func TestPrintStatusFailures(t *testing.T) {
	now := time.Now()
	var out bytes.Buffer
	printStatus(&out, &daemon.Status{
		Hardware:      "real",
		HardwareError: "daemon: button \"doorbell\": hw: no GPIO chip found",
		HardwareRetry: now.Add(time.Minute),
		Buttons:       []string{"doorbell", "bell"},
		ButtonErrors:  []daemon.ButtonError{{Name: "bell", Error: "hw: button \"bell\": waiting for an edge on GPIO22 fails at once"}},
		Clock:         daemon.Clock{Now: now, Plausible: true},
		Sensors:       []daemon.SensorState{{Name: "room", Type: "bme280", Error: "hw: sensor \"room\" (bme280 on I2C bus 1 at 0x76): hw: the chip did not finish in time"}},
	})
	for _, want := range []string{
		"hardware:     NOT OPEN, trying again at " + now.Add(time.Minute).Local().Format("2006-01-02 15:04:05") + ": daemon: button \"doorbell\": hw: no GPIO chip found\n",
		"  bell FAILING: button \"bell\": waiting for an edge on GPIO22 fails at once\n",
		"  room (bme280): no reading yet; FAILED, last read: sensor \"room\"",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}
