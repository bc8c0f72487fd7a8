package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/emulator"
	"pitweet/fakebsky"
	"pitweet/fakemastodon"
	"pitweet/fakex"
)

// threeE2E is a daemon's rig posting to X, a fakemastodon and a fakebsky,
// all over TLS on loopback.
type threeE2E struct {
	*e2e
	masto *fakemastodon.Server
	bsky  *fakebsky.Server
}

// newThreeE2E is newMastodonE2E with [bluesky] added on a fakebsky over
// TLS, its app password in the credentials file, one CA file trusting all
// three emulators.
func newThreeE2E(t testing.TB) *threeE2E {
	t.Helper()
	e, masto := newMastodonE2E(t, "", "", nil)
	bsky := fakebsky.New()
	if err := bsky.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bsky.Close() })
	appendFile(t, e.ca, string(bsky.CAPEM()))
	appendFile(t, e.config, fmt.Sprintf("\n[bluesky]\nservice = %q\nhandle = %q\nca_file = %q\nlangs = [\"en\"]\n",
		bsky.URL(), fakebsky.DemoAccount.Handle, e.ca))
	appendFile(t, filepath.Join(e.dir, "credentials"), "bluesky_app_password="+fakebsky.DemoAccount.AppPassword+"\n")
	return &threeE2E{e2e: e, masto: masto, bsky: bsky}
}

// arrival waits until n posting requests have arrived at an emulator and
// returns the n-th one's arrival, by the emulator's clock. snap waits for
// at least k requests of any kind and returns, from one snapshot of its
// log, the arrivals of the posting requests and how many requests there
// are.
func arrival(ctx context.Context, n int, snap func(context.Context, int) ([]time.Time, int, error)) (time.Time, error) {
	for k := 0; ; {
		at, total, err := snap(ctx, k)
		if err != nil {
			return time.Time{}, err
		}
		if len(at) >= n {
			return at[n-1], nil
		}
		k = total + 1
	}
}

// posting returns the arrivals of the requests with method and path.
func posting[R any](reqs []R, match func(R) (bool, time.Time)) []time.Time {
	var at []time.Time
	for _, r := range reqs {
		if ok, t := match(r); ok {
			at = append(at, t)
		}
	}
	return at
}

// destArrivals returns, per destination, a function that waits for the
// n-th posting request to arrive there.
func (e *threeE2E) destArrivals() map[string]func(context.Context, int) (time.Time, error) {
	emu := func(wait func(context.Context, int) ([]emulator.Request, error), path string) func(context.Context, int) (time.Time, error) {
		return func(ctx context.Context, n int) (time.Time, error) {
			return arrival(ctx, n, func(ctx context.Context, k int) ([]time.Time, int, error) {
				reqs, err := wait(ctx, k)
				return posting(reqs, func(r emulator.Request) (bool, time.Time) {
					return r.Method == "POST" && r.Path == path, r.At
				}), len(reqs), err
			})
		}
	}
	out := map[string]func(context.Context, int) (time.Time, error){
		"x": func(ctx context.Context, n int) (time.Time, error) {
			return arrival(ctx, n, func(ctx context.Context, k int) ([]time.Time, int, error) {
				reqs, err := e.x.WaitRequests(ctx, k)
				return posting(reqs, func(r fakex.Request) (bool, time.Time) {
					return r.Method == "POST" && r.Path == "/2/tweets", r.At
				}), len(reqs), err
			})
		},
	}
	if e.masto != nil {
		out["mastodon"] = emu(e.masto.WaitRequests, "/api/v1/statuses")
	}
	if e.bsky != nil {
		out["bluesky"] = emu(e.bsky.WaitRequests, "/xrpc/com.atproto.repo.createRecord")
	}
	return out
}

// hang makes one destination's emulator take its posting requests and
// never answer.
func (e *threeE2E) hang(dest string) error {
	switch dest {
	case "x":
		return e.x.SetFault(fakex.Fault{Mode: fakex.ModeHang})
	case "mastodon":
		return e.masto.SetFault(fakemastodon.Fault{Mode: fakemastodon.ModeHang})
	case "bluesky":
		return e.bsky.SetFault(fakebsky.Fault{Mode: fakebsky.ModeHang})
	}
	return fmt.Errorf("no destination %q", dest)
}

var benchDests = []string{"x", "mastodon", "bluesky"}

// BenchmarkPressToDestinations measures, one press at a time, how long a
// press asked for on the control socket takes to reach each destination
// of a daemon posting to X, Mastodon and Bluesky in parallel: from before
// the control request to the posting request's arrival at each emulator
// (once the emulator has read it, a few microseconds on loopback after its
// first byte). The first press includes the TLS handshakes and Bluesky's
// createSession. With one destination hung (it takes the posting request
// and never answers), the other two are measured the same way: they
// should not move. Metrics: DEST-p50-ms and DEST-p99-ms.
// Run it with: go test -run '^$' -bench PressToDestinations -benchtime 200x ./cmd/pitweet
func BenchmarkPressToDestinations(b *testing.B) {
	for _, hung := range append([]string{""}, benchDests...) {
		name := "all-up"
		if hung != "" {
			name = hung + "-hung"
		}
		b.Run(name, func(b *testing.B) {
			e := newThreeE2E(b)
			e.start()
			if hung != "" {
				if err := e.hang(hung); err != nil {
					b.Fatal(err)
				}
			}
			wait := e.destArrivals()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			lat := map[string][]time.Duration{}
			for i := 1; b.Loop(); i++ {
				start := time.Now()
				resp, err := daemon.Call(e.socket, daemon.ControlRequest{Op: "press", Button: "doorbell"})
				if err != nil || !resp.OK {
					b.Fatalf("press: %v %+v", err, resp)
				}
				for _, d := range benchDests {
					if d == hung {
						continue
					}
					at, err := wait[d](ctx, i)
					if err != nil {
						b.Fatalf("%s: %v\ndaemon log:\n%s", d, err, e.log.String())
					}
					lat[d] = append(lat[d], at.Sub(start))
				}
			}
			b.StopTimer()
			for _, d := range benchDests {
				l := lat[d]
				if len(l) == 0 {
					continue
				}
				slices.Sort(l)
				b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, d+"-p50-ms")
				b.ReportMetric(float64(l[len(l)*99/100].Microseconds())/1000, d+"-p99-ms")
			}
		})
	}
}

// idleWindow is how long the daemon idles before its memory is read.
const idleWindow = 20 * time.Second

// BenchmarkIdleRSS measures the daemon's memory after a few presses
// delivered and idleWindow of idling, posting to X alone and to X,
// Mastodon and Bluesky: VmRSS and VmHWM from /proc/PID/status, in MiB.
// It runs the binary the tests build (go build) and one built with the
// release flags of make dist for this machine.
// Run it with: go test -run '^$' -bench IdleRSS -benchtime 1x ./cmd/pitweet
func BenchmarkIdleRSS(b *testing.B) {
	const presses = 5
	release := filepath.Join(b.TempDir(), "pitweet")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-gcflags=all=-l", "-gcflags=runtime=", "-gcflags=crypto/...=",
		"-ldflags", "-s -w -buildid=", "-o", release, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, bin := range []struct{ name, path string }{{"test-build", pitweetBin}, {"release-build", release}} {
		for _, three := range []bool{false, true} {
			name := bin.name + "/x"
			if three {
				name = bin.name + "/x-mastodon-bluesky"
			}
			b.Run(name, func(b *testing.B) {
				var e *e2e
				dests := []string{"x"}
				var wait map[string]func(context.Context, int) (time.Time, error)
				if three {
					t := newThreeE2E(b)
					e, wait, dests = t.e2e, t.destArrivals(), benchDests
				} else {
					e = newE2E(b, "127.0.0.1:0", "")
					wait = (&threeE2E{e2e: e}).destArrivals()
				}
				e.bin = bin.path
				e.start()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				for i := 1; i <= presses; i++ {
					resp, err := daemon.Call(e.socket, daemon.ControlRequest{Op: "press", Button: "doorbell"})
					if err != nil || !resp.OK {
						b.Fatalf("press: %v %+v", err, resp)
					}
					for _, d := range dests {
						if _, err := wait[d](ctx, i); err != nil {
							b.Fatalf("%s: %v", d, err)
						}
					}
				}
				e.waitStatus("every press delivered", func(s *daemon.Status) bool { return s.Queue == 0 })
				// The idle window is what is measured, not a wait for an event.
				time.Sleep(idleWindow)
				rss, hwm, err := procMemory(e.cmd.Process.Pid)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
				}
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(float64(rss)/1024, "VmRSS-MiB")
				b.ReportMetric(float64(hwm)/1024, "VmHWM-MiB")
			})
		}
	}
}

// procMemory reads VmRSS and VmHWM, in KiB, from /proc/PID/status.
func procMemory(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS or VmHWM", pid)
	}
	return rss, hwm, nil
}
