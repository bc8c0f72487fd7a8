// Package textlen counts a text as a service counts it when it limits the
// length of a post: X by weighted characters (twitter-text v3), where a URL
// counts 23 and CJK and emoji 2. Each service it counts for has its count
// and its limit here.
package textlen

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxX is the longest text X accepts, in weighted characters.
const MaxX = 280

// The weights of twitter-text's v3 configuration, scaled by 100.
const (
	weightScale   = 100
	weightLight   = 100 // Latin, Greek, Cyrillic, Hebrew, Arabic, ... and some punctuation
	weightDefault = 200 // everything else: CJK, emoji, symbols
	weightURL     = 23 * weightScale
)

// lightRanges are the code point ranges that weigh 1 in twitter-text v3.
var lightRanges = [...][2]rune{
	{0, 4351},
	{8192, 8205},
	{8208, 8223},
	{8242, 8247},
}

// X returns the length of s as X counts it (twitter-text v3): after
// NFC normalisation, most Latin-script characters count 1 and everything
// else 2; a URL (http:// or https://, or a bare domain such as example.com)
// counts 23 however long it is; an emoji, including a sequence joined with
// zero-width joiners, a flag, or one with a skin tone or a variation
// selector, counts 2.
func X(s string) int {
	total := 0
	for _, seg := range segmentText(norm.NFC.String(s)) {
		total += seg.weight
	}
	return total / weightScale
}

// TruncateX shortens s so that X of the result is at most max,
// ending it with "…". A URL or an emoji is dropped whole rather than cut.
// Text that already fits is returned unchanged.
func TruncateX(s string, max int) string {
	if X(s) <= max {
		return s
	}
	const ellipsis = "…"
	segs := segmentText(norm.NFC.String(s))
	budget := max*weightScale - segmentText(ellipsis)[0].weight
	var b strings.Builder
	n := 0
	for _, seg := range segs {
		if budget-seg.weight < 0 {
			break
		}
		budget -= seg.weight
		n++
	}
	// Re-segmenting a prefix can in rare cases find a URL that was not
	// there before (a cut "example.comX" ends in "example.com"), so check
	// the result and give back segments until it fits.
	for ; n >= 0; n-- {
		b.Reset()
		for _, seg := range segs[:n] {
			b.WriteString(seg.text)
		}
		out := strings.TrimRightFunc(b.String(), unicode.IsSpace) + ellipsis
		if X(out) <= max {
			return out
		}
	}
	return "" // only when max cannot hold even the ellipsis
}

// A segment is a run of text that X weighs as one unit: a URL, an emoji
// sequence, or a single code point.
type segment struct {
	text   string
	weight int
}

// segmentText splits normalised text into weighted segments.
func segmentText(s string) []segment {
	var segs []segment
	for i := 0; i < len(s); {
		if n := urlAt(s, i); n > 0 {
			segs = append(segs, segment{s[i : i+n], weightURL})
			i += n
			continue
		}
		if n := emojiAt(s[i:]); n > 0 {
			segs = append(segs, segment{s[i : i+n], weightDefault})
			i += n
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		segs = append(segs, segment{s[i : i+n], runeWeight(r)})
		i += n
	}
	return segs
}

func runeWeight(r rune) int {
	for _, rg := range lightRanges {
		if r >= rg[0] && r <= rg[1] {
			return weightLight
		}
	}
	return weightDefault
}

// Emoji.

const (
	zwj           = 0x200D
	vs15          = 0xFE0E
	vs16          = 0xFE0F
	keycap        = 0x20E3
	tagCancel     = 0xE007F
	regionalFirst = 0x1F1E6
	regionalLast  = 0x1F1FF
)

// pictographic reports whether r is an emoji that stands alone (without a
// variation selector) in X's counting: the Extended_Pictographic blocks
// above the light ranges.
func pictographic(r rune) bool {
	switch {
	case r >= 0x1F000 && r <= 0x1FAFF,
		r >= 0x2600 && r <= 0x27BF,
		r >= 0x2300 && r <= 0x23FF,
		r >= 0x2B00 && r <= 0x2BFF,
		r >= 0x2190 && r <= 0x21FF,
		r >= 0x25A0 && r <= 0x25FF,
		r >= 0x2900 && r <= 0x297F,
		r == 0x203C, r == 0x2049, r == 0x2122, r == 0x2139, r == 0x24C2,
		r == 0x3030, r == 0x303D, r == 0x3297, r == 0x3299:
		return true
	}
	return false
}

// emojiBase reports whether r can start an emoji when followed by the
// emoji variation selector or a keycap (©️, 1️⃣, #️⃣).
func emojiBase(r rune) bool {
	return r == 0xA9 || r == 0xAE || r == '#' || r == '*' || (r >= '0' && r <= '9')
}

func modifier(r rune) bool { return r >= 0x1F3FB && r <= 0x1F3FF }
func tag(r rune) bool      { return r >= 0xE0020 && r <= 0xE007F }
func regional(r rune) bool { return r >= regionalFirst && r <= regionalLast }

// emojiAt returns the length in bytes of the emoji sequence at the start of
// s, or 0 if s does not start with one.
func emojiAt(s string) int {
	r, n := utf8.DecodeRuneInString(s)
	switch {
	case regional(r):
		if r2, n2 := utf8.DecodeRuneInString(s[n:]); regional(r2) {
			return n + n2
		}
		return n
	case pictographic(r):
		// fall through to the sequence below
	case emojiBase(r):
		// Only with a variation selector or a keycap: a plain digit is text.
		r2, n2 := utf8.DecodeRuneInString(s[n:])
		switch r2 {
		case vs16:
			i := n + n2
			if r3, n3 := utf8.DecodeRuneInString(s[i:]); r3 == keycap {
				i += n3
			}
			return i
		case keycap:
			return n + n2
		}
		return 0
	default:
		return 0
	}
	i := n
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == vs15 || r == vs16 || r == keycap || modifier(r) || tag(r):
			i += n
		case r == zwj:
			r2, n2 := utf8.DecodeRuneInString(s[i+n:])
			if !pictographic(r2) {
				return i
			}
			i += n + n2
		default:
			return i
		}
	}
	return i
}

// URLs, after twitter-text's extractor, simplified: a URL starts at the
// beginning of the text or after a character that is not a letter, digit,
// '@', '$' or '#'; it is http:// or https:// followed by a host, or a bare
// domain ending in a known top-level domain; a port, path, query and
// fragment may follow. Trailing punctuation is not part of it.

// urlAt returns the length in bytes of a URL starting at s[i], or 0.
func urlAt(s string, i int) int {
	if i > 0 {
		prev, _ := utf8.DecodeLastRuneInString(s[:i])
		if isWordRune(prev) || prev == '@' || prev == '$' || prev == '#' || prev == '＠' || prev == '＃' {
			return 0
		}
	}
	rest := s[i:]
	scheme := 0
	switch {
	case hasPrefixFold(rest, "https://"):
		scheme = len("https://")
	case hasPrefixFold(rest, "http://"):
		scheme = len("http://")
	}
	if scheme == 0 {
		if i > 0 {
			// Without a scheme, a URL may not follow these either.
			if strings.ContainsRune("-_./", rune(s[i-1])) {
				return 0
			}
		}
		host, labels, ok := scanHost(rest, false)
		if !ok || len(labels) < 2 {
			return 0
		}
		tld := strings.ToLower(labels[len(labels)-1])
		cc := isCCTLD(tld)
		if !cc && !genericTLDs[tld] {
			return 0
		}
		n := host + scanPortPath(rest[host:])
		// "foo.de" alone is not a link, but "foo.co", "foo.co.uk" and
		// "foo.de/bar" are.
		if cc && len(labels) == 2 && n == host && tld != "co" && tld != "tv" {
			return 0
		}
		return n
	}
	host, _, ok := scanHost(rest[scheme:], true)
	if !ok {
		return 0
	}
	n := scheme + host
	return n + scanPortPath(rest[n:])
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

// scanHost reads a domain name (labels of letters, digits, '-' and, after a
// scheme, '_'; each at most 63 characters, not starting or ending with '-')
// or, after a scheme, an IPv4 or bracketed IPv6 address. It returns the
// length in bytes and the labels.
func scanHost(s string, withScheme bool) (int, []string, bool) {
	if withScheme && strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 2 {
			return 0, nil, false
		}
		for _, c := range s[1:end] {
			if !(c == ':' || c == '.' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')) {
				return 0, nil, false
			}
		}
		return end + 1, nil, true
	}
	var labels []string
	i := 0
	for {
		start := i
		runes := 0
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || r == '-' || (withScheme && r == '_')) {
				break
			}
			i += n
			runes++
		}
		label := s[start:i]
		if runes == 0 || runes > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return 0, nil, false
		}
		labels = append(labels, label)
		// A dot continues the name only if a label follows it.
		if i+1 < len(s) && s[i] == '.' {
			r, _ := utf8.DecodeRuneInString(s[i+1:])
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				i++
				continue
			}
		}
		break
	}
	if len(labels) < 2 && !(withScheme && labels[0] == "localhost") {
		return 0, nil, false
	}
	// A domain ends at a boundary: "example.comma" is not example.com.
	if i < len(s) {
		r, _ := utf8.DecodeRuneInString(s[i:])
		if r == '@' || isWordRune(r) {
			return 0, nil, false
		}
	}
	tld := labels[len(labels)-1]
	if withScheme && allDigits(tld) {
		// An IPv4 address: four numbers of at most 255.
		if len(labels) != 4 {
			return 0, nil, false
		}
		for _, l := range labels {
			if !allDigits(l) || len(l) > 3 || (len(l) == 3 && l > "255") {
				return 0, nil, false
			}
		}
	}
	return i, labels, true
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// scanPortPath reads an optional ":port" and then an optional path, query
// or fragment, without trailing punctuation or an unbalanced ')'.
func scanPortPath(s string) int {
	i := 0
	if len(s) > 1 && s[0] == ':' && s[1] >= '0' && s[1] <= '9' {
		i = 1
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i >= len(s) || (s[i] != '/' && s[i] != '?' && s[i] != '#') {
		return i
	}
	j := i
	for j < len(s) {
		r, n := utf8.DecodeRuneInString(s[j:])
		if unicode.IsSpace(r) || r == '"' || r == '<' || r == '>' || r == '`' || r == '{' || r == '}' || r == '|' || r == '\\' || r == '^' || !unicode.IsPrint(r) {
			break
		}
		j += n
	}
	path := s[i:j]
	for {
		trimmed := strings.TrimRight(path, ".,;:!?'*")
		if strings.HasSuffix(trimmed, ")") && strings.Count(trimmed, "(") < strings.Count(trimmed, ")") {
			trimmed = trimmed[:len(trimmed)-1]
		}
		if trimmed == path {
			break
		}
		path = trimmed
	}
	return i + len(path)
}

// isCCTLD reports whether tld looks like a country-code top-level domain
// (two ASCII letters).
func isCCTLD(tld string) bool {
	return len(tld) == 2 && tld[0] >= 'a' && tld[0] <= 'z' && tld[1] >= 'a' && tld[1] <= 'z'
}

// genericTLDs are the generic top-level domains that make a bare domain a
// link. twitter-text knows every one; these are the common ones.
var genericTLDs = map[string]bool{
	"com": true, "net": true, "org": true, "edu": true, "gov": true, "mil": true, "int": true,
	"info": true, "biz": true, "name": true, "pro": true, "aero": true, "asia": true,
	"cat": true, "coop": true, "jobs": true, "mobi": true, "museum": true, "tel": true,
	"travel": true, "xyz": true, "app": true, "dev": true, "page": true, "blog": true,
	"online": true, "site": true, "shop": true, "store": true, "tech": true, "news": true,
	"club": true, "live": true, "art": true, "cloud": true, "email": true, "link": true,
	"top": true, "social": true, "space": true, "website": true, "world": true,
}
