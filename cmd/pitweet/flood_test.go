//go:build unix

package main

// A hostile local client against the control socket: any member of group
// pitweet may connect to it. It opens as many connections as it can and
// holds them, or sends megabyte request lines, and reconnects whenever the
// daemon closes one. The daemon runs as the real binary with 1,024
// descriptors (a shell lowers the limit first, so Go cannot raise it) and
// GOMEMLIMIT=64MiB, as under the unit, and keeps posting a report every
// second, which needs descriptors: the cpu sensor's file, the outbox's
// temporary file, the connection to X.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/fakex"
)

// floodRules add a report every second that reads the cpu sensor.
const floodRules = `
[[sensor]]
name = "soc"
type = "cpu"

[[report]]
every = "1s"
text = "Report {{.Time.Format \"15:04:05.000000\"}}: CPU {{.Sensors.soc.Temperature}}"
`

// floodConns is how many connections the flooding client keeps trying to
// hold.
const floodConns = 1100

// newFloodE2E is a daemon with floodRules, 1,024 descriptors and the
// unit's memory limit, whose control socket another user (group root) may
// reach.
func newFloodE2E(t testing.TB) *e2e {
	t.Helper()
	e := newE2E(t, "127.0.0.1:0", floodRules)
	run, err := os.MkdirTemp("", "pitweet-flood-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	if err := os.Chmod(run, 0o750); err != nil {
		t.Fatal(err)
	}
	e.socket = filepath.Join(run, daemon.SocketName)
	e.wrap = []string{"/bin/sh", "-c", `ulimit -n 1024 && exec "$0" "$@"`}
	e.env = []string{"GOMEMLIMIT=64MiB"}
	return e
}

// holdConnections opens n connections to socket at once, then sends a
// status request on each and reads one answer from each (for at most 15
// s): held are those the daemon serves, busy those it refused at once,
// silent those that got no answer at all.
func holdConnections(t testing.TB, socket string, n int) (held, busy, silent int) {
	t.Helper()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	giveUp := time.Now().Add(15 * time.Second)
	for len(conns) < n {
		c, err := net.Dial("unix", socket)
		if err != nil {
			// The listen backlog is full (a small net.core.somaxconn):
			// the daemon takes the queued ones off it first.
			if time.Now().After(giveUp) {
				t.Fatalf("connection %d: %v", len(conns)+1, err)
			}
			time.Sleep(time.Millisecond) // the client's pace, not synchronisation
			continue
		}
		conns = append(conns, c)
	}
	deadline := time.Now().Add(15 * time.Second)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			c.SetDeadline(deadline)
			c.Write([]byte(`{"op":"status"}` + "\n"))
			line, err := bufio.NewReader(c).ReadBytes('\n')
			var resp daemon.ControlResponse
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && len(line) == 0:
				silent++
			case json.Unmarshal(line, &resp) == nil && resp.OK:
				held++
			case strings.HasPrefix(resp.Error, "daemon: busy: "):
				busy++
			default:
				t.Errorf("answer %q (%v)", line, err)
			}
		})
	}
	wg.Wait()
	return held, busy, silent
}

// A flooder keeps n connections to a socket open: each sends payload (none:
// idle) and waits for the daemon to close it, then connects again after a
// pause.
type flooder struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]bool
	started sync.WaitGroup // each slot connected once
}

func startFlood(t testing.TB, socket string, n int, payload []byte) *flooder {
	f := &flooder{stop: make(chan struct{}), conns: map[net.Conn]bool{}}
	f.started.Add(n)
	for range n {
		f.wg.Go(func() {
			first := true
			for {
				c, err := net.Dial("unix", socket)
				if first {
					f.started.Done()
					first = false
				}
				if err == nil {
					f.mu.Lock()
					f.conns[c] = true
					f.mu.Unlock()
					if payload != nil {
						c.Write(payload)
					}
					io.Copy(io.Discard, c) // until the daemon closes it
					f.mu.Lock()
					delete(f.conns, c)
					f.mu.Unlock()
					c.Close()
				}
				select {
				case <-f.stop:
					return
				case <-time.After(100 * time.Millisecond): // the attacker's pace, not synchronisation
				}
			}
		})
	}
	f.started.Wait()
	t.Cleanup(f.end)
	return f
}

// end stops the flood and closes its connections.
func (f *flooder) end() {
	select {
	case <-f.stop:
		return
	default:
	}
	close(f.stop)
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// pressAsNobody runs `pitweet press NAME` as user nobody in group root (so
// that it may reach the test's socket): another local user than the
// flooding one. It needs root.
func pressAsNobody(t testing.TB, socket, name string) (stdout, stderr string, code int, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pitweetBin, "press", "--socket", socket, name)
	cmd.Env = e2eEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 0}}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	took = time.Since(start)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("pitweet press as nobody: %v", err)
	}
	return out.String(), errOut.String(), code, took
}

func TestE2EControlFlood(t *testing.T) {
	t.Parallel()
	e := newFloodE2E(t)
	e.start()

	// One user holds a few connections; every other one is refused at
	// once, with the reason, and none is left without an answer.
	held, busy, silent := holdConnections(t, e.socket, floodConns)
	t.Logf("of %d connections at once: %d served, %d refused as busy, %d unanswered", floodConns, held, busy, silent)
	if held < 1 || held > 8 || silent != 0 || held+busy != floodConns {
		t.Fatalf("of %d connections at once: %d served, %d refused as busy, %d unanswered; want at most 8 served, the rest refused at once", floodConns, held, busy, silent)
	}

	// A flood of idle connections, then one of megabyte request lines,
	// each kept up while the daemon posts its reports and another user
	// presses a button.
	var pressed []string
	for _, flood := range []struct {
		name    string
		payload []byte
	}{{"idle connections", nil}, {"1 MiB request lines", bytes.Repeat([]byte("x"), 1<<20)}} {
		f := startFlood(t, e.socket, floodConns, flood.payload)
		before := len(e.x.Tweets())
		e.waitTweets(before + 2) // two reports at least, during the flood
		if os.Geteuid() == 0 {
			out, errOut, code, _ := pressAsNobody(t, e.socket, "doorbell")
			if code != 0 || !strings.HasPrefix(out, "queued ") {
				t.Fatalf("during the flood of %s, a press by another user: exit %d, %q %q", flood.name, code, out, errOut)
			}
			pressed = append(pressed, strings.TrimSpace(out[strings.Index(out, ": ")+2:]))
		} else {
			t.Logf("not root: no press by another user during the flood of %s", flood.name)
		}
		f.end()
	}

	// Nothing was lost: each press was posted, the status answers again,
	// and no descriptor ran out.
	e.waitStatus("the presses to be posted", func(s *daemon.Status) bool {
		for _, p := range pressed {
			if !slices.ContainsFunc(e.x.Tweets(), func(tw fakex.Tweet) bool { return tw.Text == p }) {
				return false
			}
		}
		return true
	})
	if log := e.log.String(); strings.Contains(log, "too many open files") {
		t.Fatalf("the daemon ran out of descriptors:\n%s", log)
	}
}

// BenchmarkControlFloodIdle and BenchmarkControlFloodLongLines measure
// what a flood of the control socket costs: the connections one client
// holds, the daemon's peak memory (VmHWM) and the time a `pitweet press`
// by another user takes during the flood, from start to exit (it needs
// root to run as that user). Run them with:
//
//	go test -run '^$' -bench 'Control(No)?Flood' -benchtime 20x ./cmd/pitweet
//
// BenchmarkControlNoFlood is the same without the flood, for comparison.
func BenchmarkControlNoFlood(b *testing.B) { benchmarkFlood(b, 0, nil) }

func BenchmarkControlFloodIdle(b *testing.B) { benchmarkFlood(b, floodConns, nil) }

func BenchmarkControlFloodLongLines(b *testing.B) {
	benchmarkFlood(b, floodConns, bytes.Repeat([]byte("x"), 1<<20))
}

func benchmarkFlood(b *testing.B, conns int, payload []byte) {
	if os.Geteuid() != 0 {
		b.Skip("needs root, to press as another user than the flooding one")
	}
	e := newFloodE2E(b)
	e.start()
	pid := e.cmd.Process.Pid
	if conns > 0 && payload == nil {
		held, busy, silent := holdConnections(b, e.socket, conns)
		b.Logf("of %d connections at once: %d served, %d refused as busy, %d unanswered", conns, held, busy, silent)
	}
	if conns > 0 {
		startFlood(b, e.socket, conns, payload)
	}
	fds := sampleFDs(pid)
	cpu0, err := cpuTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	failed := 0
	for b.Loop() {
		_, errOut, code, took := pressAsNobody(b, e.socket, "doorbell")
		if code != 0 {
			failed++
			b.Logf("press failed after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(errOut))
			continue
		}
		lat = append(lat, took)
	}
	b.StopTimer()
	cpu1, err := cpuTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpu1-cpu0)/b.Elapsed().Seconds(), "daemon-cpu-%") // 100 ticks a second
	hwm, err := vmHWM(pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(hwm)/1024, "daemon-hwm-MiB")
	b.ReportMetric(float64(fds()), "daemon-fds-max")
	b.ReportMetric(float64(failed), "press-failed")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "press-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "press-p99-ms")
	}
	if n := strings.Count(e.log.String(), "too many open files"); n > 0 {
		b.Logf("the daemon logged %d lines with \"too many open files\"", n)
	}
}

// sampleFDs counts the open descriptors of process pid every 10 ms until
// the returned function is called, which returns the most it saw.
func sampleFDs(pid int) func() int {
	stop := make(chan struct{})
	most := make(chan int)
	go func() {
		n := 0
		for {
			if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
				n = max(n, len(fds))
			}
			select {
			case <-stop:
				most <- n
				return
			case <-time.After(10 * time.Millisecond): // a sampling interval
			}
		}
	}()
	return func() int {
		close(stop)
		return <-most
	}
}

// cpuTicks is the CPU time process pid has used (user and system), in
// clock ticks (100 a second on Linux).
func cpuTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which may hold spaces: state is the
	// first, utime the 12th, stime the 13th.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return ut + st, nil
}

// vmHWM is the peak resident memory of process pid, in KiB.
func vmHWM(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			_, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib)
			return kib, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
