package main

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"pitweet/daemon"
)

// checkPNG decodes a chart file and checks its size.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 675 {
		t.Errorf("%s is %v, want 1200x675", path, b)
	}
}

// pitweet chart draws from the running daemon (which has samples it has
// not written yet), and once it is stopped, from the state directory.
func TestE2EChart(t *testing.T) {
	t.Parallel()
	// history continues e2eRules' last table, the room sensor.
	e := newE2E(t, "127.0.0.1:0", "history = \"1s\"\n")
	e.start() // the room sensor has been read, and so recorded
	out := filepath.Join(e.dir, "room.png")
	stdout, stderr, code := e.pitweet("chart", "--sensor", "room.Temperature", "--sensor", "room.Humidity", "--since", "30m", "-o", out)
	if code != 0 || stderr != "" {
		t.Fatalf("pitweet chart: exit %d\n%s%s", code, stdout, stderr)
	}
	want := out + ": room.Humidity, room.Temperature over the last 30 minutes, from the running daemon; 1200x675, "
	if !strings.HasPrefix(stdout, want) || !strings.Contains(stdout, "\nalt text: Line chart over the last 30 minutes: room humidity steady at 45 %; room temperature steady at 21.5 °C.\n") {
		t.Errorf("stdout:\n%s\nwant it to start %q and give the alt text", stdout, want)
	}
	checkPNG(t, out)

	// To standard output, with the summary on stderr.
	cmdOut, cmdErr, code := e.pitweet("chart", "--sensor", "room", "-o", "-")
	if code != 0 || !strings.HasPrefix(cmdOut, "\x89PNG\r\n") || !strings.HasPrefix(cmdErr, "-: room.Humidity, room.Pressure, room.Temperature over the last 24 hours") {
		t.Errorf("chart -o -: exit %d, %d bytes out, stderr %q", code, len(cmdOut), cmdErr)
	}

	// What the user can get wrong.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"chart", "--sensor", "attic", "-o", out}, 1, "pitweet chart: no history of attic from "},
		{[]string{"chart", "--sensor", "room.Temperature"}, 2, "-o FILE.png is missing"},
		{[]string{"chart", "--sensor", "room temperature", "-o", out}, 2, `"room temperature" is not a sensor name or NAME.QUANTITY`},
		{[]string{"chart", "--since", "1d", "-o", out}, 2, `invalid value "1d" for flag -since`},
		{[]string{"chart", "--since", "2000h", "-o", out}, 2, "--since 2000h0m0s: want from 1m to 744h0m0s"},
		{[]string{"chart", "room", "-o", out}, 2, "takes no arguments; name sensors with --sensor"},
		{[]string{"chart", "-o", filepath.Join(e.dir, "absent", "x.png")}, 1, "pitweet chart: write the chart: "},
	} {
		_, stderr, code := e.pitweet(c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("pitweet %s: exit %d, stderr %q; want %d and %q", strings.Join(c.args, " "), code, stderr, c.code, c.want)
		}
		if code == 1 && strings.Count(stderr, "\n") != 1 {
			t.Errorf("pitweet %s: %q is not one line", strings.Join(c.args, " "), stderr)
		}
	}

	// Stopped: the samples are on disk, and chart reads them there.
	if err := e.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	out2 := filepath.Join(e.dir, "after.png")
	stdout, stderr, code = e.pitweet("chart", "--config", e.config, "--sensor", "room.Pressure", "-o", out2)
	want = fmt.Sprintf("%s: room.Pressure over the last 24 hours, from %s (no daemon is running); ", out2, filepath.Join(e.dir, "state", "history"))
	if code != 0 || !strings.HasPrefix(stdout, want) || !strings.Contains(stdout, "alt text: Line chart of room pressure over the last 24 hours, steady at 1013.2 hPa.\n") {
		t.Fatalf("chart with no daemon: exit %d\n%q\n%s\nwant it to start %q", code, stdout, stderr, want)
	}
	checkPNG(t, out2)
}

// With no daemon and no state_dir in the config, chart reads the history
// where the daemon keeps it: $STATE_DIRECTORY, as under systemd.
func TestChartStateDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	config := filepath.Join(dir, "pitweet.toml")
	if err := os.WriteFile(config, []byte("[hardware]\nmode = \"fake\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "lib")
	env := e2eEnv("STATE_DIRECTORY="+state, "RUNTIME_DIRECTORY="+dir)
	_, stderr, code := execPitweet(t, dir, env, "chart", "--config", config, "-o", filepath.Join(dir, "x.png"))
	want := fmt.Sprintf("pitweet chart: no daemon is running (nothing listens on %s) and %s holds no history; start it (systemctl start pitweet) and let it record\n",
		filepath.Join(dir, daemon.SocketName), filepath.Join(state, "history"))
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", code, stderr, want)
	}
	// A history there is found.
	if err := os.MkdirAll(filepath.Join(state, "history"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = execPitweet(t, dir, env, "chart", "--config", config, "-o", filepath.Join(dir, "x.png"))
	if code != 1 || !strings.HasPrefix(stderr, "pitweet chart: nothing recorded from ") {
		t.Errorf("an empty history: exit %d, stderr %q", code, stderr)
	}
}
