package config

import (
	"errors"
	"strings"
	"testing"
)

func TestMastodonSection(t *testing.T) {
	cfg, err := Parse([]byte("[mastodon]\nserver = \"https://social.example/\"\nvisibility = \"unlisted\"\nlanguage = \"de\"\nca_file = \"/etc/ssl/m.pem\"\n"), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := MastodonConfig{Server: "https://social.example", Visibility: "unlisted", Language: "de", CAFile: "/etc/ssl/m.pem"}
	if cfg.Mastodon != want || len(cfg.Destinations) != 1 || cfg.Destinations[0] != "mastodon" {
		t.Errorf("got %+v %q, want %+v", cfg.Mastodon, cfg.Destinations, want)
	}
	cfg, err = Parse([]byte("[mastodon]\nserver = \"https://social.example:8443\"\n"), "pitweet.toml")
	if err != nil || cfg.Mastodon.Visibility != "public" || cfg.Mastodon.Server != "https://social.example:8443" {
		t.Errorf("defaults: %+v, %v", cfg.Mastodon, err)
	}
	rule, ok := TextRuleFor("mastodon")
	if !ok || rule.Max != 500 || rule.Length("https://example.com/"+strings.Repeat("a", 100)) != 23 {
		t.Errorf("text rule %+v", rule)
	}
}

func TestMastodonSectionErrors(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{"", `pitweet.toml:1: [mastodon] needs server, the address of your Mastodon server: server = "https://mastodon.example"`},
		{`server = "http://social.example"`, `pitweet.toml:2: server = "http://social.example" must start with https://`},
		{`server = "https://social.example/api/v1"`, `must be just https://host`},
		{`server = "social.example"`, `is not a URL; write it like "https://mastodon.example"`},
		{"server = \"https://s.example\"\nvisibility = \"friends\"", `pitweet.toml:3: visibility = "friends" is not known; use "public", "unlisted", "private", "direct"`},
		{"server = \"https://s.example\"\nlanguage = \"English\"", `pitweet.toml:3: language = "English" is not an ISO 639 language code`},
	} {
		_, err := Parse([]byte("[mastodon]\n"+tt.body+"\n"), "pitweet.toml")
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.Contains(ce.Problems[0], tt.want) {
			t.Errorf("%q: %v\nwant %q", tt.body, err, tt.want)
		}
	}
}
