package bluesky

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"pitweet/fakebsky"
)

func TestLinks(t *testing.T) {
	for _, tt := range []struct {
		text string
		want []string // "START-END URI"
	}{
		{"hello https://example.com", []string{"6-25 https://example.com"}},
		{"https://example.com/a?b=c#d", []string{"0-27 https://example.com/a?b=c#d"}},
		{"see example.com/path.", []string{"4-20 https://example.com/path"}},
		{"(see https://example.com/x)", []string{"5-26 https://example.com/x"}},
		{"(https://en.wikipedia.org/wiki/Pi_(disambiguation))", []string{"1-51 https://en.wikipedia.org/wiki/Pi_(disambiguation))"}},
		{"Temp 21.5°C, see bsky.app!", []string{"18-26 https://bsky.app"}},
		{"node.js and file.txt are not links", nil},
		{"my-site.com is not linked by the app either", nil},
		{"x:https://example.com is not after a space", nil},
		{"http:// alone", nil},
		{"HTTPS://EXAMPLE.COM loud", []string{"0-19 HTTPS://EXAMPLE.COM"}},
		{"café https://example.com/é", []string{"6-28 https://example.com/é"}},
		{"two: a.io, b.de", []string{"5-9 https://a.io", "11-15 https://b.de"}},
		{"\nhttps://x.org\n", []string{"1-14 https://x.org"}},
	} {
		var got []string
		for _, f := range Links(tt.text) {
			got = append(got, fmt.Sprintf("%d-%d %s", f.Start, f.End, f.URI))
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("Links(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

// checkLinks checks what every facet must be: inside the text, on UTF-8
// and grapheme-cluster boundaries, not empty, not overlapping, a URI with
// a host, and the text it covers that URI or the URI without "https://".
func checkLinks(t *testing.T, text string, facets []Facet) {
	t.Helper()
	bounds := graphemeBounds(text)
	end := 0
	for _, f := range facets {
		if f.Start < end || f.Start >= f.End || f.End > len(text) {
			t.Fatalf("%q: facet %+v out of order, empty or outside the text", text, f)
		}
		if !utf8.RuneStart(text[f.Start]) || (f.End < len(text) && !utf8.RuneStart(text[f.End])) || !bounds[f.Start] || !bounds[f.End] {
			t.Fatalf("%q: facet %+v not on character and grapheme boundaries", text, f)
		}
		if u, err := url.Parse(f.URI); err != nil || u.Host == "" {
			t.Fatalf("%q: facet %+v: not a URI with a host", text, f)
		}
		covered := text[f.Start:f.End]
		if covered != f.URI && "https://"+covered != f.URI {
			t.Fatalf("%q: facet %+v covers %q", text, f, covered)
		}
		end = f.End
	}
}

func FuzzLinks(f *testing.F) {
	for _, s := range []string{"hello https://example.com", "see example.com/path.", "(https://a.b/(c))", "a.io, b.de",
		"https://x.org/\u0600 y", "https://x.org/é\u0301!", " \u0301https://a.com", "((http://a.bc", "é.com", "a.b.c.d.com/x?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			return
		}
		checkLinks(t, text, Links(text))
	})
}

func TestRecordKey(t *testing.T) {
	id := "1764630245678901234"
	k := RecordKey(id, time.Time{})
	if !ValidTID(k) || !fakebsky.IsTID(k) || k != RecordKey(id, time.Now()) {
		t.Fatalf("RecordKey(%s) = %q: not a TID, or not the same every time", id, k)
	}
	if RecordKey("1764630245678901235", time.Time{}) == k {
		t.Error("two ids, one key")
	}
	// The next message's key sorts after this one's.
	if RecordKey("1764630245679000000", time.Time{}) <= k {
		t.Error("keys do not sort as the ids")
	}
	if want := TID(1764630245678901, 234); k != want {
		t.Errorf("key %s, want %s (the id's microseconds, its nanoseconds as clock id)", k, want)
	}
	if k := RecordKey("not-a-number", time.Unix(1700000000, 0)); !ValidTID(k) {
		t.Errorf("fallback key %q not a TID", k)
	}
	// atproto.com/specs/tid's examples.
	for _, s := range []string{"3jzfcijpj2z2a", "7777777777777", "3zzzzzzzzzzzz", "2222222222222"} {
		if !ValidTID(s) {
			t.Errorf("%s should be valid", s)
		}
	}
	for _, s := range []string{"3jzfcijpj2z21", "0000000000000", "3JZFCIJPJ2Z2A", "zzzzzzzzzzzzz", "kjzfcijpj2z2a", "3jzf-cij-pj2z-2a"} {
		if ValidTID(s) {
			t.Errorf("%s should be invalid", s)
		}
	}
	if TID(0, 0) != "2222222222222" {
		t.Errorf("TID(0) = %s", TID(0, 0))
	}
}
