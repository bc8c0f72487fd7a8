package fakebsky

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// The test vectors of atproto.com/specs/tid.
func TestTID(t *testing.T) {
	for _, s := range []string{"3jzfcijpj2z2a", "7777777777777", "3zzzzzzzzzzzz", "2222222222222"} {
		if !IsTID(s) {
			t.Errorf("IsTID(%q) = false", s)
		}
	}
	for _, s := range []string{"3jzfcijpj2z21", "0000000000000", "3JZFCIJPJ2Z2A", "zzzzzzzzzzzzz", "kjzfcijpj2z2a", "3jzfcijpj2z2", "3jzf-cij-pj2z-2a"} {
		if IsTID(s) {
			t.Errorf("IsTID(%q) = true", s)
		}
	}
	if got := TID(0); got != "2222222222222" {
		t.Errorf("TID(0) = %q", got)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	a, b := newTID(at, 7), newTID(at.Add(time.Microsecond), 7)
	if !IsTID(a) || !IsTID(b) || a >= b {
		t.Errorf("TIDs %q, %q: want valid and sorting by time", a, b)
	}
}

func TestRecordKeyAndNSID(t *testing.T) {
	for k, want := range map[string]bool{
		"3jzfcijpj2z2a": true, "self": true, "example.com": true, "~1.2-3_4:5": true, strings.Repeat("a", 512): true,
		"": false, ".": false, "..": false, "a/b": false, "a b": false, "ü": false, strings.Repeat("a", 513): false,
	} {
		if got := validRecordKey(k); got != want {
			t.Errorf("validRecordKey(%q) = %v", k, got)
		}
	}
	for n, want := range map[string]bool{
		"app.bsky.feed.post": true, "com.example.fooBar": true, "net.users.bob.ping": true, "a-0.b-1.c": true,
		"com.example": false, "com.example.3": false, "com.-example.foo": false, "com.example.foo-bar": false, "com..foo": false, "1com.example.foo": false,
	} {
		if got := validNSID(n); got != want {
			t.Errorf("validNSID(%q) = %v", n, got)
		}
	}
}

func TestSyntax(t *testing.T) {
	for s, want := range map[string]bool{
		"en": true, "en-US": true, "zh-Hans": true, "pt-BR": true, "de-CH-1996": true, "sr-Latn-RS": true, "i-klingon": true,
		"x-pitweet": true, "en-a-bbb-x-a-ccc": true, "es-419": true,
		"EN": false, "e": false, "english": false, "en-": false, "en_US": false, "de-1996-1996": false, "en-a-bb-a-cc": false, "": false,
	} {
		if got := validLanguage(s); got != want {
			t.Errorf("validLanguage(%q) = %v", s, got)
		}
	}
	for s, want := range map[string]bool{
		"https://example.com": true, "at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a": true, "mailto:pi@example.com": true,
		"example.com": false, "https://": false, "https:///x": false, "https://exa mple.com": false, "ht-tp://x": false,
	} {
		if got := validURI(s); got != want {
			t.Errorf("validURI(%q) = %v", s, got)
		}
	}
	for s, want := range map[string]bool{
		"did:plc:z72i7hdynmk6r22z27h6tvur": true, "did:web:example.com": true, "did:web:localhost%3A8080": true,
		"did:plc:": false, "did:PLC:x": false, "did:plc:x:": false, "plc:x": false, "did:web:a%": false,
	} {
		if got := validDID(s); got != want {
			t.Errorf("validDID(%q) = %v", s, got)
		}
	}
	for s, want := range map[string]bool{
		"pitweet-demo.test": true, "alice.bsky.social": true, "xn--ls8h.test": true,
		"localhost": false, "-a.test": false, "a.1test": false, "a..test": false, "a_b.test": false,
	} {
		if got := validHandle(s); got != want {
			t.Errorf("validHandle(%q) = %v", s, got)
		}
	}
	for _, tt := range []struct {
		covered, uri string
		want         bool
	}{
		{"https://example.com/a", "https://example.com/a", true},
		{"example.com/a", "https://example.com/a", true},
		{"example.com", "https://www.example.com/", true},
		{"example.com/very/lo...", "https://example.com/very/long/path", true},
		{"example.com/ve…", "https://example.com/very", true},
		{"click here", "https://example.com", false},
		{"example.org", "https://example.com", false},
		{"…", "https://example.com", false},
	} {
		if got := linkText(tt.covered, tt.uri); got != tt.want {
			t.Errorf("linkText(%q, %q) = %v", tt.covered, tt.uri, got)
		}
	}
}

// A blob's CID is CIDv1, raw codec, SHA-256, base32: for no bytes the CID
// every IPFS implementation gives.
func TestBlobCID(t *testing.T) {
	if got, want := BlobCID(nil), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"; got != want {
		t.Errorf("BlobCID(nil) = %s, want %s", got, want)
	}
	data := []byte("a picture")
	got := BlobCID(data)
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimPrefix(got, "b")))
	sum := sha256.Sum256(data)
	if err != nil || hex.EncodeToString(raw[:4]) != "01551220" || string(raw[4:]) != string(sum[:]) || !strings.HasPrefix(got, "bafkrei") {
		t.Errorf("BlobCID = %s (%x), %v", got, raw, err)
	}
	if _, codec, err := parseCID(got); err != nil || codec != codecRaw {
		t.Errorf("parseCID(%s) = %x, %v", got, codec, err)
	}
	for _, bad := range []string{"", "Qmabc", "bafkrei", "b!!!", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk"} {
		if _, _, err := parseCID(bad); err == nil {
			t.Errorf("parseCID(%q) succeeded", bad)
		}
	}
}

// DAG-CBOR: CBOR's examples (RFC 8949 appendix A) in shortest form, and
// map keys sorted by length first.
func TestDAGCBOR(t *testing.T) {
	l, _, _ := parseCID(BlobCID(nil))
	for _, tt := range []struct {
		v    any
		want string
	}{
		{int64(0), "00"}, {int64(23), "17"}, {int64(24), "1818"}, {int64(1000000), "1a000f4240"},
		{int64(-1), "20"}, {int64(-1000), "3903e7"}, {nil, "f6"}, {true, "f5"}, {false, "f4"},
		{"", "60"}, {"a", "6161"}, {"IETF", "6449455446"}, {[]byte{1, 2, 3, 4}, "4401020304"},
		{[]any{int64(1), []any{int64(2), int64(3)}}, "8201820203"},
		{map[string]any{"a": int64(1), "b": []any{int64(2), int64(3)}}, "a26161016162820203"},
		{map[string]any{"bb": int64(1), "a": int64(2), "c": int64(3)}, "a361610261630362626201"},
		{link(l), "d82a5825000155122" + "0" + hex.EncodeToString(l[4:])},
	} {
		got, err := encodeDAGCBOR(nil, tt.v)
		if err != nil || hex.EncodeToString(got) != tt.want {
			t.Errorf("encodeDAGCBOR(%v) = %x, %v; want %s", tt.v, got, err, tt.want)
		}
	}
	if _, err := encodeDAGCBOR(nil, 1.5); err == nil {
		t.Error("a float encoded")
	}
	// A record's CID: CIDv1, DAG-CBOR codec, SHA-256 of the encoding ({} is a0).
	cid, err := recordCID(map[string]any{})
	b, _, perr := parseCID(cid)
	sum := sha256.Sum256([]byte{0xa0})
	if err != nil || perr != nil || !strings.HasPrefix(cid, "bafyrei") || hex.EncodeToString(b[:4]) != "01711220" || string(b[4:]) != string(sum[:]) {
		t.Errorf("recordCID({}) = %s, %v, %v", cid, err, perr)
	}
}
