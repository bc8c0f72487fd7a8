package history

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// A Series in JSON, compact for the control socket:
//
//	{"name":"room.Temperature","interval":"1m0s","t0":1764547200000,
//	 "dt":[60000,60012],"v":[21.5,null,21.48]}
//
// t0 is the first sample's time in Unix milliseconds, dt the step to each
// following sample, v the values with null for a gap.
type wireSeries struct {
	Name     string     `json:"name"`
	Interval string     `json:"interval"`
	T0       int64      `json:"t0"`
	DT       []int64    `json:"dt"`
	V        []*float64 `json:"v"`
}

// MarshalJSON encodes s as above.
func (s Series) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 64+12*len(s.Samples))
	b = append(b, `{"name":`...)
	b = strconv.AppendQuote(b, s.Name)
	b = append(b, `,"interval":`...)
	b = strconv.AppendQuote(b, s.Interval.String())
	var t0 int64
	if len(s.Samples) > 0 {
		t0 = s.Samples[0].T
	}
	b = append(b, `,"t0":`...)
	b = strconv.AppendInt(b, t0, 10)
	b = append(b, `,"dt":[`...)
	for i := 1; i < len(s.Samples); i++ {
		if i > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, s.Samples[i].T-s.Samples[i-1].T, 10)
	}
	b = append(b, `],"v":[`...)
	for i, smp := range s.Samples {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(smp.V) || math.IsInf(smp.V, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, smp.V, 'f', -1, 64)
	}
	return append(b, "]}"...), nil
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (s *Series) UnmarshalJSON(data []byte) error {
	var w wireSeries
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	if !ValidName(w.Name) {
		return fmt.Errorf("history: %q is not a series name", w.Name)
	}
	iv, err := time.ParseDuration(w.Interval)
	if err != nil {
		return fmt.Errorf("history: series %s: interval: %w", w.Name, err)
	}
	if len(w.V) > 0 && len(w.DT) != len(w.V)-1 || len(w.V) == 0 && len(w.DT) != 0 {
		return fmt.Errorf("history: series %s: %d steps for %d values", w.Name, len(w.DT), len(w.V))
	}
	out := Series{Name: w.Name, Interval: iv, Samples: make([]Sample, len(w.V))}
	t := w.T0
	for i, v := range w.V {
		if i > 0 {
			t += w.DT[i-1]
		}
		out.Samples[i] = Sample{T: t, V: math.NaN()}
		if v != nil {
			out.Samples[i].V = *v
		}
	}
	*s = out
	return nil
}
