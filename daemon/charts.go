package daemon

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"pitweet/chart"
	"pitweet/config"
	"pitweet/history"
	"pitweet/outbox"
)

// The sensor history over the control socket ("history"), and the charts
// of reports and alerts.

const (
	// MaxHistorySeries is the most series one history answer carries:
	// what one chart can show.
	MaxHistorySeries = chart.MaxLines
	// HistoryPoints is the most samples a series has in an answer; a
	// chart is narrower than that in pixels, and the lowest and highest
	// values are kept (history.Downsample).
	HistoryPoints = 1200
	// DefaultHistoryWindow is the window of a history request that names
	// none.
	DefaultHistoryWindow = 24 * time.Hour
	// maxPatterns bounds the names one request may ask for.
	maxPatterns = 64
)

// A HistoryReader reads the series selected by match over a window: a
// running daemon's store (with the samples not yet written), or
// history.Read on a state directory.
type HistoryReader func(from, to time.Time, match func(name string) bool) ([]history.Series, error)

// QueryHistory reads the series patterns select (a sensor name selects
// all of its quantities, "sensor.Quantity" one; none selects everything
// recorded) from from to to, each cut down to HistoryPoints samples. A
// zero to means now, a zero from a day before to. A pattern that matches
// nothing recorded in the window is an error that lists what was.
func QueryHistory(read HistoryReader, patterns []string, from, to, now time.Time) ([]history.Series, error) {
	if len(patterns) > maxPatterns {
		return nil, fmt.Errorf("daemon: %d names asked for; at most %d", len(patterns), maxPatterns)
	}
	for _, p := range patterns {
		if !history.ValidPattern(p) {
			return nil, fmt.Errorf("daemon: %q is not a sensor name or sensor.Quantity (such as room or room.Temperature)", p)
		}
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-DefaultHistoryWindow)
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("daemon: the window from %s to %s is empty", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if to.Sub(from) > history.Retention+24*time.Hour {
		return nil, fmt.Errorf("daemon: a window of %v is longer than the history kept (%v)", to.Sub(from).Round(time.Hour), history.Retention)
	}
	all, err := read(from, to, nil)
	if err != nil {
		return nil, err
	}
	var out []history.Series
	var missing []string
	for _, p := range patterns {
		found := false
		for _, s := range all {
			if history.Match(s.Name, p) {
				found = true
			}
		}
		if !found {
			missing = append(missing, p)
		}
	}
	for _, s := range all {
		if len(patterns) == 0 || slices.ContainsFunc(patterns, func(p string) bool { return history.Match(s.Name, p) }) {
			out = append(out, history.Downsample(s, HistoryPoints))
		}
	}
	window := from.Local().Format("Jan 2 15:04") + " to " + to.Local().Format("Jan 2 15:04")
	recorded := "nothing"
	if len(all) > 0 {
		var names []string
		for _, s := range all {
			names = append(names, s.Name)
		}
		recorded = strings.Join(names, ", ")
	}
	switch {
	case len(missing) > 0:
		return nil, fmt.Errorf("daemon: no history of %s from %s; recorded then: %s", strings.Join(missing, ", "), window, recorded)
	case len(out) == 0:
		return nil, fmt.Errorf("daemon: nothing recorded from %s; the daemon records each sensor once a minute unless its history is off", window)
	case len(out) > MaxHistorySeries:
		return nil, fmt.Errorf("daemon: %d quantities recorded from %s, more than a chart shows (%d); name the sensors or sensor.Quantity to draw", len(out), window, MaxHistorySeries)
	}
	return out, nil
}

// historyAnswer answers the control request "history".
func (d *runner) historyAnswer(req ControlRequest, now time.Time) ControlResponse {
	if d.hist == nil {
		return ControlResponse{Error: fmt.Sprintf("daemon: sensor history is not recorded: %v", d.histErr)}
	}
	series, err := QueryHistory(d.hist.Query, req.Series, req.From, req.To, now)
	if err != nil {
		return ControlResponse{Error: err.Error()}
	}
	return ControlResponse{OK: true, History: series}
}

// historyState is the history's part of the status.
func (d *runner) historyState() *HistoryState {
	h := &HistoryState{Dir: d.histDir}
	if d.hist == nil {
		h.Error = fmt.Sprintf("not recorded: %v", d.histErr)
		return h
	}
	d.st.mu.Lock()
	h.Recording = d.st.recording
	d.st.mu.Unlock()
	h.Pending = d.hist.Pending()
	h.Bytes = d.hist.Usage().Bytes
	if err := d.hist.LastError(); err != nil {
		h.Error = err.Error()
	}
	return h
}

// ChartLines turns series into chart lines, each with its quantity's unit.
func ChartLines(series []history.Series) []chart.Line {
	lines := make([]chart.Line, len(series))
	for i, s := range series {
		_, q, _ := strings.Cut(s.Name, ".")
		lines[i] = chart.Line{Name: s.Name, Unit: config.Quantities[q], Samples: s.Samples}
	}
	return lines
}

// drawChart draws chart c from the history read: its series over its
// window, each cut down to HistoryPoints samples, with c's alt text or,
// when it has none, a description of the chart.
func drawChart(read HistoryReader, c chartJob) (*outbox.NewImage, error) {
	series, err := read(c.from, c.to, func(n string) bool { return slices.Contains(c.names, n) })
	if err != nil {
		return nil, err
	}
	lines := make([]chart.Line, len(c.names))
	for i, n := range c.names {
		lines[i] = ChartLines([]history.Series{{Name: n}})[0]
		for _, s := range series {
			if s.Name == n {
				lines[i].Samples = history.Downsample(s, HistoryPoints).Samples
			}
		}
	}
	opts := chart.Options{From: c.from, To: c.to}
	var buf bytes.Buffer
	if err := chart.Render(&buf, lines, opts); err != nil {
		return nil, err
	}
	alt := c.alt
	if alt == "" {
		alt = chart.Alt(lines, opts)
	}
	return &outbox.NewImage{Data: buf.Bytes(), Alt: alt}, nil
}
