package history

import (
	"fmt"
	"testing"
	"time"

	"pitweet/hw/fakehw"
)

// TestMonthSize checks the bound the documentation states: 31 days of ten
// quantities, a sample a minute of the simulated room (noise included),
// written a block per 10-minute flush and a segment per day, take about
// 2.3 MiB.
func TestMonthSize(t *testing.T) {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	total := 0
	var batch map[string][]Sample
	flush := func() {
		var chunks []chunk
		for _, name := range sortedKeys(batch) {
			chunks = append(chunks, chunk{name: name, interval: time.Minute, samples: batch[name]})
		}
		for _, b := range packBlocks(chunks) {
			total += len(b.data)
		}
		batch = map[string][]Sample{}
	}
	batch = map[string][]Sample{}
	for m := range 31 * 24 * 60 {
		at := start.Add(time.Duration(m) * time.Minute)
		if m%(24*60) == 0 {
			total += len(segmentMagic)
		}
		e := fakehw.DailyEnv(at)
		for i, v := range []float64{e.Temperature, e.Humidity, e.Pressure, e.CO2, e.Illuminance, e.CPUTemperature,
			e.Temperature + 0.3, e.Humidity - 2, e.CO2 + 10, e.Temperature - 1} {
			name := fmt.Sprintf("sensor%d.Quantity", i)
			batch[name] = append(batch[name], Sample{T: at.UnixMilli(), V: v})
		}
		if m%10 == 9 {
			flush()
		}
	}
	perSample := float64(total) / (31 * 24 * 60 * 10)
	t.Logf("31 days of 10 quantities a minute: %d bytes (%.2f MiB), %.1f bytes a sample, %.0f KiB a day", total, float64(total)/(1<<20), perSample, float64(total)/31/1024)
	if total > 2.5*(1<<20) {
		t.Errorf("a month of ten quantities takes %d bytes; the documentation says about 2.3 MiB", total)
	}
}
