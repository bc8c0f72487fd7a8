package outbox

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
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

// crashDests are the destinations of every message of the crash test.
var crashDests = []string{"x", "mastodon"}

// A crashOp is one operation the child makes on message i, in order.
type crashOp struct {
	op   string // "put", "attempt", "delivered", "refuse"
	dest string
}

// crashOps lists what the child does with message i: every message is
// queued for X and Mastodon, every third with a picture (moved in from a
// file for every sixth, given as bytes for the others); some are tried,
// posted or refused on one destination or both.
func crashOps(i int) []crashOp {
	ops := []crashOp{{op: "put"}}
	if i%3 == 0 {
		ops = append(ops, crashOp{"attempt", "x"})
	}
	if i%4 == 1 {
		ops = append(ops, crashOp{"delivered", "x"})
	}
	switch {
	case i%5 == 2:
		ops = append(ops, crashOp{"delivered", "mastodon"})
	case i%7 == 3:
		ops = append(ops, crashOp{"refuse", "mastodon"})
	}
	return ops
}

// crashPicture is the picture of message i, if it has one.
func crashPicture(t testing.TB, i int) []byte {
	if i%3 != 0 {
		return nil
	}
	return testPNG(t, 1+i%61, 1+(i*7)%43)
}

// testPNG encodes a w×h picture whose pixels follow from its size.
func testPNG(t testing.TB, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x * 7), uint8(y * 13), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
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
		var id string
		for _, op := range crashOps(i) {
			switch op.op {
			case "put":
				var pics []NewImage
				if data := crashPicture(t, i); data != nil && i%6 == 0 {
					// A capture's file in the spool, as a camera leaves it.
					path := filepath.Join(dir, fmt.Sprintf("%scapture-%d", tmpPrefix, i))
					if err := os.WriteFile(path, data, 0o600); err != nil {
						t.Fatal(err)
					}
					pics = []NewImage{{Path: path, Alt: "capture"}}
				} else if data != nil {
					pics = []NewImage{{Data: data, Alt: "chart"}}
				}
				m, err := o.Put(Message{Text: crashText(trial, i), Source: "crash test", To: crashDests}, pics)
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				id = m.ID
				say("put %s %d", id, i)
			case "attempt":
				if _, err := o.Attempt(id, op.dest, "attempt "+strconv.Itoa(i)); err != nil {
					t.Fatalf("Attempt: %v", err)
				}
				say("op %s", id)
			case "delivered":
				if err := o.Delivered(id, op.dest, "ref-"+strconv.Itoa(i)); err != nil {
					t.Fatalf("Delivered: %v", err)
				}
				say("op %s", id)
			case "refuse":
				if err := o.Refuse(id, op.dest, "refused "+strconv.Itoa(i)); err != nil {
					t.Fatalf("Refuse: %v", err)
				}
				say("op %s", id)
			}
		}
	}
}

// acked is what the child reported for one message.
type acked struct {
	trial, i int
	ops      int // operations acknowledged, put included
}

// crashState is where a message should stand after its first n operations.
type crashState struct {
	pending, dead bool
	attempts      map[string]int
	done, refused map[string]bool
}

func crashStateAfter(i, n int) crashState {
	s := crashState{pending: n > 0, attempts: map[string]int{}, done: map[string]bool{}, refused: map[string]bool{}}
	for _, op := range crashOps(i)[:n] {
		switch op.op {
		case "attempt":
			s.attempts[op.dest]++
		case "delivered":
			s.done[op.dest] = true
		case "refuse":
			s.refused[op.dest] = true
		}
	}
	finished := true
	for _, d := range crashDests {
		finished = finished && (s.done[d] || s.refused[d])
	}
	if finished {
		s.pending = false
		s.dead = s.refused["x"] || s.refused["mastodon"]
	}
	return s
}

// matches reports whether m (nil: not pending; dead: in dead letters) is
// in state s.
func (s crashState) matches(m *Message, dead bool) bool {
	if m == nil {
		return !s.pending && s.dead == dead
	}
	if !s.pending {
		return false
	}
	for _, d := range crashDests {
		got := m.Dest[d]
		if got.Attempts != s.attempts[d] || got.Done != s.done[d] || (got.Refused != "") != s.refused[d] {
			return false
		}
	}
	return true
}

// TestCrashSafety kills a process that is writing to an outbox at random
// moments and checks that every acknowledged message survives, intact with
// its picture, and that no file is ever left corrupt.
//
// What this proves: no instant of Put (pictures included), Attempt,
// Delivered or Refuse, when the process dies, leaves a half-written message
// file under a message's name, a message without its pictures, a lost
// acknowledged message or delivery, a resurrected finished one, or a
// leftover that Open cannot clean up. SIGKILL does not drop the kernel's
// page cache, so it cannot prove durability across a power cut; that rests
// on the fsync order every write follows (TestFsyncsPerOperation checks
// they happen): the data of a temporary file is fsynced before the rename,
// so the name never points at blocks that did not reach the disk, and the
// directory is fsynced after the rename or unlink and before the call
// returns, so an acknowledged operation is itself on disk.
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
	want := map[string]*acked{} // by id: every message that may be pending or dead
	var acks, midWrite, unacked, withPictures int
	for trial := range trials {
		newest, n := runChild(t, dir, trial, time.Duration(rng.Int64N(int64(50*time.Millisecond))), want)
		acks += n

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
		deadList, err := o.DeadLetters()
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]*Message{}
		for i := range pending {
			byID[pending[i].ID] = &pending[i]
		}
		dead := map[string]bool{}
		for _, d := range deadList {
			dead[d.ID] = true
			if a := want[d.ID]; a != nil && crashPicture(t, a.i) != nil {
				// A dead letter keeps its picture.
				got, err := os.ReadFile(filepath.Join(dir, deadDir, d.ID+picSuffix, d.Images[0].Name))
				if err != nil || !bytes.Equal(got, crashPicture(t, a.i)) {
					t.Fatalf("trial %d: dead letter %s: picture of %d bytes (%v), want the one put", trial, d.ID, len(got), err)
				}
			}
		}

		if cs, _ := os.ReadDir(filepath.Join(dir, corruptDir)); len(cs) > 0 {
			t.Fatalf("trial %d: %d corrupt files after a kill; log:\n%s", trial, len(cs), logs)
		}
		left, _ := os.ReadDir(dir)
		for _, e := range left {
			name := e.Name()
			if strings.HasPrefix(name, tmpPrefix) {
				t.Fatalf("trial %d: Open left %s", trial, name)
			}
			if id, ok := strings.CutSuffix(name, picSuffix); ok && byID[id] == nil {
				t.Fatalf("trial %d: Open left the pictures of %s, which is not queued", trial, id)
			}
		}

		// A Put under way when the kill came may have queued its message,
		// whole, though nobody was told. Only one.
		found := 0
		for _, m := range pending {
			if want[m.ID] != nil {
				continue
			}
			unacked++
			if found++; found > 1 {
				t.Fatalf("trial %d: a second unacknowledged message %s", trial, m.ID)
			}
			var tr, i int
			if _, err := fmt.Sscanf(m.Text, "trial %d message %d ", &tr, &i); err != nil || tr != trial || m.Text != crashText(trial, i) {
				t.Fatalf("trial %d: unknown message %s %.40q", trial, m.ID, m.Text)
			}
			want[m.ID] = &acked{trial: trial, i: i, ops: 0}
			newest = m.ID
		}

		for id, a := range want {
			m := byID[id]
			if m != nil && m.Text != crashText(a.trial, a.i) {
				t.Fatalf("trial %d: message %s text %.40q, want %.40q", trial, id, m.Text, crashText(a.trial, a.i))
			}
			now := crashStateAfter(a.i, a.ops)
			ok := now.matches(m, dead[id])
			if !ok && id == newest && a.ops < len(crashOps(a.i)) {
				// The operation under way may have reached the disk.
				if next := crashStateAfter(a.i, a.ops+1); next.matches(m, dead[id]) {
					ok = true
					a.ops++
				}
			}
			if !ok {
				t.Fatalf("trial %d: message %s (%d of %d operations acknowledged) is %+v, dead %v; want %+v",
					trial, id, a.ops, len(crashOps(a.i)), m, dead[id], now)
			}
			if m != nil && len(m.Images) > 0 {
				withPictures++
				checkCrashPicture(t, o, m, crashPicture(t, a.i))
			} else if m != nil && crashPicture(t, a.i) != nil {
				t.Fatalf("trial %d: message %s lost its picture", trial, id)
			}
			if m == nil {
				delete(want, id)
			}
		}
		o.Close()
	}
	t.Logf("%d trials: %d acknowledged operations, %d kills left a temporary file, %d unacknowledged puts found whole, %d checks of a queued picture",
		trials, acks, midWrite, unacked, withPictures)
	if acks == 0 {
		t.Fatal("the child never acknowledged anything: the kills came too early to test")
	}
}

// checkCrashPicture checks that m's one picture holds want.
func checkCrashPicture(t *testing.T, o *Outbox, m *Message, want []byte) {
	t.Helper()
	if len(m.Images) != 1 {
		t.Fatalf("message %s has %d pictures, want 1", m.ID, len(m.Images))
	}
	f, _, err := o.OpenPicture(m.ID, m.Images[0].Name)
	if err != nil {
		t.Fatalf("message %s: %v", m.ID, err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(got, want) || m.Images[0].Size != int64(len(want)) {
		t.Fatalf("message %s: picture of %d bytes (%v), want the %d put", m.ID, len(got), err, len(want))
	}
}

// runChild starts the writer on dir, kills it delay after it is ready and
// records what it acknowledged in want. It returns the id of the message
// it last acknowledged something for, and the number of acks.
func runChild(t *testing.T, dir string, trial int, delay time.Duration, want map[string]*acked) (string, int) {
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
	newest := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1 && f[0] == "ready":
			time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		case len(f) == 3 && f[0] == "put":
			i, _ := strconv.Atoi(f[2])
			want[f[1]] = &acked{trial: trial, i: i, ops: 1}
			newest = f[1]
			n++
		case len(f) == 2 && f[0] == "op" && want[f[1]] != nil:
			want[f[1]].ops++
			n++
		}
	}
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("trial %d: child ended with %v, not by SIGKILL; stderr:\n%s", trial, err, stderr.String())
	}
	// The next message's Put may be under way: it is newer than every
	// acknowledged one.
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range want {
			if !yield(id) {
				return
			}
		}
	})
	if newest != "" && ids[len(ids)-1] != newest {
		t.Fatalf("trial %d: the last acknowledgement was for %s, not the newest message %s", trial, newest, ids[len(ids)-1])
	}
	return newest, n
}
