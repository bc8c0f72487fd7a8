package config

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"pitweet/mastodon"
	"pitweet/textlen"
)

// MastodonConfig is the [mastodon] table: which server to post to, and
// how. Its token is mastodon_token in the credentials file (or
// $PITWEET_MASTODON_TOKEN).
type MastodonConfig struct {
	Server     string // "https://mastodon.example", without a trailing slash
	Visibility string // public (default), unlisted, private or direct
	Language   string // ISO 639 code sent with each status; "" sends none
	CAFile     string // extra PEM bundle, "" for none
}

// rawMastodon is the [mastodon] table as written: its presence makes
// Mastodon a destination.
type rawMastodon struct {
	Server     string `toml:"server"`
	Visibility string `toml:"visibility"`
	Language   string `toml:"language"`
	CAFile     string `toml:"ca_file"`
}

func init() {
	textRules["mastodon"] = MastodonTextRule(textlen.MaxMastodon, textlen.MastodonURLLength)
}

// MastodonTextRule is a Mastodon server's rule: max grapheme clusters, an
// http(s) URL counting perURL. Before the server's instance document is
// read, its defaults (500 and 23) stand.
func MastodonTextRule(max, perURL int) TextRule {
	return TextRule{
		Max:      max,
		Length:   func(s string) int { return textlen.Mastodon(s, perURL) },
		Truncate: func(s string, max int) string { return textlen.TruncateMastodon(s, max, perURL) },
		Counts:   fmt.Sprintf("Mastodon counts characters as they are seen, each link as %d", perURL),
	}
}

// mastodon checks [mastodon].
func (v *validator) mastodon(cfg *Config, raw *rawMastodon) {
	if raw == nil {
		return
	}
	m := &cfg.Mastodon
	at := func(key string) string { return v.at("mastodon", key) }
	switch u, err := url.Parse(raw.Server); {
	case raw.Server == "":
		v.problem(v.at("mastodon"), "[mastodon] needs server, the address of your Mastodon server: server = \"https://mastodon.example\"")
	case err != nil || u.Host == "":
		v.problem(at("server"), "server = %q is not a URL; write it like \"https://mastodon.example\"", raw.Server)
	case u.Scheme != "https":
		v.problem(at("server"), "server = %q must start with https://; pitweet only talks TLS", raw.Server)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Trim(u.Path, "/") != "":
		v.problem(at("server"), "server = %q must be just https://host (the API's paths are added to it)", raw.Server)
	default:
		m.Server = "https://" + u.Host
	}
	m.Visibility = "public"
	if raw.Visibility != "" {
		if !slices.Contains(mastodon.Visibilities, raw.Visibility) {
			v.problem(at("visibility"), "visibility = %q is not known; use %s", raw.Visibility, strings.Join(quoteAll(mastodon.Visibilities), ", "))
		} else {
			m.Visibility = raw.Visibility
		}
	}
	if raw.Language != "" {
		if !languageCode(raw.Language) {
			v.problem(at("language"), "language = %q is not an ISO 639 language code; write two or three small letters, such as \"en\"", raw.Language)
		} else {
			m.Language = raw.Language
		}
	}
	m.CAFile = raw.CAFile
}

// languageCode reports whether s looks like an ISO 639-1 or 639-3 code:
// two or three lower-case letters.
func languageCode(s string) bool {
	if len(s) < 2 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = `"` + s + `"`
	}
	return out
}

// MastodonClient returns a client for cfg's [mastodon] with the token in
// creds.
func (cfg *Config) MastodonClient(creds Credentials, userAgent string) (*mastodon.Client, error) {
	return mastodon.New(mastodon.Config{
		Server:     cfg.Mastodon.Server,
		Token:      creds.MastodonToken,
		CAFile:     cfg.Mastodon.CAFile,
		Visibility: cfg.Mastodon.Visibility,
		Language:   cfg.Mastodon.Language,
		UserAgent:  userAgent,
	})
}

// checkMastodonOnline asks the server who the token acts for and reads its
// limits: pitweet check --online.
func checkMastodonOnline(ctx context.Context, cfg *Config, creds Credentials, opts CheckOptions, rep *CheckReport) {
	c, err := cfg.MastodonClient(creds, opts.UserAgent)
	if err != nil {
		rep.add(CheckResult{What: "mastodon", Detail: cfg.Mastodon.Server, Err: err})
		return
	}
	defer c.Close()
	a, err := c.VerifyCredentials(ctx)
	if err != nil {
		rep.add(CheckResult{What: "mastodon", Detail: cfg.Mastodon.Server + "/api/v1/accounts/verify_credentials", Err: err})
		return
	}
	host := strings.TrimPrefix(cfg.Mastodon.Server, "https://")
	rep.add(CheckResult{What: "mastodon", Detail: fmt.Sprintf("account @%s@%s (id %s), posting %s", a.Username, host, a.ID, cfg.Mastodon.Visibility)})
	if err := c.CheckReadStatuses(ctx); err != nil {
		rep.add(CheckResult{What: "mastodon", Detail: "read:statuses", Warn: true, Err: fmt.Errorf(
			"the token cannot read the account's statuses (%w): a retry more than an hour after a lost answer cannot look for the status first, and may post it twice; make a token with %s",
			err, mastodon.Scopes)})
	}
	in, err := c.FetchInstance(ctx)
	if err != nil {
		rep.add(CheckResult{What: "mastodon", Detail: "limits", Err: fmt.Errorf("%w; posts are checked against Mastodon's defaults (500 characters) until the server answers", err), Warn: true})
		return
	}
	rep.add(CheckResult{What: "mastodon", Detail: fmt.Sprintf("limits: %d characters (a link counts %d), %d pictures of at most %s, alt text up to %d characters",
		in.MaxCharacters, in.CharactersPerURL, in.MaxMediaAttachments, sizeText(in.MediaLimits().MaxBytes), in.DescriptionLimit)})
	checkMastodonTemplates(cfg, in, rep)
}

// checkMastodonTemplates checks every template against the server's own
// limit when it differs from the default the offline check used.
func checkMastodonTemplates(cfg *Config, in mastodon.Instance, rep *CheckReport) {
	if in.MaxCharacters == textlen.MaxMastodon && in.CharactersPerURL == textlen.MastodonURLLength {
		return
	}
	rule := MastodonTextRule(in.MaxCharacters, in.CharactersPerURL)
	for _, t := range cfg.templatesFor("mastodon") {
		text, err := t.tmpl.Render(t.data)
		if err != nil {
			continue // the offline check said so
		}
		if n := rule.Length(text); n > rule.Max {
			rep.add(CheckResult{What: "template", Detail: t.name + " on mastodon",
				Err: fmt.Errorf("%d characters with sample readings, more than this server's %d; shorten the text (%s)", n, rule.Max, rule.Counts)})
		}
	}
}

// sizeText says n bytes in MiB or KiB.
func sizeText(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.3g MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (n+1023)/1024)
}

// ruleTemplate is a rule's template with its sample readings.
type ruleTemplate struct {
	name string
	tmpl *Template
	data TemplateData
}

// templatesFor lists the templates of the rules that post to dest, named
// as check names them.
func (cfg *Config) templatesFor(dest string) []ruleTemplate {
	var out []ruleTemplate
	for _, b := range cfg.Buttons {
		if !slices.Contains(b.To, dest) {
			continue
		}
		data := cfg.SampleData(b.Name)
		if b.Text != nil {
			out = append(out, ruleTemplate{"button " + b.Name + " text", b.Text, data})
		}
		if b.LongText != nil {
			data.Long = true
			out = append(out, ruleTemplate{"button " + b.Name + " long_text", b.LongText, data})
		}
	}
	for i, r := range cfg.Reports {
		if slices.Contains(r.To, dest) {
			out = append(out, ruleTemplate{fmt.Sprintf("report %d text", i+1), r.Text, cfg.SampleData("")})
		}
	}
	for i, a := range cfg.Alerts {
		if slices.Contains(a.To, dest) {
			out = append(out, ruleTemplate{fmt.Sprintf("alert %d text", i+1), a.Text, cfg.SampleData("")})
		}
	}
	return out
}

// checkMastodonCAFile is checkCAFile for [mastodon]'s ca_file.
func checkMastodonCAFile(path string) CheckResult {
	res := checkCAFile(path)
	if res.Err != nil {
		res.Err = errors.New(strings.ReplaceAll(res.Err.Error(), " in [x]", " in [mastodon]"))
	}
	return res
}
