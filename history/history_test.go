package history

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// fakeNow is a settable clock.
type fakeNow struct{ t time.Time }

func (c *fakeNow) now() time.Time { return c.t }

func openStore(t *testing.T, dir string, clock *fakeNow) *Store {
	t.Helper()
	s, err := Open(dir, Options{Now: clock.now, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func mustAdd(t *testing.T, s *Store, name string, iv time.Duration, at time.Time, v float64) {
	t.Helper()
	if err := s.Add(name, iv, at, v); err != nil {
		t.Fatal(err)
	}
}

func samplesString(ss []Sample) string {
	var b strings.Builder
	for _, s := range ss {
		if s.Gap() {
			b.WriteString(s.Time().UTC().Format("15:04:05") + "=gap ")
			continue
		}
		b.WriteString(s.Time().UTC().Format("15:04:05") + "=" + formatV(s.V) + " ")
	}
	return strings.TrimSpace(b.String())
}

func formatV(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// What is added comes back, to a hundredth, from the buffer before a
// flush and from the disk after, once each.
func TestAddFlushRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "history")
	clock := &fakeNow{t0}
	s := openStore(t, dir, clock)
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Minute)
		mustAdd(t, s, "room.Temperature", time.Minute, at, 21.5+float64(i)*0.123)
		v := 45.0 + float64(i)
		if i == 2 {
			v = math.NaN() // a failed read
		}
		mustAdd(t, s, "room.Humidity", time.Minute, at, v)
	}
	want := map[string]string{
		"room.Temperature": "10:00:00=21.5 10:01:00=21.62 10:02:00=21.75 10:03:00=21.87 10:04:00=21.99",
		"room.Humidity":    "10:00:00=45 10:01:00=46 10:02:00=gap 10:03:00=48 10:04:00=49",
	}
	check := func(what string, got []Series) {
		t.Helper()
		if len(got) != 2 {
			t.Fatalf("%s: %d series, want 2: %+v", what, len(got), got)
		}
		for _, sr := range got {
			if g := samplesString(sr.Samples); g != want[sr.Name] || sr.Interval != time.Minute {
				t.Errorf("%s: %s (every %v) = %s\nwant %s", what, sr.Name, sr.Interval, g, want[sr.Name])
			}
		}
	}
	all := func(string) bool { return true }
	got, err := s.Query(t0, t0.Add(time.Hour), all)
	if err != nil {
		t.Fatal(err)
	}
	check("buffered", got)
	if onDisk, _ := Read(dir, t0, t0.Add(time.Hour), nil, nil); len(onDisk) != 0 {
		t.Fatalf("before a flush the disk has %+v", onDisk)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if s.Pending() != 0 {
		t.Errorf("%d samples pending after a flush", s.Pending())
	}
	got, err = s.Query(t0, t0.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	check("queried after flush", got)
	got, err = Read(dir, t0, t0.Add(time.Hour), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("read from disk", got)

	// A window and a selection.
	got, _ = Read(dir, t0.Add(90*time.Second), t0.Add(3*time.Minute), func(n string) bool { return Match(n, "room.Temperature") }, nil)
	if len(got) != 1 || samplesString(got[0].Samples) != "10:02:00=21.75 10:03:00=21.87" {
		t.Errorf("window 10:01:30-10:03 of room.Temperature = %+v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("room.Temperature", time.Minute, t0, 1); err != nil || s.Pending() != 0 {
		t.Errorf("Add after Close: %v, %d pending; want it dropped", err, s.Pending())
	}
}

// Each process writes its own segments; a restart and a renamed sensor
// leave the old history readable, and time that nothing was recorded in
// reads as a gap.
func TestRestartRenameAndGaps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "history")
	clock := &fakeNow{t0}
	s := openStore(t, dir, clock)
	for i := range 3 {
		mustAdd(t, s, "room.Temperature", time.Minute, t0.Add(time.Duration(i)*time.Minute), 20+float64(i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Down for ten minutes; back with the sensor renamed "lounge".
	clock.t = t0.Add(12 * time.Minute)
	s = openStore(t, dir, clock)
	for i := range 3 {
		at := t0.Add(time.Duration(12+i) * time.Minute)
		mustAdd(t, s, "room.Temperature", time.Minute, at, 30+float64(i)) // one read before the rename
		mustAdd(t, s, "lounge.Temperature", time.Minute, at, 25)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(segmentsIn(t, dir)); n != 2 {
		t.Errorf("%d segments after two runs, want 2", n)
	}
	got, err := Read(dir, t0, t0.Add(time.Hour), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, sr := range got {
		names = append(names, sr.Name)
	}
	if !slices.Equal(names, []string{"lounge.Temperature", "room.Temperature"}) {
		t.Fatalf("series %v", names)
	}
	if g, w := samplesString(got[1].Samples), "10:00:00=20 10:01:00=21 10:02:00=22 10:03:00=gap 10:12:00=30 10:13:00=31 10:14:00=32"; g != w {
		t.Errorf("room.Temperature = %s\nwant %s", g, w)
	}
	// A pause of two intervals is jitter, not a gap.
	s = openStore(t, dir, clock)
	mustAdd(t, s, "hall.Temperature", time.Minute, t0, 1)
	mustAdd(t, s, "hall.Temperature", time.Minute, t0.Add(2*time.Minute), 2)
	got, _ = s.Query(t0, t0.Add(time.Hour), func(n string) bool { return Match(n, "hall") })
	if len(got) != 1 || samplesString(got[0].Samples) != "10:00:00=1 10:02:00=2" {
		t.Errorf("hall = %+v", got)
	}
	s.Close()
}

// Segments older than the retention are deleted, and the oldest when all
// of them take more than the byte bound; the one being written stays.
func TestRetention(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "history")
	clock := &fakeNow{t0}
	for day := range 5 {
		clock.t = t0.Add(time.Duration(day) * 24 * time.Hour)
		s, err := Open(dir, Options{Now: clock.now, Retention: 3 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		mustAdd(t, s, "room.Temperature", time.Minute, clock.t, float64(day))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := Read(dir, t0.Add(-time.Hour), t0.Add(10*24*time.Hour), nil, nil)
	if len(got) != 1 || samplesString(got[0].Samples) != "10:00:00=1 10:01:00=gap 10:00:00=2 10:01:00=gap 10:00:00=3 10:01:00=gap 10:00:00=4" {
		t.Errorf("after 5 days with a 3-day retention: %+v", got)
	}
	if n := len(segmentsIn(t, dir)); n != 4 {
		t.Errorf("%d segments kept, want 4 (days 1 to 4)", n)
	}

	// A byte bound of one segment's size keeps the newest only.
	size := segmentsIn(t, dir)[0].size
	s, err := Open(dir, Options{Now: clock.now, MaxBytes: size})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if segs := segmentsIn(t, dir); len(segs) != 1 || !segs[0].start.Equal(t0.Add(4*24*time.Hour)) {
		t.Errorf("with a %d-byte bound: %+v", size, segs)
	}
}

// A new UTC day starts a new segment.
func TestDailySegments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "history")
	clock := &fakeNow{time.Date(2026, 11, 27, 23, 55, 0, 0, time.UTC)}
	s := openStore(t, dir, clock)
	mustAdd(t, s, "room.Temperature", time.Minute, clock.t, 1)
	s.Flush()
	clock.t = clock.t.Add(10 * time.Minute)
	mustAdd(t, s, "room.Temperature", time.Minute, clock.t, 2)
	s.Flush()
	s.Close()
	segs := segmentsIn(t, dir)
	if len(segs) != 2 || segs[0].start.Day() != 27 || segs[1].start.Day() != 28 {
		t.Errorf("segments %+v, want one on the 27th and one on the 28th", segs)
	}
}

// The power-cut model: a segment cut anywhere, or with its tail garbled,
// reads as the blocks before the damage, whole and exact.
func TestPowerCutModel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "history")
	clock := &fakeNow{t0}
	s := openStore(t, dir, clock)
	// Five flushes: five blocks.
	var ends []int64
	for b := range 5 {
		for i := range 10 {
			at := t0.Add(time.Duration(b*10+i) * time.Minute)
			mustAdd(t, s, "room.Temperature", time.Minute, at, 20+float64(b*10+i)/100)
			mustAdd(t, s, "room.CO2", time.Minute, at, float64(400+b*10+i))
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, s.segSize)
	}
	s.Close()
	path := filepath.Join(dir, segmentsIn(t, dir)[0].name)
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// blocksBefore is how many whole blocks the first n bytes hold.
	blocksBefore := func(n int64) int {
		k := 0
		for _, e := range ends {
			if e <= n {
				k++
			}
		}
		return k
	}
	check := func(what string, data []byte, wantBlocks int) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Read(dir, t0.Add(-time.Hour), t0.Add(24*time.Hour), nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if wantBlocks == 0 {
			if len(got) != 0 {
				t.Fatalf("%s: read %+v, want nothing", what, got)
			}
			return
		}
		if len(got) != 2 {
			t.Fatalf("%s: %d series, want 2", what, len(got))
		}
		for _, sr := range got {
			if len(sr.Samples) != 10*wantBlocks {
				t.Fatalf("%s: %s has %d samples, want %d", what, sr.Name, len(sr.Samples), 10*wantBlocks)
			}
			for i, smp := range sr.Samples {
				want := 20 + float64(i)/100
				if sr.Name == "room.CO2" {
					want = float64(400 + i)
				}
				if smp.T != t0.Add(time.Duration(i)*time.Minute).UnixMilli() || math.Abs(smp.V-want) > 1e-9 {
					t.Fatalf("%s: %s sample %d = %+v, want %v at +%dmin", what, sr.Name, i, smp, want, i)
				}
			}
		}
	}
	for n := int64(0); n <= int64(len(whole)); n++ {
		check("cut at "+itoa(n), whole[:n], blocksBefore(n))
	}
	// Garbled bytes in the last block, or a run of zeroes over it (a page
	// the card never wrote), or random bytes appended after a clean end.
	last := ends[3]
	for _, off := range []int64{last, last + 3, last + 8, last + 20, int64(len(whole)) - 1} {
		g := slices.Clone(whole)
		g[off] ^= 0x5a
		check("garbled at "+itoa(off), g, 4)
	}
	z := slices.Clone(whole)
	clear(z[last:])
	check("zeroed tail", z, 4)
	check("junk appended", append(slices.Clone(whole), []byte("\x10\x00\x00\x00junkjunk")...), 5)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A failing write keeps the samples for the next flush, which starts a new
// segment; nothing is written twice.
func TestFlushErrorKeepsSamples(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "history")
	clock := &fakeNow{t0}
	s := openStore(t, dir, clock)
	mustAdd(t, s, "room.Temperature", time.Minute, t0, 1)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	// Break the open segment: writes to it fail.
	s.seg.Close()
	mustAdd(t, s, "room.Temperature", time.Minute, t0.Add(time.Minute), 2)
	if err := s.Flush(); err == nil {
		t.Fatal("Flush to a closed file succeeded")
	}
	if s.Pending() != 1 || s.LastError() == nil {
		t.Fatalf("after a failed flush: %d pending, last error %v; want 1 and the error", s.Pending(), s.LastError())
	}
	clock.t = clock.t.Add(time.Second)
	mustAdd(t, s, "room.Temperature", time.Minute, t0.Add(2*time.Minute), 3)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, _ := Read(dir, t0, t0.Add(time.Hour), nil, nil)
	if len(got) != 1 || samplesString(got[0].Samples) != "10:00:00=1 10:01:00=2 10:02:00=3" {
		t.Errorf("read %+v", got)
	}
	if n := len(segmentsIn(t, dir)); n != 2 {
		t.Errorf("%d segments, want 2 (a new one after the error)", n)
	}
}

func TestAddRefuses(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "history"), &fakeNow{t0})
	defer s.Close()
	for _, c := range []struct {
		name string
		iv   time.Duration
		at   time.Time
	}{
		{"room", time.Minute, t0},
		{"room.", time.Minute, t0},
		{"../x.Temperature", time.Minute, t0},
		{"room.Temperature", 0, t0},
		{"room.Temperature", 48 * time.Hour, t0},
		{"room.Temperature", time.Minute, time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if err := s.Add(c.name, c.iv, c.at, 1); err == nil {
			t.Errorf("Add(%q, %v, %v) succeeded", c.name, c.iv, c.at)
		}
	}
	// Values that cannot be kept become gaps.
	mustAdd(t, s, "room.Temperature", time.Minute, t0, math.Inf(1))
	mustAdd(t, s, "room.Temperature", time.Minute, t0.Add(time.Minute), 2e12)
	got, _ := s.Query(t0, t0.Add(time.Hour), nil)
	if len(got) != 1 || samplesString(got[0].Samples) != "10:00:00=gap" {
		t.Errorf("got %+v", got)
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		name, pattern string
		want          bool
	}{
		{"room.Temperature", "room", true},
		{"room.Temperature", "room.Temperature", true},
		{"room.Temperature", "room.Humidity", false},
		{"roomy.Temperature", "room", false},
		{"room.Temperature", "Temperature", false},
	} {
		if got := Match(c.name, c.pattern); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.name, c.pattern, got)
		}
	}
	for p, want := range map[string]bool{"room": true, "room.CO2": true, "room.": false, ".CO2": false, "a.b.c": false, "": false, "1room": false, "ro om": false} {
		if ValidPattern(p) != want {
			t.Errorf("ValidPattern(%q) = %v", p, !want)
		}
	}
}

func TestDownsample(t *testing.T) {
	s := Series{Name: "room.Temperature", Interval: time.Minute}
	for i := range 1440 {
		v := 20 + 2*math.Sin(float64(i)/200)
		switch {
		case i == 700:
			v = 35 // a spike
		case i == 701:
			v = 5
		case i >= 900 && i < 905:
			v = math.NaN()
		}
		s.Samples = append(s.Samples, Sample{T: t0.Add(time.Duration(i) * time.Minute).UnixMilli(), V: v})
	}
	d := Downsample(s, 300)
	if len(d.Samples) > 300 || len(d.Samples) < 100 {
		t.Fatalf("%d samples, want at most 300 (and not far fewer)", len(d.Samples))
	}
	// The gap is drawn where it was: the readings on either side of it
	// and its start are kept.
	for _, i := range []int{0, 899, 900, 905, len(s.Samples) - 1} {
		if !slices.ContainsFunc(d.Samples, func(x Sample) bool { return x.T == s.Samples[i].T }) {
			t.Errorf("sample %d (%+v), at an end or at the edge of the gap, was dropped", i, s.Samples[i])
		}
	}
	var lo, hi float64 = 100, -100
	gaps := 0
	for i, smp := range d.Samples {
		if i > 0 && smp.T < d.Samples[i-1].T {
			t.Fatal("not in time order")
		}
		if smp.Gap() {
			gaps++
			continue
		}
		lo, hi = min(lo, smp.V), max(hi, smp.V)
	}
	if lo != 5 || hi != 35 || gaps != 1 {
		t.Errorf("downsampled: min %v max %v gaps %d; want 5, 35, 1", lo, hi, gaps)
	}
	if same := Downsample(s, 2000); len(same.Samples) != len(s.Samples) {
		t.Error("a short enough series was changed")
	}
}

func TestJSON(t *testing.T) {
	in := []Series{
		{Name: "room.Temperature", Interval: time.Minute, Samples: []Sample{{T: 1764547200000, V: 21.5}, {T: 1764547260000, V: math.NaN()}, {T: 1764547320012, V: -3.25}}},
		{Name: "room.CO2", Interval: time.Second},
	}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"room.Temperature","interval":"1m0s","t0":1764547200000,"dt":[60000,60012],"v":[21.5,null,-3.25]},{"name":"room.CO2","interval":"1s","t0":0,"dt":[],"v":[]}]`
	if string(data) != want {
		t.Errorf("JSON\n%s\nwant\n%s", data, want)
	}
	var out []Series
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || samplesString(out[0].Samples) != samplesString(in[0].Samples) || out[0].Interval != time.Minute || len(out[1].Samples) != 0 {
		t.Errorf("round trip: %+v", out)
	}
	for _, bad := range []string{
		`{"name":"../x","interval":"1m","t0":0,"dt":[],"v":[1]}`,
		`{"name":"a.b","interval":"1m","t0":0,"dt":[1,2],"v":[1]}`,
		`{"name":"a.b","interval":"x","t0":0,"dt":[],"v":[1]}`,
	} {
		var s Series
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

// segmentsIn lists the segments in the history directory dir.
func segmentsIn(t *testing.T, dir string) []segmentFile {
	t.Helper()
	d, err := openDir(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	return listSegments(d)
}

// The leftover of a segment whose creation was cut short (before its
// rename) is removed when the store opens.
func TestLeftoverRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "history")
	s := openStore(t, dir, &fakeNow{t0})
	s.Close()
	left := filepath.Join(dir, ".tmp-segment-12345")
	if err := os.WriteFile(left, []byte(segmentMagic), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, &fakeNow{t0})
	defer s.Close()
	if _, err := os.Lstat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the leftover %s is still there: %v", left, err)
	}
}
