package chart

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"pitweet/history"
)

// MaxAlt is the longest alt text X accepts, in characters.
const MaxAlt = 1000

// Alt describes the chart of lines in words, for a screen reader: what is
// charted over which window, each line's range and last reading, and where
// readings are missing, as in
//
//	Line chart of room temperature over the last 24 hours, between 19.2 and
//	23.4 °C, last 21.3 °C.
//
// It is at most MaxAlt characters.
func Alt(lines []Line, opts Options) string {
	from, to := window(lines, opts)
	loc := opts.Location
	if loc == nil {
		loc = time.Local
	}
	over := "over the " + windowWords(from, to)
	if !strings.HasPrefix(windowWords(from, to), "last ") {
		over = "from " + from.In(loc).Format("Mon 2 Jan 15:04") + " to " + to.In(loc).Format("Mon 2 Jan 15:04")
	}
	var b strings.Builder
	switch len(lines) {
	case 0:
		return "Empty chart"
	case 1:
		fmt.Fprintf(&b, "Line chart of %s %s, %s.", lines[0].label(), over, describe(lines[0], from, to))
	default:
		fmt.Fprintf(&b, "Line chart %s: ", over)
		for i, l := range lines {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s %s", l.label(), describe(l, from, to))
		}
		b.WriteString(".")
	}
	for _, l := range lines {
		if g := gaps(l, from, to, loc); g != "" {
			b.WriteString(" " + g)
		}
	}
	return clip(b.String(), MaxAlt)
}

// describe says a line's range and last reading: "between 19.2 and 23.4
// °C, last 21.3 °C".
func describe(l Line, from, to time.Time) string {
	ss := visible(l.Samples, from, to)
	var lo, hi, last *history.Sample
	for i := range ss {
		s := &ss[i]
		if s.Gap() {
			continue
		}
		if lo == nil || s.V < lo.V {
			lo = s
		}
		if hi == nil || s.V > hi.V {
			hi = s
		}
		last = s
	}
	if last == nil {
		return "with no readings"
	}
	d := unitDigits(l.Unit)
	unit := ""
	if l.Unit != "" {
		unit = " " + l.Unit
	}
	if formatValue(lo.V, d) == formatValue(hi.V, d) {
		return "steady at " + formatValue(last.V, d) + unit
	}
	return fmt.Sprintf("between %s and %s%s, last %s%s", formatValue(lo.V, d), formatValue(hi.V, d), unit, formatValue(last.V, d), unit)
}

// gaps says where a line has no readings: "No readings of room humidity
// between 02:10 and 03:40" (the readings on either side). With more than
// two gaps it counts them.
func gaps(l Line, from, to time.Time, loc *time.Location) string {
	ss := visible(l.Samples, from, to)
	var spans []string
	for i, s := range ss {
		if !s.Gap() {
			continue
		}
		start, end := s.Time(), to
		if i > 0 && !ss[i-1].Gap() {
			start = ss[i-1].Time()
		}
		for _, n := range ss[i+1:] {
			if !n.Gap() {
				end = n.Time()
				break
			}
		}
		format := "15:04"
		if end.Sub(start) >= 24*time.Hour || start.In(loc).YearDay() != end.In(loc).YearDay() {
			format = "Mon 15:04"
		}
		spans = append(spans, "between "+start.In(loc).Format(format)+" and "+end.In(loc).Format(format))
	}
	switch {
	case len(spans) == 0:
		return ""
	case len(spans) > 2:
		return fmt.Sprintf("%d gaps in the readings of %s.", len(spans), l.label())
	}
	return "No readings of " + l.label() + " " + strings.Join(spans, " and ") + "."
}

// clip shortens s to at most n characters, ending with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
