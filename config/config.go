// Package config reads pitweet's configuration file (TOML) into a Config,
// with every default filled in and every problem reported with its line
// number and how to fix it: the destinations and what each rule posts to
// them, the buttons, sensors, reports, alerts and LEDs, the templates and
// conditions of the rules. It also loads the credentials of every
// destination, and Check is what `pitweet check` reports.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"periph.io/x/conn/v3/gpio"

	"pitweet/budget"
	"pitweet/chart"
	"pitweet/history"
	"pitweet/hw"
)

// DefaultPath is where the package installs the configuration.
const DefaultPath = "/etc/pitweet/pitweet.toml"

// Config is a loaded and validated pitweet.toml, with every default filled
// in. See config/testdata/example.toml for every option.
type Config struct {
	Path     string // the file it came from, for messages
	StateDir string // the outbox lives here
	// Destinations are where messages go, in this order: "x",
	// "mastodon", "bluesky", "forward". A destination is configured by
	// its section ([x], [mastodon], [bluesky], [mqtt] with forward); with
	// none of them, X is the one destination.
	Destinations []string
	X            XConfig
	MQTT         *MQTTConfig    // nil: no [mqtt]
	Mastodon     MastodonConfig // set when Destinations has "mastodon"
	Bluesky      BlueskyConfig  // set when Destinations has "bluesky"
	Hardware     HardwareConfig
	Buttons      []ButtonConfig
	Sensors      []SensorConfig
	Reports      []ReportConfig
	Alerts       []AlertConfig
	LEDs         []LEDConfig
	// Warnings are "FILE:LINE: ..." lines about what the file says that
	// works but should be written otherwise.
	Warnings []string
}

// XConfig is the [x] table: how to reach X.
type XConfig struct {
	API         string // "v2" or "v1.1"
	BaseURL     string // https://api.x.com, without a trailing slash
	CAFile      string // extra PEM bundle, "" for none
	Credentials string // the credentials file (under systemd, the one LoadCredential= copies); see XConfig.LoadCredentials
	// Spending is the price of each request and the monthly budget
	// (budget.go).
	Spending budget.Settings
}

// HardwareConfig is the [hardware] table.
type HardwareConfig struct {
	Mode   string // "real" or "fake"
	I2CBus string // default bus for sensors, as its number: "1"
	// Environment is what the simulated board's sensors measure: "daily"
	// (a day's curve with noise) or "fixed" (a constant room, for tests).
	Environment string
}

// Fake reports whether the simulated board is configured.
func (h HardwareConfig) Fake() bool { return h.Mode == "fake" }

// ButtonConfig is one [[button]].
type ButtonConfig struct {
	Name      string
	Pin       string // BCM name, "GPIO17"
	Pull      string // "up", "down" or "keep"
	Debounce  time.Duration
	LongPress time.Duration // 0: no long press
	Text      *Template
	LongText  *Template // nil when LongPress is 0
	To        []string  // destinations; every configured one unless the rule says
	// Photo is taken at each short press and posted with its text; a
	// long press posts its long_text alone. nil: no photo.
	Photo    *PhotoConfig
	OnBudget string // "hold" or "drop": what X does with a press over its budget
}

// GPIOPull is the periph.io pull resistor setting for the button's pin.
// "keep" is gpio.PullNoChange: periph's gpioioctl driver sets no bias for
// it (nor for gpio.Float), so the pin keeps the resistor it has.
func (b ButtonConfig) GPIOPull() gpio.Pull {
	switch b.Pull {
	case "down":
		return gpio.PullDown
	case "keep":
		return gpio.PullNoChange
	}
	return gpio.PullUp
}

// ActiveLow reports whether a press pulls the pin low: true unless the pin
// is pulled down (then the button connects it to 3.3V). A button with
// pull = "keep" is taken to have its own pull-up.
func (b ButtonConfig) ActiveLow() bool { return b.Pull != "down" }

// SensorConfig is one [[sensor]].
type SensorConfig struct {
	Name    string
	Type    string // one of hw.SensorTypes
	Bus     string // I2C bus number, "1"; "" for cpu
	Address uint16 // I2C address; 0 for cpu
	Path    string // cpu only: temperature file, "" for the board's default
	// History is how often each quantity is recorded for charts; 0: not
	// recorded.
	History time.Duration
}

// ReportConfig is one [[report]]: read Sensors and post Text every Every.
type ReportConfig struct {
	Every   time.Duration
	Expires time.Duration // a report not posted within this is dropped
	Text    *Template
	Sensors []string   // sensors to read first: as configured, or those Text names
	Chart   *ChartSpec // nil: no chart
	To      []string   // destinations; every configured one unless the rule says
	// OnBudget is "hold" or "drop": what X does with a report over its
	// budget.
	OnBudget string
}

// AlertConfig is one [[alert]]: post Text when When becomes true, at most
// once per Cooldown; it re-arms when When is false again.
type AlertConfig struct {
	When     *Condition
	Text     *Template
	Cooldown time.Duration
	Every    time.Duration // how often the condition's sensors are read
	Chart    *ChartSpec    // nil: no chart
	To       []string      // destinations; every configured one unless the rule says
	OnBudget string        // "hold" or "drop": what X does with an alert over its budget
}

// ChartSpec is a rule's chart = "24h" (and alt): a chart of its sensors'
// history over Window, to go with its post.
type ChartSpec struct {
	Window time.Duration
	// Series selects what is drawn: sensor names (each with every
	// quantity it records) or sensor.Quantity.
	Series []string
	Alt    *Template // nil: a description of the chart (chart.Alt)
}

// LEDConfig is one [[led]].
type LEDConfig struct {
	Pin   string // BCM name
	Shows string // "sent" or "error"
}

// SensorQuantities lists what each sensor type measures.
var SensorQuantities = map[string][]string{
	"bme280": {"Temperature", "Humidity", "Pressure"},
	"bmp280": {"Temperature", "Pressure"},
	"aht20":  {"Temperature", "Humidity"},
	"scd4x":  {"CO2", "Temperature", "Humidity"},
	"bh1750": {"Illuminance"},
	"cpu":    {"Temperature"},
}

// sensorAddresses lists the I2C addresses each chip can answer on; the
// first is the default.
var sensorAddresses = map[string][]uint16{
	"bme280": {0x76, 0x77},
	"bmp280": {0x77, 0x76},
	"aht20":  {0x38},
	"scd4x":  {0x62},
	"bh1750": {0x23, 0x5C},
}

// Defaults and limits.
const (
	defaultStateDir    = "/var/lib/pitweet"
	defaultCredentials = "/etc/pitweet/credentials"
	defaultBaseURL     = "https://api.x.com"
	defaultDebounce    = 30 * time.Millisecond
	defaultLongPress   = 2 * time.Second
	defaultCooldown    = time.Hour
	defaultAlertEvery  = time.Minute
	minReportEvery     = time.Minute
	minFakeEvery       = time.Second // with fake hardware, for tests and the demo
	defaultHistory     = time.Minute
	maxHistory         = time.Hour
	minChart           = time.Minute
	maxChart           = history.Retention
)

// The file's shape, as decoded. Durations stay strings so that errors can
// point at them.
type rawConfig struct {
	StateDir string       `toml:"state_dir"`
	X        rawX         `toml:"x"`
	Mastodon *rawMastodon `toml:"mastodon"`
	Bluesky  *rawBluesky  `toml:"bluesky"`
	MQTT     *rawMQTT     `toml:"mqtt"`
	Hardware rawHardware  `toml:"hardware"`
	Button   []rawButton  `toml:"button"`
	Sensor   []rawSensor  `toml:"sensor"`
	Report   []rawReport  `toml:"report"`
	Alert    []rawAlert   `toml:"alert"`
	LED      []rawLED     `toml:"led"`
}

type rawX struct {
	API         string `toml:"api"`
	BaseURL     string `toml:"base_url"`
	CAFile      string `toml:"ca_file"`
	Credentials string `toml:"credentials"`

	MonthlyBudget      any `toml:"monthly_budget"`
	PricePost          any `toml:"price_post"`
	PricePostURL       any `toml:"price_post_url"`
	PriceUserRead      any `toml:"price_user_read"`
	PriceMediaMetadata any `toml:"price_media_metadata"`
}

type rawHardware struct {
	Mode        string `toml:"mode"`
	I2CBus      any    `toml:"i2c_bus"`
	Environment string `toml:"environment"`
}

type rawButton struct {
	Name      string   `toml:"name"`
	Pin       any      `toml:"pin"`
	Pull      string   `toml:"pull"`
	Debounce  string   `toml:"debounce"`
	Text      string   `toml:"text"`
	LongPress string   `toml:"long_press"`
	LongText  string   `toml:"long_text"`
	To        []string `toml:"to"`
	// See photo.go.
	Photo        []string `toml:"photo"`
	PhotoTimeout string   `toml:"photo_timeout"`
	Alt          string   `toml:"alt"`
	OnBudget     string   `toml:"on_budget"`
}

type rawSensor struct {
	Name    string `toml:"name"`
	Type    string `toml:"type"`
	Address any    `toml:"address"`
	Bus     any    `toml:"bus"`
	Path    string `toml:"path"`
	History string `toml:"history"`
}

type rawReport struct {
	Every   string   `toml:"every"`
	Text    string   `toml:"text"`
	Expires string   `toml:"expires"`
	Sensors []string `toml:"sensors"`
	Chart   string   `toml:"chart"`
	Alt     string   `toml:"alt"`
	To      []string `toml:"to"`

	OnBudget string `toml:"on_budget"`
}

type rawAlert struct {
	When     string   `toml:"when"`
	Text     string   `toml:"text"`
	Cooldown string   `toml:"cooldown"`
	Every    string   `toml:"every"`
	Chart    string   `toml:"chart"`
	Alt      string   `toml:"alt"`
	To       []string `toml:"to"`
	OnBudget string   `toml:"on_budget"`
}

type rawLED struct {
	Pin   any    `toml:"pin"`
	Shows string `toml:"shows"`
}

// An Error lists everything wrong with a config file, one problem per
// line, each as "FILE:LINE: what is wrong; how to fix it".
type Error struct {
	Problems []string
}

func (e *Error) Error() string { return strings.Join(e.Problems, "\n") }

// Load reads and validates the config file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config: config %s does not exist; copy the example from /usr/share/doc/pitweet or pass --config", path)
		}
		return nil, fmt.Errorf("config: reading config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes and validates a config; name is used in messages.
// Defaults that come from the environment ($STATE_DIRECTORY) are read now.
func Parse(data []byte, name string) (*Config, error) {
	var raw rawConfig
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, decodeError(err, name)
	}
	v := &validator{name: name, pos: indexKeys(data)}
	cfg := v.config(&raw)
	if len(v.problems) > 0 {
		return nil, &Error{Problems: v.problems}
	}
	return cfg, nil
}

// decodeError turns go-toml's errors into "FILE:LINE: ..." lines.
func decodeError(err error, name string) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var problems []string
		for i := range strict.Errors {
			e := &strict.Errors[i]
			line, _ := e.Position()
			key := e.Key()
			section := "the top level"
			known := knownKeys(reflect.TypeFor[rawConfig]())
			if len(key) > 1 {
				section, known = sectionKeys(key[0])
			}
			if hint, ok := unknownKeyHints[strings.Join(key, ".")]; ok {
				problems = append(problems, fmt.Sprintf("%s:%d: unknown key %q in %s; %s", name, line, key[len(key)-1], section, hint))
				continue
			}
			if len(known) == 0 {
				problems = append(problems, fmt.Sprintf("%s:%d: unknown key %q in %s; this pitweet knows no keys there",
					name, line, key[len(key)-1], section))
				continue
			}
			problems = append(problems, fmt.Sprintf("%s:%d: unknown key %q in %s; known keys: %s",
				name, line, key[len(key)-1], section, strings.Join(known, ", ")))
		}
		return &Error{Problems: problems}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if tomlType, goType, ok := typeError(msg); ok && len(de.Key()) > 0 {
			want := "a string in quotes"
			switch goType {
			case "[]string":
				want = "a list of strings, such as [\"room\"]"
				if de.Key()[len(de.Key())-1] == "photo" {
					want = "a list of the program and its arguments, such as " + strings.TrimPrefix(PhotoCommandExample, "photo = ")
				}
			case "interface {}":
				want = "a string or a number"
			}
			msg = fmt.Sprintf("%s must be %s, not a TOML %s", de.Key()[len(de.Key())-1], want, tomlType)
		}
		return &Error{Problems: []string{fmt.Sprintf("%s:%d:%d: %s", name, line, col, msg)}}
	}
	return fmt.Errorf("config: %s: %w", name, err)
}

// unknownKeyHints say where a key that is not in the file belongs.
var unknownKeyHints = map[string]string{
	"mqtt.password": "the broker's password goes in the credentials file as mqtt_password=... (or PITWEET_MQTT_PASSWORD), not here",
}

// typeError picks the two types out of go-toml's
// "cannot decode TOML integer into struct field x.y of type string".
func typeError(msg string) (tomlType, goType string, ok bool) {
	rest, ok := strings.CutPrefix(msg, "cannot decode TOML ")
	if !ok {
		return "", "", false
	}
	tomlType, rest, ok = strings.Cut(rest, " into struct field ")
	if !ok || tomlType == "" || strings.ContainsRune(tomlType, ' ') {
		return "", "", false
	}
	_, goType, ok = strings.Cut(rest, " of type ")
	return tomlType, goType, ok && goType != ""
}

// sectionKeys names a section as written in the file and lists its keys.
func sectionKeys(section string) (string, []string) {
	t := reflect.TypeFor[rawConfig]()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("toml") != section {
			continue
		}
		switch f.Type.Kind() {
		case reflect.Slice:
			return "[[" + section + "]]", knownKeys(f.Type.Elem())
		case reflect.Pointer:
			return "[" + section + "]", knownKeys(f.Type.Elem())
		}
		return "[" + section + "]", knownKeys(f.Type)
	}
	return "[" + section + "]", nil
}

func knownKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		keys = append(keys, t.Field(i).Tag.Get("toml"))
	}
	return keys
}

// indexKeys maps each key of the document to its line, as
// "x.api", "button.0.pin" (the first [[button]]), "button.0" (its header).
// It is best effort: a document that does not parse gives a partial index,
// and the decoder reports the syntax error.
func indexKeys(data []byte) map[string]int {
	idx := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	var prefix []string
	counts := map[string]int{}
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.Table && e.Kind != unstable.ArrayTable && e.Kind != unstable.KeyValue {
			continue
		}
		var parts []string
		line := 0
		it := e.Key()
		for it.Next() {
			k := it.Node()
			if line == 0 {
				line = p.Shape(k.Raw).Start.Line
			}
			parts = append(parts, string(k.Data))
		}
		switch e.Kind {
		case unstable.Table:
			prefix = parts
		case unstable.ArrayTable:
			name := strings.Join(parts, ".")
			n := counts[name]
			counts[name]++
			prefix = append(parts, strconv.Itoa(n))
		case unstable.KeyValue:
			parts = append(slices.Clip(prefix), parts...)
		}
		if e.Kind != unstable.KeyValue {
			parts = prefix
		}
		key := strings.Join(parts, ".")
		if _, dup := idx[key]; !dup {
			idx[key] = line
		}
	}
	return idx
}

// validator collects problems while turning a rawConfig into a Config.
type validator struct {
	name     string
	pos      map[string]int
	problems []string
	warnings []string
}

// at returns "FILE:LINE" for the key path, falling back to its section and
// then to the file alone.
func (v *validator) at(path ...string) string {
	for n := len(path); n > 0; n-- {
		if line, ok := v.pos[strings.Join(path[:n], ".")]; ok {
			return fmt.Sprintf("%s:%d", v.name, line)
		}
	}
	return v.name
}

func (v *validator) problem(where string, format string, a ...any) {
	v.problems = append(v.problems, where+": "+fmt.Sprintf(format, a...))
}

func (v *validator) warning(where string, format string, a ...any) {
	v.warnings = append(v.warnings, where+": "+fmt.Sprintf(format, a...))
}

// item is the key path of the i-th entry of an array table.
func item(section string, i int, key string) []string {
	return []string{section, strconv.Itoa(i), key}
}

// duration parses a Go duration, with def when s is empty.
func (v *validator) duration(path []string, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		v.problem(v.at(path...), "%s = %q is not a duration; write it like \"30ms\", \"2s\", \"5m\" or \"1h30m\"", path[len(path)-1], s)
		return def
	}
	if d < 0 {
		v.problem(v.at(path...), "%s = %q is negative", path[len(path)-1], s)
		return def
	}
	return d
}

// validName reports whether s is a button or LED name: a letter or digit,
// then letters, digits, "_" and "-".
func validName(s string) bool {
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// validSensorName reports whether s can follow ".Sensors." in a template
// and stand in a condition: a Go identifier in ASCII.
func validSensorName(s string) bool {
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

func (v *validator) config(raw *rawConfig) *Config {
	cfg := &Config{Path: v.name}

	cfg.StateDir = raw.StateDir
	if cfg.StateDir == "" {
		cfg.StateDir = defaultStateDir
		if dirs := os.Getenv("STATE_DIRECTORY"); dirs != "" {
			cfg.StateDir, _, _ = strings.Cut(dirs, ":")
		}
	} else if !filepath.IsAbs(cfg.StateDir) {
		v.problem(v.at("state_dir"), "state_dir = %q must be an absolute path", raw.StateDir)
	}

	v.x(cfg, &raw.X)
	v.mqtt(cfg, raw.MQTT)
	v.destinations(cfg, raw)
	v.mastodon(cfg, raw.Mastodon)
	v.bluesky(cfg, raw.Bluesky)
	v.hardware(cfg, &raw.Hardware)
	// Sensors first: templates and conditions refer to them.
	for i := range raw.Sensor {
		v.sensor(cfg, i, &raw.Sensor[i])
	}
	sample := cfg.SampleData("")
	for i := range raw.Button {
		v.button(cfg, i, &raw.Button[i], sample)
	}
	for i := range raw.Report {
		v.report(cfg, i, &raw.Report[i], sample)
	}
	for i := range raw.Alert {
		v.alert(cfg, i, &raw.Alert[i], sample)
	}
	for i := range raw.LED {
		v.led(cfg, i, &raw.LED[i])
	}
	v.pinConflicts(cfg, raw)
	cfg.Warnings = v.warnings
	return cfg
}

func (v *validator) x(cfg *Config, raw *rawX) {
	x := &cfg.X
	switch raw.API {
	case "", "v2":
		x.API = "v2"
	case "v1.1":
		x.API = "v1.1"
	default:
		v.problem(v.at("x", "api"), "api = %q is not known; use \"v2\" (or \"v1.1\" on paid tiers)", raw.API)
	}

	x.BaseURL = defaultBaseURL
	if raw.BaseURL != "" {
		u, err := url.Parse(raw.BaseURL)
		switch {
		case err != nil || u.Host == "":
			v.problem(v.at("x", "base_url"), "base_url = %q is not a URL; write it like \"https://api.x.com\"", raw.BaseURL)
		case u.Scheme != "https":
			v.problem(v.at("x", "base_url"), "base_url = %q must start with https://; pitweet only talks TLS", raw.BaseURL)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			v.problem(v.at("x", "base_url"), "base_url = %q may not have a user, query or fragment", raw.BaseURL)
		default:
			x.BaseURL = strings.TrimRight(raw.BaseURL, "/")
		}
	}

	x.CAFile = raw.CAFile
	x.Credentials = raw.Credentials
	if x.Credentials == "" {
		x.Credentials = defaultCredentials
	}
	v.spending(x, raw)
}

func (v *validator) hardware(cfg *Config, raw *rawHardware) {
	switch raw.Mode {
	case "", "real":
		cfg.Hardware.Mode = "real"
	case "fake":
		cfg.Hardware.Mode = "fake"
	default:
		v.problem(v.at("hardware", "mode"), "mode = %q is not known; use \"real\" or \"fake\"", raw.Mode)
		cfg.Hardware.Mode = "real"
	}
	cfg.Hardware.I2CBus = "1"
	if raw.I2CBus != nil {
		if bus, ok := v.bus([]string{"hardware", "i2c_bus"}, raw.I2CBus); ok {
			cfg.Hardware.I2CBus = bus
		}
	}
	switch raw.Environment {
	case "", "daily":
		cfg.Hardware.Environment = "daily"
	case "fixed":
		cfg.Hardware.Environment = "fixed"
	default:
		v.problem(v.at("hardware", "environment"), "environment = %q is not known; use \"daily\" (the simulated sensors follow a day) or \"fixed\" (a constant room)", raw.Environment)
	}
}

// bus reads a bus written as a number (1) or a name ("1", "/dev/i2c-1",
// "I2C1") as its number, "1", so that every bus has one spelling.
func (v *validator) bus(path []string, raw any) (string, bool) {
	s := ""
	switch b := raw.(type) {
	case int64:
		s = strconv.FormatInt(b, 10)
	case string:
		s = b
	}
	if n, err := hw.I2CBusNumber(s); err == nil && s != "" {
		return strconv.Itoa(n), true
	}
	v.problem(v.at(path...), "%s = %v is not an I2C bus; write its number, such as 1 for /dev/i2c-1", path[len(path)-1], tomlValue(raw))
	return "", false
}

// pin reads a pin written as a name ("GPIO17", "BCM17", "17", "P1_11") or
// a number (17) as its BCM name, "GPIO17".
func (v *validator) pin(path []string, who string, raw any) string {
	var s string
	switch p := raw.(type) {
	case string:
		s = p
	case int64:
		s = strconv.FormatInt(p, 10)
	default:
		v.problem(v.at(path...), "%s: pin = %v is not a pin; write it like pin = \"GPIO17\"", who, tomlValue(raw))
		return ""
	}
	name, err := hw.PinName(s)
	if err != nil {
		v.problem(v.at(path...), "%s: %v", who, err)
		return ""
	}
	return name
}

func tomlValue(x any) string {
	if s, ok := x.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(x)
}

func (v *validator) sensor(cfg *Config, i int, raw *rawSensor) {
	at := func(key string) string { return v.at(item("sensor", i, key)...) }
	s := SensorConfig{Name: raw.Name, Type: raw.Type, Path: raw.Path}
	ok := true
	switch {
	case raw.Name == "":
		v.problem(at("name"), "[[sensor]] needs a name, such as name = \"room\"")
		ok = false
	case !validSensorName(raw.Name):
		v.problem(at("name"), "sensor name %q may only have letters, digits and _, and may not start with a digit (templates write {{.Sensors.%s.Temperature}})", raw.Name, raw.Name)
		ok = false
	case slices.ContainsFunc(cfg.Sensors, func(o SensorConfig) bool { return o.Name == raw.Name }):
		v.problem(at("name"), "there are two sensors named %q; give each its own name", raw.Name)
		ok = false
	}
	if !slices.Contains(hw.SensorTypes, raw.Type) {
		if raw.Type == "" {
			v.problem(at("type"), "sensor %q needs a type: one of %s", raw.Name, strings.Join(hw.SensorTypes, ", "))
		} else {
			v.problem(at("type"), "sensor %q has unknown type %q; use one of %s", raw.Name, raw.Type, strings.Join(hw.SensorTypes, ", "))
		}
		ok = false
	}
	if raw.Type == "cpu" {
		if raw.Address != nil {
			v.problem(at("address"), "sensor %q is the cpu's own temperature and has no I2C address; remove address", raw.Name)
		}
		if raw.Bus != nil {
			v.problem(at("bus"), "sensor %q is the cpu's own temperature and has no I2C bus; remove bus", raw.Name)
		}
		if raw.Path != "" {
			if err := hw.CheckCPUTempPath(raw.Path); err != nil {
				v.problem(at("path"), "sensor %q: %s", raw.Name, strings.TrimPrefix(err.Error(), "hw: "))
			}
		}
	} else if ok {
		if raw.Path != "" {
			v.problem(at("path"), "path is only for type \"cpu\"; sensor %q is a %s on I2C", raw.Name, raw.Type)
		}
		s.Bus = cfg.Hardware.I2CBus
		if raw.Bus != nil {
			if bus, good := v.bus(item("sensor", i, "bus"), raw.Bus); good {
				s.Bus = bus
			}
		}
		addrs := sensorAddresses[raw.Type]
		s.Address = addrs[0]
		if raw.Address != nil {
			a, isInt := raw.Address.(int64)
			switch {
			case !isInt:
				v.problem(at("address"), "address = %s must be a number, such as address = 0x%02x", tomlValue(raw.Address), addrs[0])
			case !slices.Contains(addrs, uint16(min(max(a, 0), math.MaxUint16))):
				v.problem(at("address"), "a %s answers on %s, not on 0x%02x", raw.Type, hexList(addrs), a)
			default:
				s.Address = uint16(a)
			}
		}
	}
	if ok && s.Type != "cpu" {
		for _, o := range cfg.Sensors {
			if o.Type != "cpu" && o.Bus == s.Bus && o.Address == s.Address {
				v.problem(at("address"), "sensor %q is at address 0x%02x on I2C bus %s, where sensor %q is already; set address to the other one the chip allows, or use another bus", s.Name, s.Address, s.Bus, o.Name)
				ok = false
				break
			}
		}
	}
	s.History = v.duration(item("sensor", i, "history"), raw.History, defaultHistory)
	switch {
	case s.History > 0 && s.History < minEvery(cfg):
		v.problem(at("history"), "history = %q is too often; a sample is recorded at most once a %v (\"0\" records none)", raw.History, minEvery(cfg))
	case s.History > maxHistory:
		v.problem(at("history"), "history = %q is too seldom for a chart; record at most every %v (\"0\" records none)", raw.History, maxHistory)
	}
	if ok {
		cfg.Sensors = append(cfg.Sensors, s)
	}
}

func hexList(addrs []uint16) string {
	var s []string
	for _, a := range addrs {
		s = append(s, fmt.Sprintf("0x%02x", a))
	}
	return strings.Join(s, " or ")
}

// template compiles a template and renders it with sample readings, which
// finds unknown sensors, quantities and fields.
func (v *validator) template(path []string, what, text string, sample TemplateData) *Template {
	t, err := ParseTemplate(what, text)
	if err == nil {
		_, err = t.Render(sample)
	}
	if err != nil {
		v.problem(v.at(path...), "%s%s", strings.TrimPrefix(err.Error(), "config: "), templateHint(err))
		return nil
	}
	return t
}

// templateHint adds what to do for the common template mistakes.
func templateHint(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "map has no entry for key"):
		return "; templates can name the configured sensors and what each measures, such as {{.Sensors.room.Temperature}}"
	case strings.Contains(s, "can't evaluate field"):
		return "; templates see .Time, .Host, .Button, .Long and .Sensors"
	}
	return ""
}

func (v *validator) button(cfg *Config, i int, raw *rawButton, sample TemplateData) {
	path := func(key string) []string { return item("button", i, key) }
	at := func(key string) string { return v.at(path(key)...) }
	b := ButtonConfig{Name: raw.Name}
	switch {
	case raw.Name == "":
		v.problem(at("name"), "[[button]] needs a name, such as name = \"doorbell\"")
	case !validName(raw.Name):
		v.problem(at("name"), "button name %q may only have letters, digits, - and _", raw.Name)
	case slices.ContainsFunc(cfg.Buttons, func(o ButtonConfig) bool { return o.Name == raw.Name }):
		v.problem(at("name"), "there are two buttons named %q; give each its own name", raw.Name)
	}
	if raw.Pin == nil || raw.Pin == "" {
		v.problem(at("pin"), "button %q needs a pin, such as pin = \"GPIO17\"", raw.Name)
	} else {
		b.Pin = v.pin(path("pin"), fmt.Sprintf("button %q", raw.Name), raw.Pin)
	}
	switch raw.Pull {
	case "", "up":
		b.Pull = "up"
	case "down", "keep":
		b.Pull = raw.Pull
	case "none":
		// What "none" did: periph.io cannot switch a pin's resistor off.
		b.Pull = "keep"
		v.warning(at("pull"), "pull = \"none\" leaves the pin's internal resistor as it is (pitweet cannot switch it off); write pull = \"keep\", which says so")
	default:
		v.problem(at("pull"), "pull = %q is not known; use \"up\" (button to ground), \"down\" (button to 3.3V) or \"keep\" (leave the pin's resistor as it is, for a button with its own pull-up)", raw.Pull)
	}
	b.Debounce = v.duration(path("debounce"), raw.Debounce, defaultDebounce)
	b.To = v.to(cfg, path("to"), raw.To)
	b.OnBudget = v.onBudget(cfg, path("on_budget"), raw.OnBudget, b.To)
	if b.Debounce > time.Second {
		v.problem(at("debounce"), "debounce = %q is longer than a second; switches settle within 20ms, so 30ms is plenty", raw.Debounce)
	}
	sample.Button = raw.Name
	if raw.Text == "" {
		v.problem(at("text"), "button %q needs a text to post", raw.Name)
	} else {
		b.Text = v.template(path("text"), "button "+raw.Name+" text", raw.Text, sample)
	}
	switch {
	case raw.LongText != "":
		b.LongPress = v.duration(path("long_press"), raw.LongPress, defaultLongPress)
		if b.LongPress <= b.Debounce {
			v.problem(at("long_press"), "long_press = %q must be longer than debounce (%v)", raw.LongPress, b.Debounce)
		}
		sample.Long = true
		b.LongText = v.template(path("long_text"), "button "+raw.Name+" long_text", raw.LongText, sample)
	case raw.LongPress != "":
		v.problem(at("long_press"), "button %q has long_press but no long_text; add long_text, the text a long press posts", raw.Name)
	}
	sample.Long = false
	v.photo(&b, i, raw, sample)
	cfg.Buttons = append(cfg.Buttons, b)
}

// minEvery is the shortest schedule allowed: a minute on real hardware, a
// second on the simulated board.
func minEvery(cfg *Config) time.Duration {
	if cfg.Hardware.Fake() {
		return minFakeEvery
	}
	return minReportEvery
}

func (v *validator) report(cfg *Config, i int, raw *rawReport, sample TemplateData) {
	path := func(key string) []string { return item("report", i, key) }
	at := func(key string) string { return v.at(path(key)...) }
	r := ReportConfig{}
	if raw.Every == "" {
		v.problem(v.at("report", strconv.Itoa(i)), "[[report]] needs every, such as every = \"1h\"")
	} else {
		r.Every = v.duration(path("every"), raw.Every, 0)
		if r.Every > 0 && r.Every < minEvery(cfg) {
			v.problem(at("every"), "every = %q is too often; reports may come at most once a minute", raw.Every)
		}
	}
	r.Expires = v.duration(path("expires"), raw.Expires, r.Every)
	r.To = v.to(cfg, path("to"), raw.To)
	r.OnBudget = v.onBudget(cfg, path("on_budget"), raw.OnBudget, r.To)
	if raw.Expires != "" && r.Expires == 0 {
		v.problem(at("expires"), "expires = %q would drop every report; leave it out to use every", raw.Expires)
	}
	if raw.Text == "" {
		v.problem(v.at("report", strconv.Itoa(i)), "[[report]] needs a text to post")
	} else {
		r.Text = v.template(path("text"), fmt.Sprintf("report %d text", i+1), raw.Text, sample)
	}
	for _, name := range raw.Sensors {
		if !cfg.hasSensor(name) {
			v.problem(at("sensors"), "report %d reads sensor %q, which is not configured; known sensors: %s", i+1, name, cfg.sensorNames())
		}
	}
	r.Sensors = raw.Sensors
	if r.Sensors == nil && r.Text != nil {
		r.Sensors = r.Text.SensorRefs()
	}
	r.Chart = v.chart(cfg, path, fmt.Sprintf("report %d", i+1), raw.Chart, raw.Alt, r.Sensors, sample)
	cfg.Reports = append(cfg.Reports, r)
}

// chart checks a rule's chart and alt keys: a window from a minute to the
// history's retention, over sensors (or sensor.Quantity) whose history is
// recorded. rule names it in messages ("report 1").
func (v *validator) chart(cfg *Config, path func(string) []string, rule, window, alt string, series []string, sample TemplateData) *ChartSpec {
	at := func(key string) string { return v.at(path(key)...) }
	if window == "" {
		if alt != "" {
			v.problem(at("alt"), "%s has alt but no chart; add chart = \"24h\", or remove alt", rule)
		}
		return nil
	}
	c := &ChartSpec{Series: series}
	d, err := time.ParseDuration(window)
	switch {
	case err != nil:
		v.problem(at("chart"), "chart = %q is not a duration; write the window it shows, such as \"24h\" or \"168h\" (a week)", window)
	case d < minChart || d > maxChart:
		v.problem(at("chart"), "chart = %q: the window must be from %v to %v (the history kept)", window, minChart, maxChart)
	default:
		c.Window = d
	}
	if len(series) == 0 {
		v.problem(at("chart"), "%s has a chart but reads no sensors to draw; name them in the text or in sensors", rule)
	}
	for _, name := range series {
		sensorName, _, _ := strings.Cut(name, ".")
		if s, ok := cfg.sensor(sensorName); ok && s.History == 0 {
			v.problem(at("chart"), "%s charts sensor %q, whose history is off (history = \"0\"); record it, or remove chart", rule, s.Name)
		}
	}
	if names := cfg.ChartSeries(c); len(names) > chart.MaxLines {
		v.problem(at("chart"), "%s charts %d quantities, more than a chart shows (%d); name fewer sensors, or sensor.Quantity", rule, len(names), chart.MaxLines)
	} else if units := chartUnits(names); units > chart.MaxPanels {
		v.problem(at("chart"), "%s charts %d units, more than a chart shows (%d panels); name fewer sensors", rule, units, chart.MaxPanels)
	}
	if alt != "" {
		c.Alt = v.template(path("alt"), rule+" alt", alt, sample)
	}
	return c
}

// chartUnits counts the units of series names.
func chartUnits(names []string) int {
	seen := map[string]bool{}
	for _, n := range names {
		_, q, _ := strings.Cut(n, ".")
		seen[Quantities[q]] = true
	}
	return len(seen)
}

func (v *validator) alert(cfg *Config, i int, raw *rawAlert, sample TemplateData) {
	path := func(key string) []string { return item("alert", i, key) }
	at := func(key string) string { return v.at(path(key)...) }
	a := AlertConfig{}
	if raw.When == "" {
		v.problem(v.at("alert", strconv.Itoa(i)), "[[alert]] needs when, such as when = \"room.Temperature > 30\"")
	} else if c, err := ParseCondition(raw.When); err != nil {
		v.problem(at("when"), "%s", strings.TrimPrefix(err.Error(), "config: "))
	} else {
		a.When = c
		for _, ref := range c.Refs() {
			s, ok := cfg.sensor(ref.Sensor)
			if !ok {
				v.problem(at("when"), "condition %q reads sensor %q, which is not configured; known sensors: %s", raw.When, ref.Sensor, cfg.sensorNames())
				continue
			}
			if qs := SensorQuantities[s.Type]; !slices.Contains(qs, ref.Quantity) {
				v.problem(at("when"), "condition %q reads %s, but a %s measures %s", raw.When, ref, s.Type, strings.Join(qs, ", "))
			}
		}
	}
	if raw.Text == "" {
		v.problem(v.at("alert", strconv.Itoa(i)), "[[alert]] needs a text to post")
	} else {
		a.Text = v.template(path("text"), fmt.Sprintf("alert %d text", i+1), raw.Text, sample)
	}
	var series []string
	if a.When != nil {
		for _, ref := range a.When.Refs() {
			if !slices.Contains(series, ref.String()) {
				series = append(series, ref.String())
			}
		}
	}
	a.Chart = v.chart(cfg, path, fmt.Sprintf("alert %d", i+1), raw.Chart, raw.Alt, series, sample)
	a.Cooldown = v.duration(path("cooldown"), raw.Cooldown, defaultCooldown)
	a.To = v.to(cfg, path("to"), raw.To)
	a.OnBudget = v.onBudget(cfg, path("on_budget"), raw.OnBudget, a.To)
	a.Every = v.duration(path("every"), raw.Every, defaultAlertEvery)
	if a.Every < minEvery(cfg) && raw.Every != "" {
		v.problem(at("every"), "every = %q is too often; sensors are read at most once a %v", raw.Every, minEvery(cfg))
	}
	cfg.Alerts = append(cfg.Alerts, a)
}

func (v *validator) led(cfg *Config, i int, raw *rawLED) {
	at := func(key string) string { return v.at(item("led", i, key)...) }
	l := LEDConfig{}
	if raw.Pin == nil || raw.Pin == "" {
		v.problem(v.at("led", strconv.Itoa(i)), "[[led]] needs a pin, such as pin = \"GPIO27\"")
	} else {
		l.Pin = v.pin(item("led", i, "pin"), "led", raw.Pin)
	}
	switch raw.Shows {
	case "sent", "error":
		l.Shows = raw.Shows
	case "":
		v.problem(v.at("led", strconv.Itoa(i)), "[[led]] needs shows = \"sent\" (blinks when a post is accepted) or \"error\" (lights when one fails)")
	default:
		v.problem(at("shows"), "shows = %q is not known; use \"sent\" or \"error\"", raw.Shows)
	}
	cfg.LEDs = append(cfg.LEDs, l)
}

// pinConflicts refuses a pin used twice, and the I2C pins when a sensor
// uses the Pi's I2C bus 1, with the simulated board as with the real one.
func (v *validator) pinConflicts(cfg *Config, raw *rawConfig) {
	used := map[string]string{}
	check := func(pin, who string, path []string) {
		if pin == "" {
			return
		}
		if other, dup := used[pin]; dup {
			v.problem(v.at(path...), "%s uses %s, which %s uses already; give each its own pin", who, pin, other)
			return
		}
		used[pin] = who
	}
	i2c := slices.ContainsFunc(cfg.Sensors, func(s SensorConfig) bool { return s.Type != "cpu" && s.Bus == "1" })
	if i2c {
		used["GPIO2"] = "I2C bus 1 (SDA)"
		used["GPIO3"] = "I2C bus 1 (SCL)"
	}
	for i, b := range cfg.Buttons {
		check(b.Pin, fmt.Sprintf("button %q", b.Name), item("button", i, "pin"))
	}
	for i, l := range cfg.LEDs {
		check(l.Pin, fmt.Sprintf("led %d", i+1), item("led", i, "pin"))
	}
}

func (c *Config) sensor(name string) (SensorConfig, bool) {
	for _, s := range c.Sensors {
		if s.Name == name {
			return s, true
		}
	}
	return SensorConfig{}, false
}

func (c *Config) hasSensor(name string) bool {
	_, ok := c.sensor(name)
	return ok
}

func (c *Config) sensorNames() string {
	if len(c.Sensors) == 0 {
		return "none"
	}
	var names []string
	for _, s := range c.Sensors {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// Button returns the button with the given name.
func (c *Config) Button(name string) (ButtonConfig, bool) {
	for _, b := range c.Buttons {
		if b.Name == name {
			return b, true
		}
	}
	return ButtonConfig{}, false
}

// Summary counts what the config sets up: "2 buttons, 3 sensors, 1 report,
// 1 alert, 1 led".
func (c *Config) Summary() string {
	return strings.Join([]string{
		plural(len(c.Buttons), "button"),
		plural(len(c.Sensors), "sensor"),
		plural(len(c.Reports), "report"),
		plural(len(c.Alerts), "alert"),
		plural(len(c.LEDs), "led"),
	}, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
