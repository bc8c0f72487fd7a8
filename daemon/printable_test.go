package daemon

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestPrintable(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain text, 21.5 °C", "plain text, 21.5 °C"},
		{"\x1b]0;owned\x07\x1b[2J", `\u001b]0;owned\u0007\u001b[2J`},
		{"a\r\nWATCHDOG_USEC=1\tb", `a\u000d\u000aWATCHDOG_USEC=1\u0009b`},
		{"del\x7f csi\u009b31m", `del\u007f csi\u009b31m`},
		{"abc\u202edcba", `abc\u202edcba`},
		{"line\u2028sep\u2029", `line\u2028sep\u2029`},
		{"bom\ufeff shy\u00ad", `bom\ufeff shy\u00ad`},
		{"tag\U000e0001", `tag\udb40\udc01`},
		{"bad \xff\xfe utf-8 \xe2\x82", `bad \xff\xfe utf-8 \xe2\x82`},
		// Emoji sequences, CJK and a no-break space are text.
		{"👩‍👩‍👧 🏴󠁧󠁢󠁳󠁣󠁴󠁿 ❤️ 日本語 a\u00a0b", "👩‍👩‍👧 🏴󠁧󠁢󠁳󠁣󠁴󠁿 ❤️ 日本語 a\u00a0b"},
	} {
		if got := Printable(tt.in); got != tt.want {
			t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := string(AppendPrintable(nil, []byte("one\n\ttwo\x1b[0m\r\n"), true)); got != "one\n\ttwo\\u001b[0m\\u000d\n" {
		t.Errorf("AppendPrintable keeping lines = %q", got)
	}
}

func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"", "hello", "\x1b[31mred\x1b[0m", "\u009b2J", "\u202e", "👩‍👩‍👧", "\xff", "a\nb\tc\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, keep := range []bool{false, true} {
			out := string(AppendPrintable(nil, []byte(s), keep))
			if !utf8.ValidString(out) {
				t.Fatalf("AppendPrintable(%q, %v) = %q, not UTF-8", s, keep, out)
			}
			for _, r := range out {
				if needsEscape(r) && !(keep && (r == '\n' || r == '\t')) {
					t.Fatalf("AppendPrintable(%q, %v) = %q keeps %U", s, keep, out, r)
				}
			}
		}
		// Escaped, valid text reads back the same from a JSON string.
		if utf8.ValidString(s) && !strings.ContainsAny(s, `"\`) {
			var back string
			if err := json.Unmarshal([]byte(`"`+Printable(s)+`"`), &back); err != nil || back != s {
				t.Fatalf("Printable(%q) = %q reads back from JSON as %q (%v)", s, Printable(s), back, err)
			}
		}
		if strings.IndexFunc(s, func(r rune) bool { return r == utf8.RuneError || r > unicode.MaxASCII || r < 0x20 || r == 0x7f }) < 0 && Printable(s) != s {
			t.Fatalf("Printable changed plain ASCII %q", s)
		}
	})
}
