package config

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestValueString(t *testing.T) {
	tests := []struct {
		v    Value
		want string
	}{
		{Value{21.54, "°C"}, "21.5 °C"},
		{Value{-0.04, "°C"}, "0.0 °C"},
		{Value{45.4, "%"}, "45 %"},
		{Value{1013.25, "hPa"}, "1013.2 hPa"},
		{Value{612.4, "ppm"}, "612 ppm"},
		{Value{320, "lux"}, "320 lux"},
		{Value{math.NaN(), "°C"}, "n/a"},
		{Value{3.14159, ""}, "3.1"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestTemplateRender(t *testing.T) {
	cfg, err := Parse([]byte(`
[[sensor]]
name = "room"
type = "aht20"
[[sensor]]
name = "cpu"
type = "cpu"
`), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	data := TemplateData{
		Time:    time.Date(2025, 1, 2, 7, 5, 0, 0, time.UTC),
		Host:    "pi",
		Button:  "door",
		Sensors: cfg.SensorValues(map[string]map[string]float64{"room": {"Temperature": 19.25}}),
	}
	tests := []struct{ text, want string }{
		{`{{.Button}} at {{.Time.Format "15:04"}} on {{.Host}}`, "door at 07:05 on pi"},
		{`{{.Sensors.room.Temperature}} {{.Sensors.room.Humidity}} cpu {{.Sensors.cpu.Temperature}}`, "19.2 °C n/a cpu n/a"},
		{`{{printf "%.2f" .Sensors.room.Temperature.V}}`, "19.25"},
		{`{{if .Long}}long{{else}}short{{end}}`, "short"},
		{`{{with .Sensors.room}}{{.Temperature}}{{end}}`, "19.2 °C"},
	}
	for _, tt := range tests {
		tmpl, err := ParseTemplate("t", tt.text)
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", tt.text, err)
			continue
		}
		got, err := tmpl.Render(data)
		if err != nil || got != tt.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tt.text, got, err, tt.want)
		}
	}

	for text, want := range map[string]string{
		`{{.Sensors.attic.Temperature}}`:                   `map has no entry for key "attic"`,
		`{{.Sensors.room.CO2}}`:                            `map has no entry for key "CO2"`,
		`{{.Nope}}`:                                        `can't evaluate field Nope`,
		`{{printf "%1000000d" 1}}{{printf "%1000000d" 1}}`: "renders to more than 64 KiB",
	} {
		tmpl, err := ParseTemplate("t", text)
		if err != nil {
			t.Fatalf("ParseTemplate(%q): %v", text, err)
		}
		if _, err := tmpl.Render(data); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Render(%q) = %v, want an error containing %q", text, err, want)
		}
	}
}

func TestTemplateRefused(t *testing.T) {
	for text, want := range map[string]string{
		`{{range 1000000000}}{{end}}`:                  "range is not allowed",
		`{{if true}}{{range .Sensors}}x{{end}}{{end}}`: "range is not allowed",
		`{{define "a"}}x{{end}}{{template "a"}}`:       "define and block are not allowed",
		`{{block "a" .}}x{{end}}`:                      "define and block are not allowed",
		`{{.Time`:                                      "unclosed action",
		`{{nosuchfunc}}`:                               `function "nosuchfunc" not defined`,
	} {
		_, err := ParseTemplate("t", text)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTemplate(%q) = %v, want an error containing %q", text, err, want)
		}
	}
}

func TestTemplateSensorRefs(t *testing.T) {
	tmpl, err := ParseTemplate("t", `{{.Sensors.room.Temperature}} {{if gt .Sensors.air.CO2.V 1000.0}}{{.Sensors.room.Humidity}}{{else}}{{with .Sensors.cpu}}{{.Temperature}}{{end}}{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tmpl.SensorRefs(), " "); got != "room air cpu" {
		t.Errorf("SensorRefs = %s", got)
	}
}
