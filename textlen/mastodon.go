package textlen

import (
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// Mastodon's defaults, for a server whose instance document is not known:
// docs.joinmastodon.org/entities/Instance/ (configuration.statuses).
const (
	MaxMastodon         = 500 // max_characters
	MastodonURLLength   = 23  // characters_reserved_per_url
	mastodonURLSchemeHS = "https://"
	mastodonURLSchemeH  = "http://"
)

// Mastodon returns the length of s as a Mastodon server counts it against
// its max_characters: extended grapheme clusters (UAX #29), after leading
// and trailing white space is stripped, each http:// or https:// URL
// counting urlLength (the instance's characters_reserved_per_url, 23 by
// default) however long it is (docs.joinmastodon.org/user/posting/: "All
// links are counted as 23 characters"; links "must begin with http:// or
// https://"). A bare domain such as example.com counts as written.
//
// Where this count and the server's could differ, this one is the larger,
// so a text it accepts is never refused for its length: a URL ends at the
// first character outside RFC 3986's set, and trailing punctuation is
// counted as text; a remote mention @user@domain counts whole (the server
// counts only @user).
func Mastodon(s string, urlLength int) int {
	s = strings.Trim(s, " \t\n\v\f\r\x00")
	n := 0
	for s != "" {
		i, end := nextURL(s)
		n += uniseg.GraphemeClusterCount(s[:i])
		if end == i {
			break
		}
		n += urlLength
		s = s[end:]
	}
	return n
}

// TruncateMastodon shortens s so that Mastodon of the result is at most
// max, ending it with "…"; a URL is dropped whole rather than cut, and no
// grapheme cluster is split. Text that already fits is returned
// unchanged.
func TruncateMastodon(s string, max, urlLength int) string {
	if Mastodon(s, urlLength) <= max {
		return s
	}
	const ellipsis = "…"
	budget := max - 1
	// ends holds where each piece the count is made of (a URL, a grapheme
	// cluster) ends in s, for as many pieces as fit in budget.
	var ends []int
	n := 0
	for off := 0; off < len(s) && n < budget; {
		i, end := nextURL(s[off:])
		// FirstGraphemeClusterInString, not Graphemes: that one also
		// finds line, word and sentence breaks, whose tables would make
		// the binary larger by hundreds of KiB.
		text, state := s[off:off+i], -1
		for text != "" && n < budget {
			var cluster string
			cluster, text, _, state = uniseg.FirstGraphemeClusterInString(text, state)
			off += len(cluster)
			ends = append(ends, off)
			n++
		}
		if n >= budget || end == i || n+urlLength > budget {
			break
		}
		off += end - i
		ends = append(ends, off)
		n += urlLength
	}
	// A cut can make a URL of text that was not one ("http://0.AAAA00"
	// cut to "http://0.AAAA" ends in a two-letter label), which counts
	// urlLength: check the result and give back pieces until it fits.
	for k := len(ends); k >= 0; k-- {
		end := 0
		if k > 0 {
			end = ends[k-1]
		}
		out := strings.TrimRight(s[:end], " \t\n\v\f\r") + ellipsis
		if Mastodon(out, urlLength) <= max {
			return out
		}
	}
	return "" // only when max cannot hold even the ellipsis
}

// nextURL finds the first URL in s: it starts at i and ends at end; when
// there is none, i and end are len(s).
func nextURL(s string) (i, end int) {
	for i = 0; i < len(s); {
		if n := mastodonURLAt(s, i); n > 0 {
			return i, i + n
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return len(s), len(s)
}

// mastodonURLAt returns the length in bytes of an http or https URL that
// starts at s[i], or 0. A URL starts at the text's start or after a
// character that is not an ASCII letter or digit, '@', '$' or '#' (as
// twitter-text's extractor has it); its host has a dot and ends in a label
// of two or more letters; it runs over RFC 3986's characters and stops
// before trailing punctuation.
func mastodonURLAt(s string, i int) int {
	if i > 0 {
		if c := s[i-1]; isASCIIAlnum(c) || c == '@' || c == '$' || c == '#' {
			return 0
		}
	}
	rest := s[i:]
	var n int
	switch {
	case hasPrefixFold(rest, mastodonURLSchemeHS):
		n = len(mastodonURLSchemeHS)
	case hasPrefixFold(rest, mastodonURLSchemeH):
		n = len(mastodonURLSchemeH)
	default:
		return 0
	}
	hostStart := n
	for n < len(rest) && (isASCIIAlnum(rest[n]) || rest[n] == '.' || rest[n] == '-') {
		n++
	}
	host := strings.TrimRight(rest[hostStart:n], ".-")
	dot := strings.LastIndexByte(host, '.')
	if dot <= 0 || !letters(host[dot+1:]) {
		return 0
	}
	for n < len(rest) && uriByte(rest[n]) {
		n++
	}
	for n > hostStart+len(host) && !urlEnd(rest[:n]) {
		n--
	}
	return n
}

// urlEnd reports whether u may end where it does: in a letter, a digit,
// one of = _ # / -, or in the ")" of balanced parentheses in its path (a
// Wikipedia link), as twitter-text's patterns end a path or a query.
func urlEnd(u string) bool {
	c := u[len(u)-1]
	if isASCIIAlnum(c) || strings.IndexByte("=_#/-", c) >= 0 {
		return true
	}
	return c == ')' && !strings.Contains(u, "?") && strings.Count(u, "(") == strings.Count(u, ")")
}

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// letters reports whether s is two or more ASCII letters.
func letters(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// uriByte reports whether c may appear in a URI (RFC 3986: unreserved,
// reserved and '%').
func uriByte(c byte) bool {
	return isASCIIAlnum(c) || strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0
}
