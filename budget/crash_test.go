//go:build unix

package budget

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash test runs this test binary as a writer (crashWriterEnv names
// the state directory and the trial), kills it with SIGKILL at a random
// moment, and reads the ledger.

const crashWriterEnv = "PITWEET_BUDGET_CRASH_WRITER"

// TestCrashWriter is the writer: it charges posts, and releases every
// third, and after each call returns prints what is on disk. It runs until
// killed.
func TestCrashWriter(t *testing.T) {
	spec := os.Getenv(crashWriterEnv)
	if spec == "" {
		t.Skip("run by TestCrashKill9")
	}
	state, trial, _ := strings.Cut(spec, ",")
	l, err := Open(state, Options{})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 1; ; i++ {
		c, err := l.Charge(sep1, "t"+trial, Published.One(ItemPost))
		if err != nil {
			fmt.Fprintln(out, "error", err)
			out.Flush()
			return
		}
		fmt.Fprintln(out, "charged", i)
		out.Flush()
		if i%3 == 0 {
			if err := l.Release(sep1, c); err != nil {
				fmt.Fprintln(out, "error", err)
				out.Flush()
				return
			}
			fmt.Fprintln(out, "released", i)
			out.Flush()
		}
	}
}

// TestCrashKill9 kills writers at random moments, 30 times, all charging
// to the same month, and checks after each kill that the month counts at
// least every charge a writer reported made and not released (less the
// release it may have written without reporting it), and at most one more
// (a charge written but not reported): a kill never loses a charge.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 30 writers")
	}
	state := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	var low, high int // kept charges, at least and at most
	for trial := range 30 {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestCrashWriter$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", crashWriterEnv, state, trial))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		wait := 1 + rng.IntN(40) // lines before the kill
		charged, released := 0, 0
		for n := 0; sc.Scan(); n++ {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "error":
				t.Fatalf("trial %d: %s", trial, sc.Text())
			case "charged":
				charged, _ = strconv.Atoi(f[1])
			case "released":
				released++
			}
			if n == wait {
				// What it printed before it died is read on.
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// Unreported: the release of the last charge (when it was due),
		// or one more charge.
		low += charged - released
		if charged%3 == 0 && released < charged/3 {
			low--
		}
		high += charged - released + 1
		l, err := Open(state, Options{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := l.Month(sep1)
		l.Close()
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if m.Posts() < low || m.Posts() > high {
			t.Fatalf("trial %d: %d posts charged; want between %d (every charge reported) and %d", trial, m.Posts(), low, high)
		}
		if m.Spent != Amount(m.Posts())*Published.Post {
			t.Fatalf("trial %d: spent %s for %d posts", trial, m.Spent, m.Posts())
		}
		// Tighten to what the file says, so the next trial's bounds stay exact.
		low, high = m.Posts(), m.Posts()
	}
	t.Logf("30 writers killed; %d charges kept", low)
}
