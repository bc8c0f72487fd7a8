package chart_test

import (
	"bytes"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pitweet/chart"
	"pitweet/daemon"
	"pitweet/history"
	"pitweet/hw/fakehw"
)

var updateDocs = flag.Bool("update-docs", false, "redraw docs/chart-24h.png")

// docsChart is the path of the example chart in the documentation.
const docsChart = "../docs/chart-24h.png"

// TestDocsChart draws the chart the README shows: a day of the simulated
// room (fakehw's daily environment) recorded once a minute into a history
// store, as the daemon records it, with the BME280 unplugged for 40
// minutes in the night; then read back and drawn as `pitweet chart
// --sensor room.Temperature --sensor room.Humidity --sensor air.CO2` would.
// With -update-docs it rewrites the file; otherwise it checks the
// committed one is such a chart.
func TestDocsChart(t *testing.T) {
	if !*updateDocs {
		data, err := os.ReadFile(docsChart)
		if err != nil {
			t.Fatalf("%v; go test ./chart -run TestDocsChart -update-docs draws it", err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil || img.Bounds().Dx() != chart.DefaultWidth || img.Bounds().Dy() != chart.DefaultHeight || len(data) > 150<<10 {
			t.Fatalf("%s: %v, %v, %d bytes; want a 1200x675 PNG of at most 150 KB", docsChart, err, img.Bounds(), len(data))
		}
		return
	}
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 11, 28, 9, 0, 0, 0, loc)
	start := end.Add(-24 * time.Hour)
	store, err := history.Open(filepath.Join(t.TempDir(), "history"), history.Options{Now: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	unplugged := func(at time.Time) bool { return at.Hour() == 2 && at.Minute() >= 10 && at.Minute() < 50 }
	for at := start; !at.After(end); at = at.Add(time.Minute) {
		e := fakehw.DailyEnv(at)
		temp, hum := e.Temperature, e.Humidity
		if unplugged(at) {
			temp, hum = math.NaN(), math.NaN()
		}
		store.Add("room.Temperature", time.Minute, at, temp)
		store.Add("room.Humidity", time.Minute, at, hum)
		store.Add("air.CO2", time.Minute, at, e.CO2)
	}
	series, err := store.Query(start, end, nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]history.Series{}
	for _, s := range series {
		byName[s.Name] = history.Downsample(s, daemon.HistoryPoints)
	}
	ordered := []history.Series{byName["room.Temperature"], byName["room.Humidity"], byName["air.CO2"]}
	lines := daemon.ChartLines(ordered)
	opts := chart.Options{From: start, To: end, Location: loc}
	var buf bytes.Buffer
	if err := chart.Render(&buf, lines, opts); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(docsChart), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(docsChart, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s, %d bytes; alt text: %s", docsChart, buf.Len(), chart.Alt(lines, opts))
}
