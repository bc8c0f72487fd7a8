//go:build unix

package history

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash test runs this test binary as a writer (crashWriterEnv names
// the history directory and the trial), kills it with SIGKILL at a random
// moment, and checks the directory.

const crashWriterEnv = "PITWEET_HISTORY_CRASH_WRITER"

// crashValue is the value of sample i of a trial: distinct, exact to a
// hundredth, and easy to check.
func crashValue(trial, i int) float64 { return float64(trial*100000+i) / 100 }

var crashStart = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

// TestCrashWriter is the writer: it records samples of four series for
// its trial, flushing every few samples, and after each flush prints how
// many samples of each series are on disk (handed to the kernel and
// fsync'd). It runs until killed.
func TestCrashWriter(t *testing.T) {
	spec := os.Getenv(crashWriterEnv)
	if spec == "" {
		t.Skip("run by TestCrashKill9")
	}
	dir, trialStr, _ := strings.Cut(spec, ",")
	trial, _ := strconv.Atoi(trialStr)
	// The clock the segments are named by runs with the samples' times.
	began := time.Now()
	s, err := Open(dir, Options{Now: func() time.Time {
		return crashStart.Add(time.Duration(trial)*time.Hour + time.Since(began))
	}})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	out := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewPCG(uint64(trial), 7))
	for i := 0; ; i++ {
		at := crashStart.Add(time.Duration(trial)*time.Hour + time.Duration(i)*time.Second)
		for q := range 4 {
			s.Add(fmt.Sprintf("t%d.Q%d", trial, q), time.Second, at, crashValue(trial, i)+float64(q))
		}
		if rng.IntN(8) == 0 {
			if err := s.Flush(); err != nil {
				fmt.Fprintln(out, "error", err)
				out.Flush()
				return
			}
			fmt.Fprintln(out, "written", i+1)
			out.Flush()
		}
	}
}

// TestCrashKill9 kills writers at random moments, 30 times, each trial
// adding its own series to the same directory, and checks after each kill
// that every sample reported written reads back exactly, that what was
// read is a clean prefix of what was added (nothing corrupt), and that the
// earlier trials' samples are all still there.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 30 writers")
	}
	dir := filepath.Join(t.TempDir(), "history")
	trials := 30
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	reported := make([]int, trials)
	for trial := range trials {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriter$", "-test.v")
		cmd.Env = append(os.Environ(), crashWriterEnv+"="+dir+","+strconv.Itoa(trial))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of flushes (so after the first
		// segment exists), a random few microseconds after one.
		killAfter := 1 + rng.IntN(40)
		sc := bufio.NewScanner(stdout)
		flushes := 0
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "error") {
				t.Fatalf("trial %d: writer: %s", trial, line)
			}
			if n, ok := strings.CutPrefix(line, "written "); ok {
				reported[trial], _ = strconv.Atoi(n)
				flushes++
				if flushes == killAfter {
					time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond) // to land at a random point of the next writes
					cmd.Process.Signal(syscall.SIGKILL)
					break
				}
			}
		}
		cmd.Wait()
		if flushes < killAfter {
			t.Fatalf("trial %d: the writer ended after %d flushes", trial, flushes)
		}
		checkCrashTrials(t, dir, trial, reported)
	}
	t.Logf("%d trials; samples reported written per trial: %v", trials, reported)
}

// checkCrashTrials reads dir and checks trials 0 to last.
func checkCrashTrials(t *testing.T, dir string, last int, reported []int) {
	t.Helper()
	got, err := Read(dir, crashStart, crashStart.Add(time.Duration(last+1)*time.Hour), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]Series{}
	for _, s := range got {
		series[s.Name] = s
	}
	for trial := 0; trial <= last; trial++ {
		for q := range 4 {
			name := fmt.Sprintf("t%d.Q%d", trial, q)
			s := series[name]
			if len(s.Samples) < reported[trial] {
				t.Fatalf("after trial %d: %s has %d samples, but %d were written before the kill", last, name, len(s.Samples), reported[trial])
			}
			for i, smp := range s.Samples {
				want := crashValue(trial, i) + float64(q)
				at := crashStart.Add(time.Duration(trial)*time.Hour + time.Duration(i)*time.Second).UnixMilli()
				if smp.T != at || math.Abs(smp.V-want) > 1e-9 {
					t.Fatalf("after trial %d: %s sample %d = %+v, want %v at %d", last, name, i, smp, want, at)
				}
			}
		}
	}
}
