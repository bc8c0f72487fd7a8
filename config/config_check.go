package config

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"pitweet/chart"
	"pitweet/gateway"
	"pitweet/sender"
)

// CheckOptions tune Check.
type CheckOptions struct {
	// Online also asks X who the credentials belong to (GET /2/users/me).
	Online bool
	// UserAgent is sent with the online request; "" for the sender's default.
	UserAgent string
	// Now is the local clock, for the clock offset; nil means time.Now.
	Now func() time.Time
	// Fake checks the hardware on the simulated board whatever [hardware]
	// mode says.
	Fake bool
	// Hardware, when not nil, checks the hardware the config uses (the
	// daemon's CheckHardware); its results follow the templates'.
	Hardware func(cfg *Config) []CheckResult
	// Spend, when not nil, records the online check's request (one user
	// read) in the month's X spend before it is sent, and returns the
	// line that says so and a function to call with the request's
	// outcome.
	Spend func(cfg *Config) (res CheckResult, done func(err error))
}

// A CheckResult is one line of pitweet check.
type CheckResult struct {
	What   string // "config", "template", "credentials", "x", ...
	Detail string // what was found, printed after What
	Err    error  // nil: ok; otherwise what is wrong and how to fix it
	Warn   bool   // with Err: worth knowing, but not a failure
}

// String prints the result as one line: "ok    config FILE: ...",
// "FAIL  credentials FILE: ...".
func (r CheckResult) String() string {
	if r.Err == nil {
		return fmt.Sprintf("ok    %s %s", r.What, r.Detail)
	}
	status := "FAIL  "
	if r.Warn {
		status = "warn  "
	}
	return status + r.Message()
}

// Message says what is wrong, with where, for a result with an error.
func (r CheckResult) Message() string {
	msg := trimPkg(r.Err)
	if strings.HasPrefix(msg, r.What+" ") {
		return msg // it says where already
	}
	return fmt.Sprintf("%s %s: %s", r.What, r.Detail, msg)
}

func trimPkg(err error) string {
	msg := err.Error()
	for _, pkg := range []string{"config: ", "daemon: ", "hw: "} {
		msg = strings.TrimPrefix(msg, pkg)
	}
	return msg
}

// A CheckReport is everything pitweet check found, in order.
type CheckReport struct {
	Config  *Config // nil when the config did not load
	Results []CheckResult
}

// Failed returns the first failure, or nil when every check passed.
func (r *CheckReport) Failed() *CheckResult {
	for i := range r.Results {
		if r.Results[i].Err != nil && !r.Results[i].Warn {
			return &r.Results[i]
		}
	}
	return nil
}

func (r *CheckReport) add(res CheckResult) { r.Results = append(r.Results, res) }

// Check validates the config at path and everything it names: it renders
// every template with sample readings and checks its length as X counts
// it, checks the hardware the config uses (opts.Hardware), the CA file and
// the credentials file with its permissions, and with opts.Online asks X
// who the keys post as.
func Check(ctx context.Context, path string, opts CheckOptions) *CheckReport {
	rep := &CheckReport{}
	cfg, err := Load(path)
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				loc, msg := configLocation(p, path)
				rep.add(CheckResult{What: "config", Detail: loc, Err: errors.New(msg)})
			}
			return rep
		}
		rep.add(CheckResult{What: "config", Detail: path, Err: err})
		return rep
	}
	rep.Config = cfg
	if opts.Fake {
		cfg.Hardware.Mode = "fake"
	}
	rep.add(CheckResult{What: "config", Detail: fmt.Sprintf("%s: %s; hardware %s; posting to %s",
		path, cfg.Summary(), cfg.Hardware.Mode, describeDestinations(cfg))})
	for _, w := range cfg.Warnings {
		loc, msg := configLocation(w, path)
		rep.add(CheckResult{What: "config", Detail: loc, Err: errors.New(msg), Warn: true})
	}
	for _, name := range cfg.Destinations {
		if !destinationBuilt(name) {
			rep.add(CheckResult{What: "destination", Detail: name, Err: fmt.Errorf("this pitweet cannot post to %s; remove its section from %s", DestinationTitle(name), path)})
		}
	}
	checkTemplates(cfg, rep)
	checkSpending(cfg, rep)
	if opts.Hardware != nil {
		for _, r := range opts.Hardware(cfg) {
			rep.add(r)
		}
	}
	checkCharts(cfg, rep)
	checkPhotos(cfg, rep)
	if cfg.X.CAFile != "" {
		rep.add(checkCAFile(cfg.X.CAFile))
	}
	checkBluesky(cfg, rep)
	if m := cfg.MQTT; m != nil {
		rep.add(CheckResult{What: "mqtt", Detail: describeMQTT(m)})
		if m.CAFile != "" {
			r := CheckResult{What: "mqtt ca_file", Detail: m.CAFile}
			if n, err := gateway.CheckCAFile(m.CAFile); err != nil {
				r.Err = errors.New(strings.TrimPrefix(err.Error(), "gateway: "))
			} else {
				r.Detail += ": " + plural(n, "certificate")
			}
			rep.add(r)
		}
	}
	if cfg.Mastodon.CAFile != "" && cfg.Mastodon.CAFile != cfg.X.CAFile {
		rep.add(checkMastodonCAFile(cfg.Mastodon.CAFile))
	}
	creds, info, err := cfg.X.LoadCredentialsFor(cfg.CredentialUsers())
	if err != nil {
		rep.add(CheckResult{What: "credentials", Detail: cfg.X.Credentials, Err: err})
		return rep
	}
	res := checkCredentialsMode(info, cfg.CredentialUsers())
	rep.add(res)
	if res.Err != nil && !res.Warn {
		return rep
	}
	if opts.Online && slices.Contains(cfg.Destinations, "mastodon") {
		checkMastodonOnline(ctx, cfg, creds, opts, rep)
	}
	if opts.Online {
		checkBlueskyOnline(ctx, cfg, creds, opts, rep)
	}
	if !opts.Online || !slices.Contains(cfg.Destinations, "x") {
		return rep
	}
	client, err := sender.New(sender.Config{BaseURL: cfg.X.BaseURL, API: cfg.X.API, CAFile: cfg.X.CAFile, UserAgent: opts.UserAgent}, creds.X())
	if err != nil {
		rep.add(CheckResult{What: "x", Detail: cfg.X.BaseURL, Err: err})
		return rep
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	done := func(error) {}
	if opts.Spend != nil {
		var res CheckResult
		res, done = opts.Spend(cfg)
		rep.add(res)
	} else {
		rep.add(CheckResult{What: "spend", Detail: fmt.Sprintf("check --online: GET /2/users/me costs one user read, %s (not recorded)", cfg.X.Spending.Prices.UserRead)})
	}
	start := now()
	user, err := client.Me(ctx)
	end := now()
	done(err)
	if err != nil {
		rep.add(CheckResult{What: "x", Detail: cfg.X.BaseURL + "/2/users/me", Err: err})
		return rep
	}
	checkAccount(user, start, end, rep)
	return rep
}

// describeMQTT says what [mqtt] sets up: "mqtt://broker.lan:1883 as
// kitchen: Home Assistant discovery, commands, forwarding to
// pitweet/poster".
func describeMQTT(m *MQTTConfig) string {
	d := m.Broker
	if m.Username != "" {
		d += " as " + m.Username
	}
	var does []string
	if m.TopicPrefix != "" {
		does = append(does, "publishing on "+m.TopicPrefix)
	}
	if m.Discovery {
		does = append(does, "Home Assistant discovery")
	}
	if m.Commands {
		does = append(does, "commands")
	}
	if m.Forward != "" {
		does = append(does, "forwarding to "+m.Forward)
	}
	if len(does) == 0 {
		return d
	}
	return d + ": " + strings.Join(does, ", ")
}

// configLocation splits "FILE:LINE[:COL]: problem" into "FILE:LINE" for the
// Detail of a failed config line.
func configLocation(problem, path string) (loc, msg string) {
	rest, ok := strings.CutPrefix(problem, path+":")
	if !ok {
		return path, problem
	}
	line, rest, _ := strings.Cut(rest, ":")
	if _, err := strconv.Atoi(line); err != nil {
		return path, problem
	}
	// A column may follow the line: "FILE:7:9: ...".
	if col, after, ok := strings.Cut(rest, ":"); ok {
		if _, err := strconv.Atoi(col); err == nil {
			rest = after
		}
	}
	return path + ":" + line, strings.TrimSpace(rest)
}

// describeDestinations says where cfg posts: X's server and API, and the
// other destinations by name.
func describeDestinations(cfg *Config) string {
	xs := fmt.Sprintf("%s (API %s)", cfg.X.BaseURL, cfg.X.API)
	if slices.Equal(cfg.Destinations, []string{"x"}) {
		return xs
	}
	var parts []string
	for _, name := range cfg.Destinations {
		if name == "x" {
			name = "x: " + xs
		}
		parts = append(parts, name)
	}
	return strings.Join(parts, ", ")
}

// destinationBuilt reports whether this pitweet can post to name.
func destinationBuilt(name string) bool {
	if name == "x" || name == "mastodon" || name == "forward" || name == "bluesky" {
		return true
	}
	return extraDestinations != nil && slices.Contains(extraDestinations(), name)
}

// DestinationTitle is how messages name destination name: "X",
// "Mastodon", "Bluesky".
func DestinationTitle(name string) string {
	switch name {
	case "x":
		return "X"
	case "mastodon":
		return "Mastodon"
	case "bluesky":
		return "Bluesky"
	case "forward":
		return "the poster it forwards to"
	}
	return name
}

// checkTemplates renders every template with sample readings and checks
// the result fits in a post on each of the rule's destinations.
func checkTemplates(cfg *Config, rep *CheckReport) {
	several := len(cfg.Destinations) > 1
	one := func(name string, t *Template, to []string, data TemplateData) {
		text, err := t.Render(data)
		if err != nil {
			rep.add(CheckResult{What: "template", Detail: name, Err: err})
			return
		}
		if strings.TrimSpace(text) == "" {
			rep.add(CheckResult{What: "template", Detail: name, Err: errors.New("renders to nothing with sample readings; no service takes an empty post")})
			return
		}
		checked := false
		for _, dest := range to {
			rule, ok := textRules[dest]
			if !ok {
				continue
			}
			checked = true
			where := name
			if several {
				where += " on " + dest
			}
			n := rule.Length(text)
			res := CheckResult{What: "template", Detail: fmt.Sprintf("%s: %d of %d characters: %q", where, n, rule.Max, text)}
			if n > rule.Max {
				res.Err = fmt.Errorf("%d characters with sample readings, more than %s's %d; shorten the text (%s)", n, DestinationTitle(dest), rule.Max, rule.Counts)
				res.Detail = where
			}
			rep.add(res)
		}
		if !checked {
			rep.add(CheckResult{What: "template", Detail: fmt.Sprintf("%s: %q", name, text)})
		}
		if unit := doubledUnit(text); unit != "" {
			rep.add(CheckResult{What: "template", Detail: name, Warn: true, Err: fmt.Errorf(
				"%q shows the unit %s twice; a reading such as {{.Sensors.room.Temperature}} prints its own unit, so drop the one written after it (or print the bare number with .V)", text, unit)})
		}
	}
	for _, b := range cfg.Buttons {
		data := cfg.SampleData(b.Name)
		if b.Text != nil {
			one("button "+b.Name+" text", b.Text, b.To, data)
			if slices.Contains(b.To, "x") {
				checkRepeats(rep, "button "+b.Name+" text", b.Text, data, b.Debounce)
			}
		}
		if b.LongText != nil {
			data.Long = true
			one("button "+b.Name+" long_text", b.LongText, b.To, data)
			if slices.Contains(b.To, "x") {
				checkRepeats(rep, "button "+b.Name+" long_text", b.LongText, data, b.LongPress)
			}
		}
	}
	for i, r := range cfg.Reports {
		one(fmt.Sprintf("report %d text", i+1), r.Text, r.To, cfg.SampleData(""))
	}
	for i, a := range cfg.Alerts {
		one(fmt.Sprintf("alert %d text", i+1), a.Text, a.To, cfg.SampleData(""))
	}
}

// repeatGaps are the intervals between two presses at which checkRepeats
// renders a text twice, from the shortest a button allows up to a minute.
var repeatGaps = []time.Duration{100 * time.Millisecond, time.Second, 10 * time.Second, time.Minute}

// checkRepeats warns when two presses of a button, at least gap apart (its
// debounce, or long_press for long_text) and at most a minute apart, can
// render the same text: X refuses a text it has just posted. It renders the
// template at a whole minute and again gap later (as the second press, so
// {{.Count}} is one more), with the same readings, since they need not
// change.
func checkRepeats(rep *CheckReport, name string, t *Template, data TemplateData, gap time.Duration) {
	first, err := t.Render(data)
	if err != nil {
		return // reported by the render check
	}
	gaps := []time.Duration{gap}
	for _, g := range repeatGaps {
		if g > gap {
			gaps = append(gaps, g)
		}
	}
	second := data
	second.Count++
	for _, g := range gaps {
		second.Time = data.Time.Add(g)
		if text, err := t.Render(second); err == nil && text == first {
			rep.add(CheckResult{What: "template", Detail: name, Warn: true, Err: fmt.Errorf(
				"two presses %v apart render the same text, which X refuses as a duplicate (pitweet then adds \" (2)\"); "+
					"add {{.Count}} or a finer time such as {{.Time.Format \"15:04:05.000\"}} to keep them distinct", g)})
			return
		}
	}
}

// checkCharts says what each rule's chart draws and renders its alt text
// with sample readings.
func checkCharts(cfg *Config, rep *CheckReport) {
	one := func(rule string, c *ChartSpec) {
		if c == nil {
			return
		}
		alt := "generated from the readings"
		res := CheckResult{What: "chart", Detail: rule}
		if c.Alt != nil {
			text, err := c.Alt.Render(cfg.SampleData(""))
			switch n := len([]rune(text)); {
			case err != nil:
				res.Err = err
			case strings.TrimSpace(text) == "":
				res.Err = errors.New("alt renders to nothing with sample readings; remove alt to have it generated")
			case n > chart.MaxAlt:
				res.Err = fmt.Errorf("alt is %d characters with sample readings, more than X's %d; shorten it", n, chart.MaxAlt)
			}
			alt = fmt.Sprintf("%q", text)
		}
		if res.Err == nil {
			res.Detail = fmt.Sprintf("%s: the last %s of %s; alt text %s", rule, chart.SpanWords(c.Window), strings.Join(cfg.ChartSeries(c), ", "), alt)
		}
		rep.add(res)
	}
	for i, r := range cfg.Reports {
		one(fmt.Sprintf("report %d", i+1), r.Chart)
	}
	for i, a := range cfg.Alerts {
		one(fmt.Sprintf("alert %d", i+1), a.Chart)
	}
}

// doubledUnit returns a unit that a rendered text repeats right after a
// reading ("21.5 °C °C"), or "".
func doubledUnit(text string) string {
	for _, unit := range Quantities {
		if strings.Contains(text, " "+unit+" "+unit) || strings.Contains(text, " "+unit+unit) {
			return unit
		}
	}
	return ""
}

func checkCAFile(path string) CheckResult {
	res := CheckResult{What: "ca_file", Detail: path}
	data, err := sender.ReadCAFile(path)
	if err != nil {
		res.Err = errors.New(strings.TrimPrefix(err.Error(), "sender: "))
		return res
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		res.Err = errors.New("holds no PEM certificate; it must contain -----BEGIN CERTIFICATE----- blocks")
		return res
	}
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			n++
		}
	}
	res.Detail = fmt.Sprintf("%s: %s", path, plural(n, "certificate"))
	return res
}

// checkCredentialsMode says how the credentials file is kept. The keys
// should be root's alone (0600 root:root), as the service demands of the
// file it is given: a file that is not is a failure when it is the
// service's, /etc/pitweet/credentials, and a warning otherwise (a file of
// one's own, mode 0640, is not refused).
func checkCredentialsMode(info CredentialsInfo, dests []string) CheckResult {
	res := CheckResult{What: "credentials", Detail: describeCredentials(info, dests)}
	switch {
	case info.Source != nil && info.Source.Unchecked != nil:
		res.Err, res.Warn = info.Source.Unchecked, true
	case info.File != "" && info.Source == nil:
		st, err := os.Stat(info.File)
		switch {
		case err != nil:
			res.Err = fmt.Errorf("config: credentials: %w", err)
		case exposure(st) == "":
		case info.File == defaultCredentials:
			res.Err = fmt.Errorf("config: credentials %s is %s: whoever can read it posts as the account, and the service does not start with it; "+
				"make the keys root's alone: sudo chown root:root %s && sudo chmod 0600 %s", info.File, exposure(st), info.File, info.File)
		default:
			res.Err = fmt.Errorf("config: credentials %s is %s: whoever can read it posts as the account; keep the keys to their owner: chmod 0600 %s",
				info.File, exposure(st), info.File)
			res.Warn = true
		}
	}
	return res
}

func describeCredentials(info CredentialsInfo, dests []string) string {
	var parts []string
	switch s := info.Source; {
	case info.File == "":
	case s == nil:
		parts = append(parts, fmt.Sprintf("%s: mode %04o %s", info.File, info.Mode, info.Owner))
	case s.Unchecked != nil:
		parts = append(parts, fmt.Sprintf("%s, systemd's copy of %s (not checked)", info.File, s.Path))
	default:
		parts = append(parts, fmt.Sprintf("%s, systemd's copy of %s: mode %04o %s", info.File, s.Path, s.Mode, s.Owner))
	}
	if len(info.Env) > 0 {
		parts = append(parts, "from the environment: "+strings.Join(info.Env, ", "))
	}
	// Only the destinations that have keys: forward posts through the
	// broker's account, whose password is "mqtt"'s.
	keyed := slices.DeleteFunc(slices.Clone(dests), func(d string) bool {
		_, same := sameKeysAs[d]
		return !same && !slices.ContainsFunc(credentialKeys, func(k struct{ key, env, dest string }) bool { return k.dest == d })
	})
	switch {
	case len(keyed) == 0:
		parts = append(parts, "no keys needed")
	case slices.Equal(keyed, []string{"x"}):
		parts = append(parts, "all four keys present")
	default:
		parts = append(parts, "the keys of "+strings.Join(keyed, ", ")+" present")
	}
	return strings.Join(parts, "; ")
}

// Clock offsets beyond these are worth a warning and a failure: X refuses
// signatures whose timestamp is far from its clock.
const (
	clockWarn = 30 * time.Second
	clockFail = 5 * time.Minute
)

// checkAccount reports what GET /2/users/me said. start and end bracket
// the request on the local clock.
func checkAccount(u *sender.User, start, end time.Time, rep *CheckReport) {
	rep.add(CheckResult{What: "account", Detail: fmt.Sprintf("@%s (%s, id %s)", u.Username, u.Name, u.ID)})

	access := CheckResult{What: "access", Detail: "level " + u.Meta.AccessLevel}
	switch {
	case u.Meta.AccessLevel == "":
		access.Detail = "level not reported (no x-access-level header)"
		access.Warn = true
		access.Err = errors.New("cannot tell whether the keys may post; try pitweet tweet")
	case !strings.Contains(u.Meta.AccessLevel, "write"):
		access.Err = errors.New("these keys cannot post; in the X developer portal set the app's permissions to \"Read and write\", then regenerate the access token and secret and put them in the credentials file")
	}
	rep.add(access)

	if !u.Meta.Date.IsZero() {
		// The server's Date has one-second resolution; compare it with
		// the middle of the request.
		local := start.Add(end.Sub(start) / 2)
		offset := u.Meta.Date.Sub(local).Round(time.Second)
		sign := "+"
		if offset < 0 {
			sign = "-"
		}
		res := CheckResult{What: "clock", Detail: fmt.Sprintf("offset %s%v from X's Date header", sign, offset.Abs())}
		switch {
		case offset.Abs() > clockFail:
			res.Err = errors.New("the local clock is too far off for X to accept signatures; check that systemd-timesyncd (or chrony) is running: timedatectl status")
		case offset.Abs() > clockWarn:
			res.Err = errors.New("the local clock is off; pitweet corrects for it, but check timedatectl status")
			res.Warn = true
		}
		rep.add(res)
	}

	rl := u.Meta.RateLimit
	var parts []string
	if rl.Limit >= 0 {
		parts = append(parts, fmt.Sprintf("%d of %d requests left", rl.Remaining, rl.Limit))
		if !rl.Reset.IsZero() {
			parts[len(parts)-1] += ", resets " + rl.Reset.Local().Format("15:04:05")
		}
	}
	if rl.UserLimit24h >= 0 {
		p := fmt.Sprintf("%d of %d posts left for 24 hours", rl.UserRemaining24h, rl.UserLimit24h)
		if !rl.UserReset24h.IsZero() {
			p += ", resets " + rl.UserReset24h.Local().Format("Jan 2 15:04")
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		parts = append(parts, "no rate-limit headers")
	}
	rep.add(CheckResult{What: "rate-limit", Detail: strings.Join(parts, "; ")})
}
