package history

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"pitweet/statedir"
)

// Read returns the series in the history directory dir selected by match
// (nil: all), with their samples from from to to. It reads only what is
// on disk; a running daemon also has the samples of its current flush
// window (ask it over the control socket). Damaged blocks and files that
// are not segments are skipped and logged to log (nil discards).
func Read(dir string, from, to time.Time, match func(name string) bool, log *slog.Logger) ([]Series, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := openDir(dir, false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("history: nothing recorded yet: %w", err)
		}
		return nil, err
	}
	defer d.Close()
	q := newQuery(from, to, match)
	q.readDir(d, log, map[string]bool{})
	return q.result(), nil
}

// Match reports whether series name (sensor.Quantity) is selected by
// pattern: "room" selects every quantity of sensor room, "room.Temperature"
// that one only. Case matters.
func Match(name, pattern string) bool {
	if name == pattern {
		return true
	}
	sensor, _, _ := strings.Cut(name, ".")
	return sensor == pattern
}

// ValidName reports whether name is a series name: a sensor name and a
// quantity, each a letter or _ followed by letters, digits and _, joined
// by a dot, at most 128 bytes in all.
func ValidName(name string) bool {
	sensor, quantity, ok := strings.Cut(name, ".")
	return ok && len(name) <= maxName && ident(sensor) && ident(quantity)
}

// ValidPattern reports whether p can select series: a sensor name, or a
// series name.
func ValidPattern(p string) bool {
	if strings.Contains(p, ".") {
		return ValidName(p)
	}
	return len(p) <= maxName && ident(p)
}

func ident(s string) bool {
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// A query collects samples in a window, series by series, in the order
// they were recorded, making gaps explicit as it goes.
type query struct {
	from, to int64
	match    func(string) bool
	series   map[string]*collected
}

type collected struct {
	s     Series
	lastT int64         // the last sample seen, in or before the window
	lastI time.Duration // the interval it was recorded at
	seen  bool
}

func newQuery(from, to time.Time, match func(string) bool) *query {
	return &query{from: from.UnixMilli(), to: to.UnixMilli(), match: match, series: map[string]*collected{}}
}

// gapAfter is how long a series may go without a sample before the
// silence counts as a gap: a missed reading or two is jitter, not a gap.
func gapAfter(interval time.Duration) time.Duration {
	return max(3*interval, interval+10*time.Second)
}

// add takes the samples of one chunk, in recording order.
func (q *query) add(c chunk) {
	if q.match != nil && !q.match(c.name) {
		return
	}
	col := q.series[c.name]
	if col == nil {
		col = &collected{s: Series{Name: c.name}}
		q.series[c.name] = col
	}
	col.s.Interval = c.interval
	for _, smp := range c.samples {
		if col.seen {
			iv := max(c.interval, col.lastI)
			if smp.T-col.lastT > gapAfter(iv).Milliseconds() {
				q.keep(col, Sample{T: col.lastT + iv.Milliseconds(), V: math.NaN()})
			}
		}
		col.seen, col.lastT, col.lastI = true, smp.T, c.interval
		q.keep(col, smp)
	}
}

func (q *query) keep(col *collected, s Sample) {
	if s.T < q.from || s.T > q.to {
		return
	}
	// Two gaps in a row say no more than one.
	if n := len(col.s.Samples); s.Gap() && n > 0 && col.s.Samples[n-1].Gap() {
		return
	}
	col.s.Samples = append(col.s.Samples, s)
}

// result returns the series that have samples in the window, by name,
// each sorted by time (a clock set back can record out of order).
func (q *query) result() []Series {
	var out []Series
	for _, name := range sortedKeys(q.series) {
		s := q.series[name].s
		if len(s.Samples) == 0 {
			continue
		}
		slices.SortStableFunc(s.Samples, func(a, b Sample) int { return cmp.Compare(a.T, b.T) })
		out = append(out, s)
	}
	return out
}

// readDir reads every segment in d that may hold samples of the window.
// A file it cannot read is skipped and logged once (warned remembers the
// files logged).
func (q *query) readDir(d *statedir.Dir, log *slog.Logger, warned map[string]bool) {
	warn := func(file, msg string, args ...any) {
		if !warned[file] {
			warned[file] = true
			log.Warn(msg, append([]any{"file", file}, args...)...)
		}
	}
	for _, seg := range listSegments(d) {
		// A segment has samples from its start (less the flush window
		// buffered before it) to the end of its UTC day; a day's margin
		// on each side keeps samples found when the clock was stepped.
		start := seg.start.Add(-24 * time.Hour).UnixMilli()
		end := seg.start.UTC().Truncate(24 * time.Hour).Add(48 * time.Hour).UnixMilli()
		if end < q.from || start > q.to {
			continue
		}
		if err := q.readFile(d, seg.name); err != nil {
			switch {
			case errors.Is(err, errDamaged):
				warn(d.Join(seg.name), "history: a segment ends in a damaged block (power cut?); its earlier blocks are read", "err", err)
			default:
				warn(d.Join(seg.name), "history: skipping a file that is not a readable segment; remove it", "err", err)
			}
		}
	}
}

// readFile reads one segment file, through statedir's checks: a regular
// file with one name, of at most maxSegment bytes, read through a limit.
func (q *query) readFile(d *statedir.Dir, name string) error {
	f, fi, err := d.OpenFile(name, maxSegment)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = readSegment(io.LimitReader(f, fi.Size()), q.add)
	return err
}

// A segmentFile is a file in the history directory named as a segment.
type segmentFile struct {
	name  string
	start time.Time
	size  int64
	ours  bool // a regular file no bigger than a segment can be
}

const segmentLayout = "20060102T150405.000000Z"

func segmentName(t time.Time) string { return t.UTC().Format(segmentLayout) + ".seg" }

// listSegments lists the files in d named as segments, oldest first.
// Anything else is left alone.
func listSegments(d *statedir.Dir) []segmentFile {
	entries, err := d.Entries()
	if err != nil {
		return nil
	}
	var out []segmentFile
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok || e.IsDir() {
			continue
		}
		start, err := time.Parse(segmentLayout, base)
		if err != nil {
			continue
		}
		seg := segmentFile{name: e.Name(), start: start}
		if fi, err := e.Info(); err == nil {
			seg.size = fi.Size()
			seg.ours = fi.Mode().IsRegular() && seg.size <= maxSegment
		}
		out = append(out, seg)
	}
	slices.SortFunc(out, func(a, b segmentFile) int { return a.start.Compare(b.start) })
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// Downsample returns s with at most n samples (n >= 10), for a chart
// that cannot show more: the first and the last sample, and of each of
// (n-2)/5 equal spans of time its lowest and highest value (so peaks
// survive) and, where readings stop or start again, the gap and the
// readings on either side of it (so a gap is drawn where it was). A series
// with n samples or fewer is returned as is.
func Downsample(s Series, n int) Series {
	n = max(n, 10)
	ss := s.Samples
	if len(ss) <= n {
		return s
	}
	buckets := int64((n - 2) / 5)
	first, last := ss[0].T, ss[len(ss)-1].T
	span := max((last-first)/buckets+1, 1)
	out := Series{Name: s.Name, Interval: s.Interval, Samples: make([]Sample, 0, n)}
	emitted := -1
	var keep []int
	for i := 0; i < len(ss); {
		b := (ss[i].T - first) / span
		lo, hi, gap, after := -1, -1, -1, -1
		j := i
		for ; j < len(ss) && (ss[j].T-first)/span == b; j++ {
			switch {
			case ss[j].Gap():
				if gap < 0 {
					gap = j
				}
			case lo < 0:
				lo, hi = j, j
			case ss[j].V < ss[lo].V:
				lo = j
			case ss[j].V > ss[hi].V:
				hi = j
			}
			if !ss[j].Gap() && j > 0 && ss[j-1].Gap() {
				after = j // the last reading in the span that ends a gap
			}
		}
		keep = append(keep[:0], lo, hi, gap, after)
		if gap > 0 {
			keep = append(keep, gap-1) // the reading before the gap
		}
		if i == 0 {
			keep = append(keep, 0)
		}
		if j == len(ss) {
			keep = append(keep, j-1)
		}
		slices.Sort(keep)
		for _, k := range keep {
			if k <= emitted {
				continue
			}
			emitted = k
			if m := len(out.Samples); ss[k].Gap() && m > 0 && out.Samples[m-1].Gap() {
				continue // one gap says it
			}
			out.Samples = append(out.Samples, ss[k])
		}
		i = j
	}
	return out
}
