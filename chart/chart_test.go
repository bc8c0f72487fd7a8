package chart

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"

	"pitweet/history"
	"pitweet/hw/fakehw"
)

var (
	end   = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	start = end.Add(-24 * time.Hour)
)

// day is a day of the simulated room, a sample a minute, with the
// readings of q missing where down says.
func day(q func(fakehw.Env) float64, down func(time.Time) bool) []history.Sample {
	var out []history.Sample
	for t := start; !t.After(end); t = t.Add(time.Minute) {
		v := q(fakehw.DailyEnv(t))
		if down != nil && down(t) {
			v = math.NaN()
		}
		out = append(out, history.Sample{T: t.UnixMilli(), V: v})
	}
	return out
}

func temperature(e fakehw.Env) float64 { return e.Temperature }
func humidity(e fakehw.Env) float64    { return e.Humidity }
func co2(e fakehw.Env) float64         { return e.CO2 }

// between is true from h1 to h2 hours into the window.
func between(h1, h2 float64) func(time.Time) bool {
	return func(t time.Time) bool {
		h := t.Sub(start).Hours()
		return h >= h1 && h < h2
	}
}

func decode(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the chart is not a PNG: %v", err)
	}
	return img
}

// near reports whether c is within a small distance of want.
func near(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, b uint8) int { return int(a>>8) - int(b) }
	return d(r, want.R)*d(r, want.R)+d(g, want.G)*d(g, want.G)+d(b, want.B)*d(b, want.B) < 30*30
}

// count counts the pixels of colour want in r.
func count(img image.Image, r image.Rectangle, want color.RGBA) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if near(img.At(x, y), want) {
				n++
			}
		}
	}
	return n
}

// axisRows finds the panels' bottom axes: rows mostly of the axis colour.
func axisRows(img image.Image) []int {
	var rows []int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		if count(img, image.Rect(b.Min.X, y, b.Max.X, y+1), axisLine) > b.Dx()*3/4 {
			rows = append(rows, y)
		}
	}
	return rows
}

// A 24-hour chart of the simulated room: the size X shows whole, a PNG
// well under the 150 KB budget, one panel per unit, the line drawn where
// there are readings and broken where the sensor was down.
func TestRender24h(t *testing.T) {
	lines := []Line{
		{Name: "room.Temperature", Unit: "°C", Samples: day(temperature, nil)},
		{Name: "room.Humidity", Unit: "%", Samples: day(humidity, between(5, 6))},
		{Name: "air.CO2", Unit: "ppm", Samples: day(co2, nil)},
	}
	var buf bytes.Buffer
	if err := Render(&buf, lines, Options{From: start, To: end, Location: time.UTC}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 150<<10 {
		t.Errorf("the PNG is %d bytes, over the 150 KB budget", buf.Len())
	}
	img := decode(t, buf.Bytes())
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 675 {
		t.Fatalf("the chart is %v, want 1200x675", b)
	}
	axes := axisRows(img)
	if len(axes) != 3 {
		t.Fatalf("axes at rows %v; want one per unit (°C, %%, ppm)", axes)
	}
	// The humidity panel lies between the first and second axes. The
	// plot spans x from its left axis to the right margin; time runs
	// left to right over it.
	left := 0
	for x := range 600 {
		if near(img.At(x, axes[1]-5), axisLine) {
			left = x
			break
		}
	}
	if left == 0 {
		t.Fatal("no left axis found")
	}
	right := 1200 - 22
	xAt := func(h float64) int { return left + int(h/24*float64(right-left)) }
	strip := func(h1, h2 float64) image.Rectangle { return image.Rect(xAt(h1), axes[0]+40, xAt(h2), axes[1]) }
	blue := palette[0] // room
	if n := count(img, strip(5.15, 5.85), blue); n != 0 {
		t.Errorf("%d line pixels where humidity was not read (05:00 to 06:00 into the window); want a gap", n)
	}
	for _, h := range []float64{4, 7} {
		if n := count(img, strip(h, h+0.7), blue); n < 20 {
			t.Errorf("%d line pixels at hour %v of the humidity panel; want the line", n, h)
		}
	}
	// Each sensor keeps its colour: room blue in two panels, air the
	// second colour in the third.
	if n := count(img, image.Rect(left, axes[1], right, axes[2]), palette[1]); n < 500 {
		t.Errorf("%d pixels of air's colour in the CO2 panel", n)
	}
	// The title and the time labels are written.
	if n := count(img, image.Rect(0, 0, 600, 60), ink); n < 300 {
		t.Errorf("%d dark pixels in the title area", n)
	}
	if n := count(img, image.Rect(left, axes[2]+2, right, 675), ink); n < 300 {
		t.Errorf("%d dark pixels under the time axis; want its labels", n)
	}
}

// The lowest and highest readings are marked with a dot where they are.
func TestMinMaxMarked(t *testing.T) {
	var ss []history.Sample
	for i := range 241 {
		v := 20.0
		switch i {
		case 60:
			v = 25 // the max, a quarter in
		case 180:
			v = 15 // the min, three quarters in
		}
		ss = append(ss, history.Sample{T: start.Add(time.Duration(i) * time.Minute).UnixMilli(), V: v})
	}
	img, err := Draw([]Line{{Name: "room.Temperature", Unit: "°C", Samples: ss}}, Options{From: start, To: start.Add(4 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	axes := axisRows(img)
	if len(axes) != 1 {
		t.Fatalf("axes %v", axes)
	}
	// A dot is wider than the line: look for a run of 9 line-coloured
	// pixels in a row at a quarter and at three quarters.
	wide := func(x0, x1 int) (bool, int) {
		for y := 60; y < axes[0]; y++ {
			run := 0
			for x := x0; x < x1; x++ {
				if near(img.At(x, y), palette[0]) {
					run++
					if run >= 9 {
						return true, y
					}
				} else {
					run = 0
				}
			}
		}
		return false, 0
	}
	okMax, yMax := wide(200, 500)
	okMin, yMin := wide(750, 1050)
	if !okMax || !okMin || yMax >= yMin {
		t.Errorf("max dot found %v at y %d, min dot %v at y %d; want both, the max above", okMax, yMax, okMin, yMin)
	}
}

func TestDrawRefuses(t *testing.T) {
	one := []Line{{Name: "a.Temperature", Unit: "°C", Samples: []history.Sample{{T: start.UnixMilli(), V: 1}}}}
	var many []Line
	for range MaxLines + 1 {
		many = append(many, one[0])
	}
	var units []Line
	for _, u := range []string{"a", "b", "c", "d", "e", "f"} {
		units = append(units, Line{Name: "s.Q", Unit: u})
	}
	for _, c := range []struct {
		what  string
		lines []Line
		opts  Options
		want  string
	}{
		{"no lines", nil, Options{}, "nothing to draw"},
		{"too many lines", many, Options{}, "choose fewer"},
		{"too many units", units, Options{}, "more than 5 units"},
		{"too small", one, Options{Width: 100, Height: 100}, "100x100 pixels"},
		{"too big", one, Options{Width: 100000, Height: 675}, "100000x675 pixels"},
	} {
		if _, err := Draw(c.lines, c.opts); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "chart: ") {
			t.Errorf("%s: %v, want an error saying %q", c.what, err, c.want)
		}
	}
	// A line with no readings in the window still draws, saying so.
	empty := []Line{{Name: "a.Temperature", Unit: "°C"}, {Name: "b.CO2", Unit: "ppm", Samples: day(co2, nil)}}
	if _, err := Draw(empty, Options{From: start, To: end}); err != nil {
		t.Errorf("a panel with no readings: %v", err)
	}
}

func TestAlt(t *testing.T) {
	temp := []history.Sample{
		{T: start.UnixMilli(), V: 19.24}, {T: start.Add(8 * time.Hour).UnixMilli(), V: 23.4}, {T: end.UnixMilli(), V: 21.3},
	}
	hum := []history.Sample{
		{T: start.UnixMilli(), V: 41}, {T: start.Add(2 * time.Hour).UnixMilli(), V: 44},
		{T: start.Add(2*time.Hour + time.Minute).UnixMilli(), V: math.NaN()},
		{T: start.Add(4 * time.Hour).UnixMilli(), V: 55}, {T: end.UnixMilli(), V: 50},
	}
	opts := Options{From: start, To: end, Location: time.UTC}
	got := Alt([]Line{{Name: "room.Temperature", Unit: "°C", Samples: temp}}, opts)
	if want := "Line chart of room temperature from Fri 27 Nov 10:00 to Sat 28 Nov 10:00, between 19.2 and 23.4 °C, last 21.3 °C."; got != want {
		t.Errorf("Alt =\n%s\nwant\n%s", got, want)
	}
	got = Alt([]Line{{Name: "room.Temperature", Unit: "°C", Samples: temp}, {Name: "room.Humidity", Unit: "%", Samples: hum}, {Name: "air.CO2", Unit: "ppm"}}, opts)
	want := "Line chart from Fri 27 Nov 10:00 to Sat 28 Nov 10:00: room temperature between 19.2 and 23.4 °C, last 21.3 °C; " +
		"room humidity between 41 and 55 %, last 50 %; air CO2 with no readings. No readings of room humidity between 12:00 and 14:00."
	if got != want {
		t.Errorf("Alt =\n%s\nwant\n%s", got, want)
	}
	// Ending now, the window is "the last 24 hours".
	now := time.Now()
	recent := []history.Sample{{T: now.Add(-time.Hour).UnixMilli(), V: 21.5}, {T: now.UnixMilli(), V: 21.5}}
	got = Alt([]Line{{Name: "room.Temperature", Unit: "°C", Samples: recent}}, Options{From: now.Add(-24 * time.Hour), To: now})
	if want := "Line chart of room temperature over the last 24 hours, steady at 21.5 °C."; got != want {
		t.Errorf("Alt =\n%s\nwant\n%s", got, want)
	}
	var long []Line
	for range MaxLines {
		long = append(long, Line{Name: strings.Repeat("s", 120) + ".Temperature", Unit: "°C", Samples: temp})
	}
	if got := Alt(long, opts); len([]rune(got)) != MaxAlt || !strings.HasSuffix(got, "…") {
		t.Errorf("a long alt text is %d characters, want %d ending in …", len([]rune(got)), MaxAlt)
	}
}

func TestTimeTicks(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	labels := func(from, to time.Time, n int) string {
		ticks, step := timeTicks(from, to, berlin, n)
		var s []string
		for _, tk := range ticks {
			s = append(s, timeLabel(tk.In(berlin), step))
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct {
		from, to time.Time
		n        int
		want     string
	}{
		{time.Date(2026, 11, 27, 10, 7, 0, 0, berlin), time.Date(2026, 11, 28, 10, 7, 0, 0, berlin), 10,
			"12:00 15:00 18:00 21:00 Sat 28 03:00 06:00 09:00"},
		// The night summer time starts: the labels stay on the hour.
		{time.Date(2026, 3, 28, 12, 0, 0, 0, berlin), time.Date(2026, 3, 29, 12, 0, 0, 0, berlin), 10,
			"12:00 15:00 18:00 21:00 Sun 29 03:00 06:00 09:00 12:00"},
		{time.Date(2026, 11, 27, 10, 7, 0, 0, berlin), time.Date(2026, 11, 27, 11, 7, 0, 0, berlin), 8,
			"10:10 10:20 10:30 10:40 10:50 11:00"},
		{time.Date(2026, 11, 20, 10, 0, 0, 0, berlin), time.Date(2026, 11, 27, 10, 0, 0, 0, berlin), 10,
			"Sat 21 Sun 22 Mon 23 Tue 24 Wed 25 Thu 26 Fri 27"},
	} {
		if got := labels(c.from, c.to, c.n); got != c.want {
			t.Errorf("%v to %v: %q, want %q", c.from, c.to, got, c.want)
		}
	}
}

func TestValueTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		n      int
		want   string
	}{
		{18.7, 23.6, 5, "19 20 21 22 23"},
		{995.2, 1031.8, 4, "1000 1010 1020 1030"},
		{0.1, 0.9, 4, "0.2 0.4 0.6 0.8"},
		{-3.3, 2.1, 6, "-3 -2 -1 0 1 2"},
		{-3.3, 2.1, 5, "-2 0 2"},
		{38, 66, 3, "40 50 60"},
	} {
		step := niceStep(c.hi-c.lo, c.n)
		var s []string
		for _, v := range valueTicks(c.lo, c.hi, step) {
			s = append(s, formatValue(v, stepDigits(step)))
		}
		if got := strings.Join(s, " "); got != c.want {
			t.Errorf("ticks from %v to %v in at most %d: %q, want %q", c.lo, c.hi, c.n, got, c.want)
		}
	}
}

func TestLabelAndWords(t *testing.T) {
	for name, want := range map[string]string{"room.Temperature": "room temperature", "air.CO2": "air CO2", "window.Illuminance": "window illuminance"} {
		if got := Label(name); got != want {
			t.Errorf("Label(%q) = %q, want %q", name, got, want)
		}
	}
	for d, want := range map[time.Duration]string{24 * time.Hour: "24 hours", 7 * 24 * time.Hour: "7 days", time.Hour: "1 hour", 90 * time.Minute: "90 minutes", 36 * time.Hour: "36 hours"} {
		if got := SpanWords(d); got != want {
			t.Errorf("SpanWords(%v) = %q, want %q", d, got, want)
		}
	}
}

// BenchmarkRender24h draws and encodes a day of one quantity, a sample a
// minute; bench/ reports it on x86 and under qemu for the Pi Zero's CPU.
func BenchmarkRender24h(b *testing.B) {
	lines := []Line{{Name: "room.Temperature", Unit: "°C", Samples: day(temperature, nil)}}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := Render(&buf, lines, Options{From: start, To: end}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "png-bytes")
}
