package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chkRun runs the binary in dir with a clean credentials environment
// and returns stdout, stderr and the exit status.
func chkRun(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	return execPitweet(t, dir, e2eEnv(), args...)
}

// chkSensorsConfig copies config/testdata/sensors.toml, which lists one sensor
// of each type and names the credentials file "credentials" relative to
// the working directory, into a new directory.
func chkSensorsConfig(t *testing.T) (dir, config string) {
	t.Helper()
	data, err := os.ReadFile("../../config/testdata/sensors.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	config = filepath.Join(dir, "pitweet.toml")
	if err := os.WriteFile(config, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, config
}

func chkWriteCredentials(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	path := filepath.Join(dir, "credentials")
	if err := os.WriteFile(path, []byte("api_key=k\napi_secret=s\naccess_token=t\naccess_secret=ts\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCommand(t *testing.T) {
	dir, config := chkSensorsConfig(t)

	// No credentials file yet.
	stdout, stderr, code := chkRun(t, dir, "check", "--config", config)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "ok    config "+config+": 1 button, 6 sensors, 1 report, 1 alert, 0 leds; hardware fake") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if !strings.Contains(stdout, "ok    template button doorbell text: 47 of 280 characters: \"21.5 °C 1013.2 hPa 45 % 612 ppm 320 lux 21.5 °C\"\n") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if want := "pitweet check: credentials credentials does not exist; create it"; !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr = %q, want one line starting %q", stderr, want)
	}

	// Readable by everyone, or writable by the group: refused.
	chkWriteCredentials(t, dir, 0o644)
	_, stderr, code = chkRun(t, dir, "check", "--config", config)
	if want := "pitweet check: credentials credentials is readable by others (mode 0644); fix: sudo chmod 0600 credentials\n"; code != 1 || stderr != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", code, stderr, want)
	}
	chkWriteCredentials(t, dir, 0o660)
	_, stderr, code = chkRun(t, dir, "check", "--config", config)
	if want := "pitweet check: credentials credentials is writable by its group (mode 0660); fix: sudo chmod 0600 credentials\n"; code != 1 || stderr != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", code, stderr, want)
	}

	// Readable by the group: a warning, the keys should be the owner's.
	chkWriteCredentials(t, dir, 0o640)
	owner := fileOwnerName(t, filepath.Join(dir, "credentials"))
	stdout, stderr, code = chkRun(t, dir, "check", "--config", config)
	if want := "warn  credentials credentials is readable by group " + owner[strings.Index(owner, ":")+1:] + " (mode 0640, " + owner + "): whoever can read it posts as the account; keep the keys to their owner: chmod 0600 credentials\n"; code != 0 || stderr != "" || !strings.HasSuffix(stdout, want) {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant the last line %q", code, stdout, stderr, want)
	}

	// All good: 0600.
	chkWriteCredentials(t, dir, 0o600)
	stdout, stderr, code = chkRun(t, dir, "check", "--config", config)
	if code != 0 || stderr != "" || !strings.HasSuffix(stdout, "ok    credentials credentials: mode 0600 "+owner+"; all four keys present\n") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// A config mistake names the line.
	if err := os.WriteFile(config, []byte("[[sensor]]\nname = \"room\"\ntype = \"dht22\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = chkRun(t, dir, "check", "--config", config)
	if want := "pitweet check: config " + config + ":3: sensor \"room\" has unknown type \"dht22\""; code != 1 || !strings.HasPrefix(stderr, want) {
		t.Errorf("exit %d, stderr %q; want 1, %q", code, stderr, want)
	}
	if !strings.HasPrefix(stdout, "FAIL  config "+config+":3: sensor") {
		t.Errorf("stdout:\n%s", stdout)
	}

	// Bad usage.
	if _, _, code := chkRun(t, dir, "check", "--nope"); code != 2 {
		t.Errorf("check --nope: exit %d, want 2", code)
	}
}

func TestSensorsCommand(t *testing.T) {
	t.Parallel() // the scd4x's first measurement takes 5 s, twice
	dir, config := chkSensorsConfig(t)
	stdout, stderr, code := chkRun(t, dir, "sensors", "--config", config, "--fake", "--json")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var got map[string]map[string]float64
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v in\n%s", err, stdout)
	}
	// The simulated room: 21.5 °C, 45 %, 1013.25 hPa, 600 ppm, 320 lux,
	// cpu 48.3 °C; each driver reads it back within its resolution.
	type want struct {
		quantity  string
		value, by float64
	}
	wants := map[string][]want{
		"room":   {{"Temperature", 21.5, 0.1}, {"Humidity", 45, 0.5}, {"Pressure", 1013.25, 0.5}},
		"hall":   {{"Temperature", 21.5, 0.1}, {"Pressure", 1013.25, 0.5}},
		"bath":   {{"Temperature", 21.5, 0.1}, {"Humidity", 45, 0.5}},
		"air":    {{"CO2", 600, 1}, {"Temperature", 21.5, 0.1}, {"Humidity", 45, 0.5}},
		"window": {{"Illuminance", 320, 2}},
		"cpu":    {{"Temperature", 48.3, 0.01}},
	}
	if len(got) != len(wants) {
		t.Errorf("got %d sensors, want %d:\n%s", len(got), len(wants), stdout)
	}
	for name, ws := range wants {
		for _, w := range ws {
			v, ok := got[name][w.quantity]
			if !ok || v < w.value-w.by || v > w.value+w.by {
				t.Errorf("%s.%s = %v (present %v), want %v ± %v", name, w.quantity, v, ok, w.value, w.by)
			}
		}
	}

	// The table, from the config's own fake mode.
	stdout, _, code = chkRun(t, dir, "sensors", "--config", config)
	if code != 0 || !strings.Contains(stdout, "room    bme280  i2c-1 0x76  Temperature 21.5 °C, Humidity 45 %, Pressure 1013.2 hPa\n") {
		t.Errorf("exit %d, table:\n%s", code, stdout)
	}
}

func TestSensorsCommandFailure(t *testing.T) {
	dir, config := chkSensorsConfig(t)
	// A cpu sensor whose file does not exist, next to one that works.
	absent := "/sys/class/thermal/thermal_zone99999/temp"
	bad := "[hardware]\nmode = \"fake\"\n[[sensor]]\nname = \"room\"\ntype = \"aht20\"\n[[sensor]]\nname = \"soc\"\ntype = \"cpu\"\npath = \"" + absent + "\"\n"
	if err := os.WriteFile(config, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := chkRun(t, dir, "sensors", "--config", config, "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v in\n%s", err, stdout)
	}
	if msg, _ := got["soc"]["error"].(string); !strings.Contains(msg, absent) {
		t.Errorf("soc = %v, want an error naming the file", got["soc"])
	}
	if _, ok := got["room"]["Temperature"]; !ok {
		t.Errorf("room = %v, want a reading", got["room"])
	}
	if !strings.HasPrefix(stderr, "pitweet sensors: 1 of 2 sensors failed; first: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr = %q", stderr)
	}
}

// A cpu sensor's path that names another file (the keys, say) or a device
// is refused with the config's line, before anything reads it.
func TestSensorPathOutsideThermalFilesRefused(t *testing.T) {
	dir, config := chkSensorsConfig(t)
	chkWriteCredentials(t, dir, 0o600)
	for _, path := range []string{filepath.Join(dir, "credentials"), "/dev/zero"} {
		text := "[x]\ncredentials = \"credentials\"\n[hardware]\nmode = \"fake\"\n[[sensor]]\nname = \"soc\"\ntype = \"cpu\"\npath = \"" + path + "\"\n"
		if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"sensors", "--json"}, {"check"}, {"run", "--fake"}} {
			stdout, stderr, code := chkRun(t, dir, append(args, "--config", config)...)
			want := config + ":8: sensor \"soc\": " + path + " is not a temperature file of the kernel; use one such as /sys/class/thermal/thermal_zone0/temp"
			if code != 1 || !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%s with path %s: exit %d, stderr %q; want 1 and one line %q", args[0], path, code, stderr, want)
			}
			if strings.Contains(stdout+stderr, "api_secret") || strings.Contains(stdout+stderr, "=s") {
				t.Errorf("%s with path %s printed the file:\n%s%s", args[0], path, stdout, stderr)
			}
		}
	}
}

// A ca_file that is a device is refused at once with one line, by every
// command that reads it, instead of being read without end.
func TestCAFileNotABundleRefused(t *testing.T) {
	dir := t.TempDir()
	chkWriteCredentials(t, dir, 0o600)
	config := filepath.Join(dir, "pitweet.toml")
	text := "state_dir = \"" + filepath.Join(dir, "state") + "\"\n[x]\nbase_url = \"https://127.0.0.1:9\"\nca_file = \"/dev/zero\"\ncredentials = \"credentials\"\n[hardware]\nmode = \"fake\"\n"
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check"}, {"tweet", "hello"}, {"run", "--fake"}} {
		_, stderr, code := chkRun(t, dir, append(args, "--config", config)...)
		if code != 1 || !strings.Contains(stderr, "ca_file /dev/zero is not a regular file") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want 1 and one line refusing the ca_file", args[0], code, stderr)
		}
	}
}
