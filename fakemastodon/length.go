package fakemastodon

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// StatusLength returns the length of a status as Mastodon counts it
// against the instance's max_characters: extended grapheme clusters (UAX
// #29) of spoiler text and text together, after every URL in the text is
// replaced by urlLength characters and every mention of a remote account,
// @user@domain, by @user. Leading and trailing ASCII white space is not
// counted: Mastodon strips it before it validates.
//
// Documentation: docs.joinmastodon.org/user/posting/ ("All links are
// counted as 23 characters, no matter how long they actually are"; "Only
// the username part will count against your character limit -- the domain
// is not counted"; links "must begin with http:// or https://"), and
// api/guidelines/ ("URLs in text always count for 23 characters"). The unit
// is not documented; Mastodon's StatusLengthValidator counts
// each_grapheme_cluster of spoiler_text + countable_text(text).
func StatusLength(text, spoiler string, urlLength int) int {
	text, spoiler = rubyStrip(text), rubyStrip(spoiler)
	if strings.TrimSpace(text) == "" {
		text = "" // countable_text returns '' for a blank text
	}
	return uniseg.GraphemeClusterCount(spoiler + countableText(text, urlLength))
}

// rubyStrip removes what Ruby's String#strip removes: leading and trailing
// ASCII white space and NUL.
func rubyStrip(s string) string {
	return strings.Trim(s, " \t\n\v\f\r\x00")
}

// countableText returns text with URLs replaced by urlLength x's and
// remote mentions by their local part, as StatusLengthValidator does.
func countableText(text string, urlLength int) string {
	type entity struct {
		start, end int
		with       string
	}
	var ents []entity
	for i := 0; i < len(text); {
		if n := urlAt(text, i); n > 0 {
			ents = append(ents, entity{i, i + n, strings.Repeat("x", urlLength)})
			i += n
			continue
		}
		if n, user := mentionAt(text, i); n > 0 {
			ents = append(ents, entity{i, i + n, "@" + user})
			i += n
			continue
		}
		_, n := utf8.DecodeRuneInString(text[i:])
		i += n
	}
	if len(ents) == 0 {
		return text
	}
	var b strings.Builder
	last := 0
	for _, e := range ents {
		b.WriteString(text[last:e.start])
		b.WriteString(e.with)
		last = e.end
	}
	b.WriteString(text[last:])
	return b.String()
}

// URLs, after twitter-text's extractor with Mastodon's regular expressions
// (config/initializers/twitter_regex.rb), URLs without a scheme not
// extracted (extract_url_without_protocol: false): a URL starts at the
// beginning of the text or after a character that is not an ASCII letter
// or digit, '@', '$' or '#'; it is one of Mastodon's schemes and "://", a
// domain whose last label looks like a top-level domain, an optional
// port, an optional path that ends in a character a URL may end in, and
// an optional query. twitter-text checks the top-level domain against
// IANA's list; here any label of two or more letters, or a punycode
// label, passes.

// schemes are the schemes Mastodon's valid_url accepts.
var schemes = []string{"https", "http", "dat", "dweb", "ipfs", "ipns", "ssb", "gopher", "gemini"}

// urlAt returns the length in bytes of a URL starting at text[i], or 0.
func urlAt(text string, i int) int {
	if i > 0 {
		prev, _ := utf8.DecodeLastRuneInString(text[:i])
		if isASCIIAlnum(prev) || strings.ContainsRune("@＠$#＃\uFFFE\uFEFF\uFFFF", prev) {
			return 0
		}
	}
	rest := text[i:]
	n := 0
	for _, s := range schemes {
		if hasPrefixFold(rest, s+"://") {
			n = len(s) + 3
			break
		}
	}
	if n == 0 {
		return 0
	}
	d := domainLen(rest[n:])
	if d == 0 {
		return 0
	}
	n += d
	// Port.
	if len(rest) > n+1 && rest[n] == ':' && isDigit(rest[n+1]) {
		n++
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
	}
	// Path.
	if n < len(rest) && rest[n] == '/' {
		n += 1 + pathLen(rest[n+1:])
	}
	// Query.
	if n < len(rest) && rest[n] == '?' {
		n += queryLen(rest[n:])
	}
	return n
}

// domainLen returns the length of the domain at the start of s: labels of
// letters, digits and marks joined by dots, with '-' (and in subdomains
// '_') inside a label, the last label a top-level domain. It returns 0 if
// there is none.
func domainLen(s string) int {
	end, labels := 0, 0
	tldEnd := 0 // end of the longest run of labels that ends in a TLD
	for i := 0; ; {
		start := i
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !domainRune(r) && r != '-' && r != '_' {
				break
			}
			i += n
		}
		label := s[start:i]
		if label == "" || strings.HasPrefix(label, "-") || strings.HasPrefix(label, "_") ||
			strings.HasSuffix(label, "-") || strings.HasSuffix(label, "_") {
			break
		}
		labels++
		end = i
		if labels >= 2 && isTLD(label) && tldBoundary(s[i:]) && !strings.Contains(label, "_") {
			tldEnd = end
		}
		if i+1 < len(s) && s[i] == '.' {
			i++
			continue
		}
		break
	}
	return tldEnd
}

// domainRune reports whether r may appear in a domain label: twitter-text's
// DOMAIN_VALID_CHARS, neither punctuation, nor space, nor a control.
func domainRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// isTLD reports whether label can be a top-level domain: two or more
// letters, or punycode.
func isTLD(label string) bool {
	if strings.HasPrefix(strings.ToLower(label), "xn--") && len(label) > 4 {
		return true
	}
	n := 0
	for _, r := range label {
		if !unicode.IsLetter(r) {
			return false
		}
		n++
	}
	return n >= 2
}

// tldBoundary reports whether what follows a top-level domain ends it:
// twitter-text's (?=[^0-9a-z@+-]|$).
func tldBoundary(after string) bool {
	if after == "" {
		return true
	}
	c := after[0]
	return !(isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '@' || c == '+' || c == '-')
}

// pathLen returns the length of the path after a URL's first '/': the
// longest run of path characters and balanced parentheses that ends in a
// character a URL may end in, or in '/'.
func pathLen(s string) int {
	end := 0 // the longest valid end so far
	for i := 0; i < len(s); {
		if s[i] == '(' {
			n := parensLen(s[i:])
			if n == 0 {
				break
			}
			i += n
			end = i // balanced parentheses may end a path
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !generalPathRune(r) {
			break
		}
		i += n
		if r == '/' || pathEndingRune(r) {
			end = i
		}
	}
	return end
}

// parensLen returns the length of the balanced parentheses at the start of
// s, one level of nesting allowed, or 0.
func parensLen(s string) int {
	depth := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '(':
			if depth == 2 {
				return 0
			}
			depth++
		case r == ')':
			depth--
			if depth == 0 {
				if i == 1 {
					return 0 // "()" is not balanced content
				}
				return i + n
			}
		case !generalPathRune(r):
			return 0
		}
		i += n
	}
	return 0
}

// generalPathRune: [^\p{White_Space}<>()?].
func generalPathRune(r rune) bool {
	return !unicode.Is(unicode.White_Space, r) && !strings.ContainsRune("<>()?", r)
}

// pathEndingRune: [^\p{White_Space}()?!*"'「」<>;:=,.$%\[\]~&|@].
func pathEndingRune(r rune) bool {
	return !unicode.Is(unicode.White_Space, r) && !strings.ContainsRune("()?!*\"'「」<>;:=,.$%[]~&|@", r)
}

// queryLen returns the length of the query at the start of s ('?'
// included): query characters ending in a query-ending character, or 0.
func queryLen(s string) int {
	end := 0
	for i := 1; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !queryRune(r) {
			break
		}
		i += n
		if queryEndingRune(r) {
			end = i
		}
	}
	return end
}

// queryRune: [a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@\^] and UCHARS.
func queryRune(r rune) bool {
	return isASCIIAlnum(r) || strings.ContainsRune("!?*'();:&=+$/%#[]-_.,~|@^", r) || uchar(r)
}

// queryEndingRune: [a-z0-9_&=#/\-] and UCHARS.
func queryEndingRune(r rune) bool {
	return isASCIIAlnum(r) || strings.ContainsRune("_&=#/-", r) || uchar(r)
}

// uchar reports whether r is in Mastodon's UCHARS: the non-ASCII ranges
// RFC 3987 allows in an IRI.
func uchar(r rune) bool {
	switch {
	case r >= 0xA0 && r <= 0xD7FF, r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFEF,
		r >= 0xE000 && r <= 0xF8FF, r >= 0xE1000 && r <= 0xEFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFD:
		// 10000-1FFFD … D0000-DFFFD, F0000-FFFFD, 100000-10FFFD: each plane
		// but its last two code points; plane E only from E1000.
		return r&0xFFFF <= 0xFFFD && r>>16 != 0xE
	}
	return false
}

// Mentions, after Mastodon's Account::MENTION_RE
// (?<![=/[:word:]])@((USERNAME)(?:@[[:word:]]+([.-]+[[:word:]]+)*)?) with
// USERNAME [a-z0-9_]+([.-]+[a-z0-9_]+)*, not followed by an at sign, a
// Latin accented letter or "://" (twitter-text's end_mention_match).

// mentionAt returns the length in bytes of a mention starting at text[i]
// and its username, or 0.
func mentionAt(text string, i int) (int, string) {
	if text[i] != '@' {
		return 0, ""
	}
	if i > 0 {
		prev, _ := utf8.DecodeLastRuneInString(text[:i])
		if prev == '=' || prev == '/' || wordRune(prev) {
			return 0, ""
		}
	}
	j := i + 1
	u := dottedRun(text[j:], func(r rune) bool { return r < utf8.RuneSelf && (isASCIIAlnum(r) || r == '_') })
	if u == 0 {
		return 0, ""
	}
	user := text[j : j+u]
	j += u
	if j < len(text) && text[j] == '@' {
		if d := dottedRun(text[j+1:], wordRune); d > 0 {
			j += 1 + d
		}
	}
	after := text[j:]
	if r, _ := utf8.DecodeRuneInString(after); after != "" && (r == '@' || r == '＠' || latinAccent(r)) || strings.HasPrefix(after, "://") {
		return 0, ""
	}
	return j - i, user
}

// dottedRun returns the length of word (runes for which ok) followed by
// any number of ([.-]+ word).
func dottedRun(s string, ok func(rune) bool) int {
	run := func(s string) int {
		n := 0
		for n < len(s) {
			r, size := utf8.DecodeRuneInString(s[n:])
			if !ok(r) {
				break
			}
			n += size
		}
		return n
	}
	n := run(s)
	if n == 0 {
		return 0
	}
	for {
		seps := 0
		for n+seps < len(s) && (s[n+seps] == '.' || s[n+seps] == '-') {
			seps++
		}
		if seps == 0 {
			return n
		}
		w := run(s[n+seps:])
		if w == 0 {
			return n
		}
		n += seps + w
	}
}

// wordRune is Ruby's [[:word:]]: letters, marks, digits and connector
// punctuation.
func wordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r) || unicode.Is(unicode.Pc, r)
}

// latinAccent is twitter-text's latin_accents: the accented Latin letters
// of Latin-1 and Latin Extended.
func latinAccent(r rune) bool {
	return r >= 0xC0 && r <= 0xD6 || r >= 0xD8 && r <= 0xF6 || r >= 0xF8 && r <= 0xFF ||
		r >= 0x100 && r <= 0x24F || r == 0x253 || r == 0x254 || r == 0x256 || r == 0x257 ||
		r == 0x259 || r == 0x25B || r == 0x263 || r == 0x268 || r == 0x26F || r == 0x272 ||
		r == 0x289 || r == 0x28B || r == 0x2BB || r >= 0x300 && r <= 0x36F || r >= 0x1E00 && r <= 0x1EFF
}

func isASCIIAlnum(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
