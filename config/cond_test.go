package config

import (
	"math"
	"strings"
	"testing"
)

func TestCondition(t *testing.T) {
	readings := map[string]map[string]float64{
		"room": {"Temperature": 31.5, "Humidity": 40},
		"air":  {"CO2": 900},
		"bad":  {"Temperature": math.NaN()},
	}
	tests := []struct {
		cond string
		want bool
	}{
		{"room.Temperature > 30", true},
		{"room.Temperature > 31.5", false},
		{"room.Temperature >= 31.5", true},
		{"room.Temperature < 31.5", false},
		{"room.Temperature <= 31.5", true},
		{"room.Temperature == 31.5", true},
		{"room.Temperature != 31.5", false},
		{"30 < room.Temperature", true},
		{"room.Temperature > -5", true},
		{"room.Humidity > room.Temperature", true},
		{"room.Temperature > 30 and air.CO2 > 1000", false},
		{"room.Temperature > 30 or air.CO2 > 1000", true},
		{"air.CO2 > 1000 or room.Humidity < 50 and room.Temperature > 40", false},
		{"(air.CO2 > 1000 or room.Humidity < 50) and room.Temperature > 30", true},
		{"room.CO2 > 0", false},            // missing quantity
		{"attic.Temperature < 100", false}, // missing sensor
		{"bad.Temperature != 0", false},    // NaN: no reading
		{"room.Temperature>30&&air.CO2<1000||air.CO2>5000", true},
	}
	for _, tt := range tests {
		c, err := ParseCondition(tt.cond)
		if err != nil {
			t.Errorf("ParseCondition(%q): %v", tt.cond, err)
			continue
		}
		if got := c.Eval(readings); got != tt.want {
			t.Errorf("%q = %v, want %v", tt.cond, got, tt.want)
		}
		if c.String() != tt.cond {
			t.Errorf("String() = %q", c.String())
		}
	}
}

func TestConditionRefs(t *testing.T) {
	c, err := ParseCondition("(room.Temperature > 30 or air.CO2 > 1000) and room.Temperature < 40 and 5 < cpu.Temperature")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, r := range c.Refs() {
		refs = append(refs, r.String())
	}
	if got := strings.Join(refs, " "); got != "room.Temperature air.CO2 cpu.Temperature" {
		t.Errorf("Refs = %s", got)
	}
	if got := strings.Join(c.Sensors(), " "); got != "room air cpu" {
		t.Errorf("Sensors = %s", got)
	}
}

func TestConditionErrors(t *testing.T) {
	tests := []struct{ cond, want string }{
		{"", `condition "": the end at column 1: expected a number or sensor.Quantity`},
		{"room.Temperature", `condition "room.Temperature": the end at column 17: expected a comparison`},
		{"room.Temperature > ", `the end at column 20: expected a number or sensor.Quantity`},
		{"room.Temperature = 30", `unknown operator "=" at column 18; use one of > >= < <= == !=`},
		{"room.Temperature >> 30", `">" at column 19: expected a number or sensor.Quantity`},
		{"room > 30", `"room" at column 1: expected sensor.Quantity`},
		{"room.Temperature.x > 30", `expected sensor.Quantity`},
		{"30 > 20", `compares two numbers`},
		{"room.Temperature > 1.2.3", `"1.2.3" at column 20: not a number`},
		{"room.Temperature > 30 and", `the end at column 26`},
		{"(room.Temperature > 30", `expected ")" to close the "(" at column 1`},
		{"room.Temperature > 30)", `")" at column 22: expected "and", "or" or the end`},
		{"room.Temperature > 30 xor air.CO2 > 1", `"xor" at column 23`},
		{"room.Temperature ≥ 30", `unexpected '≥' at column 18`},
		{strings.Repeat("(", 40) + "a.B > 1" + strings.Repeat(")", 40), "parentheses nest too deep"},
	}
	for _, tt := range tests {
		_, err := ParseCondition(tt.cond)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseCondition(%q) = %v, want an error containing %q", tt.cond, err, tt.want)
		}
	}
}
