package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/fakemastodon"
	"pitweet/fakex"
)

// BenchmarkPressToDestinations measures, one press at a time, how long a
// press asked for on the control socket takes to reach each destination
// of a daemon posting to X and Mastodon in parallel: to X's emulator as a
// posting request (its arrival), to Mastodon's as a status made. With one
// destination hung (it takes the request and never answers), the other's
// times are measured the same way: they should not move.
// Run it with: go test -run '^$' -bench PressToDestinations -benchtime 200x ./cmd/pitweet
func BenchmarkPressToDestinations(b *testing.B) {
	for _, bc := range []struct {
		name             string
		xDown, mastoDown bool
	}{
		{"both-up", false, false},
		{"mastodon-hung", false, true},
		{"x-hung", true, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e, srv := newMastodonE2E(b, "", "", nil)
			e.start()
			if bc.mastoDown {
				if err := srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.ModeHang}); err != nil {
					b.Fatal(err)
				}
			}
			if bc.xDown {
				if err := e.x.SetFault(fakex.Fault{Mode: fakex.ModeHang}); err != nil {
					b.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var toX, toMasto []time.Duration
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				resp, err := daemon.Call(e.socket, daemon.ControlRequest{Op: "press", Button: "doorbell"})
				if err != nil || !resp.OK {
					b.Fatalf("press: %v %+v", err, resp)
				}
				if !bc.xDown {
					reqs, err := e.x.WaitRequests(ctx, i+1)
					if err != nil {
						b.Fatal(err)
					}
					toX = append(toX, reqs[i].At.Sub(start))
				}
				if !bc.mastoDown {
					sts, err := srv.WaitStatuses(ctx, i+1)
					if err != nil {
						b.Fatal(err)
					}
					toMasto = append(toMasto, sts[i].CreatedAt.Sub(start))
				}
			}
			b.StopTimer()
			for _, r := range []struct {
				unit string
				lat  []time.Duration
			}{{"x", toX}, {"mastodon", toMasto}} {
				if len(r.lat) == 0 {
					continue
				}
				slices.Sort(r.lat)
				b.ReportMetric(float64(r.lat[len(r.lat)/2].Microseconds())/1000, r.unit+"-p50-ms")
				b.ReportMetric(float64(r.lat[len(r.lat)*99/100].Microseconds())/1000, r.unit+"-p99-ms")
			}
		})
	}
}
