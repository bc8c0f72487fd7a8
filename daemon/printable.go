package daemon

import (
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Printable returns s with every rune escaped that a terminal or the
// journal could take for something else than text. What a server answered,
// what a sensor reported and what a file held reach the user this way:
// pitweet's output passes through it, and so does the status it gives
// systemd, which is one line. See AppendPrintable for what is escaped.
func Printable(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return string(AppendPrintable(make([]byte, 0, len(s)+16), []byte(s), false))
		}
	}
	return s
}

// AppendPrintable appends src to dst, escaping
//
//   - control characters: C0 (ESC, BEL, CR, newline, ...), DEL, and C1
//     (U+0080 to U+009F; U+009B is CSI to some terminals);
//   - format characters, which are invisible and may reorder what is
//     shown (U+202E RIGHT-TO-LEFT OVERRIDE); not the joiners U+200C and
//     U+200D or the tag characters U+E0020 to U+E007F, which emoji use;
//   - the line and paragraph separators U+2028 and U+2029;
//   - bytes that are not UTF-8.
//
// A rune becomes \u and four hex digits (two such escapes, a UTF-16
// surrogate pair, above U+FFFF), a stray byte \x and two: the text stays on
// one line and, inside a JSON string, still decodes to the same runes. With
// keepLines, newline and tab are kept, for output of several lines.
func AppendPrintable(dst, src []byte, keepLines bool) []byte {
	for len(src) > 0 {
		c := src[0]
		if c >= 0x20 && c < 0x7f || keepLines && (c == '\n' || c == '\t') {
			dst = append(dst, c)
			src = src[1:]
			continue
		}
		r, size := utf8.DecodeRune(src)
		switch {
		case r == utf8.RuneError && size <= 1:
			dst = fmt.Appendf(dst, `\x%02x`, c)
		case needsEscape(r):
			if r > 0xffff {
				hi, lo := utf16.EncodeRune(r)
				dst = fmt.Appendf(dst, `\u%04x\u%04x`, hi, lo)
			} else {
				dst = fmt.Appendf(dst, `\u%04x`, r)
			}
		default:
			dst = append(dst, src[:size]...)
		}
		src = src[size:]
	}
	return dst
}

func needsEscape(r rune) bool {
	switch {
	case unicode.IsControl(r), r == '\u2028', r == '\u2029':
		return true
	case r == '\u200c', r == '\u200d', r >= 0xe0020 && r <= 0xe007f:
		return false
	}
	return unicode.Is(unicode.Cf, r)
}
