package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"pitweet/daemon"
)

// BenchmarkPressToRequest measures, one press at a time, how long a press
// asked for on the control socket takes to arrive at the emulator as a
// posting request: render, durable Put (two fsyncs), signing, the TLS
// connection (kept open between presses up to 20 s apart), request bytes. It reports the median and the 99th percentile.
// Run it with: go test -run '^$' -bench PressToRequest -benchtime 200x ./cmd/pitweet
func BenchmarkPressToRequest(b *testing.B) {
	e := newE2E(b, "127.0.0.1:0", "")
	e.start()
	var lat []time.Duration
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		resp, err := daemon.Call(e.socket, daemon.ControlRequest{Op: "press", Button: "doorbell"})
		if err != nil || !resp.OK {
			b.Fatalf("press: %v %+v", err, resp)
		}
		reqs, err := e.x.WaitRequests(ctx, i+1)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, reqs[i].At.Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
