package config

import (
	"slices"
	"strings"
)

// destinationNames are the destinations pitweet knows, in the order a
// message goes to them.
var destinationNames = []string{"x", "mastodon", "bluesky", "forward"}

// DestinationNames returns the names of the destinations pitweet knows,
// in the order a message goes to them.
func DestinationNames() []string { return slices.Clone(destinationNames) }

// extraDestinations, when not nil, names destinations that no section
// configures; only test builds set it (testdest.go).
var extraDestinations func() []string

// destinations finds the configured destinations: [x], [mastodon],
// [bluesky], and [mqtt] with forward. With none of them, X is the one
// destination, as it was before there were others.
func (v *validator) destinations(cfg *Config, raw *rawConfig) {
	if v.hasSection("x") {
		cfg.Destinations = append(cfg.Destinations, "x")
	}
	if raw.Mastodon != nil {
		cfg.Destinations = append(cfg.Destinations, "mastodon")
	}
	if raw.Bluesky != nil {
		cfg.Destinations = append(cfg.Destinations, "bluesky")
	}
	if raw.MQTT != nil && raw.MQTT.Forward != "" {
		cfg.Destinations = append(cfg.Destinations, "forward")
	}
	if len(cfg.Destinations) == 0 {
		cfg.Destinations = []string{"x"}
	}
	if extraDestinations != nil {
		for _, name := range extraDestinations() {
			if !slices.Contains(cfg.Destinations, name) {
				cfg.Destinations = append(cfg.Destinations, name)
			}
		}
	}
}

// hasSection reports whether the file has the table name, or a key in it.
func (v *validator) hasSection(name string) bool {
	for key := range v.pos {
		if key == name || strings.HasPrefix(key, name+".") {
			return true
		}
	}
	return false
}

// to checks a rule's destinations (key path path): each must be
// configured, and there must be one. Without the key the rule posts to
// every configured destination. The destinations come back in the
// config's order.
func (v *validator) to(cfg *Config, path []string, raw []string) []string {
	if raw == nil {
		if _, present := v.pos[strings.Join(path, ".")]; !present {
			return slices.Clone(cfg.Destinations)
		}
	}
	at := v.at(path...)
	configured := strings.Join(cfg.Destinations, ", ")
	if len(raw) == 0 {
		v.problem(at, "to = [] posts nowhere; leave to out to post to every configured destination (%s)", configured)
		return nil
	}
	for i, name := range raw {
		switch {
		case slices.Contains(raw[:i], name):
			v.problem(at, "to names %q twice; name it once", name)
		case slices.Contains(cfg.Destinations, name):
		case slices.Contains(destinationNames, name):
			v.problem(at, "to names %q, which is not configured; configured: %s (%s to post there)", name, configured, HowToConfigure(name))
		default:
			v.problem(at, "to names %q, which is not a destination; configured: %s", name, configured)
		}
	}
	var to []string
	for _, name := range cfg.Destinations {
		if slices.Contains(raw, name) {
			to = append(to, name)
		}
	}
	return to
}

// HowToConfigure says how to make name a destination: "add a [mastodon]
// section".
func HowToConfigure(name string) string {
	switch name {
	case "forward":
		return "set forward in [mqtt]"
	case "x":
		return "add an [x] section"
	}
	return "add a [" + name + "] section"
}
