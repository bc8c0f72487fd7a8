package chart

import (
	"math"
	"strconv"
	"time"
)

// niceStep is a round step (1, 2, 2.5 or 5 times a power of ten) that cuts
// span into at most n intervals.
func niceStep(span float64, n int) float64 {
	if span <= 0 || n < 1 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw*(1-1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// valueTicks returns the multiples of step from lo to hi.
func valueTicks(lo, hi, step float64) []float64 {
	var out []float64
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		out = append(out, v)
		if len(out) > 100 {
			break
		}
	}
	return out
}

// stepDigits is how many decimals the labels of a step need.
func stepDigits(step float64) int {
	d := 0
	for s := step; d < 6 && math.Abs(s-math.Round(s)) > 1e-6*step; s *= 10 {
		d++
	}
	return d
}

// formatValue prints v with digits decimals, without a minus on zero.
func formatValue(v float64, digits int) string {
	s := strconv.FormatFloat(v, 'f', digits, 64)
	if s == "-0" || (len(s) > 2 && s[:3] == "-0." && math.Abs(v) < 0.5*math.Pow(10, -float64(digits))) {
		return s[1:]
	}
	return s
}

// unitDigits is how many decimals a reading in unit is worth, as the
// daemon prints readings: 21.5 °C, 1013.2 hPa, 45 %, 612 ppm, 320 lux.
func unitDigits(unit string) int {
	switch unit {
	case "%", "ppm", "lux":
		return 0
	}
	return 1
}

// minSpan is the least a value axis spans in unit.
func minSpan(unit string) float64 {
	switch unit {
	case "%":
		return 5
	case "hPa":
		return 2
	case "ppm", "lux":
		return 50
	}
	return 1
}

// timeSteps are the spacings the time axis may use.
var timeSteps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour,
}

// timeTicks returns at most n instants from from to to on round local
// times (every 3 hours: 00:00, 03:00, …), and the step between them.
// Steps are counted on the wall clock, so a change to or from summer time
// keeps the labels round.
func timeTicks(from, to time.Time, loc *time.Location, n int) ([]time.Time, time.Duration) {
	span := to.Sub(from)
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if span/s <= time.Duration(max(n, 1)) {
			step = s
			break
		}
	}
	f := from.In(loc)
	y, m, d := f.Date()
	var out []time.Time
	for k := 0; len(out) <= n+1 && k < 100000; k++ {
		var t time.Time
		if step >= 24*time.Hour {
			t = time.Date(y, m, d+k*int(step/(24*time.Hour)), 0, 0, 0, 0, loc)
		} else {
			t = time.Date(y, m, d, 0, k*int(step/time.Minute), 0, 0, loc)
		}
		if t.Before(from) {
			continue
		}
		if t.After(to) {
			break
		}
		out = append(out, t)
	}
	return out, step
}

// timeLabel is how a tick is labelled: the time of day, or the day at
// midnight and for steps of a day or more.
func timeLabel(t time.Time, step time.Duration) string {
	if step >= 24*time.Hour || (t.Hour() == 0 && t.Minute() == 0) {
		return t.Format("Mon 2")
	}
	return t.Format("15:04")
}

// SpanWords says a window's length the way a reader would: "24 hours",
// "7 days", "90 minutes".
func SpanWords(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.FormatInt(n, 10) + " " + unit + "s"
	}
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	}
	return d.Round(time.Second).String()
}
