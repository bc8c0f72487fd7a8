package main

import (
	"fmt"
	"log/slog"
	"time"

	"pitweet/daemon"
)

// measureLatency presses a button o.presses times through the control
// socket, each after the previous tweet arrived, and measures from just
// before the press to the emulator's arrival time for that text.
func measureLatency(o *options, rep *report, log *slog.Logger) error {
	r, err := newBenchRig()
	if err != nil {
		return err
	}
	defer r.close()
	cfg, _, err := r.writeConfig("latency", `[[button]]
name = "bell"
pin = "GPIO17"
text = "bell {{.Time.UnixNano}}"
`)
	if err != nil {
		return err
	}
	d, err := startDaemon(o.pitweet, cfg, nil)
	if err != nil {
		return err
	}
	defer d.stop()
	var lat []float64
	for i := 0; i < o.presses; i++ {
		start := time.Now()
		resp, err := daemon.Call(d.socket, daemon.ControlRequest{Op: "press", Button: "bell"})
		if err != nil {
			return err
		}
		if !resp.OK {
			return fmt.Errorf("pitbench: press refused: %s", resp.Error)
		}
		tweets, err := r.waitTweets(i+1, 30*time.Second)
		if err != nil {
			return err
		}
		t := tweets[i]
		if t.Text != resp.Text {
			return fmt.Errorf("pitbench: press %d queued %q but the emulator got %q", i, resp.Text, t.Text)
		}
		lat = append(lat, float64(t.At.Sub(start)))
	}
	p50 := time.Duration(percentile(lat, 50))
	p99 := time.Duration(percentile(lat, 99))
	rep.add("latency", row{measure: fmt.Sprintf("p50 over %d presses", o.presses), value: ms(p50),
		note: "From just before the press request on the control socket (no process start counted) to the emulator's arrival time for that text; each press waits for the previous tweet. The emulator and the daemon share the clock."})
	rep.add("latency", goal(fmt.Sprintf("p99 over %d presses", o.presses), ms(p99), "≤ 20 ms", p99 <= 20*time.Millisecond, ""))
	rep.add("latency", row{measure: "max", value: ms(time.Duration(percentile(lat, 100)))})
	return nil
}
