package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pitweet/config"
	"pitweet/fakex"
	"pitweet/hw"
)

// checkConfig is a config of the simulated board with a button, a sensor
// and a report.
const checkConfig = `
[x]
credentials = "CREDS"

[hardware]
mode = "fake"

[[sensor]]
name = "room"
type = "bme280"

[[button]]
name = "doorbell"
pin = "GPIO17"
text = "Ding dong, {{.Sensors.room.Temperature}}"
long_text = "Long {{.Button}} {{if .Long}}press{{end}}"

[[report]]
every = "1h"
text = "Room {{.Sensors.room.Humidity}}"
`

// hardwareFixture writes config, with its credentials, into a new
// directory and returns the config's path.
func hardwareFixture(t *testing.T, text string) string {
	t.Helper()
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	dir := t.TempDir()
	creds := writeTestCredentials(t, dir)
	path := filepath.Join(dir, "pitweet.toml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "CREDS", creds)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeTestCredentials writes the emulators' keys into dir, mode 0600,
// and returns the file's path.
func writeTestCredentials(t *testing.T, dir string) string {
	t.Helper()
	creds := filepath.Join(dir, "credentials")
	c := fakex.DemoCredentials
	if err := os.WriteFile(creds, fmt.Appendf(nil, "api_key=%s\napi_secret=%s\naccess_token=%s\naccess_secret=%s\n",
		c.ConsumerKey, c.ConsumerSecret, c.Token, c.TokenSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	return creds
}

// checkHardware runs check on the config at path with the daemon's
// hardware checks.
func checkHardware(t *testing.T, path string, fake bool, socket string) *config.CheckReport {
	t.Helper()
	return config.Check(context.Background(), path, config.CheckOptions{Fake: fake,
		Hardware: func(cfg *config.Config) []config.CheckResult { return CheckHardware(cfg, socket) }})
}

func lines(rep *config.CheckReport) string {
	var b strings.Builder
	for _, r := range rep.Results {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

// On the simulated board check finds every pin as the Pi's driver finds it
// and waits on the buttons' pins; a config whose pin the Pi would refuse
// fails.
func TestCheckHardware(t *testing.T) {
	path := hardwareFixture(t, checkConfig+"[[led]]\npin = \"P1_13\"\nshows = \"sent\"\n")
	rep := checkHardware(t, path, false, filepath.Join(t.TempDir(), "none.sock"))
	got := lines(rep)
	for _, want := range []string{
		`ok    button doorbell: GPIO17 = /dev/gpiochip0 [pinctrl-bcm2711] (58 lines) line 17 "GPIO17", pull up` + "\n",
		`ok    led 1 (sent): GPIO27 = /dev/gpiochip0 [pinctrl-bcm2711] (58 lines) line 27 "GPIO27"` + "\n",
		"ok    i2c bus 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks\n%s\ngot\n%s", want, got)
		}
	}
	if f := rep.Failed(); f != nil {
		t.Errorf("failed: %v", f)
	}
	// pull = "none" works, with a warning.
	path = hardwareFixture(t, strings.Replace(checkConfig, "pin = \"GPIO17\"", "pin = \"GPIO17\"\npull = \"none\"", 1))
	rep = checkHardware(t, path, false, "")
	if f := rep.Failed(); f != nil || !strings.Contains(lines(rep), "pitweet.toml:15: pull = \"none\" leaves the pin's internal resistor as it is") {
		t.Errorf("pull none: failed %v\n%s", f, lines(rep))
	}
}

// On a machine without GPIO, check says so for a config of real hardware,
// and how to check; with --fake the same config passes.
func TestCheckRealHardwareMissing(t *testing.T) {
	if chips, _ := filepath.Glob("/dev/gpiochip*"); len(chips) > 0 {
		t.Skipf("this machine has %v", chips)
	}
	path := hardwareFixture(t, strings.Replace(checkConfig, "mode = \"fake\"", "mode = \"real\"", 1))
	rep := checkHardware(t, path, false, "")
	f := rep.Failed()
	if f == nil || f.What != "button" || !strings.HasPrefix(f.Message(), "button doorbell: no GPIO chip found (no /dev/gpiochip*) for pin GPIO17; check with `ls /dev/gpiochip*` and `gpiodetect`") {
		t.Errorf("first failure %v\n%s", f, lines(rep))
	}
	if got := lines(rep); !strings.Contains(got, "ok    driver ioctl-gpio skipped: no GPIO chips found\n") {
		t.Errorf("output lacks the driver's state:\n%s", got)
	}
	rep = checkHardware(t, path, true, "")
	if f := rep.Failed(); f != nil {
		t.Errorf("with Fake: %v", f)
	}
}

// A periph.io driver that failed to load is a failure of check and an
// error in the log, not dropped; the others are listed with their state.
func TestDriverFailureShown(t *testing.T) {
	cause := errors.New("open /dev/gpiochip0: permission denied")
	host := hw.Host{
		Drivers: []hw.Driver{{Name: "ioctl-gpio", State: "failed", Err: cause}, {Name: "other", State: "loaded"}},
		Chips:   []hw.Chip{{Name: "gpiochip0", Path: "/dev/gpiochip0", Label: "pinctrl-bcm2711", Lines: make([]string, 58)}},
	}
	rep := &config.CheckReport{Results: driverResults(host.Drivers)}
	want := "FAIL  driver ioctl-gpio: periph.io driver ioctl-gpio failed to load: open /dev/gpiochip0: permission denied\nok    driver other loaded\n"
	if got := lines(rep); got != want {
		t.Errorf("check lines\n%s\nwant\n%s", got, want)
	}
	if f := rep.Failed(); f == nil || !errors.Is(f.Err, cause) {
		t.Errorf("first failure %v, want the driver's, wrapping its cause", f)
	}

	var buf bytes.Buffer
	logHost(slog.New(slog.NewTextHandler(&buf, nil)), host, nil)
	for _, want := range []string{
		`level=ERROR msg="daemon: a periph.io driver failed to load" driver=ioctl-gpio err="open /dev/gpiochip0: permission denied"`,
		`level=INFO msg="daemon: GPIO chips" chips="/dev/gpiochip0 [pinctrl-bcm2711] (58 lines)"`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, buf.String())
		}
	}
}
