package config

import "pitweet/textlen"

// A TextRule says how a destination counts a text and how long it may be.
type TextRule struct {
	Max      int
	Length   func(string) int
	Truncate func(s string, max int) string
	Counts   string // how it counts, for messages
}

// xText is X's rule: 280 weighted characters.
var xText = TextRule{Max: textlen.MaxX, Length: textlen.X, Truncate: textlen.TruncateX,
	Counts: "X counts a URL as 23, CJK and emoji as 2"}

// textRules holds the rule of each destination whose length is checked
// when a message is queued. A destination without one ("forward": the
// poster checks) takes any length.
var textRules = map[string]TextRule{"x": xText}

// TextRuleFor returns destination name's rule; ok is false for a
// destination that takes any length.
func TextRuleFor(name string) (rule TextRule, ok bool) {
	rule, ok = textRules[name]
	return rule, ok
}
