package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template/parse"
	"time"

	"pitweet/budget"
	"pitweet/textlen"
)

// estimateDays is the month checkSpending estimates over.
const estimateDays = 30

// checkSpending says what the config's posts to X cost: the prices in
// use, each template that can produce a link (X charges more for a post
// with one), and what the reports cost in a month against the budget.
func checkSpending(cfg *Config, rep *CheckReport) {
	if !slices.Contains(cfg.Destinations, "x") {
		return
	}
	s := cfg.X.Spending
	p := s.Prices
	rep.add(CheckResult{What: "spend", Detail: "prices: " + describePrices(p)})

	linked := func(name string, t *Template, data TemplateData, per string) bool {
		urls := templateURLs(t, data)
		if len(urls) == 0 {
			return false
		}
		msg := fmt.Sprintf("contains a link (%s): each post costs %s instead of %s", strings.Join(urls, ", "), p.PostURL, p.Post)
		if per != "" {
			msg += ", " + per
		}
		rep.add(CheckResult{What: "spend", Detail: name, Warn: true, Err: errors.New(msg)})
		return true
	}
	for _, b := range cfg.Buttons {
		if !xPosts(b.To) {
			continue
		}
		data := cfg.SampleData(b.Name)
		if b.Text != nil {
			linked("button "+b.Name+" text", b.Text, data, "")
		}
		if b.LongText != nil {
			data.Long = true
			linked("button "+b.Name+" long_text", b.LongText, data, "")
		}
	}
	for i, a := range cfg.Alerts {
		if xPosts(a.To) && a.Text != nil {
			linked(fmt.Sprintf("alert %d text", i+1), a.Text, cfg.SampleData(""), "")
		}
	}
	var monthly budget.Amount
	var parts []string
	for i, r := range cfg.Reports {
		if !xPosts(r.To) || r.Text == nil || r.Every <= 0 {
			continue
		}
		posts := int64(estimateDays * 24 * time.Hour / r.Every)
		price := p.Post
		name := fmt.Sprintf("report %d text", i+1)
		if linked(name, r.Text, cfg.SampleData(""), fmt.Sprintf("about %s a month at every = %s (%s without the link)",
			(budget.Amount(posts)*p.PostURL).Cents(), shortDuration(r.Every), (budget.Amount(posts)*p.Post).Cents())) {
			price = p.PostURL
		}
		cost := budget.Amount(posts) * price
		monthly += cost
		parts = append(parts, fmt.Sprintf("report %d: %d posts of %s", i+1, posts, price))
	}
	res := CheckResult{What: "spend"}
	each := fmt.Sprintf("each press or alert adds %s (%s with a link)", p.Post, p.PostURL)
	if len(parts) == 0 {
		res.Detail = "schedule: no report posts to X; " + each
	} else {
		res.Detail = fmt.Sprintf("schedule: the reports cost about %s a month on X (%s, in %d days); %s",
			monthly.Cents(), strings.Join(parts, "; "), estimateDays, each)
	}
	switch {
	case !s.Limited:
		res.Detail += "; no monthly_budget set"
	case monthly > s.Budget:
		perDay := monthly / estimateDays
		day := int(s.Budget/perDay) + 1
		res.Detail = "schedule"
		res.Warn = true
		res.Err = fmt.Errorf("the reports alone cost about %s a month, more than monthly_budget = %s: from about day %d of each month, posts to X wait for the next month or are dropped (on_budget); raise monthly_budget, or report less often (%s)",
			monthly.Cents(), s.Budget, day, strings.Join(parts, "; "))
	default:
		res.Detail += fmt.Sprintf("; monthly_budget %s leaves %s for presses and alerts", s.Budget, (s.Budget - monthly).Cents())
	}
	rep.add(res)
}

// templateURLs returns the links a template can produce: those in its
// text rendered with data, and those in its literal text and strings
// (which a branch not taken with data may still produce).
func templateURLs(t *Template, data TemplateData) []string {
	var urls []string
	add := func(s string) {
		for _, u := range textlen.URLs(s) {
			if !slices.Contains(urls, u) {
				urls = append(urls, u)
			}
		}
	}
	if text, err := t.Render(data); err == nil {
		add(text)
	}
	t.walk(func(n parse.Node) {
		switch n := n.(type) {
		case *parse.TextNode:
			add(string(n.Text))
		case *parse.StringNode:
			add(n.Text)
		}
	})
	return urls
}

// shortDuration writes d as a config would: "1h", "30m", "1h30m".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
