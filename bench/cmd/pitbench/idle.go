package main

import (
	"fmt"
	"log/slog"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux.
const clockTicks = 100

// measureIdle runs the daemon with 2 buttons, 2 sensors and an hourly
// report on the simulated board for o.idle, and reads its memory and CPU
// time from /proc.
func measureIdle(o *options, rep *report, log *slog.Logger) error {
	r, err := newBenchRig()
	if err != nil {
		return err
	}
	defer r.close()
	cfg, _, err := r.writeConfig("idle", `[[button]]
name = "doorbell"
pin = "GPIO17"
text = 'Ding dong at {{.Time.Format "15:04"}}'

[[button]]
name = "weather"
pin = "GPIO22"
text = "{{.Sensors.room.Temperature}}; light {{.Sensors.window.Illuminance}}"

[[sensor]]
name = "room"
type = "bme280"
address = 0x76

[[sensor]]
name = "window"
type = "bh1750"

[[report]]
every = "1h"
text = "Room {{.Sensors.room.Temperature}}, {{.Sensors.room.Humidity}}"
`)
	if err != nil {
		return err
	}
	d, err := startDaemon(o.pitweet, cfg, nil)
	if err != nil {
		return err
	}
	defer d.stop()
	// Let the start-up sensor reads finish before the window opens.
	time.Sleep(2 * time.Second)
	t0, err := cpuTicks(d.pid)
	if err != nil {
		return err
	}
	start := time.Now()
	time.Sleep(o.idle)
	t1, err := cpuTicks(d.pid)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	rss, hwm, err := procStatus(d.pid)
	if err != nil {
		return err
	}
	cpu := float64(t1-t0) / clockTicks / elapsed.Seconds() * 100
	rep.add("idle", goal("RSS (VmRSS) after the idle window", mib(rss), "≤ 12 MiB", rss <= 12*1024,
		fmt.Sprintf("Read from /proc/PID/status and /proc/PID/stat over %s of idling, starting 2 s after the control socket answered; CPU time has a resolution of 10 ms (one clock tick).", elapsed.Round(time.Second))))
	rep.add("idle", row{measure: "peak RSS (VmHWM)", value: mib(hwm)})
	rep.add("idle", goal("CPU (utime+stime) over the window", fmt.Sprintf("%.3f %% of one core (%d ms in %s)", cpu, (t1-t0)*1000/clockTicks, elapsed.Round(time.Second)),
		"< 0.1 %", cpu < 0.1, ""))
	return nil
}
