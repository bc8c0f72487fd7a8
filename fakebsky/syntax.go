package fakebsky

import (
	"strings"
	"unicode"
)

// String formats of the lexicon language (atproto.com/specs/lexicon
// "string formats"), checked as the PDS's strict validation checks them.

// validDatetime reports whether s is a "datetime": RFC 3339 and ISO 8601
// together, as atproto.com/specs/lexicon says: "The character separating
// date and time parts must be an upper-case T", "Timezone specification
// is required", a capital Z or ±hh:mm but not -00:00, "Whole seconds
// precision is required, and arbitrary fractional precision digits are
// allowed"; and a real date (the PDS parses it).
func validDatetime(s string) bool {
	if len(s) > 64 || strings.HasSuffix(s, "-00:00") || len(s) < len("2006-01-02T15:04:05Z") {
		return false
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for i := from; i < to; i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	second, ok6 := num(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	// Leap seconds pass the PDS's pattern but not its date parser.
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59 {
		return false
	}
	rest := s[19:]
	if strings.HasPrefix(rest, ".") {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	if rest == "Z" {
		return true
	}
	if len(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':' {
		return false
	}
	oh, ok1 := offsetNum(rest[1:3])
	om, ok2 := offsetNum(rest[4:6])
	return ok1 && ok2 && oh <= 23 && om <= 59
}

func offsetNum(s string) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// validURI reports whether s is a "uri" as the PDS checks it:
// /^\w+:(?:\/\/)?[^\s/][^\s]*$/.
func validURI(s string) bool {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || scheme == "" {
		return false
	}
	for i := 0; i < len(scheme); i++ {
		c := scheme[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	rest = strings.TrimPrefix(rest, "//")
	if rest == "" || rest[0] == '/' {
		return false
	}
	return !strings.ContainsFunc(rest, jsSpace)
}

// jsSpace is JavaScript's \s.
func jsSpace(r rune) bool {
	return unicode.IsSpace(r) || r == '\uFEFF' || unicode.Is(unicode.Zs, r) || r == '\u2028' || r == '\u2029'
}

// validDID reports whether s has DID syntax (atproto.com/specs/did):
// "did:", a lower-case method, ":", then letters, digits and "._:%-", not
// ending in ":" or "%"; 2048 characters at most.
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
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._:%-", c) >= 0) {
			return false
		}
	}
	return id[len(id)-1] != ':' && id[len(id)-1] != '%'
}

// validHandle reports whether s has handle syntax (atproto.com/specs/handle):
// two or more dot-separated labels of letters, digits and hyphens, 1 to 63
// characters each, not starting or ending with a hyphen, the last not
// starting with a digit; 253 characters at most.
func validHandle(s string) bool {
	labels := strings.Split(s, ".")
	if len(s) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return last[0] < '0' || last[0] > '9'
}

// grandfathered are the irregular and regular grandfathered tags of BCP 47.
var grandfathered = []string{"en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon", "i-lux",
	"i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE",
	"art-lojban", "cel-gaulish", "no-bok", "no-nyn", "zh-guoyu", "zh-hakka", "zh-min", "zh-min-nan", "zh-xiang"}

// validLanguage reports whether s is a "language" as the PDS's strict
// check has it: a well-formed BCP 47 tag (RFC 5646 section 2.1) whose
// primary language subtag is two or three lower-case letters, with no
// variant or extension singleton repeated.
func validLanguage(s string) bool {
	for _, g := range grandfathered {
		if s == g {
			return true
		}
	}
	sub := strings.Split(s, "-")
	alpha := func(t string, min, max int) bool { return allOf(t, min, max, isAlpha) }
	alnum := func(t string, min, max int) bool { return allOf(t, min, max, isAlnum) }
	i := 0
	privateUse := func() bool { // "x" 1*("-" 1*8alphanum), to the end
		if i+1 >= len(sub) {
			return false
		}
		for _, t := range sub[i+1:] {
			if !alnum(t, 1, 8) {
				return false
			}
		}
		return true
	}
	if strings.EqualFold(sub[0], "x") {
		return privateUse()
	}
	if !allOf(sub[0], 2, 3, func(c byte) bool { return 'a' <= c && c <= 'z' }) {
		return false
	}
	i = 1
	for n := 0; n < 3 && i < len(sub) && alpha(sub[i], 3, 3); n++ { // extlang
		i++
	}
	if i < len(sub) && alpha(sub[i], 4, 4) { // script
		i++
	}
	if i < len(sub) && (alpha(sub[i], 2, 2) || allOf(sub[i], 3, 3, isDigit)) { // region
		i++
	}
	seen := map[string]bool{}
	for i < len(sub) && (alnum(sub[i], 5, 8) || len(sub[i]) == 4 && isDigit(sub[i][0]) && alnum(sub[i], 4, 4)) { // variants
		v := strings.ToLower(sub[i])
		if seen[v] {
			return false
		}
		seen[v] = true
		i++
	}
	singletons := map[string]bool{}
	for i < len(sub) && len(sub[i]) == 1 && isAlnum(sub[i][0]) && !strings.EqualFold(sub[i], "x") { // extensions
		single := strings.ToLower(sub[i])
		if singletons[single] {
			return false
		}
		singletons[single] = true
		i++
		n := 0
		for i < len(sub) && alnum(sub[i], 2, 8) {
			i++
			n++
		}
		if n == 0 {
			return false
		}
	}
	if i < len(sub) && strings.EqualFold(sub[i], "x") {
		return privateUse()
	}
	return i == len(sub)
}

func allOf(t string, min, max int, ok func(byte) bool) bool {
	if len(t) < min || len(t) > max {
		return false
	}
	for i := 0; i < len(t); i++ {
		if !ok(t[i]) {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }
