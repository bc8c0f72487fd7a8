package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// A Value is one measured quantity as templates see it. It prints with its
// unit and a sensible precision ("21.5 °C", "45 %", "1013.2 hPa", "612 ppm",
// "320 lux"); {{.Sensors.room.Temperature.V}} is the bare number, for
// printf. A quantity with no reading yet has V = NaN and prints "n/a", so a
// press still posts while a sensor is failing.
type Value struct {
	V    float64
	Unit string
}

// String prints the value with its unit, or "n/a" when there is no reading.
func (v Value) String() string {
	if math.IsNaN(v.V) {
		return "n/a"
	}
	digits := 1
	switch v.Unit {
	case "%", "ppm", "lux":
		digits = 0
	}
	s := strconv.FormatFloat(v.V, 'f', digits, 64)
	if s == "-0" || s == "-0.0" {
		s = s[1:]
	}
	if v.Unit == "" {
		return s
	}
	return s + " " + v.Unit
}

// Quantities are the names a sensor reading uses, with their units.
var Quantities = map[string]string{
	"Temperature": "°C",
	"Humidity":    "%",
	"Pressure":    "hPa",
	"CO2":         "ppm",
	"Illuminance": "lux",
}

// TemplateData is what a message template sees.
//
//	{{.Time}}     time.Time of the press, report or alert (local time): {{.Time.Format "15:04"}}
//	{{.Count}}    how many times this button (report, alert) has fired since pitweet started, this time included: 1, 2, …
//	{{.Host}}     the host name
//	{{.Button}}   the button's name (empty for reports and alerts)
//	{{.Long}}     true for a long press
//	{{.Sensors.room.Temperature}}   the latest reading of sensor "room", a Value
//
// Every configured sensor and each quantity it measures is present in
// Sensors; naming one that is not configured is an error when the template
// is checked, and when it is rendered.
type TemplateData struct {
	Time    time.Time
	Count   int
	Host    string
	Button  string
	Long    bool
	Sensors map[string]map[string]Value
}

// A Template is a message text compiled with text/template. Templates may
// use actions, if/else/with, pipelines and the built-in functions; range,
// define, template and block are refused, since a message is one short text
// and rendering it must always finish quickly.
type Template struct {
	src string
	t   *template.Template
}

// maxRendered bounds what one rendering may write; X's limit is far below.
const maxRendered = 64 << 10

// ParseTemplate compiles text. name says where it comes from in errors
// ("button doorbell text").
func ParseTemplate(name, text string) (*Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("config: %s", trimTemplateErr(err))
	}
	if len(t.Templates()) > 1 {
		return nil, fmt.Errorf("config: %s: define and block are not allowed in a message template", name)
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return &Template{src: text, t: t}, nil
	}
	if err := checkNodes(t.Tree.Root); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	return &Template{src: text, t: t}, nil
}

// checkNodes refuses the constructs that loop or recurse.
func checkNodes(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNodes(c); err != nil {
				return err
			}
		}
	case *parse.RangeNode:
		return errors.New("range is not allowed in a message template")
	case *parse.TemplateNode:
		return errors.New("template is not allowed in a message template")
	case *parse.IfNode:
		return checkBranch(&n.BranchNode)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode)
	}
	return nil
}

func checkBranch(b *parse.BranchNode) error {
	if err := checkNodes(b.List); err != nil {
		return err
	}
	if b.ElseList != nil {
		return checkNodes(b.ElseList)
	}
	return nil
}

// String returns the template's source text.
func (t *Template) String() string { return t.src }

// Render executes the template with d. A missing sensor or quantity is an
// error.
func (t *Template) Render(d TemplateData) (string, error) {
	var buf bytes.Buffer
	if err := t.t.Execute(&limitWriter{w: &buf, n: maxRendered}, d); err != nil {
		return "", fmt.Errorf("config: %s", trimTemplateErr(err))
	}
	return buf.String(), nil
}

// trimTemplateErr drops text/template's "template: NAME:" prefix, which
// repeats what the caller already says.
func trimTemplateErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "template: ")
	return s
}

var errTooLong = errors.New("renders to more than 64 KiB")

type limitWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errTooLong
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// SensorValues builds the Sensors map of TemplateData: every configured
// sensor with every quantity its type measures, taken from latest (sensor
// name to quantity to value) where present and "n/a" where not. Quantities
// a sensor reports beyond its type's list are included too.
func (c *Config) SensorValues(latest map[string]map[string]float64) map[string]map[string]Value {
	out := make(map[string]map[string]Value, len(c.Sensors))
	for _, s := range c.Sensors {
		m := make(map[string]Value)
		for _, q := range SensorQuantities[s.Type] {
			m[q] = Value{V: math.NaN(), Unit: Quantities[q]}
		}
		for q, v := range latest[s.Name] {
			m[q] = Value{V: v, Unit: Quantities[q]}
		}
		out[s.Name] = m
	}
	return out
}

// SampleValues are plausible readings for each quantity, used to check
// templates before any sensor has been read.
var SampleValues = map[string]float64{
	"Temperature": 21.5,
	"Humidity":    45,
	"Pressure":    1013.2,
	"CO2":         612,
	"Illuminance": 320,
}

// SampleData is the TemplateData that check renders every template with:
// each configured sensor with a sample reading for each of its quantities.
func (c *Config) SampleData(button string) TemplateData {
	latest := make(map[string]map[string]float64)
	for _, s := range c.Sensors {
		m := make(map[string]float64)
		for _, q := range SensorQuantities[s.Type] {
			m[q] = SampleValues[q]
		}
		latest[s.Name] = m
	}
	return TemplateData{
		Time:    time.Date(2025, 6, 1, 14, 30, 0, 0, time.Local),
		Count:   1,
		Host:    "raspberrypi",
		Button:  button,
		Sensors: c.SensorValues(latest),
	}
}

// SensorRefs lists the sensors the template names as {{.Sensors.NAME...}},
// in order of appearance, without repeats.
func (t *Template) SensorRefs() []string {
	var names []string
	seen := map[string]bool{}
	t.walk(func(n parse.Node) {
		if n, ok := n.(*parse.FieldNode); ok && len(n.Ident) >= 2 && n.Ident[0] == "Sensors" && !seen[n.Ident[1]] {
			seen[n.Ident[1]] = true
			names = append(names, n.Ident[1])
		}
	})
	return names
}

// walk calls visit for every node of the template's tree, depth first,
// through lists, pipes, commands, if and with (the nodes templates may
// hold; range and template calls are refused when the template is read).
func (t *Template) walk(visit func(parse.Node)) {
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		visit(n)
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	if t.t.Tree != nil {
		walk(t.t.Tree.Root)
	}
}
