package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"pitweet/history"
	"pitweet/hw/fakehw"
)

// releaseFlags are make dist's build flags, so what is timed is what ships.
var releaseFlags = []string{"-trimpath", "-gcflags=all=-l", "-gcflags=runtime=", "-gcflags=crypto/...="}

// measureChart times `pitweet chart` drawing the last 24 hours of a BME280
// (three quantities, a sample a minute, recorded into a state directory
// as the daemon records them) in a fresh process, on this machine and
// under qemu-arm-static -cpu arm1176 (the Pi Zero's core) with the armhf
// release binary; and chart's own benchmark (draw and encode only) on both.
func measureChart(o *options, rep *report, log *slog.Logger) error {
	dir, err := os.MkdirTemp("", "pitbench-chart-")
	if err != nil {
		return fmt.Errorf("pitbench: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "pitweet.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "state_dir = %q\n[hardware]\nmode = \"fake\"\n", filepath.Join(dir, "state")), 0o644); err != nil {
		return fmt.Errorf("pitbench: %w", err)
	}
	samples, err := recordDay(filepath.Join(dir, "state", "history"))
	if err != nil {
		return err
	}
	out := filepath.Join(dir, "chart.png")
	// No daemon listens in dir: chart reads the state directory.
	env := append(cleanEnv(), "RUNTIME_DIRECTORY="+dir)
	args := []string{"chart", "--config", cfg, "--since", "24h", "--sensor", "room", "-o", out}
	what := fmt.Sprintf("fresh process: reads %d samples from the state directory, draws 1200x675, writes the PNG", samples)

	x86, err := timeRuns(o.runs, env, o.pitweet, args...)
	if err != nil {
		return err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return fmt.Errorf("pitbench: %w", err)
	}
	rep.add("chart", row{measure: "pitweet chart, 24 h of a BME280 (3 quantities), x86", value: fmt.Sprintf("%s wall (median of %d)", ms(x86), o.runs), note: what + "."})
	rep.add("chart", goal("PNG size, 24 h chart of 3 quantities", fmt.Sprintf("%.1f KB", float64(fi.Size())/1024), "≤ 150 KB", fi.Size() <= 150*1024,
		"Paletted PNG (at most 256 colours, the rarest edge colours mapped to the nearest kept) at zlib's fastest level."))
	if err := goBench(o, rep, "x86", nil); err != nil {
		return err
	}

	if _, err := exec.LookPath("qemu-arm-static"); err != nil {
		rep.skip("chart: arm1176", "qemu-arm-static is missing (apt-get install qemu-user-static)")
		return nil
	}
	arm := filepath.Join(dir, "pitweet-armhf")
	build := exec.Command("go", append(append([]string{"build"}, releaseFlags...), "-ldflags", "-s -w", "-o", arm, "./cmd/pitweet")...)
	build.Dir = o.module
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm", "GOARM=6")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("pitbench: build for armhf: %v\n%s", err, b)
	}
	runs := max(3, o.runs/2)
	slow, err := timeRuns(runs, env, "qemu-arm-static", append([]string{"-cpu", "arm1176", arm}, args...)...)
	if err != nil {
		return err
	}
	rep.add("chart", row{measure: "pitweet chart, 24 h of a BME280, qemu-arm-static -cpu arm1176", value: fmt.Sprintf("%s wall (median of %d)", ms(slow), runs),
		note: "The armhf release binary (GOARM=6) emulated on this machine's x86 core: a guide to a Pi Zero, not a measurement of one."})
	return goBench(o, rep, "qemu-arm-static -cpu arm1176", []string{"qemu-arm-static", "-cpu", "arm1176"})
}

// recordDay writes 24 hours ending now of the simulated room's
// temperature, humidity and pressure, a sample a minute, into a history
// directory, and returns how many samples it wrote.
func recordDay(dir string) (int, error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return 0, fmt.Errorf("pitbench: %w", err)
	}
	s, err := history.Open(dir, history.Options{})
	if err != nil {
		return 0, err
	}
	n := 0
	now := time.Now().Truncate(time.Minute)
	for at := now.Add(-24 * time.Hour); !at.After(now); at = at.Add(time.Minute) {
		e := fakehw.DailyEnv(at)
		for q, v := range map[string]float64{"Temperature": e.Temperature, "Humidity": e.Humidity, "Pressure": e.Pressure} {
			if err := s.Add("room."+q, time.Minute, at, v); err != nil {
				return 0, err
			}
			n++
		}
	}
	return n, s.Close()
}

// timeRuns runs a command runs times after one warm-up and returns the
// median wall time.
func timeRuns(runs int, env []string, name string, args ...string) (time.Duration, error) {
	var walls []time.Duration
	for i := range runs + 1 {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("pitbench: %s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
		}
		if i > 0 {
			walls = append(walls, time.Since(start))
		}
	}
	return median(walls), nil
}

// cleanEnv is the environment without what would change where pitweet
// finds its files.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PITWEET_") || k == "STATE_DIRECTORY" || k == "RUNTIME_DIRECTORY" || k == "CREDENTIALS_DIRECTORY" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

var benchLine = regexp.MustCompile(`^BenchmarkRender24h\S*\s+\d+\s+(\d+) ns/op\s+(\d+) png-bytes`)

// goBench runs chart's BenchmarkRender24h (one quantity, a sample a
// minute, drawn and encoded in process), built with the release flags,
// directly or under wrap.
func goBench(o *options, rep *report, where string, wrap []string) error {
	dir, err := os.MkdirTemp("", "pitbench-chart-test-")
	if err != nil {
		return fmt.Errorf("pitbench: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "chart.test")
	build := exec.Command("go", append(append([]string{"test", "-c"}, releaseFlags...), "-o", bin, "./chart")...)
	build.Dir = o.module
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if wrap != nil {
		build.Env = append(build.Env, "GOOS=linux", "GOARCH=arm", "GOARM=6")
	}
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("pitbench: build chart's benchmark: %v\n%s", err, b)
	}
	count, times := 5, "20x"
	if wrap != nil {
		count, times = 3, "5x"
	}
	argv := append(wrap, bin, "-test.run", "^$", "-test.bench", "^BenchmarkRender24h$", "-test.benchtime", times, "-test.count", strconv.Itoa(count))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Join(o.module, "chart")
	outb, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pitbench: chart benchmark: %v\n%s", err, outb)
	}
	var ns []time.Duration
	size := ""
	sc := bufio.NewScanner(bytes.NewReader(outb))
	for sc.Scan() {
		if m := benchLine.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			ns = append(ns, time.Duration(n))
			size = m[2]
		}
	}
	if len(ns) == 0 {
		return errors.New("pitbench: no result from chart's benchmark:\n" + string(outb))
	}
	kb, _ := strconv.ParseFloat(size, 64)
	rep.add("chart", row{measure: "draw and encode only (BenchmarkRender24h: 1 quantity, 1441 samples), " + where,
		value: fmt.Sprintf("%s per chart (median of %d), PNG %.1f KB", ms(median(ns)), len(ns), kb/1024),
		note:  "go test -bench in process, built with make dist's flags; no process start or history read."})
	return nil
}
