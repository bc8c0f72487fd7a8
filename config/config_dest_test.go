package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const destRules = `
[[button]]
name = "doorbell"
pin = "GPIO17"
text = "Ding dong"
%s
[[report]]
every = "1h"
text = "hourly"
%s
`

func parseDests(t *testing.T, sections, buttonTo, reportTo string) (*Config, error) {
	t.Helper()
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	text := sections + strings.Replace(strings.Replace(destRules, "%s", buttonTo, 1), "%s", reportTo, 1)
	return Parse([]byte(text), "pitweet.toml")
}

func TestDestinations(t *testing.T) {
	for _, tt := range []struct {
		name, sections string
		want           []string
	}{
		{"none: X, as before", "", []string{"x"}},
		{"[x] alone", "[x]\napi = \"v2\"\n", []string{"x"}},
		{"an X key as a dotted key", "x.api = \"v2\"\n", []string{"x"}},
		{"mastodon alone", "[mastodon]\nserver = \"https://m.example\"\n", []string{"mastodon"}},
		{"all three, in order", "[bluesky]\nhandle = \"pi.bsky.social\"\n[x]\n[mastodon]\nserver = \"https://m.example\"\n", []string{"x", "mastodon", "bluesky"}},
		{"a fleet member", "[mqtt]\nbroker = \"mqtt://b\"\nforward = \"pitweet/poster\"\n", []string{"forward"}},
		{"[mqtt] without forward posts nowhere itself", "[mqtt]\nbroker = \"mqtt://b\"\n[x]\n", []string{"x"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseDests(t, tt.sections, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Destinations, tt.want) {
				t.Errorf("Destinations = %q, want %q", cfg.Destinations, tt.want)
			}
			// A rule without to posts to every configured destination.
			if !slices.Equal(cfg.Buttons[0].To, tt.want) || !slices.Equal(cfg.Reports[0].To, tt.want) {
				t.Errorf("rules post to %q and %q, want %q", cfg.Buttons[0].To, cfg.Reports[0].To, tt.want)
			}
		})
	}
}

func TestRuleTo(t *testing.T) {
	cfg, err := parseDests(t, "[x]\n[mastodon]\nserver = \"https://m.example\"\n[bluesky]\nhandle = \"pi.bsky.social\"\n", `to = ["bluesky", "x"]`, `to = ["mastodon"]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Buttons[0].To; !slices.Equal(got, []string{"x", "bluesky"}) {
		t.Errorf("button to = %q, want x and bluesky in the config's order", got)
	}
	if got := cfg.Reports[0].To; !slices.Equal(got, []string{"mastodon"}) {
		t.Errorf("report to = %q", got)
	}
	alert, err := Parse([]byte(`
[x]
[mastodon]
server = "https://m.example"
[[sensor]]
name = "room"
type = "bme280"
[[alert]]
when = "room.Temperature > 30"
text = "hot"
to = ["x"]
`), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := alert.Alerts[0].To; !slices.Equal(got, []string{"x"}) {
		t.Errorf("alert to = %q", got)
	}
}

func TestRuleToErrors(t *testing.T) {
	for _, tt := range []struct {
		name, sections, buttonTo, reportTo string
		want                               []string
	}{
		{"not configured", "", `to = ["mastodon"]`, "",
			[]string{`pitweet.toml:6: to names "mastodon", which is not configured; configured: x (add a [mastodon] section to post there)`}},
		{"X not configured when another is", "[bluesky]\nhandle = \"pi.bsky.social\"\n", "", `to = ["x", "bluesky"]`,
			[]string{`pitweet.toml:12: to names "x", which is not configured; configured: bluesky (add an [x] section to post there)`}},
		{"not a destination", "", `to = ["facebook"]`, "",
			[]string{`pitweet.toml:6: to names "facebook", which is not a destination; configured: x`}},
		{"empty", "", `to = []`, "",
			[]string{`pitweet.toml:6: to = [] posts nowhere; leave to out to post to every configured destination (x)`}},
		{"twice", "", "", `to = ["x", "x"]`,
			[]string{`pitweet.toml:10: to names "x" twice; name it once`}},
		{"forward", "", `to = ["forward"]`, "",
			[]string{`pitweet.toml:6: to names "forward", which is not configured; configured: x (set forward in [mqtt] to post there)`}},
		{"a wildcard forward topic", "[mqtt]\nbroker = \"mqtt://b\"\nforward = \"pitweet/#\"\n", "", "",
			[]string{`pitweet.toml:3: forward "pitweet/#" must be topic levels separated by /, without +, #, a leading $ or empty levels; write the poster's topic_prefix, such as "pitweet/poster"`}},
		{"a key in [mastodon] this pitweet does not know", "[mastodon]\nsever = \"https://m.example\"\n", "", "",
			[]string{`pitweet.toml:2: unknown key "sever" in [mastodon]; known keys: server, visibility, language, ca_file`}},
		{"[bluesky] without a handle", "[bluesky]\n", "", "",
			[]string{`pitweet.toml:1: [bluesky] needs handle, the account's name, such as handle = "name.bsky.social"`}},
		{"a Bluesky handle with @ inside", "[bluesky]\nhandle = \"me@bsky.social\"\n", "", "",
			[]string{`pitweet.toml:2: handle = "me@bsky.social" is not a Bluesky handle`}},
		{"a Bluesky service over http", "[bluesky]\nhandle = \"pi.bsky.social\"\nservice = \"http://bsky.social\"\n", "", "",
			[]string{`pitweet.toml:3: service = "http://bsky.social" must start with https://`}},
		{"four Bluesky languages", "[bluesky]\nhandle = \"pi.bsky.social\"\nlangs = [\"en\", \"de\", \"fr\", \"es\"]\n", "", "",
			[]string{`pitweet.toml:3: langs names 4 languages; a post may name at most 3`}},
		{"a Bluesky language that is not a tag", "[bluesky]\nhandle = \"pi.bsky.social\"\nlangs = [\"English\"]\n", "", "",
			[]string{`pitweet.toml:3: langs has "English", which is not a language tag`}},
		{"not a list", "", `to = "x"`, "",
			[]string{`to must be a list of strings, such as ["room"], not a TOML string`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseDests(t, tt.sections, tt.buttonTo, tt.reportTo)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a Error", err)
			}
			if len(ce.Problems) != len(tt.want) {
				t.Fatalf("problems %q, want %q", ce.Problems, tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(ce.Problems[i], w) {
					t.Errorf("problem %q\nwant    %q", ce.Problems[i], w)
				}
			}
		})
	}
}
