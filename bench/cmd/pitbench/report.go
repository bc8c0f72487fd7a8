package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// A row is one line of the results table.
type row struct {
	measure string
	value   string
	goal    string // "" when the row has no goal
	pass    bool
	note    string
}

// report collects the rows of every measure.
type report struct {
	started time.Time
	took    time.Duration
	machine []string
	rows    map[string][]row
	order   []string
	skipped []string
}

var sections = map[string]string{
	"signing": "Signing (OAuth 1.0a, POST /2/tweets)",
	"oneshot": "One tweet, fresh process, to the local emulator over TLS",
	"upload":  "One tweet with a 4.9 MB picture, fresh process, to the local emulator over TLS",
	"drain":   "Drain: queued tweets delivered by the daemon",
	"idle":    "Daemon idle (fake board: 2 buttons, 2 sensors, hourly report)",
	"mqtt":    "Daemon on an MQTT broker (Mosquitto on loopback)",
	"latency": "Press to request at the emulator",
	"chart":   "Charts: the last 24 hours as a PNG",
	"sizes":   "Sizes",
}

func (r *report) add(section string, rw row) {
	if r.rows == nil {
		r.rows = map[string][]row{}
	}
	if _, ok := r.rows[section]; !ok {
		r.order = append(r.order, section)
	}
	r.rows[section] = append(r.rows[section], rw)
}

func (r *report) skip(section, why string) {
	r.skipped = append(r.skipped, fmt.Sprintf("%s: %s", section, why))
}

// goal returns a row with a goal and its verdict.
func goal(measure, value, want string, pass bool, note string) row {
	return row{measure: measure, value: value, goal: want, pass: pass, note: note}
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# pitweet benchmarks\n\n")
	fmt.Fprintf(&b, "Measured by `make bench` (bench/run) on %s; the run took %s.\n\n",
		r.started.UTC().Format("2006-01-02 15:04 UTC"), r.took.Round(time.Second))
	for _, m := range r.machine {
		fmt.Fprintf(&b, "- %s\n", m)
	}
	b.WriteString("\n")
	var goals []row
	for _, s := range r.order {
		fmt.Fprintf(&b, "## %s\n\n| measure | value | goal | |\n|---|---|---|---|\n", sections[s])
		for _, rw := range r.rows[s] {
			verdict := ""
			if rw.goal != "" {
				verdict = "miss"
				if rw.pass {
					verdict = "pass"
				}
				goals = append(goals, rw)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", rw.measure, rw.value, rw.goal, verdict)
		}
		var notes []string
		for _, rw := range r.rows[s] {
			if rw.note != "" {
				notes = append(notes, rw.note)
			}
		}
		if len(notes) > 0 {
			b.WriteString("\n")
			for _, n := range slices.Compact(notes) {
				fmt.Fprintf(&b, "- %s\n", n)
			}
		}
		b.WriteString("\n")
	}
	if len(goals) > 0 {
		b.WriteString("## Goals\n\n| goal | measured | |\n|---|---|---|\n")
		for _, g := range goals {
			v := "miss"
			if g.pass {
				v = "pass"
			}
			fmt.Fprintf(&b, "| %s: %s | %s | %s |\n", g.measure, g.goal, g.value, v)
		}
		b.WriteString("\n")
	}
	if len(r.skipped) > 0 {
		b.WriteString("## Skipped\n\n")
		for _, s := range r.skipped {
			fmt.Fprintf(&b, "- %s\n", s)
		}
		b.WriteString("\n")
	}
	b.WriteString("Rerun with `make bench` (or `bench/run`); `BENCH_IDLE_SECONDS=10 bench/run` for a quick idle.\n")
	return b.String()
}

// machineInfo describes where the numbers come from.
func machineInfo() []string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	goVersion := runtime.Version()
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		goVersion = strings.TrimSpace(string(out))
	}
	kernel := ""
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		kernel = strings.TrimSpace(string(out))
	}
	return []string{
		fmt.Sprintf("CPU: %s, %d cores", cpu, runtime.NumCPU()),
		fmt.Sprintf("Go: %s; kernel: %s; %s/%s", goVersion, kernel, runtime.GOOS, runtime.GOARCH),
		fmt.Sprintf("date: %s", time.Now().UTC().Format(time.RFC3339)),
	}
}

// median returns the median of xs (the mean of the middle two for an even count).
func median[T float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile returns the p-th percentile (0 < p <= 100) of xs by the
// nearest-rank method.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(p/100*float64(len(s)) + 0.999999)
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
