package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pitweet/fakex"
)

// TestBadInputCatalogue feeds the real binary the mistakes a maker makes
// with the config and credentials, and checks that both `check` and `run`
// refuse each with exit status 1 and one line on stderr that names the
// problem and, where it can, the fix. Nothing is posted: base_url points at
// a port nothing listens on.
func TestBadInputCatalogue(t *testing.T) {
	const goodButton = "[[button]]\nname = \"door\"\npin = \"GPIO17\"\ntext = \"Ding {{.Time.Unix}}\"\n"
	for _, tc := range []struct {
		name      string
		config    string // after the [x] and [hardware] tables
		credsMode os.FileMode
		noCreds   bool
		want      []string // each must appear on the one stderr line
		// checkOnly: the daemon accepts this config; it shortens a text
		// that renders too long, with a log line. Only check refuses it.
		checkOnly bool
		// tweet: the text is given to `pitweet tweet` instead.
		tweet string
		env   []string // added to the environment
	}{
		{name: "unknown key", config: goodButton + "colour = \"red\"\n",
			want: []string{":11:", `unknown key "colour"`, "known keys"}},
		{name: "bad pin", config: "[[button]]\nname = \"door\"\npin = \"GPIO99\"\ntext = \"x\"\n",
			want: []string{":9:", "GPIO99"}},
		{name: "power pin", config: "[[button]]\nname = \"door\"\npin = \"P1_2\"\ntext = \"x\"\n",
			want: []string{":9:", "P1_2"}},
		{name: "reserved pin", config: "[[button]]\nname = \"door\"\npin = \"GPIO0\"\ntext = \"x\"\n",
			want: []string{":9:", "GPIO0", "HAT identification EEPROM", "GPIO2 to GPIO27"}},
		// The simulated board refuses what the Pi refuses, however the bus
		// is written.
		{name: "button on an I2C pin", config: "[[sensor]]\nname = \"room\"\ntype = \"bme280\"\nbus = \"/dev/i2c-1\"\n" +
			"[[button]]\nname = \"door\"\npin = \"P1_3\"\ntext = \"Ding {{.Time.Unix}}\"\n",
			want: []string{":13:", `button "door" uses GPIO2, which I2C bus 1 (SDA) uses already`}},
		{name: "not an I2C bus", config: "[[sensor]]\nname = \"room\"\ntype = \"bme280\"\nbus = \"spi0\"\n",
			want: []string{":10:", `bus = "spi0" is not an I2C bus`, "/dev/i2c-1"}},
		{name: "cpu sensor path outside the thermal files", config: "[[sensor]]\nname = \"cpu\"\ntype = \"cpu\"\npath = \"/etc/passwd\"\n",
			want: []string{":10:", "/etc/passwd is not a temperature file", "/sys/class/thermal/thermal_zone0/temp"}},
		{name: "bad duration", config: goodButton + "debounce = \"30 parsecs\"\n",
			want: []string{":11:", "debounce", "30 parsecs"}},
		{name: "unknown sensor type", config: "[[sensor]]\nname = \"room\"\ntype = \"dht22\"\n",
			want: []string{":9:", `unknown type "dht22"`}},
		{name: "template error", config: "[[button]]\nname = \"door\"\npin = \"GPIO17\"\ntext = \"Ding {{.Time\"\n",
			want: []string{":10:", "template"}},
		{name: "template names an unknown sensor", config: "[[button]]\nname = \"door\"\npin = \"GPIO17\"\ntext = \"{{.Sensors.attic.Temperature}}\"\n",
			want: []string{":10:", "attic"}},
		{name: "bad alert condition", config: "[[sensor]]\nname = \"room\"\ntype = \"bme280\"\n[[alert]]\nwhen = \"room.Temperature >\"\ntext = \"hot\"\n",
			want: []string{":11:", "room.Temperature >"}},
		{name: "template too long", config: "[[button]]\nname = \"door\"\npin = \"GPIO17\"\ntext = \"" + strings.Repeat("long ", 60) + "\"\n",
			checkOnly: true, want: []string{"300", "280"}},
		{name: "tweet too long", config: goodButton, tweet: strings.Repeat("日本", 71),
			want: []string{"284", "limit is 280"}},
		{name: "not TOML", config: "[[button]\nname = \"door\"\n",
			want: []string{":7:", "expected ']]'"}},
		{name: "missing credentials", config: goodButton, noCreds: true,
			want: []string{"does not exist", "api_key="}},
		{name: "world-readable credentials", config: goodButton, credsMode: 0o644,
			want: []string{"readable by others", "chmod 0600"}},
		{name: "group-writable credentials", config: goodButton, credsMode: 0o660,
			want: []string{"writable by its group", "chmod 0600"}},
		{name: "world-writable credentials", config: goodButton, credsMode: 0o602,
			want: []string{"writable by others", "chmod 0600"}},
		{name: "mqtt without a broker", config: goodButton + "[mqtt]\ncommands = true\n",
			want: []string{":11:", "[mqtt] needs broker", "mqtt://broker.lan:1883"}},
		{name: "mqtt password in the config", config: goodButton + "[mqtt]\nbroker = \"mqtt://127.0.0.1:9\"\npassword = \"pass\"\n",
			want: []string{":13:", "mqtt_password=", "credentials file"}},
		{name: "mqtt account without a password", config: goodButton + "[mqtt]\nbroker = \"mqtt://127.0.0.1:9\"\nusername = \"kitchen\"\n",
			want: []string{"lacks mqtt_password", "the password of [mqtt] username"}},
		{name: "mqtt ca_file missing", config: goodButton + "[mqtt]\nbroker = \"mqtts://127.0.0.1:9\"\nca_file = \"/nonexistent/broker-ca.pem\"\n",
			want: []string{"/nonexistent/broker-ca.pem", "no such file"}},
		{name: "mqtt forward to itself", config: goodButton + "[mqtt]\nbroker = \"mqtt://127.0.0.1:9\"\ntopic_prefix = \"pitweet/shed\"\nforward = \"pitweet/shed\"\n",
			want: []string{":14:", "own topic_prefix"}},
		{name: "mastodon without a server", config: goodButton + "[mastodon]\nvisibility = \"public\"\n",
			want: []string{":11:", "[mastodon] needs server", "https://mastodon.example"}},
		{name: "mastodon over http", config: goodButton + "[mastodon]\nserver = \"http://social.example\"\n",
			want: []string{":12:", "must start with https://"}},
		{name: "mastodon visibility unknown", config: goodButton + "[mastodon]\nserver = \"https://social.example\"\nvisibility = \"followers\"\n",
			want: []string{":13:", `visibility = "followers" is not known`, `"private"`}},
		{name: "mastodon without a token", config: goodButton + "[mastodon]\nserver = \"https://127.0.0.1:9\"\n",
			want: []string{"lacks mastodon_token", "Preferences"}},
		{name: "mastodon ca_file missing", config: goodButton + "[mastodon]\nserver = \"https://127.0.0.1:9\"\nca_file = \"/nonexistent/m-ca.pem\"\n",
			env: []string{"PITWEET_MASTODON_TOKEN=token"}, want: []string{"/nonexistent/m-ca.pem", "no such file", "set ca_file in [mastodon]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			creds := filepath.Join(dir, "credentials")
			if !tc.noCreds {
				mode := tc.credsMode
				if mode == 0 {
					mode = 0o600
				}
				writeTestCredentials(t, dir, fakex.DemoCredentials, mode)
			}
			config := filepath.Join(dir, "pitweet.toml")
			head := fmt.Sprintf("state_dir = %q\n[x]\nbase_url = \"https://127.0.0.1:9\"\ncredentials = %q\n[hardware]\nmode = \"fake\"\n",
				filepath.Join(dir, "state"), creds)
			if err := os.WriteFile(config, []byte(head+tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			runs := [][]string{{"check", "--config", config}, {"run", "--fake", "--config", config}}
			if tc.checkOnly {
				runs = runs[:1]
			}
			if tc.tweet != "" {
				runs = [][]string{{"tweet", "--config", config, tc.tweet}}
			}
			for _, args := range runs {
				_, stderr, code := execPitweet(t, dir, e2eEnv(append([]string{"RUNTIME_DIRECTORY=" + dir}, tc.env...)...), args...)
				if code != 1 {
					t.Errorf("pitweet %s: exit %d, want 1; stderr %q", args[0], code, stderr)
					continue
				}
				if lines := strings.Count(stderr, "\n"); lines != 1 {
					t.Errorf("pitweet %s: %d lines on stderr, want 1:\n%s", args[0], lines, stderr)
				}
				for _, w := range tc.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("pitweet %s: stderr %q lacks %q", args[0], stderr, w)
					}
				}
			}
		})
	}
}
