package outbox

import (
	"bufio"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash test runs this test binary again as a child that writes to an
// outbox and reports, on stdout, each operation after it returned. The
// parent kills the child with SIGKILL at a random moment, then reopens the
// outbox and checks that everything the child was told is durable is there.
const (
	crashDirEnv   = "PITWEET_OUTBOX_CRASH_DIR"
	crashTrialEnv = "PITWEET_OUTBOX_CRASH_TRIAL"
)

// crashText is the text the child queues as message i of trial; the size
// varies so that kills land at different points of a write.
func crashText(trial, i int) string {
	return fmt.Sprintf("trial %d message %d %s", trial, i, strings.Repeat("x", (i*37)%700))
}

// TestCrashWriter is the child side of TestCrashSafety; on its own it skips.
func TestCrashWriter(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child process of TestCrashSafety")
	}
	trial, _ := strconv.Atoi(os.Getenv(crashTrialEnv))
	o, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	say := func(format string, a ...any) {
		// os.Stdout is unbuffered: once this returns the parent can read it.
		fmt.Fprintf(os.Stdout, format+"\n", a...)
	}
	say("ready")
	for i := range 100000 {
		m, err := o.Put(Message{Text: crashText(trial, i), Source: "crash test"})
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
		say("put %s", m.ID)
		if i%3 == 0 {
			m, err = o.Attempt(m.ID, "attempt "+strconv.Itoa(i))
			if err != nil {
				t.Fatalf("Attempt: %v", err)
			}
			say("attempt %s %d", m.ID, m.Attempts)
		}
		if i%4 == 1 {
			if err := o.Done(m.ID); err != nil {
				t.Fatalf("Done: %v", err)
			}
			say("done %s", m.ID)
		}
	}
}

// acked is what the child reported for one message.
type acked struct {
	text     string
	attempts int  // attempts acknowledged
	done     bool // Done acknowledged
}

// TestCrashSafety kills a process that is writing to an outbox at random
// moments and checks that every acknowledged message survives, intact, and
// that no file is ever left corrupt.
//
// What this proves: no instant of Put, Attempt or Done, when the process
// dies, leaves a half-written message file under a message's name, a lost
// acknowledged message, a resurrected delivered one, or a leftover that
// Open cannot clean up. SIGKILL does not drop the kernel's page cache, so
// it cannot prove durability across a power cut; that rests on the fsync
// order every write follows (TestFsyncsPerOperation checks they happen):
// the data of the temporary file is fsynced before the rename, so the name
// never points at blocks that did not reach the disk, and the directory is
// fsynced after the rename or unlink and before the call returns, so an
// acknowledged Put or Done is itself on disk.
func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("child process")
	}
	trials := 60
	if testing.Short() {
		trials = 10
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)

	dir := t.TempDir()
	want := map[string]*acked{} // by id: every message that may be pending
	var acks, midWrite, unacked int
	for trial := range trials {
		children := runChild(t, dir, trial, time.Duration(rng.Int64N(int64(20*time.Millisecond))), want)
		acks += children

		// What the kill left, before Open cleans it.
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				midWrite++
			}
		}

		logs := &logBuffer{}
		o, err := Open(dir, slog.New(slog.NewTextHandler(logs, nil)))
		if err != nil {
			t.Fatalf("trial %d: Open after kill: %v", trial, err)
		}
		pending := o.Pending()
		o.Close()

		if cs, _ := os.ReadDir(filepath.Join(dir, corruptDir)); len(cs) > 0 {
			t.Fatalf("trial %d: %d corrupt files after a kill; log:\n%s", trial, len(cs), logs)
		}
		left, _ := os.ReadDir(dir)
		for _, e := range left {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				t.Fatalf("trial %d: Open left %s", trial, e.Name())
			}
		}

		seen := map[string]bool{}
		found := 0
		for _, m := range pending {
			seen[m.ID] = true
			a := want[m.ID]
			if a == nil {
				// Put was under way when the kill came: the message may
				// be there, whole, though nobody was told. Only one.
				unacked++
				if found++; found > 1 {
					t.Fatalf("trial %d: a second unacknowledged message %s", trial, m.ID)
				}
				if !strings.Contains(m.Text, fmt.Sprintf("trial %d ", trial)) {
					t.Fatalf("trial %d: unknown message %s %.40q", trial, m.ID, m.Text)
				}
				want[m.ID] = &acked{text: m.Text, attempts: m.Attempts}
				continue
			}
			if a.done {
				t.Fatalf("trial %d: message %s is back after Done was acknowledged", trial, m.ID)
			}
			if m.Text != a.text {
				t.Fatalf("trial %d: message %s text %.40q, want %.40q", trial, m.ID, m.Text, a.text)
			}
			if m.Attempts < a.attempts || m.Attempts > a.attempts+1 {
				t.Fatalf("trial %d: message %s has %d attempts, %d acknowledged", trial, m.ID, m.Attempts, a.attempts)
			}
			a.attempts = m.Attempts
		}
		for id, a := range want {
			if !seen[id] && !a.done {
				// Only the message whose Done was under way may go
				// without an acknowledgement; the child reports Done
				// last, so it is the newest one.
				if id != newestID(want) {
					t.Fatalf("trial %d: acknowledged message %s (%.40q) lost", trial, id, a.text)
				}
			}
			if !seen[id] {
				delete(want, id)
			}
		}
	}
	t.Logf("%d trials: %d acknowledged operations, %d kills left a temporary file, %d unacknowledged puts found whole",
		trials, acks, midWrite, unacked)
	if acks == 0 {
		t.Fatal("the child never acknowledged anything: the kills came too early to test")
	}
}

// runChild starts the writer on dir, kills it delay after it is ready and
// records what it acknowledged in want. It returns the number of acks.
func runChild(t *testing.T, dir string, trial int, delay time.Duration, want map[string]*acked) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashTrialEnv+"="+strconv.Itoa(trial))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && f[0] == "ready":
			time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		case len(f) == 2 && f[0] == "put":
			want[f[1]] = &acked{}
			n++
		case len(f) == 3 && f[0] == "attempt" && want[f[1]] != nil:
			want[f[1]].attempts, _ = strconv.Atoi(f[2])
			n++
		case len(f) == 2 && f[0] == "done" && want[f[1]] != nil:
			want[f[1]].done = true
			n++
		}
	}
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("trial %d: child ended with %v, not by SIGKILL; stderr:\n%s", trial, err, stderr.String())
	}
	// Texts are known from the trial and the order of puts.
	for i, id := range newIDs(want) {
		want[id].text = crashText(trial, i)
	}
	return n
}

// newIDs returns the ids in want that have no text yet (this trial's puts)
// in order.
func newIDs(want map[string]*acked) []string {
	var ids []string
	for id, a := range want {
		if a.text == "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func newestID(want map[string]*acked) string {
	newest := ""
	for id := range want {
		newest = max(newest, id)
	}
	return newest
}
