package textlen

import (
	"strings"
	"testing"
)

func TestX(t *testing.T) {
	family := "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466"
	tests := []struct {
		name string
		text string
		want int
	}{
		// Cases from twitter-text's conformance suite (validate.yml).
		{"plain", "This is a test.", 15},
		{"http URL", "http://test.com", 23},
		{"https URL", "https://test.com", 23},
		{"bare domain", "test.com", 23},
		{"several URLs", "Test https://test.com test https://test.com test.com test", 86},
		{"outside the BMP", "\U00010000\U0010ffff", 4},
		{"Hangul", "저찀쯿쿿", 8},
		{"NFC: A with acute as two code points", "A\u0301B", 2},
		{"Hebrew presentation form decomposes to 3", "A\uFB2C", 4},
		{"emoji", "😷👾😡🔥💩", 10},
		{"skin tone and ZWJ", "🙋🏽👨\u200D🎤", 4},
		{"mixed with family", "H🐱☺" + family, 7},
		{"140 families", strings.Repeat(family, 140), 280},
		{"Unicode 10 emoji with tag flag", "Unicode 10.0 emoji: 🤪; 🧕; 🧕🏾; 🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F", 34},
		{"Unicode 9 emoji", "Unicode 9.0 emoji: 🤠; 💃; 💃🏾", 29},
		{"general punctuation", "This is a tweet with general punctuation characters: \u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200A\u200B\u200C\u200D ‐ ‑ ‒ – — ― ‖  ‗ ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ ‴ ‵ ‶ ‷", 112},
		{"URL in the middle", "285 chars- http://www.twitter.com/jack " + strings.Repeat("xxxxxxxxxx-", 24), 299},
		{"ten URLs", strings.Repeat("https://www.twitter.com/aloha ", 10), 240},
		{"CJK", "故人西辞黄鹤楼，烟花三月下扬州。", 32},
		{"64-character label is not a domain", "randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com", 68},
		{"flag", "🇩🇪", 2},
		{"keycap", "1\uFE0F\u20E3", 2},
		{"digit is text", "1", 1},
		{"copyright with emoji selector", "\u00A9\uFE0F", 2},
		{"copyright as text", "\u00A9", 1},
		// Further cases for the URL rules.
		{"URL with path, query and trailing dot", "see https://example.com/a/b?c=d#e.", 4 + 23 + 1},
		{"URL in parentheses", "(https://example.com/x)", 25},
		{"URL with port", "http://localhost:8080/status", 23},
		{"IPv4", "http://192.168.0.1/index.html", 23},
		{"invalid IPv4 is text", "http://256.1.2.3", len("http://256.1.2.3")},
		{"ccTLD alone is not a link", "foo.de", 6},
		{"ccTLD with path is", "foo.de/bar", 23},
		{"two-level ccTLD", "foo.co.jp", 23},
		{"special .co", "t.co", 23},
		{"email is not a URL", "me@example.com", 14},
		{"not after a letter", "xhttp://example.com", 19},
		{"unknown TLD", "file.txt", 8},
		{"sentence dot", "It is 21.5 degrees.", 19},
		{"degree sign", "21.5 °C", 7},
		{"ellipsis weighs 2", "…", 2},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := X(tt.text); got != tt.want {
				t.Errorf("X(%q) = %d, want %d", tt.text, got, tt.want)
			}
		})
	}
}

func TestTruncateX(t *testing.T) {
	tests := []struct {
		name string
		text string
		max  int
		want string
	}{
		{"fits", "hello", 5, "hello"},
		{"cut", "hello world", 8, "hello…"},
		{"trailing space trimmed", "hello world", 9, "hello w…"},
		{"URL dropped whole", "go https://example.com/x now", 20, "go…"},
		{"emoji dropped whole", "ab" + "👨\u200D🎤" + "cd", 4, "ab…"},
		{"CJK", "故人西辞黄鹤楼", 6, "故人…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TruncateX(tt.text, tt.max)
			if got != tt.want {
				t.Errorf("TruncateX(%q, %d) = %q, want %q", tt.text, tt.max, got, tt.want)
			}
			if n := X(got); n > tt.max {
				t.Errorf("X(%q) = %d, more than %d", got, n, tt.max)
			}
		})
	}
}

func TestTruncateLong(t *testing.T) {
	long := strings.Repeat("a", 300)
	got := TruncateX(long, MaxX)
	if n := X(got); n != MaxX {
		t.Errorf("TweetLength = %d, want %d", n, MaxX)
	}
	if !strings.HasSuffix(got, "…") || len(got) != 278+len("…") {
		t.Errorf("Truncate gave %d bytes ending %q", len(got), got[len(got)-5:])
	}
}

func TestURLs(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"21.5 °C in the kitchen", nil},
		{"see https://example.com/a/b?c=d#e.", []string{"https://example.com/a/b?c=d#e"}},
		{"pics at example.com and http://localhost:8080/x", []string{"example.com", "http://localhost:8080/x"}},
		{"foo.de alone is not a link, foo.de/bar is", []string{"foo.de/bar"}},
		{"me@example.com writes", nil},
		{"raspberrypi.local at 14:30", nil},
		{"3.14 and 1.5.2", nil},
	} {
		got := URLs(tc.text)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("URLs(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}
