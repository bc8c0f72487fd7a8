//go:build linux

package daemon

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"pitweet/config"
	"strings"
	"testing"
	"time"

	"pitweet/history"
	"pitweet/hw/fakehw"
	"pitweet/outbox"
)

// restart runs the daemon again on the same config, board and socket,
// after stop.
func (d *liveDaemon) restart(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.stopped = cancel, make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		d.stopped <- Run(ctx, Options{ConfigPath: d.config, Board: d.board, Socket: d.socket, Log: testLog(t), Reload: d.reload,
			Ready: func() { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-d.stopped:
		t.Fatalf("daemon did not restart: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready after 10s")
	}
}

func (d *liveDaemon) historyDir() string {
	return filepath.Join(filepath.Dir(d.config), "state", HistoryDir)
}

// askHistory asks the running daemon for history.
func askHistory(t *testing.T, socket string, series ...string) (*ControlResponse, error) {
	t.Helper()
	return Call(socket, ControlRequest{Op: "history", Series: series})
}

// waitHistory polls the history op until ok holds for the named series.
func waitHistory(t *testing.T, socket, name, what string, ok func(history.Series) bool) history.Series {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := askHistory(t, socket, name)
		if err != nil {
			t.Fatal(err)
		}
		if resp.OK && len(resp.History) == 1 && ok(resp.History[0]) {
			return resp.History[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("history of %s %s after 15s; last answer %+v", name, what, resp)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

func gaps(s history.Series) int {
	n := 0
	for _, smp := range s.Samples {
		if smp.Gap() {
			n++
		}
	}
	return n
}

// The daemon records each quantity at its history interval, answers the
// history op with the samples it has not written yet, records a failed
// read as a gap, writes everything at shutdown, and after a restart and a
// rename keeps the old series readable next to the new.
func TestDaemonRecordsHistory(t *testing.T) {
	rules := `
[[sensor]]
name = "room"
type = "bme280"
address = 0x76
history = "1s"
`
	d := startDaemon(t, rules)
	temp := waitHistory(t, d.socket, "room.Temperature", "has no 3 samples", func(s history.Series) bool { return len(s.Samples) >= 3 })
	if temp.Interval != time.Second || temp.Samples[0].V != 21.5 {
		t.Errorf("room.Temperature = %+v; want 21.5 °C every second", temp)
	}
	resp, err := askHistory(t, d.socket, "room")
	if err != nil || !resp.OK || len(resp.History) != 3 {
		t.Fatalf("history of room: %v %+v; want Humidity, Pressure and Temperature", err, resp)
	}
	st, err := Call(d.socket, ControlRequest{Op: "status"})
	if err != nil || st.Status.History == nil {
		t.Fatalf("status: %v %+v", err, st)
	}
	if h := st.Status.History; h.Recording != 3 || h.Pending == 0 || h.Dir != d.historyDir() || h.Error != "" {
		t.Errorf("status history %+v; want 3 quantities recorded, samples pending, in %s", h, d.historyDir())
	}
	// Nothing is on disk yet: the first flush is minutes away.
	if onDisk, _ := history.Read(d.historyDir(), time.Now().Add(-time.Hour), time.Now(), nil, nil); len(onDisk) != 0 {
		t.Errorf("samples on disk before the first flush: %+v", onDisk)
	}

	// A loose wire: the reads fail and leave a gap.
	d.board.SetFault(0x76, fakehw.NACK)
	waitHistory(t, d.socket, "room.Humidity", "has no gap", func(s history.Series) bool { return gaps(s) > 0 })
	d.board.SetFault(0x76, fakehw.NoFault)
	seen := waitHistory(t, d.socket, "room.Humidity", "has no reading after the gap", func(s history.Series) bool {
		return len(s.Samples) > 0 && !s.Samples[len(s.Samples)-1].Gap() && gaps(s) > 0
	})

	// Shutdown writes what was buffered.
	d.stop(t)
	onDisk, err := history.Read(d.historyDir(), time.Now().Add(-time.Hour), time.Now(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var hum history.Series
	for _, s := range onDisk {
		if s.Name == "room.Humidity" {
			hum = s
		}
	}
	if len(hum.Samples) < len(seen.Samples) || gaps(hum) == 0 {
		t.Fatalf("on disk after shutdown room.Humidity has %d samples (%d gaps); the daemon had answered %d", len(hum.Samples), gaps(hum), len(seen.Samples))
	}
	for i, smp := range seen.Samples {
		got := hum.Samples[i]
		if got.T != smp.T || got.Gap() != smp.Gap() || (!got.Gap() && got.V != smp.V) {
			t.Fatalf("sample %d answered as %+v is on disk as %+v", i, smp, got)
		}
	}

	// Restart with the sensor renamed: both names answer.
	if err := os.WriteFile(d.config, []byte(d.header+strings.Replace(rules, `"room"`, `"lounge"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	d.restart(t)
	waitHistory(t, d.socket, "lounge.Temperature", "was not recorded after the restart", func(s history.Series) bool { return len(s.Samples) > 0 })
	old, err := askHistory(t, d.socket, "room.Temperature")
	if err != nil || !old.OK || len(old.History) != 1 || len(old.History[0].Samples) < len(temp.Samples) {
		t.Fatalf("the renamed sensor's old history: %v %+v", err, old)
	}
}

func TestDaemonHistoryRefuses(t *testing.T) {
	d := startDaemon(t, `
[[sensor]]
name = "room"
type = "bme280"
history = "1s"
`)
	waitHistory(t, d.socket, "room.Pressure", "has no sample", func(s history.Series) bool { return len(s.Samples) > 0 })
	for _, c := range []struct {
		req  ControlRequest
		want string
	}{
		{ControlRequest{Op: "history", Series: []string{"attic"}}, "daemon: no history of attic from"},
		{ControlRequest{Op: "history", Series: []string{"attic"}}, "; recorded then: room.Humidity, room.Pressure, room.Temperature"},
		{ControlRequest{Op: "history", Series: []string{"../etc"}}, `daemon: "../etc" is not a sensor name or sensor.Quantity`},
		{ControlRequest{Op: "history", From: time.Now(), To: time.Now().Add(-time.Hour)}, "is empty"},
		{ControlRequest{Op: "history", From: time.Now().Add(-1000 * time.Hour)}, "longer than the history kept"},
	} {
		resp, err := Call(d.socket, c.req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.OK || !strings.Contains(resp.Error, c.want) {
			t.Errorf("%+v answered %+v; want an error containing %q", c.req, resp, c.want)
		}
	}
}

// A rule's chart is drawn from the history, samples not yet written
// included, with the generated alt text or the rule's own.
func TestRuleChart(t *testing.T) {
	cfg, err := config.Parse([]byte(`
[hardware]
mode = "fake"
[[sensor]]
name = "room"
type = "aht20"
[[report]]
every = "1h"
text = "{{.Sensors.room.Temperature}}"
chart = "3h"
[[alert]]
when = "room.Humidity > 60"
text = "damp"
chart = "3h"
alt = 'Humidity on {{.Host}}, now {{.Sensors.room.Humidity}}'
`), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	store, err := history.Open(filepath.Join(t.TempDir(), "history"), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	at := time.Now().Truncate(time.Minute)
	for m := 180; m >= 0; m-- {
		ts := at.Add(-time.Duration(m) * time.Minute)
		store.Add("room.Temperature", time.Minute, ts, 20+float64(m%60)/20)
		store.Add("room.Humidity", time.Minute, ts, 50+float64(m%30))
		if m == 90 {
			store.Flush() // half on disk, half buffered
		}
	}
	d := &runner{cfg: cfg, hist: store, log: testLog(t)}
	data := cfg.SampleData("")
	ruleChart := func(spec *config.ChartSpec) (*outbox.NewImage, error) {
		c, err := d.chartJob(spec, data, at)
		if err != nil {
			return nil, err
		}
		return d.drawChart(c)
	}
	pic, err := ruleChart(cfg.Reports[0].Chart)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(pic.Data))
	if err != nil || img.Bounds().Dx() != 1200 || img.Bounds().Dy() != 675 {
		t.Fatalf("chart: %v, %v", err, img.Bounds())
	}
	if want := "Line chart over the last 3 hours: room temperature between 20.0 and 22.9 °C, last 20.0 °C; room humidity between 50 and 79 %, last 50 %."; pic.Alt != want {
		t.Errorf("alt\n%s\nwant\n%s", pic.Alt, want)
	}
	pic, err = ruleChart(cfg.Alerts[0].Chart)
	if err != nil {
		t.Fatal(err)
	}
	if pic.Alt != "Humidity on raspberrypi, now 45 %" || len(pic.Data) == 0 {
		t.Errorf("alert chart alt %q, %d bytes", pic.Alt, len(pic.Data))
	}
	// A sensor with nothing recorded still gets a chart, saying so.
	empty, _ := history.Open(filepath.Join(t.TempDir(), "history"), history.Options{})
	defer empty.Close()
	d.hist = empty
	pic, err = ruleChart(cfg.Reports[0].Chart)
	if err != nil || !strings.Contains(pic.Alt, "room temperature with no readings") {
		t.Errorf("chart of nothing: %v, alt %q", err, pic.Alt)
	}
}

// A history directory replaced by a link (planted, or left by hand) does
// not stop the daemon: it runs without history and says why.
func TestDaemonHistoryLinkRefused(t *testing.T) {
	rules := "[[sensor]]\nname = \"room\"\ntype = \"bme280\"\nhistory = \"1s\"\n[[button]]\nname = \"bell\"\npin = \"GPIO17\"\ntext = \"ding {{.Time.UnixNano}}\"\n"
	d := startDaemon(t, rules)
	d.stop(t)
	elsewhere := t.TempDir()
	if err := os.RemoveAll(d.historyDir()); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, d.historyDir()); err != nil {
		t.Fatal(err)
	}
	d.restart(t)
	st, err := Call(d.socket, ControlRequest{Op: "status"})
	if err != nil {
		t.Fatal(err)
	}
	if h := st.Status.History; h == nil || !strings.Contains(h.Error, "not recorded: history: statedir: history is a symbolic link, not a directory; it was not read; remove it") {
		t.Errorf("status history %+v", st.Status.History)
	}
	resp, err := askHistory(t, d.socket)
	if err != nil || resp.OK || !strings.Contains(resp.Error, "sensor history is not recorded") {
		t.Errorf("history op: %v %+v", err, resp)
	}
	// Presses still post.
	if resp, err := Call(d.socket, ControlRequest{Op: "press", Button: "bell"}); err != nil || !resp.OK {
		t.Fatalf("press: %v %+v", err, resp)
	}
	waitTweets(t, d.x, 1)
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("the daemon wrote through the link: %v", entries)
	}
}

// A reload writes what was buffered and goes on recording under the new
// config; a sensor renamed by it keeps its old series.
func TestDaemonHistoryReload(t *testing.T) {
	conn := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
	rules := "[[sensor]]\nname = \"room\"\ntype = \"aht20\"\nhistory = \"1s\"\n"
	d := startDaemon(t, rules)
	waitHistory(t, d.socket, "room.Temperature", "has no sample", func(s history.Series) bool { return len(s.Samples) > 0 })
	if err := os.WriteFile(d.config, []byte(d.header+strings.Replace(rules, `"room"`, `"bath"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	d.reload <- struct{}{}
	waitNotify(t, conn, "RELOADING=1")
	waitNotify(t, conn, "READY=1")
	waitHistory(t, d.socket, "bath.Humidity", "was not recorded after the reload", func(s history.Series) bool { return len(s.Samples) > 0 })
	// The reload's flush put room's samples on disk.
	deadline := time.Now().Add(10 * time.Second)
	for {
		onDisk, err := history.Read(d.historyDir(), time.Now().Add(-time.Hour), time.Now(), func(n string) bool { return history.Match(n, "room") }, nil)
		if err == nil && len(onDisk) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("room's samples not on disk 10s after the reload: %v %+v", err, onDisk)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
	old, err := askHistory(t, d.socket, "room")
	if err != nil || !old.OK || len(old.History) != 2 {
		t.Errorf("room's history after the rename: %v %+v", err, old)
	}
}
