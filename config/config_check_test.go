package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pitweet/fakex"
)

// checkFixture writes a config and a credentials file into a new directory
// and returns the config's path.
func checkFixture(t *testing.T, config string) string {
	t.Helper()
	clearCredentialEnv(t)
	dir := t.TempDir()
	creds := writeCreds(t, dir, credsFile, 0o600)
	path := filepath.Join(dir, "pitweet.toml")
	config = strings.ReplaceAll(config, "CREDS", creds)
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ownerOf is the owner and group of path as check names them.
func ownerOf(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileOwner(st)
}

func lines(rep *CheckReport) string {
	var b strings.Builder
	for _, r := range rep.Results {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

const checkConfig = `
[x]
credentials = "CREDS"

[hardware]
mode = "fake"

[[sensor]]
name = "room"
type = "bme280"

[[button]]
name = "doorbell"
pin = "GPIO17"
text = "Ding dong, {{.Sensors.room.Temperature}}"
long_text = "Long {{.Button}} {{if .Long}}press{{end}}"

[[report]]
every = "1h"
text = "Room {{.Sensors.room.Humidity}}"
`

func TestCheckOK(t *testing.T) {
	path := checkFixture(t, checkConfig)
	rep := Check(context.Background(), path, CheckOptions{})
	if f := rep.Failed(); f != nil {
		t.Fatalf("failed: %v\n%s", f, lines(rep))
	}
	got := lines(rep)
	for _, want := range []string{
		"ok    config " + path + ": 1 button, 1 sensor, 1 report, 0 alerts, 0 leds; hardware fake; posting to https://api.x.com (API v2)\n",
		`ok    template button doorbell text: 18 of 280 characters: "Ding dong, 21.5 °C"` + "\n",
		`ok    template button doorbell long_text: 19 of 280 characters: "Long doorbell press"` + "\n",
		`ok    template report 1 text: 9 of 280 characters: "Room 45 %"` + "\n",
		"ok    credentials " + filepath.Dir(path) + "/credentials: mode 0600 " + ownerOf(t, filepath.Dir(path)+"/credentials") + "; all four keys present\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks\n%s\ngot\n%s", want, got)
		}
	}
}

// A fleet member that forwards through the broker needs no keys, or only
// the broker account's password; check says which.
func TestCheckCredentialsOfAForwarder(t *testing.T) {
	for _, tt := range []struct{ name, mqtt, want string }{
		{"anonymous", "", "ok    credentials no keys needed\n"},
		{"account", "username = \"shed\"\n", "; the keys of mqtt present\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := checkFixture(t, "[hardware]\nmode = \"fake\"\n[mqtt]\nbroker = \"mqtt://broker.lan\"\nforward = \"pitweet/poster\"\n"+tt.mqtt)
			if tt.mqtt != "" {
				t.Setenv("PITWEET_MQTT_PASSWORD", "secret")
			}
			rep := Check(context.Background(), path, CheckOptions{})
			got := lines(rep)
			if f := rep.Failed(); f != nil || !strings.Contains(got, tt.want) || strings.Contains(got, "keys of forward") {
				t.Errorf("failed %v; output\n%s\nwant a line ending %q", f, got, tt.want)
			}
		})
	}
}

func TestCheckFailures(t *testing.T) {
	long := strings.Repeat("x", 275)
	tests := []struct {
		name, config string
		want         string
	}{
		{"too long", checkConfig + "[[alert]]\nwhen = \"room.Temperature > 30\"\ntext = \"" + long + " {{.Sensors.room.Temperature}}\"\n",
			"FAIL  template alert 1 text: 283 characters with sample readings, more than X's 280"},
		{"URL counts 23", checkConfig + "[[alert]]\nwhen = \"room.Temperature > 30\"\ntext = \"" + long + " https://example.com/a\"\n",
			"FAIL  template alert 1 text: 299 characters"},
		{"empty", checkConfig + "[[alert]]\nwhen = \"room.Temperature > 30\"\ntext = \"{{if false}}x{{end}}\"\n",
			"FAIL  template alert 1 text: renders to nothing"},
		{"config", checkConfig + "colour = 1\n",
			`: unknown key "colour" in [[report]]`},
		{"credentials", strings.Replace(checkConfig, "CREDS", "CREDS.missing", 1),
			"FAIL  credentials "},
		{"ca_file", strings.Replace(checkConfig, "[x]\n", "[x]\nca_file = \"/nonexistent/ca.pem\"\n", 1),
			"FAIL  ca_file /nonexistent/ca.pem: ca_file: open /nonexistent/ca.pem: no such file or directory; set ca_file in [x] to a PEM bundle, or remove it\n"},
		{"ca_file a device", strings.Replace(checkConfig, "[x]\n", "[x]\nca_file = \"/dev/zero\"\n", 1),
			"FAIL  ca_file /dev/zero is not a regular file; set ca_file in [x] to a PEM bundle, or remove it\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := checkFixture(t, tt.config)
			rep := Check(context.Background(), path, CheckOptions{})
			if rep.Failed() == nil {
				t.Fatalf("no failure:\n%s", lines(rep))
			}
			if got := lines(rep); !strings.Contains(got, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, got)
			}
		})
	}
}

func TestCheckDoubledUnit(t *testing.T) {
	path := checkFixture(t, checkConfig+"[[alert]]\nwhen = \"room.Temperature > 30\"\ntext = \"Hot: {{.Sensors.room.Temperature}} °C\"\n")
	rep := Check(context.Background(), path, CheckOptions{})
	if f := rep.Failed(); f != nil {
		t.Errorf("a doubled unit failed the check: %v", f)
	}
	want := "warn  template alert 1 text: \"Hot: 21.5 °C °C\" shows the unit °C twice"
	if got := lines(rep); !strings.Contains(got, want) {
		t.Errorf("output lacks %q:\n%s", want, got)
	}
}

// X refuses a text it has just posted: check warns when two presses of a
// button can render the same text within a minute.
func TestCheckWarnsOfRepeatingTexts(t *testing.T) {
	tests := []struct {
		name, button string
		warn         string // "" for no warning
	}{
		{"minutes", `text = 'Ding dong at {{.Time.Format "15:04"}}'`, "button b text: two presses 30ms apart render the same text"},
		{"seconds", `text = 'Ding dong at {{.Time.Format "15:04:05"}}'`, "button b text: two presses 30ms apart"},
		{"tenths under a slow debounce", "debounce = \"200ms\"\ntext = '{{.Time.Format \"15:04:05.0\"}}'", ""},
		{"milliseconds", `text = 'Ding dong at {{.Time.Format "15:04:05.000"}}'`, ""},
		{"milliseconds alone", `text = 'Ding dong at {{.Time.Format ".000"}}'`, "two presses 1s apart"},
		{"seconds alone", `text = 'Ding dong at {{.Time.Second}}'`, "two presses 30ms apart"},
		{"count", `text = 'Ding dong #{{.Count}}'`, ""},
		{"count in a branch", `text = '{{if .Long}}x{{else}}Ding dong {{.Count}}{{end}}'`, ""},
		{"whole time", `text = 'Ding dong at {{.Time}}'`, ""},
		{"unix milliseconds", `text = 'Ding dong at {{.Time.UnixMilli}}'`, ""},
		{"readings only", `text = 'It is {{.Sensors.room.Temperature}}'`, "button b text: two presses 30ms apart"},
		{"long press in seconds", "text = '{{.Count}}'\nlong_press = \"2s\"\nlong_text = 'Held at {{.Time.Format \"15:04:05\"}}'", ""},
		{"long press in minutes", "text = '{{.Count}}'\nlong_press = \"2s\"\nlong_text = 'Held at {{.Time.Format \"15:04\"}}'", "button b long_text: two presses 2s apart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := strings.Replace(checkConfig, "[[report]]", "[[button]]\nname = \"b\"\npin = \"GPIO22\"\n"+tt.button+"\n\n[[report]]", 1)
			rep := Check(context.Background(), checkFixture(t, config), CheckOptions{})
			if f := rep.Failed(); f != nil {
				t.Fatalf("failed: %v\n%s", f, lines(rep))
			}
			var warned []string
			for _, r := range rep.Results {
				if r.Warn && strings.HasPrefix(r.Detail, "button b ") {
					warned = append(warned, r.String())
				}
			}
			switch {
			case tt.warn == "" && len(warned) > 0:
				t.Fatalf("warned of a text that cannot repeat: %q", warned)
			case tt.warn != "" && (len(warned) != 1 || !strings.Contains(warned[0], tt.warn) || !strings.Contains(warned[0], "{{.Count}}")):
				t.Fatalf("warnings %q; want one saying %q and how to fix it", warned, tt.warn)
			}
		})
	}
}

func TestCheckOnline(t *testing.T) {
	srv := fakex.New(credsWant)
	srv.User = fakex.User{ID: "42", Name: "Pi in the hall", Username: "hallpi"}
	serverNow := time.Now().Truncate(time.Second).Add(time.Minute)
	srv.Now = func() time.Time { return serverNow }
	srv.Window = time.Hour
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	config := strings.Replace(checkConfig, "[x]\n", "[x]\nbase_url = \""+srv.URL()+"\"\nca_file = \""+ca+"\"\n", 1)
	path := checkFixture(t, config)
	rep := Check(context.Background(), path, CheckOptions{Online: true, Now: func() time.Time { return serverNow.Add(-time.Minute) }})
	got := lines(rep)
	for _, want := range []string{
		"ok    ca_file " + ca + ": 1 certificate\n",
		"ok    account @hallpi (Pi in the hall, id 42)\n",
		"ok    access level read-write\n",
		"warn  clock offset +1m0s from X's Date header: the local clock is off",
		"ok    rate-limit no rate-limit headers\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks\n%s\ngot\n%s", want, got)
		}
	}
	if f := rep.Failed(); f != nil {
		t.Errorf("failed: %v", f)
	}

	// Keys the server does not know.
	t.Setenv("PITWEET_API_KEY", "someone-else")
	rep = Check(context.Background(), path, CheckOptions{Online: true})
	if f := rep.Failed(); f == nil || f.What != "x" {
		t.Errorf("with wrong keys: %v\n%s", f, lines(rep))
	}
}

func TestCheckCharts(t *testing.T) {
	path := checkFixture(t, checkConfig+`chart = "24h"

[[alert]]
when = "room.Humidity > 70"
text = "damp"
chart = "6h"
alt = 'Humidity over six hours, now {{.Sensors.room.Humidity}}'
`)
	rep := Check(context.Background(), path, CheckOptions{})
	if f := rep.Failed(); f != nil {
		t.Fatalf("failed: %v\n%s", f, lines(rep))
	}
	out := lines(rep)
	for _, want := range []string{
		"ok    chart report 1: the last 24 hours of room.Temperature, room.Humidity, room.Pressure; alt text generated from the readings\n",
		"ok    chart alert 1: the last 6 hours of room.Humidity; alt text \"Humidity over six hours, now 45 %\"\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks\n%s\nin\n%s", want, out)
		}
	}

	if strings.Contains(out, "warn  chart") {
		t.Errorf("check warns of a chart, which posts carry:\n%s", out)
	}

	long := checkFixture(t, checkConfig+`chart = "24h"
alt = '{{.Host}}{{printf "%0999d" 0}}'
`)
	rep = Check(context.Background(), long, CheckOptions{})
	if f := rep.Failed(); f == nil || !strings.Contains(f.Message(), "alt is 1010 characters with sample readings, more than X's 1000; shorten it") {
		t.Errorf("a long alt: %v\n%s", f, lines(rep))
	}
}

// With several destinations, check names each, measures each rule's texts as each of its destinations
// counts them and wants each destination's keys.
func TestCheckDestinations(t *testing.T) {
	path := checkFixture(t, strings.Replace(checkConfig, "[hardware]", "[mastodon]\nserver = \"https://mastodon.example\"\n\n[hardware]", 1)+
		"\n[[alert]]\nwhen = \"room.Temperature > 30\"\ntext = \"Hot: {{.Sensors.room.Temperature}}\"\nto = [\"x\"]\n")
	rep := Check(context.Background(), path, CheckOptions{})
	got := lines(rep)
	for _, want := range []string{
		"; posting to x: https://api.x.com (API v2), mastodon\n",
		`ok    template button doorbell text on mastodon: 18 of 500 characters: "Ding dong, 21.5 °C"` + "\n",
		`ok    template button doorbell text on x: 18 of 280 characters: "Ding dong, 21.5 °C"` + "\n",
		`ok    template alert 1 text on x: 12 of 280 characters: "Hot: 21.5 °C"` + "\n",
		"FAIL  credentials " + filepath.Dir(path) + "/credentials lacks mastodon_token; add a line mastodon_token=... for each, an access token made in the Mastodon server's Preferences",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks\n%s\ngot\n%s", want, got)
		}
	}
}
