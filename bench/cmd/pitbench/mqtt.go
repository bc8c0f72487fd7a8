package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"pitweet/daemon"
)

// idleRules are measureIdle's buttons, sensors and report.
const idleRules = `[[button]]
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
`

// fastRules read three sensors (four quantities) every second, the
// fastest the simulated board allows (real hardware reads at most every
// minute): a minute of them is an hour of the fastest real readings.
const fastRules = `[[sensor]]
name = "window"
type = "bh1750"
history = "1s"

[[sensor]]
name = "air"
type = "aht20"
history = "1s"

[[sensor]]
name = "soc"
type = "cpu"
history = "1s"
`

// measureMQTT runs the idle daemon of measureIdle on a local Mosquitto
// (Home Assistant discovery on, commands on) and reads its memory and CPU
// time after o.idle; then a daemon reading three sensors every second
// with its broker down for o.idle, and its memory at the start and the
// end of that window.
func measureMQTT(o *options, rep *report, log *slog.Logger) error {
	r, err := newBenchRig()
	if err != nil {
		return err
	}
	defer r.close()
	port, stop, err := startMosquitto(r.dir)
	if err != nil {
		return err
	}
	defer stop()
	cfg, _, err := r.writeConfig("mqtt-idle", idleRules+fmt.Sprintf("\n[mqtt]\nbroker = \"mqtt://127.0.0.1:%d\"\ncommands = true\n", port))
	if err != nil {
		return err
	}
	d, err := startDaemon(o.pitweet, cfg, nil)
	if err != nil {
		return err
	}
	defer d.stop()
	if err := waitMQTT(d, true); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // the start-up reads and discovery, outside the window
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
	if err := waitMQTT(d, true); err != nil {
		return fmt.Errorf("%w (at the end of the window)", err)
	}
	d.stop()
	cpu := float64(t1-t0) / clockTicks / elapsed.Seconds() * 100
	rep.add("mqtt", goal("RSS (VmRSS) after the idle window, connected to the broker", mib(rss), "≤ 14 MiB", rss <= 14*1024,
		fmt.Sprintf("measureIdle's daemon (2 buttons, 2 sensors read every minute, an hourly report) with [mqtt] on a local Mosquitto %s: Home Assistant discovery and commands on; read from /proc over %s of idling, 2 s after the connection was up.",
			mosquittoVersion(), elapsed.Round(time.Second))))
	rep.add("mqtt", row{measure: "peak RSS (VmHWM), connected", value: mib(hwm)})
	rep.add("mqtt", row{measure: "CPU over the window, connected", value: fmt.Sprintf("%.3f %% of one core (%d ms in %s)", cpu, (t1-t0)*1000/clockTicks, elapsed.Round(time.Second))})

	// The broker down: a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("pitbench: %w", err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cfg, _, err = r.writeConfig("mqtt-down", fastRules+fmt.Sprintf("\n[mqtt]\nbroker = \"mqtt://%s\"\n", dead))
	if err != nil {
		return err
	}
	d, err = startDaemon(o.pitweet, cfg, nil)
	if err != nil {
		return err
	}
	defer d.stop()
	time.Sleep(10 * time.Second) // settled: the first readings, the first retries
	rss0, _, err := procStatus(d.pid)
	if err != nil {
		return err
	}
	start = time.Now()
	time.Sleep(o.idle)
	elapsed = time.Since(start)
	rss1, hwm1, err := procStatus(d.pid)
	if err != nil {
		return err
	}
	resp, err := daemon.Call(d.socket, daemon.ControlRequest{Op: "status"})
	if err != nil || resp.Status == nil || resp.Status.MQTT == nil || resp.Status.MQTT.Connected {
		return fmt.Errorf("pitbench: the broker-down daemon's status: %v %+v", err, resp)
	}
	readings := int(elapsed.Seconds()) * 3
	rep.add("mqtt", goal(fmt.Sprintf("RSS with the broker down, after %d more readings (3 sensors every second for %s)", readings, elapsed.Round(time.Second)),
		fmt.Sprintf("%s (%s when the window opened)", mib(rss1), mib(rss0)), "bounded", rss1 <= rss0+1024,
		"A minute of the simulated board's readings is an hour of the fastest real ones (a sensor is read at most every minute): only the latest reading of each quantity waits for the broker. Goal: within 1 MiB of the start."))
	rep.add("mqtt", row{measure: "peak RSS (VmHWM), broker down", value: mib(hwm1)})
	log.Info("pitbench: mqtt", "rss_connected_kib", rss, "rss_down_start_kib", rss0, "rss_down_end_kib", rss1)
	return nil
}

// waitMQTT waits up to 30 s until status says the daemon is (or is not)
// on the broker.
func waitMQTT(d *daemonProc, connected bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := daemon.Call(d.socket, daemon.ControlRequest{Op: "status"})
		if err == nil && resp.Status != nil && resp.Status.MQTT != nil && resp.Status.MQTT.Connected == connected {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pitbench: the daemon's broker connection is not %v after 30 s (%v %+v); see %s", connected, err, resp, d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mosquittoBinary is Debian's mosquitto.
func mosquittoBinary() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", fmt.Errorf("pitbench: mosquitto is missing (apt-get install mosquitto)")
}

func mosquittoVersion() string {
	bin, err := mosquittoBinary()
	if err != nil {
		return ""
	}
	out, _ := exec.Command(bin, "-h").Output()
	if line, _, ok := strings.Cut(string(out), "\n"); ok {
		return "(" + line + ")"
	}
	return ""
}

// startMosquitto runs a broker on a free loopback port that takes
// anyone, with its files in dir, and returns its port.
func startMosquitto(dir string) (port int, stop func(), err error) {
	bin, err := mosquittoBinary()
	if err != nil {
		return 0, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, fmt.Errorf("pitbench: %w", err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n", port)
	if os.Getuid() == 0 {
		text = "user root\n" + text
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return 0, nil, fmt.Errorf("pitbench: %w", err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("pitbench: start mosquitto: %w", err)
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			return port, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return 0, nil, fmt.Errorf("pitbench: mosquitto does not listen on port %d after 10 s", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
