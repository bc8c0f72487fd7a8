package config

import (
	"context"
	"strings"
	"testing"
)

// A text X takes can be too long for Bluesky (a long URL counts 23 on X,
// every character on Bluesky): check says which destination of which rule.
func TestCheckBlueskyLength(t *testing.T) {
	url := "https://example.com/" + strings.Repeat("a", 290)
	config := strings.Replace(checkConfig, "[hardware]", "[bluesky]\nhandle = \"pi.bsky.social\"\n\n[hardware]", 1) +
		"[[alert]]\nwhen = \"room.Temperature > 30\"\ntext = \"Hot: " + url + "\"\n"
	path := checkFixture(t, config)
	rep := Check(context.Background(), path, CheckOptions{})
	got := lines(rep)
	for _, want := range []string{
		"ok    template alert 1 text on x: 28 of 280 characters",
		"FAIL  template alert 1 text on bluesky: 315 characters with sample readings, more than Bluesky's 300",
		"ok    bluesky pi.bsky.social at https://bsky.social\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("check lacks %q:\n%s", want, got)
		}
	}
}

func TestBlueskyLength(t *testing.T) {
	rule, ok := TextRuleFor("bluesky")
	if !ok {
		t.Fatal("no rule for bluesky")
	}
	for _, tt := range []struct {
		text string
		want int
	}{
		{"hello", 5},
		{strings.Repeat("é", 300), 300},       // 2 bytes each: 600 bytes
		{strings.Repeat("e\u0301", 300), 300}, // e and a combining accent: one each
		{strings.Repeat("👨‍👩‍👧‍👦", 120), 300}, // 25 bytes each: 3000 bytes, 120 clusters
		{strings.Repeat("👨‍👩‍👧‍👦", 121), 303},
	} {
		if got := rule.Length(tt.text); got != tt.want {
			t.Errorf("Length(%.20q…) = %d, want %d", tt.text, got, tt.want)
		}
		if cut := rule.Truncate(tt.text+" and more", rule.Max); rule.Length(cut) > rule.Max {
			t.Errorf("Truncate left %d", rule.Length(cut))
		}
	}
}
