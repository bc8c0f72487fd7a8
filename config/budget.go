package config

import (
	"fmt"
	"slices"

	"pitweet/budget"
)

// The [x] keys of spending: what each request costs (X's published prices
// unless the file says otherwise) and the month's budget, and each rule's
// on_budget.
//
//	[x]
//	monthly_budget = 5.00          # USD a calendar month (UTC); none by default
//	price_post = 0.015             # a post
//	price_post_url = 0.20          # a post whose text has a link
//	price_user_read = 0.01         # pitweet check --online
//	price_media_metadata = 0.005   # a picture's alt text
//
//	[[report]]
//	on_budget = "hold"             # or "drop"

// spending reads the [x] keys of spending into x.Spending.
func (v *validator) spending(x *XConfig, raw *rawX) {
	x.Spending.Prices = budget.Published
	for _, p := range []struct {
		key string
		raw any
		to  *budget.Amount
	}{
		{"price_post", raw.PricePost, &x.Spending.Prices.Post},
		{"price_post_url", raw.PricePostURL, &x.Spending.Prices.PostURL},
		{"price_user_read", raw.PriceUserRead, &x.Spending.Prices.UserRead},
		{"price_media_metadata", raw.PriceMediaMetadata, &x.Spending.Prices.MediaMetadata},
		{"monthly_budget", raw.MonthlyBudget, &x.Spending.Budget},
	} {
		if p.raw == nil {
			continue
		}
		if a, ok := v.dollars(p.key, p.raw); ok {
			*p.to = a
			if p.key == "monthly_budget" {
				x.Spending.Limited = true
			}
		}
	}
}

// dollars reads a number of US dollars, written 5, 5.00 or 0.015.
func (v *validator) dollars(key string, raw any) (budget.Amount, bool) {
	var usd float64
	switch n := raw.(type) {
	case int64:
		usd = float64(n)
	case float64:
		usd = n
	default:
		v.problem(v.at("x", key), "%s = %s must be a number of US dollars, such as %s = %s", key, tomlValue(raw), key, dollarsExample(key))
		return 0, false
	}
	a, err := budget.FromUSD(usd)
	if err != nil {
		v.problem(v.at("x", key), "%s = %v: %s; write a number of US dollars from 0, such as %s = %s", key, raw, trimPrefix(err), key, dollarsExample(key))
		return 0, false
	}
	return a, true
}

func dollarsExample(key string) string {
	if key == "monthly_budget" {
		return "5.00"
	}
	return "0.015"
}

func trimPrefix(err error) string {
	s := err.Error()
	for _, p := range []string{"budget: ", "config: "} {
		if len(s) > len(p) && s[:len(p)] == p {
			return s[len(p):]
		}
	}
	return s
}

// onBudget reads a rule's on_budget: "hold" (the default) or "drop". It
// warns when the rule does not post to X or X has no monthly_budget, where
// it does nothing.
func (v *validator) onBudget(cfg *Config, path []string, raw string, to []string) string {
	switch raw {
	case "":
		return "hold"
	case "hold", "drop":
	default:
		v.problem(v.at(path...), "on_budget = %q is not known; use \"hold\" (keep a post over X's monthly budget queued until the next month or a higher budget) or \"drop\" (give it up, kept in dead letters)", raw)
		return "hold"
	}
	switch {
	case !slices.Contains(to, "x"):
		v.warning(v.at(path...), "on_budget = %q does nothing here: the rule does not post to X, the one destination with a budget", raw)
	case !cfg.X.Spending.Limited:
		v.warning(v.at(path...), "on_budget = %q does nothing without a budget; set monthly_budget in [x]", raw)
	}
	return raw
}

// xPosts reports whether the rule posts to X.
func xPosts(to []string) bool { return slices.Contains(to, "x") }

// describePrices says what the price table is and where it comes from.
func describePrices(p budget.Prices) string {
	s := fmt.Sprintf("%s a post, %s with a link, %s a user read, %s an alt text", p.Post, p.PostURL, p.UserRead, p.MediaMetadata)
	if p == budget.Published {
		return s + fmt.Sprintf(" (X's published prices as of %s; they change: %s)", budget.PriceDate, budget.PriceSource)
	}
	return s + " (set in [x]; X's published prices are " + fmt.Sprintf("%s, %s, %s, %s as of %s)",
		budget.Published.Post, budget.Published.PostURL, budget.Published.UserRead, budget.Published.MediaMetadata, budget.PriceDate)
}
