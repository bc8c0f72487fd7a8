// Package chart draws the recorded history of sensor quantities as a PNG
// line chart made to be read on a phone: one panel per unit, stacked on a
// shared time axis in local time, large type, each line's lowest and
// highest value marked, and the line broken where the sensor was not read.
// Alt writes the text a screen reader says instead.
//
// It draws with golang.org/x/image (the Go fonts, a vector rasterizer) and
// image/png, which cost the release binary under a megabyte; the plotting
// libraries measured cost from 1.25 MB (wcharczuk/go-chart, archived) to
// 7.3 MB (gonum.org/v1/plot, which embeds twelve fonts).
package chart

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"golang.org/x/image/font"

	"pitweet/history"
)

// Line is one quantity to draw.
type Line struct {
	Name    string           // the series, "room.Temperature"
	Label   string           // what the legend and alt text call it; "" means Label(Name)
	Unit    string           // "°C"; lines with the same unit share a panel
	Samples []history.Sample // oldest first; a NaN value breaks the line
}

// Options shape a chart.
type Options struct {
	// From and To are the window shown; zero means the samples' own span.
	// A window ending now is titled "last 24 hours".
	From, To time.Time
	// Width and Height in pixels; 0 means 1200x675 (16:9, what X shows
	// whole in a timeline).
	Width, Height int
	// Location is the time zone of the time axis; nil means time.Local.
	Location *time.Location
}

// Limits.
const (
	DefaultWidth  = 1200
	DefaultHeight = 675
	// MaxLines is the most lines a chart takes; more would be unreadable.
	MaxLines = 12
	// MaxPanels is the most units a chart takes (one panel each).
	MaxPanels = 5
	minWidth  = 320
	minHeight = 180
	maxSide   = 4096
)

// Colours of the lines (Okabe and Ito's palette, told apart with any
// colour vision), and of the rest.
var (
	palette = []color.RGBA{
		{0x00, 0x72, 0xB2, 0xFF}, // blue
		{0xD5, 0x5E, 0x00, 0xFF}, // vermillion
		{0x00, 0x9E, 0x73, 0xFF}, // bluish green
		{0xCC, 0x79, 0xA7, 0xFF}, // reddish purple
		{0xE6, 0x9F, 0x00, 0xFF}, // orange
		{0x56, 0xB4, 0xE9, 0xFF}, // sky blue
		{0x55, 0x55, 0x55, 0xFF}, // grey
	}
	ink      = color.RGBA{0x22, 0x22, 0x22, 0xFF}
	muted    = color.RGBA{0x66, 0x66, 0x66, 0xFF}
	gridLine = color.RGBA{0xE3, 0xE3, 0xE3, 0xFF}
	axisLine = color.RGBA{0xAA, 0xAA, 0xAA, 0xFF}
)

// Render draws lines and writes the chart to w as a PNG.
func Render(w io.Writer, lines []Line, opts Options) error {
	img, err := Draw(lines, opts)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	// Paletted and quickly compressed: a 24-hour chart is about 30 KB
	// and takes milliseconds to encode, against 65 KB and ten times as
	// long for the full-colour image at the default level.
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(bw, paletted(img)); err != nil {
		return fmt.Errorf("chart: encode PNG: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("chart: write PNG: %w", err)
	}
	return nil
}

// A panel is the lines of one unit.
type panel struct {
	unit   string
	lines  []int // indexes into the chart's lines
	lo, hi float64
	empty  bool // no reading in the window
	plot   image.Rectangle
	v0, v1 float64 // the value range of the plot's height
	ticks  []float64
	digits int
}

// Draw draws lines as an image; Render encodes it.
func Draw(lines []Line, opts Options) (*image.RGBA, error) {
	if len(lines) == 0 {
		return nil, errors.New("chart: nothing to draw")
	}
	if len(lines) > MaxLines {
		return nil, fmt.Errorf("chart: %d lines are more than a chart can show (%d); choose fewer", len(lines), MaxLines)
	}
	w, h := opts.Width, opts.Height
	if w == 0 && h == 0 {
		w, h = DefaultWidth, DefaultHeight
	}
	if w < minWidth || h < minHeight || w > maxSide || h > maxSide {
		return nil, fmt.Errorf("chart: %dx%d pixels: want from %dx%d to %dx%d", w, h, minWidth, minHeight, maxSide, maxSide)
	}
	loc := opts.Location
	if loc == nil {
		loc = time.Local
	}
	from, to := window(lines, opts)

	var panels []*panel
	for i, l := range lines {
		k := slices.IndexFunc(panels, func(p *panel) bool { return p.unit == l.Unit })
		if k < 0 {
			if len(panels) == MaxPanels {
				return nil, fmt.Errorf("chart: more than %d units; choose fewer quantities", MaxPanels)
			}
			panels = append(panels, &panel{unit: l.Unit})
			k = len(panels) - 1
		}
		panels[k].lines = append(panels[k].lines, i)
	}

	c, err := newCanvas(w, h)
	if err != nil {
		return nil, err
	}
	// Sizes are for 1200x675 and scale with the image.
	s := min(float64(w)/DefaultWidth, float64(h)/DefaultHeight)
	px := func(v float64) int { return int(math.Round(v * s)) }
	titleFace, err := c.face(32*s, true)
	if err != nil {
		return nil, err
	}
	labelFace, err := c.face(22*s, false)
	if err != nil {
		return nil, err
	}
	headFace, err := c.face(22*s, true)
	if err != nil {
		return nil, err
	}
	smallFace, err := c.face(20*s, false)
	if err != nil {
		return nil, err
	}

	pad := px(22)
	// The title, and the window in local time at the right.
	titleBase := pad + ascent(titleFace)
	c.text(titleFace, pad, titleBase, title(lines, from, to), ink)
	when := from.In(loc).Format("Mon 2 Jan 15:04") + " – " + to.In(loc).Format("Mon 2 Jan 15:04 MST")
	c.text(smallFace, w-pad-textWidth(smallFace, when), titleBase, when, muted)

	// Panels share the height between the title and the time labels.
	top := titleBase + px(22)
	bottom := h - pad - ascent(labelFace) - px(14)
	gap := px(16)
	headH := ascent(headFace) + px(12)
	panelH := (bottom - top - gap*(len(panels)-1)) / len(panels)
	if panelH-headH < px(40) {
		return nil, fmt.Errorf("chart: %d panels do not fit in %d pixels of height", len(panels), h)
	}
	markH := float64(ascent(smallFace) + px(14)) // room a min or max label takes
	gutter := 0
	for i, p := range panels {
		pt := top + i*(panelH+gap)
		p.plot = image.Rect(0, pt+headH, w-pad, pt+panelH)
		p.scale(lines, from, to, markH, labelFace)
		for _, v := range p.ticks {
			gutter = max(gutter, textWidth(labelFace, formatValue(v, p.digits)))
		}
	}
	left := pad + gutter + px(12)
	for _, p := range panels {
		p.plot.Min.X = left
	}
	plotW := float64(w - pad - left)
	tx := timeAxis{from: from, to: to, width: plotW}
	xOf := tx.x

	// The time axis: grid lines in every panel, labels under the last.
	ticks, step := timeTicks(from, to, loc, int(plotW)/max(textWidth(labelFace, "Mon 28")+px(36), 1))
	last := panels[len(panels)-1].plot
	for _, t := range ticks {
		x := left + int(xOf(t.UnixMilli()))
		for _, p := range panels {
			c.fill(image.Rect(x, p.plot.Min.Y, x+1, p.plot.Max.Y), gridLine)
		}
		label := timeLabel(t.In(loc), step)
		lw := textWidth(labelFace, label)
		lx := min(max(x-lw/2, left-lw/2), w-pad-lw)
		c.text(labelFace, lx, last.Max.Y+px(10)+ascent(labelFace), label, ink)
	}

	lineW := float32(3.2 * s)
	colors := lineColors(lines)
	for _, p := range panels {
		p.draw(c, lines, colors, tx, lineW, s, labelFace, headFace, smallFace, pad)
	}
	return c.img, nil
}

// window is the time span to draw: opts' if set, else the samples'.
func window(lines []Line, opts Options) (time.Time, time.Time) {
	from, to := opts.From, opts.To
	if from.IsZero() || to.IsZero() {
		var lo, hi int64 = math.MaxInt64, math.MinInt64
		for _, l := range lines {
			if n := len(l.Samples); n > 0 {
				lo, hi = min(lo, l.Samples[0].T), max(hi, l.Samples[n-1].T)
			}
		}
		if lo > hi {
			lo, hi = time.Now().Add(-time.Hour).UnixMilli(), time.Now().UnixMilli()
		}
		if from.IsZero() {
			from = time.UnixMilli(lo)
		}
		if to.IsZero() {
			to = time.UnixMilli(hi)
		}
	}
	if !to.After(from) {
		from, to = from.Add(-30*time.Minute), from.Add(30*time.Minute)
	}
	return from, to
}

// title names the sensors and the window: "room — last 24 hours".
func title(lines []Line, from, to time.Time) string {
	var sensors []string
	for _, l := range lines {
		sensor, _, _ := strings.Cut(l.Name, ".")
		if !slices.Contains(sensors, sensor) {
			sensors = append(sensors, sensor)
		}
	}
	t := strings.Join(sensors, ", ")
	if len(sensors) > 3 {
		t = fmt.Sprintf("%d sensors", len(sensors))
	}
	return t + " — " + windowWords(from, to)
}

// windowWords is "last 24 hours" for a window ending about now, else
// "24 hours".
func windowWords(from, to time.Time) string {
	span := to.Sub(from)
	if d := time.Since(to); d > -time.Minute && d < time.Minute+span/100 {
		return "last " + SpanWords(span)
	}
	return SpanWords(span)
}

// lineColors gives each sensor a colour, the same in every panel.
func lineColors(lines []Line) []color.RGBA {
	bySensor := map[string]int{}
	out := make([]color.RGBA, len(lines))
	for i, l := range lines {
		sensor, _, _ := strings.Cut(l.Name, ".")
		k, ok := bySensor[sensor]
		if !ok {
			k = len(bySensor)
			bySensor[sensor] = k
		}
		out[i] = palette[k%len(palette)]
	}
	return out
}

// scale finds the panel's value range and ticks; markH is the height in
// pixels that a min or max label needs above or below the line.
func (p *panel) scale(lines []Line, from, to time.Time, markH float64, face font.Face) {
	p.lo, p.hi = math.Inf(1), math.Inf(-1)
	for _, i := range p.lines {
		for _, s := range visible(lines[i].Samples, from, to) {
			if !s.Gap() {
				p.lo, p.hi = min(p.lo, s.V), max(p.hi, s.V)
			}
		}
	}
	p.empty = math.IsInf(p.lo, 1)
	lo, hi := p.lo, p.hi
	if p.empty {
		lo, hi = 0, 1
	}
	// A nearly flat line stays nearly flat: the axis spans at least what
	// a change in the unit is worth, so noise does not look like weather.
	if span := minSpan(p.unit); hi-lo < span {
		mid := (lo + hi) / 2
		lo, hi = mid-span/2, mid+span/2
	}
	plotH := float64(p.plot.Dy())
	room := (hi - lo) * markH / max(plotH-2*markH, 1)
	p.v0, p.v1 = lo-room, hi+room
	n := min(max(int(plotH/float64(2*ascent(face))), 2), 6)
	step := niceStep(p.v1-p.v0, n)
	p.ticks = valueTicks(p.v0, p.v1, step)
	if len(p.ticks) < 2 {
		p.v0 = math.Min(p.v0, math.Floor(p.v0/step)*step)
		p.v1 = math.Max(p.v1, math.Ceil(p.v1/step)*step)
		p.ticks = valueTicks(p.v0, p.v1, step)
	}
	p.digits = stepDigits(step)
}

// visible returns the samples from from to to.
func visible(ss []history.Sample, from, to time.Time) []history.Sample {
	f, t := from.UnixMilli(), to.UnixMilli()
	i, _ := slices.BinarySearchFunc(ss, f, func(s history.Sample, t int64) int { return cmpInt(s.T, t) })
	j, _ := slices.BinarySearchFunc(ss, t+1, func(s history.Sample, t int64) int { return cmpInt(s.T, t) })
	return ss[i:j]
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// timeAxis maps times in the window to x in pixels from the plots' left
// edge.
type timeAxis struct {
	from, to time.Time
	width    float64
}

func (a timeAxis) x(t int64) float32 {
	return float32(float64(t-a.from.UnixMilli()) / float64(a.to.Sub(a.from).Milliseconds()) * a.width)
}

// yOf maps a value to y in pixels from the plot's top edge.
func (p *panel) yOf(v float64) float32 {
	return float32(float64(p.plot.Dy()) * (p.v1 - v) / (p.v1 - p.v0))
}

// draw draws the panel: grid, value labels, header with the legend, the
// lines and their min and max.
func (p *panel) draw(c *canvas, lines []Line, colors []color.RGBA, tx timeAxis, lineW float32, s float64,
	labelFace, headFace, smallFace font.Face, pad int) {
	px := func(v float64) int { return int(math.Round(v * s)) }
	r := p.plot
	for _, v := range p.ticks {
		y := r.Min.Y + int(p.yOf(v))
		c.fill(image.Rect(r.Min.X, y, r.Max.X, y+1), gridLine)
		label := formatValue(v, p.digits)
		c.text(labelFace, r.Min.X-px(12)-textWidth(labelFace, label), y+ascent(labelFace)/2, label, muted)
	}
	c.fill(image.Rect(r.Min.X, r.Max.Y, r.Max.X, r.Max.Y+1), axisLine)
	c.fill(image.Rect(r.Min.X-1, r.Min.Y, r.Min.X, r.Max.Y+1), axisLine)

	// Header: the quantities and unit, then a key for each line.
	var quantities []string
	for _, i := range p.lines {
		_, q, _ := strings.Cut(lines[i].Name, ".")
		if !slices.Contains(quantities, q) {
			quantities = append(quantities, q)
		}
	}
	head := strings.Join(quantities, ", ")
	if p.unit != "" {
		head += " (" + p.unit + ")"
	}
	base := r.Min.Y - px(12)
	c.text(headFace, pad, base, head, ink)
	x := pad + textWidth(headFace, head) + px(28)
	for _, i := range p.lines {
		name := lines[i].label()
		if len(quantities) == 1 {
			name, _, _ = strings.Cut(lines[i].Name, ".")
		}
		key := image.Rect(x, base-ascent(headFace)/2-px(2), x+px(26), base-ascent(headFace)/2+px(2))
		c.fill(key, colors[i])
		c.text(labelFace, x+px(34), base, name, ink)
		x += px(34) + textWidth(labelFace, name) + px(26)
	}

	if p.empty {
		msg := "no readings in this window"
		c.text(labelFace, r.Min.X+(r.Dx()-textWidth(labelFace, msg))/2, r.Min.Y+(r.Dy()+ascent(labelFace))/2, msg, muted)
		return
	}
	for _, i := range p.lines {
		var runs [][]point
		var run []point
		for _, smp := range visible(lines[i].Samples, tx.from, tx.to) {
			if smp.Gap() {
				if len(run) > 0 {
					runs = append(runs, run)
				}
				run = nil
				continue
			}
			run = append(run, point{tx.x(smp.T), p.yOf(smp.V)})
		}
		if len(run) > 0 {
			runs = append(runs, run)
		}
		c.polylines(r, runs, lineW, colors[i])
	}
	for _, i := range p.lines {
		p.markExtremes(c, lines[i], colors[i], tx, s, smallFace)
	}
}

// markExtremes puts a dot on the line's lowest and highest reading in the
// window, labelled below and above it.
func (p *panel) markExtremes(c *canvas, l Line, col color.RGBA, tx timeAxis, s float64, face font.Face) {
	px := func(v float64) int { return int(math.Round(v * s)) }
	ss := visible(l.Samples, tx.from, tx.to)
	lo, hi := -1, -1
	for i, smp := range ss {
		if smp.Gap() {
			continue
		}
		if lo < 0 || smp.V < ss[lo].V {
			lo = i
		}
		if hi < 0 || smp.V > ss[hi].V {
			hi = i
		}
	}
	if lo < 0 {
		return
	}
	r := p.plot
	digits := unitDigits(l.Unit)
	for _, m := range []struct {
		i     int
		word  string
		above bool
	}{{hi, "max", true}, {lo, "min", false}} {
		if m.i == hi && m.word == "min" && hi == lo {
			continue // a flat line: one mark
		}
		smp := ss[m.i]
		pt := point{tx.x(smp.T), p.yOf(smp.V)}
		c.dot(r, pt, float32(5*s), col)
		label := m.word + " " + formatValue(smp.V, digits)
		if l.Unit != "" {
			label += " " + l.Unit
		}
		lw := textWidth(face, label)
		x := r.Min.X + int(pt.x) - lw/2
		x = min(max(x, r.Min.X+px(4)), r.Max.X-lw-px(4))
		y := r.Min.Y + int(pt.y) - px(12)
		if !m.above {
			y = r.Min.Y + int(pt.y) + px(12) + ascent(face)
		}
		c.haloText(face, x, y, label, darker(col), max(px(2), 1))
	}
}

// darker is col at 70 % brightness, for text in the line's colour.
func darker(col color.RGBA) color.RGBA {
	return color.RGBA{uint8(int(col.R) * 7 / 10), uint8(int(col.G) * 7 / 10), uint8(int(col.B) * 7 / 10), 0xFF}
}

func (l Line) label() string {
	if l.Label != "" {
		return l.Label
	}
	return Label(l.Name)
}

// Label is how a series is named in words: "room.Temperature" is "room
// temperature", "air.CO2" is "air CO2".
func Label(name string) string {
	sensor, q, ok := strings.Cut(name, ".")
	if !ok {
		return name
	}
	if strings.ToUpper(q) != q {
		q = strings.ToLower(q)
	}
	return sensor + " " + q
}
