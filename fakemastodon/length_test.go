package fakemastodon

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

func TestStatusLength(t *testing.T) {
	x23 := strings.Repeat("x", 23)
	tests := []struct {
		text, spoiler string
		want          int
		why           string
	}{
		{"", "", 0, "empty"},
		{"hello", "", 5, "ASCII"},
		{"héllo wörld", "", 11, "precomposed letters"},
		{"he\u0301llo", "", 5, "e + combining accent is one grapheme"},
		{"👨‍👩‍👧👍🏽🇫🇷", "", 3, "a ZWJ family, a toned thumb and a flag are one grapheme each"},
		{"  hello \n", "", 5, "stripped"},
		{"hello", "CW: ", 8, "spoiler counts, stripped"},
		{" \t ", "CW", 2, "a blank text counts nothing"},
		{"https://example.com", "", 23, "a URL is 23"},
		{"see https://example.com/a/very/long/path?with=query&and=more#frag", "", 4 + 23, "path, query and fragment inside"},
		{"(https://example.com/wiki/Thing_(x))", "", 2 + 23, "balanced parentheses belong to the URL, the last ) not"},
		{"https://example.com.", "", 24, "a trailing dot is not part"},
		{"https://example.com/path.", "", 24, "nor at the end of a path"},
		{"https://example.com/path/", "", 23, "a trailing slash is"},
		{"https://example.com/?", "", 24, "an empty query is not"},
		{"https://example.com:8443/x", "", 23, "a port"},
		{"HTTPS://EXAMPLE.COM", "", 23, "scheme in any case"},
		{"gemini://example.org/x", "", 23, "Mastodon's other schemes count too"},
		{"ftp://example.com", "", 17, "ftp is not one of them"},
		{"example.com", "", 11, "no scheme: counted as it is"},
		{"xhttps://example.com", "", 20, "a letter before the scheme: no URL"},
		{"#https://example.com", "", 20, "nor a hash"},
		{"-https://example.com", "", 24, "punctuation before is fine"},
		{"https://localhost/x", "", 19, "no top-level domain: no URL"},
		{"https://example.c", "", 17, "a one-letter top-level domain: no URL"},
		{"https://xn--bcher-kva.example", "", 23, "punycode"},
		{"https://例え.テスト/パス", "", 23, "an IDN"},
		{"https://a.com https://b.org", "", 47, "two URLs"},
		{"@pitweet@mastodon.social hi", "", 11, "a remote mention counts @username"},
		{"@pitweet hi", "", 11, "a local one as it is"},
		{"mail@pitweet@example.com", "", 24, "no mention after a word character"},
		{"=@pitweet@example.com", "", 21, "nor after ="},
		{"@pitweet@example.com@x", "", 22, "nor when followed by @"},
		{"@Pit.Weet-2@sub.example.com!", "", 12, "dots and dashes in both parts"},
		{"https://m.example/@pitweet@example.com", "", 23, "a mention inside a URL is the URL's"},
		{strings.Repeat("a", 10) + x23, "", 33, "23 x's are 23 characters"},
	}
	for _, tt := range tests {
		if got := StatusLength(tt.text, tt.spoiler, 23); got != tt.want {
			t.Errorf("StatusLength(%q, %q) = %d, want %d: %s", tt.text, tt.spoiler, got, tt.want, tt.why)
		}
	}
	if got := StatusLength("https://example.com", "", 30); got != 30 {
		t.Errorf("with characters_reserved_per_url 30: %d", got)
	}
}

// FuzzStatusLength checks what holds for any text: the count never goes
// below zero; without a ':' or an '@' nothing is replaced and the count is
// the stripped text's graphemes, unless that is blank to Rails (Unicode
// white space: "\u2029" stripped of a NUL counts nothing); and each replacement stands for at least
// a scheme and a dot, so the count is never more than the graphemes plus
// 23 per "://".
func FuzzStatusLength(f *testing.F) {
	for _, s := range []string{"hello", "https://example.com/a(b)c.", "@a@b.c @d", "👨‍👩‍👧 https://例え.テスト", "\x00 x \x00"} {
		f.Add(s, "")
	}
	f.Add("text", "spoiler")
	f.Fuzz(func(t *testing.T, text, spoiler string) {
		if !utf8.ValidString(text) || !utf8.ValidString(spoiler) {
			return
		}
		n := StatusLength(text, spoiler, 23)
		plain := uniseg.GraphemeClusterCount(rubyStrip(spoiler)) + uniseg.GraphemeClusterCount(rubyStrip(text))
		switch {
		case n < 0:
			t.Fatalf("StatusLength(%q, %q) = %d", text, spoiler, n)
		case !strings.ContainsAny(text, ":@") && strings.TrimSpace(rubyStrip(text)) != "" && n != uniseg.GraphemeClusterCount(rubyStrip(spoiler)+rubyStrip(text)):
			t.Errorf("StatusLength(%q, %q) = %d, want the graphemes", text, spoiler, n)
		case n > plain+23*strings.Count(text, "://")+1:
			// +1: joining spoiler and text may split or merge a grapheme.
			t.Errorf("StatusLength(%q, %q) = %d, over %d graphemes and %d URLs", text, spoiler, n, plain, strings.Count(text, "://"))
		}
	})
}
