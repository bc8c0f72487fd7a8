package config

import (
	"errors"
	"strings"
	"testing"

	"pitweet/budget"
)

func TestSpendingKeys(t *testing.T) {
	cfg, err := Parse([]byte(`
[x]
monthly_budget = 5
price_post = 0.02
price_post_url = 0.25
price_user_read = 0
price_media_metadata = 0.005

[[button]]
name = "bell"
pin = "GPIO17"
text = "ding"
on_budget = "drop"

[[report]]
every = "1h"
text = "hello"
`), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := budget.Settings{Prices: budget.Prices{Post: 20_000, PostURL: 250_000, UserRead: 0, MediaMetadata: 5_000}, Budget: 5 * budget.Dollar, Limited: true}
	if cfg.X.Spending != want {
		t.Errorf("Spending = %+v, want %+v", cfg.X.Spending, want)
	}
	if cfg.Buttons[0].OnBudget != "drop" || cfg.Reports[0].OnBudget != "hold" {
		t.Errorf("on_budget: button %q, report %q", cfg.Buttons[0].OnBudget, cfg.Reports[0].OnBudget)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings %q", cfg.Warnings)
	}
}

func TestSpendingKeyErrors(t *testing.T) {
	for _, tt := range []struct {
		toml string
		want string
	}{
		{"[x]\nmonthly_budget = \"5.00\"\n", `pitweet.toml:2: monthly_budget = "5.00" must be a number of US dollars, such as monthly_budget = 5.00`},
		{"[x]\n\nprice_post = -0.015\n", `pitweet.toml:3: price_post = -0.015: -0.015 dollars is negative; write a number of US dollars from 0, such as price_post = 0.015`},
		{"[x]\nmonthly_budget = inf\n", `pitweet.toml:2: monthly_budget = +Inf: not a number of dollars`},
		{"[x]\nmonthly_budget = 1e9\n", `pitweet.toml:2: monthly_budget = 1e+09: 1e+09 dollars is more than $1000000.00`},
		{"[x]\nprice_post_url = true\n", `pitweet.toml:2: price_post_url = true must be a number of US dollars`},
		{"[[report]]\nevery = \"1h\"\ntext = \"x\"\non_budget = \"later\"\n", `pitweet.toml:4: on_budget = "later" is not known; use "hold"`},
	} {
		_, err := Parse([]byte(tt.toml), "pitweet.toml")
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v\nwant %q", tt.toml, err, tt.want)
		}
	}
}

func TestOnBudgetWarnings(t *testing.T) {
	cfg, err := Parse([]byte("[[report]]\nevery = \"1h\"\ntext = \"x\"\non_budget = \"drop\"\n"), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := `pitweet.toml:4: on_budget = "drop" does nothing without a budget; set monthly_budget in [x]`
	if len(cfg.Warnings) != 1 || cfg.Warnings[0] != want {
		t.Errorf("warnings %q, want %q", cfg.Warnings, want)
	}
}

func TestTemplateURLs(t *testing.T) {
	cfg := &Config{}
	for _, tt := range []struct {
		text string
		want string
	}{
		{"Room 21.5", ""},
		{"see example.com/room", "example.com/room"},
		{`{{if .Long}}https://cam.example.org/x{{end}}hello`, "https://cam.example.org/x"},
		{`{{printf "%s" "pics at example.net"}}`, "example.net"},
		{"{{.Host}}.local at {{.Time.Format \"15:04\"}}", ""},
		{"mail me@example.com", ""},
	} {
		tpl, err := ParseTemplate("t", tt.text)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(templateURLs(tpl, cfg.SampleData("")), ","); got != tt.want {
			t.Errorf("templateURLs(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}
