package config

import (
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"pitweet/budget"
)

func TestExampleConfig(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	cfg, err := Load("testdata/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Summary(), "2 buttons, 4 sensors, 1 report, 1 alert, 2 leds"; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	if bs := cfg.Bluesky; bs.Handle != "pitweet.bsky.social" || bs.Service != "https://bsky.social" || strings.Join(bs.Langs, ",") != "en" ||
		strings.Join(cfg.Destinations, ",") != "x,mastodon,bluesky" {
		t.Errorf("bluesky = %+v, destinations %q; want the example's account, after x and mastodon", bs, cfg.Destinations)
	}
	b := cfg.Buttons[1]
	if b.Pin != "GPIO22" || b.Pull != "up" || b.Debounce != 30*time.Millisecond || b.LongPress != 0 || b.LongText != nil {
		t.Errorf("button weather = %+v", b)
	}
	if d := cfg.Buttons[0].LongPress; d != 2*time.Second {
		t.Errorf("doorbell long_press = %v", d)
	}
	if p := cfg.Buttons[0].Photo; p == nil || p.Command[0] != "rpicam-still" || p.Timeout != 10*time.Second || p.Alt == nil {
		t.Errorf("doorbell photo %+v, want rpicam-still with a 10s timeout and an alt text", p)
	}
	if s := cfg.Sensors[1]; s.Address != 0x23 || s.Bus != "1" {
		t.Errorf("window sensor = %+v, want the bh1750 default address 0x23 on bus 1", s)
	}
	if s := cfg.Sensors[3]; s.Address != 0 || s.Bus != "" {
		t.Errorf("cpu sensor = %+v, want no address or bus", s)
	}
	if got := cfg.Reports[0].Sensors; strings.Join(got, ",") != "room,air" {
		t.Errorf("report sensors = %v", got)
	}
	if x := cfg.X.Spending; !x.Limited || x.Budget != 5*budget.Dollar || x.Prices != budget.Published || cfg.Reports[0].OnBudget != "drop" || cfg.Alerts[0].OnBudget != "hold" {
		t.Errorf("spending %+v, on_budget %q %q; want a $5.00 budget, the published prices, drop and hold", x, cfg.Reports[0].OnBudget, cfg.Alerts[0].OnBudget)
	}
	if a := cfg.Alerts[0]; a.Cooldown != time.Hour || a.Every != time.Minute {
		t.Errorf("alert = %+v", a)
	}
	if m := cfg.MQTT; m == nil || m.Broker != "mqtt://localhost:1883" || !m.Discovery || m.DiscoveryStyle != "device" || m.Commands || m.Forward != "" {
		t.Errorf("[mqtt] = %+v", m)
	}
	if m := cfg.Mastodon; m.Server != "https://mastodon.example" || m.Visibility != "public" || m.Language != "en" || cfg.Destinations[1] != "mastodon" {
		t.Errorf("[mastodon] = %+v, destinations %q", m, cfg.Destinations)
	}
	if !cfg.Hardware.Fake() || cfg.Hardware.Environment != "daily" {
		t.Errorf("hardware %+v, want fake with a daily environment", cfg.Hardware)
	}
	if c := cfg.Reports[0].Chart; c == nil || c.Window != 24*time.Hour || c.Alt == nil {
		t.Errorf("report chart %+v, want 24h with an alt text", c)
	}
	if s := cfg.Sensors[0]; s.History != time.Minute {
		t.Errorf("room history %v, want 1m", s.History)
	}
	text, err := cfg.Buttons[1].Text.Render(cfg.SampleData("weather"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "14:30:00.000: 21.5 °C, 45 %, 1013.2 hPa; light 320 lux"; text != want {
		t.Errorf("rendered %q, want %q", text, want)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "/var/lib/pitweet-test:/other")
	t.Setenv("CREDENTIALS_DIRECTORY", "/run/credentials/pitweet.service")
	cfg, err := Parse([]byte(`
[[sensor]]
name = "room"
type = "bmp280"

[[report]]
every = "30m"
text = "{{.Sensors.room.Pressure}}"
`), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	// Under systemd too, credentials names the file; XConfig.LoadCredentials
	// reads systemd's copy of it.
	// No budget, and X's published prices.
	want := XConfig{API: "v2", BaseURL: "https://api.x.com", Credentials: "/etc/pitweet/credentials",
		Spending: budget.Settings{Prices: budget.Published}}
	if cfg.X != want {
		t.Errorf("X = %+v, want %+v", cfg.X, want)
	}
	if cfg.StateDir != "/var/lib/pitweet-test" {
		t.Errorf("StateDir = %q", cfg.StateDir)
	}
	if cfg.Hardware != (HardwareConfig{Mode: "real", I2CBus: "1", Environment: "daily"}) {
		t.Errorf("Hardware = %+v", cfg.Hardware)
	}
	if s := cfg.Sensors[0]; s.Address != 0x77 || s.Bus != "1" {
		t.Errorf("sensor = %+v, want the bmp280 default address 0x77 on bus 1", s)
	}
	r := cfg.Reports[0]
	if r.Every != 30*time.Minute || r.Expires != 30*time.Minute || strings.Join(r.Sensors, ",") != "room" {
		t.Errorf("report = %+v", r)
	}

	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	cfg, err = Parse([]byte("[hardware]\ni2c_bus = 3\n"), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != "/var/lib/pitweet" || cfg.X.Credentials != "/etc/pitweet/credentials" || cfg.Hardware.I2CBus != "3" {
		t.Errorf("defaults without systemd: %q %q %q", cfg.StateDir, cfg.X.Credentials, cfg.Hardware.I2CBus)
	}
}

// Pins are written as people write them; buses too: each is read into one
// spelling, "GPIO17" and "1".
func TestConfigSpellings(t *testing.T) {
	for _, tc := range []struct{ pin, bus, wantPin, wantBus string }{
		{`"GPIO17"`, `1`, "GPIO17", "1"},
		{`"BCM17"`, `"1"`, "GPIO17", "1"},
		{`17`, `"/dev/i2c-1"`, "GPIO17", "1"},
		{`"17"`, `"I2C1"`, "GPIO17", "1"},
		{`"P1_11"`, `"i2c-3"`, "GPIO17", "3"},
	} {
		cfg, err := Parse([]byte("[[button]]\nname = \"a\"\npin = "+tc.pin+"\ntext = \"x\"\n[[sensor]]\nname = \"room\"\ntype = \"bme280\"\nbus = "+tc.bus+"\n"), "pitweet.toml")
		if err != nil {
			t.Errorf("pin %s, bus %s: %v", tc.pin, tc.bus, err)
			continue
		}
		if cfg.Buttons[0].Pin != tc.wantPin || cfg.Sensors[0].Bus != tc.wantBus {
			t.Errorf("pin %s, bus %s: got %q on bus %q, want %q on bus %q", tc.pin, tc.bus, cfg.Buttons[0].Pin, cfg.Sensors[0].Bus, tc.wantPin, tc.wantBus)
		}
	}
}

// pull = "none" did what "keep" says: it is read as "keep", with a
// warning that says so.
func TestPullNoneIsKeep(t *testing.T) {
	cfg, err := Parse([]byte("[[button]]\nname = \"a\"\npin = \"GPIO5\"\npull = \"none\"\ntext = \"x\"\n[[button]]\nname = \"b\"\npin = \"GPIO6\"\npull = \"keep\"\ntext = \"y\"\n"), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range cfg.Buttons {
		if b.Pull != "keep" || b.GPIOPull() != gpio.PullNoChange || !b.ActiveLow() {
			t.Errorf("button %s: pull %q, %v, active low %v; want keep, PullNoChange, true", b.Name, b.Pull, b.GPIOPull(), b.ActiveLow())
		}
	}
	want := `pitweet.toml:4: pull = "none" leaves the pin's internal resistor as it is (pitweet cannot switch it off); write pull = "keep", which says so`
	if len(cfg.Warnings) != 1 || cfg.Warnings[0] != want {
		t.Errorf("warnings %q, want [%q]", cfg.Warnings, want)
	}
}

func TestConfigErrors(t *testing.T) {
	const room = "[[sensor]]\nname = \"room\"\ntype = \"bme280\"\n"
	tests := []struct {
		name string
		toml string
		want []string // each must appear in the error
	}{
		{"unknown key with line", "[x]\napi = \"v2\"\n\n[[button]]\nname = \"a\"\npin = \"GPIO17\"\ncolour = \"red\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:7: unknown key "colour" in [[button]]; known keys: name, pin, pull, debounce, text, long_press, long_text`}},
		{"unknown top-level key", "\nstatedir = \"/x\"\n",
			[]string{`pitweet.toml:2: unknown key "statedir" in the top level; known keys: state_dir,`}},
		{"unknown table", "[hardwear]\nmode = \"fake\"\n",
			[]string{`pitweet.toml:1:`, `hardwear`}},
		{"syntax error", "[x]\napi = v2\n",
			[]string{`pitweet.toml:2:7:`}},
		{"wrong type", "[[button]]\nname = 7\n",
			[]string{`pitweet.toml:2:`}},
		{"bad pin", "[[button]]\nname = \"a\"\npin = \"GPIO42\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:3: button "a": unknown pin "GPIO42"; use GPIO2 to GPIO27 (BCM numbering, also written BCM17 or 17) or a header pin such as P1_11`}},
		{"ID EEPROM pin", "[[button]]\nname = \"a\"\npin = \"GPIO1\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:3: button "a": pin "GPIO1" is GPIO1 (P1_28, ID_SC), reserved for the HAT identification EEPROM; use GPIO2`}},
		{"pin of another type", "[[button]]\nname = \"a\"\npin = 17.5\ntext = \"x\"\n",
			[]string{`pitweet.toml:3: button "a": pin = 17.5 is not a pin; write it like pin = "GPIO17"`}},
		{"pull off", "[[button]]\nname = \"a\"\npin = \"GPIO17\"\npull = \"off\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:4: pull = "off" is not known; use "up" (button to ground), "down" (button to 3.3V) or "keep"`}},
		{"bad bus", room + "bus = \"spi0\"\n",
			[]string{`pitweet.toml:4: bus = "spi0" is not an I2C bus; write its number, such as 1 for /dev/i2c-1`}},
		{"negative bus", "[hardware]\ni2c_bus = -1\n",
			[]string{`pitweet.toml:2: i2c_bus = -1 is not an I2C bus`}},
		{"ground pin", "[[led]]\npin = \"P1_6\"\nshows = \"sent\"\n",
			[]string{`pitweet.toml:2: led: pin "P1_6" is a ground pin`}},
		{"5V pin", "[[led]]\npin = \"P1_2\"\nshows = \"sent\"\n",
			[]string{`pitweet.toml:2: led: pin "P1_2" is a power pin`}},
		{"pin used twice", "[[button]]\nname = \"a\"\npin = \"P1_11\"\ntext = \"x\"\n[[led]]\npin = \"GPIO17\"\nshows = \"error\"\n",
			[]string{`pitweet.toml:6: led 1 uses GPIO17, which button "a" uses already`}},
		{"I2C pin", room + "[[button]]\nname = \"a\"\npin = \"GPIO2\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:6: button "a" uses GPIO2, which I2C bus 1 (SDA) uses already`}},
		// The simulated board refuses what the Pi refuses.
		{"I2C pin on the simulated board", "[hardware]\nmode = \"fake\"\n" + room + "[[button]]\nname = \"a\"\npin = \"GPIO2\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:8: button "a" uses GPIO2, which I2C bus 1 (SDA) uses already`}},
		// However the bus is written.
		{"I2C pin, bus as a device", room + "bus = \"/dev/i2c-1\"\n[[led]]\npin = \"P1_5\"\nshows = \"sent\"\n",
			[]string{`pitweet.toml:6: led 1 uses GPIO3, which I2C bus 1 (SCL) uses already`}},
		{"I2C pin, bus as I2C1", "[hardware]\ni2c_bus = \"I2C1\"\n" + room + "[[button]]\nname = \"a\"\npin = 3\ntext = \"x\"\n",
			[]string{`pitweet.toml:8: button "a" uses GPIO3, which I2C bus 1 (SCL) uses already`}},
		{"bad duration", "[[button]]\nname = \"a\"\npin = \"GPIO17\"\ndebounce = \"30\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:4: debounce = "30" is not a duration; write it like "30ms"`}},
		{"report too often", room + "[[report]]\nevery = \"10s\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:5: every = "10s" is too often`}},
		{"report needs every", "[[report]]\ntext = \"x\"\n",
			[]string{`pitweet.toml:1: [[report]] needs every`}},
		{"template syntax", "[[button]]\nname = \"a\"\npin = \"GPIO17\"\ntext = \"{{.Time\"\n",
			[]string{`pitweet.toml:4: button a text:1: unclosed action`}},
		{"template unknown sensor", room + "[[button]]\nname = \"a\"\npin = \"GPIO17\"\ntext = \"{{.Sensors.kitchen.Temperature}}\"\n",
			[]string{`pitweet.toml:7: button a text`, `map has no entry for key "kitchen"`, `such as {{.Sensors.room.Temperature}}`}},
		{"template unknown quantity", room + "[[report]]\nevery = \"1h\"\ntext = \"{{.Sensors.room.CO2}}\"\n",
			[]string{`pitweet.toml:6: report 1 text`, `map has no entry for key "CO2"`}},
		{"template unknown field", "[[button]]\nname = \"a\"\npin = \"GPIO17\"\ntext = \"{{.Temperature}}\"\n",
			[]string{`pitweet.toml:4:`, `can't evaluate field Temperature`, `templates see .Time, .Host`}},
		{"template range", "[[button]]\nname = \"a\"\npin = \"GPIO17\"\ntext = \"{{range 10}}x{{end}}\"\n",
			[]string{`pitweet.toml:4: button a text: range is not allowed`}},
		{"unknown sensor type", "[[sensor]]\nname = \"room\"\ntype = \"dht22\"\n",
			[]string{`pitweet.toml:3: sensor "room" has unknown type "dht22"; use one of bme280, bmp280, aht20, scd4x, bh1750, cpu`}},
		{"bad address", "[[sensor]]\nname = \"room\"\ntype = \"bme280\"\naddress = 0x40\n",
			[]string{`pitweet.toml:4: a bme280 answers on 0x76 or 0x77, not on 0x40`}},
		{"address as string", "[[sensor]]\nname = \"room\"\ntype = \"aht20\"\naddress = \"0x38\"\n",
			[]string{`pitweet.toml:4: address = "0x38" must be a number, such as address = 0x38`}},
		{"cpu with address", "[[sensor]]\nname = \"cpu\"\ntype = \"cpu\"\naddress = 0x76\n",
			[]string{`pitweet.toml:4: sensor "cpu" is the cpu's own temperature and has no I2C address`}},
		{"cpu with a path outside the thermal files", "[[sensor]]\nname = \"cpu\"\ntype = \"cpu\"\npath = \"/etc/pitweet/credentials\"\n",
			[]string{`pitweet.toml:4: sensor "cpu": /etc/pitweet/credentials is not a temperature file of the kernel; use one such as /sys/class/thermal/thermal_zone0/temp`}},
		{"cpu reading a device", "[[sensor]]\nname = \"cpu\"\ntype = \"cpu\"\npath = \"/dev/zero\"\n",
			[]string{`pitweet.toml:4: sensor "cpu": /dev/zero is not a temperature file of the kernel`}},
		{"two sensors at one address", room + "[[sensor]]\nname = \"hall\"\ntype = \"bmp280\"\naddress = 0x76\n",
			[]string{`pitweet.toml:7: sensor "hall" is at address 0x76 on I2C bus 1, where sensor "room" is already`}},
		{"duplicate sensor", room + room,
			[]string{`pitweet.toml:5: there are two sensors named "room"`}},
		{"duplicate button", "[[button]]\nname = \"a\"\npin = \"GPIO17\"\ntext = \"x\"\n[[button]]\nname = \"a\"\npin = \"GPIO18\"\ntext = \"y\"\n",
			[]string{`pitweet.toml:6: there are two buttons named "a"`}},
		{"sensor name starting with a digit", "[[sensor]]\nname = \"2nd\"\ntype = \"cpu\"\n",
			[]string{`pitweet.toml:2: sensor name "2nd"`}},
		{"bad button name", "[[button]]\nname = \"-door\"\npin = \"GPIO17\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:2:`, `"-door"`}},
		{"button name with a space", "[[button]]\nname = \"front door\"\npin = \"GPIO17\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:2:`, `"front door"`}},
		{"number where a string goes", "[[button]]\nname = 5\npin = \"GPIO17\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:2:`, `name must be a string in quotes, not a TOML integer`}},
		{"bad sensor name", "[[sensor]]\nname = \"living-room\"\ntype = \"cpu\"\n",
			[]string{`pitweet.toml:2: sensor name "living-room" may only have letters, digits and _`}},
		{"bad condition", room + "[[alert]]\nwhen = \"room.Temperature >> 30\"\ntext = \"hot\"\n",
			[]string{`pitweet.toml:5: condition "room.Temperature >> 30": ">" at column 19: expected a number or sensor.Quantity`}},
		{"condition unknown sensor", room + "[[alert]]\nwhen = \"attic.Temperature > 30\"\ntext = \"hot\"\n",
			[]string{`pitweet.toml:5: condition "attic.Temperature > 30" reads sensor "attic", which is not configured; known sensors: room`}},
		{"condition unknown quantity", room + "[[alert]]\nwhen = \"room.CO2 > 1000\"\ntext = \"stuffy\"\n",
			[]string{`pitweet.toml:5: condition "room.CO2 > 1000" reads room.CO2, but a bme280 measures Temperature, Humidity, Pressure`}},
		{"base_url http", "[x]\nbase_url = \"http://api.x.com\"\n",
			[]string{`pitweet.toml:2: base_url = "http://api.x.com" must start with https://`}},
		{"unknown api", "[x]\napi = \"v3\"\n",
			[]string{`pitweet.toml:2: api = "v3" is not known`}},
		{"long_press without long_text", "[[button]]\nname = \"a\"\npin = \"GPIO17\"\ntext = \"x\"\nlong_press = \"2s\"\n",
			[]string{`pitweet.toml:5: button "a" has long_press but no long_text`}},
		{"led shows", "[[led]]\npin = \"GPIO27\"\nshows = \"ok\"\n",
			[]string{`pitweet.toml:3: shows = "ok" is not known`}},
		{"report reads unknown sensor", room + "[[report]]\nevery = \"1h\"\ntext = \"x\"\nsensors = [\"room\", \"attic\"]\n",
			[]string{`pitweet.toml:7: report 1 reads sensor "attic", which is not configured`}},
		{"history too often", "[[sensor]]\nname = \"room\"\ntype = \"bme280\"\nhistory = \"10s\"\n",
			[]string{`pitweet.toml:4: history = "10s" is too often; a sample is recorded at most once a 1m0s ("0" records none)`}},
		{"history too seldom", "[[sensor]]\nname = \"room\"\ntype = \"bme280\"\nhistory = \"2h\"\n",
			[]string{`pitweet.toml:4: history = "2h" is too seldom for a chart`}},
		{"history not a duration", "[[sensor]]\nname = \"room\"\ntype = \"bme280\"\nhistory = \"minutely\"\n",
			[]string{`pitweet.toml:4: history = "minutely" is not a duration`}},
		{"unknown environment", "[hardware]\nmode = \"fake\"\nenvironment = \"sunny\"\n",
			[]string{`pitweet.toml:3: environment = "sunny" is not known; use "daily"`}},
		{"chart not a duration", room + "[[report]]\nevery = \"1h\"\ntext = \"{{.Sensors.room.Temperature}}\"\nchart = \"1d\"\n",
			[]string{`pitweet.toml:7: chart = "1d" is not a duration; write the window it shows, such as "24h" or "168h" (a week)`}},
		{"chart too long", room + "[[report]]\nevery = \"1h\"\ntext = \"{{.Sensors.room.Temperature}}\"\nchart = \"1000h\"\n",
			[]string{`pitweet.toml:7: chart = "1000h": the window must be from 1m0s to 744h0m0s (the history kept)`}},
		{"chart of no sensor", "[[report]]\nevery = \"1h\"\ntext = \"hello\"\nchart = \"24h\"\n",
			[]string{`pitweet.toml:4: report 1 has a chart but reads no sensors to draw`}},
		{"chart of a sensor not recorded", "[[sensor]]\nname = \"room\"\ntype = \"bme280\"\nhistory = \"0\"\n[[alert]]\nwhen = \"room.Temperature > 30\"\ntext = \"hot\"\nchart = \"6h\"\n",
			[]string{`pitweet.toml:8: alert 1 charts sensor "room", whose history is off (history = "0"); record it, or remove chart`}},
		{"alt without chart", room + "[[report]]\nevery = \"1h\"\ntext = \"{{.Sensors.room.Temperature}}\"\nalt = \"a chart\"\n",
			[]string{`pitweet.toml:7: report 1 has alt but no chart; add chart = "24h", or remove alt`}},
		{"alt template", room + "[[report]]\nevery = \"1h\"\ntext = \"x\"\nsensors = [\"room\"]\nchart = \"24h\"\nalt = \"{{.Sensors.attic.Temperature}}\"\n",
			[]string{`pitweet.toml:9: report 1 alt`, `map has no entry for key "attic"`}},
		{"chart of too many quantities", room + "[[sensor]]\nname = \"b\"\ntype = \"bme280\"\naddress = 0x77\n[[sensor]]\nname = \"c\"\ntype = \"bme280\"\nbus = 2\n" +
			"[[sensor]]\nname = \"d\"\ntype = \"bme280\"\nbus = 2\naddress = 0x77\n[[sensor]]\nname = \"e\"\ntype = \"bme280\"\nbus = 3\n" +
			"[[report]]\nevery = \"1h\"\ntext = \"x\"\nsensors = [\"room\", \"b\", \"c\", \"d\", \"e\"]\nchart = \"24h\"\n",
			[]string{`pitweet.toml:25: report 1 charts 15 quantities, more than a chart shows (12); name fewer sensors, or sensor.Quantity`}},
		{"chart of every unit", room + "[[sensor]]\nname = \"air\"\ntype = \"scd4x\"\n[[sensor]]\nname = \"light\"\ntype = \"bh1750\"\n" +
			"[[sensor]]\nname = \"cpu\"\ntype = \"cpu\"\n[[report]]\nevery = \"1h\"\ntext = \"x\"\nsensors = [\"room\", \"air\", \"light\", \"cpu\"]\nchart = \"24h\"\n",
			nil},
		{"several problems", "[[button]]\nname = \"a\"\npin = \"GPIO99\"\ndebounce = \"1 s\"\ntext = \"x\"\n",
			[]string{`pitweet.toml:3: button "a": unknown pin`, "\npitweet.toml:4: debounce"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), "pitweet.toml")
			if tt.want == nil {
				if err != nil {
					t.Fatalf("error for\n%s\n%v", tt.toml, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error for\n%s", tt.toml)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}

// history, environment, chart and alt: defaults and what they set.
func TestConfigHistoryAndCharts(t *testing.T) {
	cfg, err := Parse([]byte(`
[hardware]
mode = "fake"
environment = "fixed"

[[sensor]]
name = "room"
type = "bme280"

[[sensor]]
name = "soc"
type = "cpu"
history = "0"

[[sensor]]
name = "air"
type = "scd4x"
history = "5s"

[[report]]
every = "1h"
text = "{{.Sensors.room.Temperature}} {{.Sensors.soc.Temperature}}"
sensors = ["room"]
chart = "24h"

[[alert]]
when = "air.CO2 > 1200 or room.Temperature > 30"
text = "stuffy"
chart = "6h"
alt = 'CO2 over six hours, up to {{.Sensors.air.CO2}}'
`), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hardware.Environment != "fixed" {
		t.Errorf("environment = %q", cfg.Hardware.Environment)
	}
	if h := []time.Duration{cfg.Sensors[0].History, cfg.Sensors[1].History, cfg.Sensors[2].History}; h[0] != time.Minute || h[1] != 0 || h[2] != 5*time.Second {
		t.Errorf("history intervals %v, want 1m (the default), 0 (off), 5s", h)
	}
	rc := cfg.Reports[0].Chart
	if rc == nil || rc.Window != 24*time.Hour || rc.Alt != nil || strings.Join(cfg.ChartSeries(rc), ",") != "room.Temperature,room.Humidity,room.Pressure" {
		t.Errorf("report chart %+v, series %v", rc, cfg.ChartSeries(rc))
	}
	ac := cfg.Alerts[0].Chart
	if ac == nil || ac.Window != 6*time.Hour || strings.Join(cfg.ChartSeries(ac), ",") != "air.CO2,room.Temperature" {
		t.Fatalf("alert chart %+v", ac)
	}
	alt, err := ac.Alt.Render(cfg.SampleData(""))
	if err != nil || alt != "CO2 over six hours, up to 612 ppm" {
		t.Errorf("alt renders %q, %v", alt, err)
	}
	if cfg.Alerts[0].Chart == nil || cfg.Reports[0].Chart.Series[0] != "room" {
		t.Errorf("chart series %v", cfg.Reports[0].Chart.Series)
	}
}

func TestLoadConfigMissing(t *testing.T) {
	_, err := Load(t.TempDir() + "/nope.toml")
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("err = %v", err)
	}
}

// The shipped examples give each press a text of its own: two rings of the
// doorbell in the same minute are two posts, not one and a refusal.
func TestShippedExamplesGiveEachPressItsOwnText(t *testing.T) {
	for _, path := range []string{"testdata/example.toml", "../packaging/pitweet.toml"} {
		cfg, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		rep := &CheckReport{}
		checkTemplates(cfg, rep)
		for _, r := range rep.Results {
			if r.Err != nil {
				t.Errorf("%s: %s", path, r)
			}
		}
	}
}
