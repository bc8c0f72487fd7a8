package config

import (
	"slices"
	"strings"
)

// ChartSeries lists the series a chart spec draws, in order: every
// quantity of each sensor it names (as the sensor's type measures them),
// and each sensor.Quantity.
func (c *Config) ChartSeries(spec *ChartSpec) []string {
	var out []string
	add := func(name string) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	for _, name := range spec.Series {
		if strings.Contains(name, ".") {
			add(name)
			continue
		}
		if s, ok := c.sensor(name); ok {
			for _, q := range SensorQuantities[s.Type] {
				add(name + "." + q)
			}
		}
	}
	return out
}
