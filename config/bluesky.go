package config

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"pitweet/bluesky"
	"pitweet/textlen"
)

// BlueskyConfig is the [bluesky] table: the account that posts to
// Bluesky. Its app password is bluesky_app_password in the credentials
// file, or $PITWEET_BLUESKY_APP_PASSWORD.
type BlueskyConfig struct {
	// Service is where the account logs in, https://bsky.social for
	// accounts made on Bluesky, or the address of its own PDS.
	Service string
	Handle  string   // "name.bsky.social", or the account's DID
	Langs   []string // the posts' languages, BCP 47 ("en", "pt-BR"); may be empty
	CAFile  string   // extra PEM bundle, "" for none
}

// rawBluesky is the [bluesky] table: its presence makes Bluesky a
// destination.
type rawBluesky struct {
	Service string   `toml:"service"`
	Handle  string   `toml:"handle"`
	Langs   []string `toml:"langs"`
	CAFile  string   `toml:"ca_file"`
}

// defaultBlueskyService is Bluesky's entryway.
const defaultBlueskyService = "https://bsky.social"

// blueskyText is Bluesky's rule: 300 grapheme clusters and 3000 bytes.
var blueskyText = TextRule{Max: textlen.MaxBluesky, Length: textlen.Bluesky, Truncate: textlen.TruncateBluesky,
	Counts: "Bluesky counts characters as seen (an emoji or an accented letter is 1), and at most 3000 bytes of UTF-8"}

func init() { textRules["bluesky"] = blueskyText }

func (v *validator) bluesky(cfg *Config, raw *rawBluesky) {
	if raw == nil {
		return
	}
	b := &cfg.Bluesky
	b.Service = defaultBlueskyService
	if raw.Service != "" {
		u, err := url.Parse(raw.Service)
		switch {
		case err != nil || u.Host == "":
			v.problem(v.at("bluesky", "service"), "service = %q is not a URL; write it like %q", raw.Service, defaultBlueskyService)
		case u.Scheme != "https":
			v.problem(v.at("bluesky", "service"), "service = %q must start with https://; pitweet only talks TLS", raw.Service)
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil || (u.Path != "" && u.Path != "/"):
			v.problem(v.at("bluesky", "service"), "service = %q must be just https://host, such as %q", raw.Service, defaultBlueskyService)
		default:
			b.Service = strings.TrimRight(raw.Service, "/")
		}
	}
	b.Handle = strings.TrimPrefix(raw.Handle, "@")
	switch {
	case raw.Handle == "":
		v.problem(v.at("bluesky"), "[bluesky] needs handle, the account's name, such as handle = \"name.bsky.social\"")
	case !validHandle(b.Handle) && !validDID(b.Handle):
		v.problem(v.at("bluesky", "handle"), "handle = %q is not a Bluesky handle; write the account's name as the app shows it without @, such as \"name.bsky.social\"", raw.Handle)
	}
	if len(raw.Langs) > 3 {
		v.problem(v.at("bluesky", "langs"), "langs names %d languages; a post may name at most 3", len(raw.Langs))
	}
	for _, l := range raw.Langs {
		if !validLang(l) {
			v.problem(v.at("bluesky", "langs"), "langs has %q, which is not a language tag; write tags such as \"en\" or \"pt-BR\"", l)
		}
	}
	b.Langs = raw.Langs
	b.CAFile = raw.CAFile
}

// validHandle reports whether s has handle syntax (atproto.com/specs/handle):
// at least two dot-separated labels of ASCII letters, digits and "-", each
// 1 to 63 long and not starting or ending with "-", 253 at most in all,
// the last not starting with a digit.
func validHandle(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i] | 0x20
			if !('a' <= c && c <= 'z' || '0' <= l[i] && l[i] <= '9' || l[i] == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return !('0' <= last[0] && last[0] <= '9')
}

// validDID reports whether s looks like a DID ("did:plc:…", "did:web:…").
func validDID(s string) bool {
	rest, ok := strings.CutPrefix(s, "did:")
	method, id, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || method == "" || id == "" || len(s) > 2048 {
		return false
	}
	for i := 0; i < len(method); i++ {
		if method[i] < 'a' || method[i] > 'z' {
			return false
		}
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("._:%-", c) >= 0) {
			return false
		}
	}
	return true
}

// validLang reports whether s looks like a BCP 47 language tag: a
// primary subtag of 2 to 3 lower-case letters (or "i", "x"), then subtags
// of 1 to 8 letters and digits.
func validLang(s string) bool {
	parts := strings.Split(s, "-")
	p := parts[0]
	if !(len(p) >= 2 && len(p) <= 3 || p == "i" || p == "x") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 'a' || p[i] > 'z' {
			return false
		}
	}
	for _, sub := range parts[1:] {
		if sub == "" || len(sub) > 8 {
			return false
		}
		for i := 0; i < len(sub); i++ {
			c := sub[i]
			if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9') {
				return false
			}
		}
	}
	return true
}

// checkBluesky reports [bluesky]: the account, and its ca_file.
func checkBluesky(cfg *Config, rep *CheckReport) {
	if !slices.Contains(cfg.Destinations, "bluesky") {
		return
	}
	b := cfg.Bluesky
	detail := b.Handle + " at " + b.Service
	if len(b.Langs) > 0 {
		detail += ", posts in " + strings.Join(b.Langs, ", ")
	}
	rep.add(CheckResult{What: "bluesky", Detail: detail})
	if b.CAFile != "" {
		r := checkCAFile(b.CAFile)
		r.What = "bluesky ca_file"
		rep.add(r)
	}
}

// checkBlueskyOnline logs in with the app password (createSession), as
// check --online does: it costs nothing (Bluesky charges for no call), it
// opens a session that the account's settings list, and it counts against
// the 30 logins the service allows in 5 minutes.
func checkBlueskyOnline(ctx context.Context, cfg *Config, creds Credentials, opts CheckOptions, rep *CheckReport) {
	if !slices.Contains(cfg.Destinations, "bluesky") {
		return
	}
	b := cfg.Bluesky
	c, err := bluesky.New(bluesky.Config{Service: b.Service, Handle: b.Handle, AppPassword: creds.BlueskyAppPassword,
		CAFile: b.CAFile, UserAgent: opts.UserAgent})
	if err != nil {
		rep.add(CheckResult{What: "bluesky", Detail: b.Service, Err: errors.New(strings.TrimPrefix(err.Error(), "bluesky: "))})
		return
	}
	defer c.Close()
	st, err := c.Login(ctx)
	if err != nil {
		rep.add(CheckResult{What: "bluesky", Detail: b.Service + " createSession", Err: errors.New(strings.TrimPrefix(err.Error(), "sender: "))})
		return
	}
	rep.add(CheckResult{What: "bluesky", Detail: fmt.Sprintf("the app password logs in as %s (%s), posting through %s; "+
		"checking it cost nothing but one of the 30 logins Bluesky allows in 5 minutes, and made a session (the daemon keeps its own)",
		st.Handle, st.DID, st.PDS)})
}
