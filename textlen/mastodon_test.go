package textlen

import (
	"strings"
	"testing"
	"unicode/utf8"

	"pitweet/fakemastodon"
)

func TestMastodon(t *testing.T) {
	family := "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466"
	tests := []struct {
		name string
		text string
		want int
	}{
		{"plain", "Hello from my Pi", 16},
		{"one grapheme per emoji sequence", family + "🇩🇪" + "1\uFE0F\u20E3", 3},
		{"combining marks", "A\u0301B", 2},
		{"CJK counts one each", "故人西辞黄鹤楼", 7},
		{"https URL", "https://example.com/a/very/long/path/that/goes/on/and/on", 23},
		{"http URL in text", "see http://example.com/x now", 4 + 23 + 4},
		{"bare domain counts as written", "example.com", 11},
		{"trailing full stop is text", "at https://example.com/x.", 3 + 23 + 1},
		{"white space around is not counted", "  hi \n", 2},
		{"no TLD: not a URL", "https://localhost/abcdefghijklmnopqrstuvwxyz", 44},
		{"scheme after a letter is not a URL", "xhttps://example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaa", 48},
		{"two URLs", "https://a.example/1 https://b.example/2", 23 + 1 + 23},
		{"balanced parenthesis", "https://en.wikipedia.org/wiki/Pi_(disambiguation)", 23},
	}
	for _, tc := range tests {
		if got := Mastodon(tc.text, 23); got != tc.want {
			t.Errorf("%s: Mastodon(%q) = %d, want %d", tc.name, tc.text, got, tc.want)
		}
		// The server's own count (fakemastodon follows Mastodon's
		// validator) agrees on each of these.
		if srv := fakemastodon.StatusLength(tc.text, "", 23); srv != tc.want {
			t.Errorf("%s: the server counts %d, want %d", tc.name, srv, tc.want)
		}
	}
	if got := Mastodon("https://example.com/x", 30); got != 30 {
		t.Errorf("characters_reserved_per_url 30: got %d", got)
	}
}

// Where the count may differ from the server's, it is the larger.
func TestMastodonNeverBelowServer(t *testing.T) {
	for _, text := range []string{
		"@alice@example.social hello",
		"https://example.com/ü/path",
		"go to https://example.com/path?q=1&r=(2).",
		"https://example.com/a'b[c]",
		"mixed https://example.com and www.example.com and 😀",
	} {
		if got, srv := Mastodon(text, 23), fakemastodon.StatusLength(text, "", 23); got < srv {
			t.Errorf("Mastodon(%q) = %d, below the server's %d", text, got, srv)
		}
	}
}

func TestTruncateMastodon(t *testing.T) {
	long := strings.Repeat("ab😀 ", 200) + "https://example.com/tail"
	got := TruncateMastodon(long, 500, 23)
	if n := Mastodon(got, 23); n > 500 || n < 490 {
		t.Errorf("truncated to %d characters, want 490..500", n)
	}
	if !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
		t.Errorf("truncated text ends %q", got[len(got)-10:])
	}
	if s := "short"; TruncateMastodon(s, 500, 23) != s {
		t.Error("a text that fits was changed")
	}
	// A URL is dropped whole.
	u := strings.Repeat("x", 480) + " https://example.com/" + strings.Repeat("y", 40)
	if got := TruncateMastodon(u, 500, 23); strings.Contains(got, "https") || Mastodon(got, 23) > 500 {
		t.Errorf("URL cut: %q", got[470:])
	}
}

func FuzzMastodon(f *testing.F) {
	for _, s := range []string{"hello https://example.com/x", "@a@b.c", "https://a.b.", "http://x.yz:80/(a)"} {
		f.Add(s, 40)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = 2 + (max&0x7fff)%600
		n := Mastodon(s, 23)
		if n < 0 {
			t.Fatalf("negative length %d", n)
		}
		got := TruncateMastodon(s, max, 23)
		if n <= max && got != s {
			t.Fatalf("a text that fits was changed")
		}
		if m := Mastodon(got, 23); n > max && m > max {
			t.Fatalf("TruncateMastodon(%q, %d) counts %d", s, max, m)
		}
	})
}
