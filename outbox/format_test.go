package outbox

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/v1.msg")

// golden is the record in testdata/v1.msg. The file pins format v1: files
// written by released versions must keep reading back.
var golden = record{
	ID:         "01748779200000000001",
	Text:       "Room 21.5 °C, 40 % — ok 🌡️",
	Source:     "report",
	Created:    time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
	Expires:    time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC),
	Attempts:   2,
	LastError:  "sender: 503 service unavailable",
	NotBefore:  time.Date(2025, 6, 1, 12, 0, 30, 500, time.FixedZone("", 2*3600)),
	DeadReason: "expired",
	DeadAt:     time.Date(2025, 6, 1, 13, 0, 1, 0, time.UTC),
}

func TestGoldenFile(t *testing.T) {
	path := filepath.Join("testdata", "v1.msg")
	data, err := encode(golden)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("encode changed the v1 format:\ngot  %q\nwant %q", data, want)
	}
	r, err := decode(want)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if r.ID != golden.ID || r.Text != golden.Text || r.Source != golden.Source ||
		r.Attempts != golden.Attempts || r.LastError != golden.LastError || r.DeadReason != golden.DeadReason ||
		!r.Created.Equal(golden.Created) || !r.Expires.Equal(golden.Expires) ||
		!r.NotBefore.Equal(golden.NotBefore) || !r.DeadAt.Equal(golden.DeadAt) {
		t.Fatalf("decode %s:\ngot  %+v\nwant %+v", path, r, golden)
	}
}

func TestZeroTimesOmitted(t *testing.T) {
	data, err := encode(record{ID: golden.ID, Text: "t", Created: golden.Created})
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"expires", "not_before", "dead_at", "dead_reason", "last_error", "source"} {
		if bytes.Contains(data, []byte(field)) {
			t.Errorf("empty %s written: %s", field, data)
		}
	}
	r, err := decode(data)
	if err != nil || !r.Expires.IsZero() || !r.NotBefore.IsZero() {
		t.Fatalf("decode = %+v, %v; want zero times", r, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	body := `{"id":"00000000000000000001","text":"hi","created":"2025-01-01T00:00:00Z","attempts":0}`
	good := withBody(body)
	n := fmt.Sprint(len(body))
	crc := fmt.Sprintf("%08x", crc32.Checksum([]byte(body), castagnoli))
	if _, err := decode([]byte(good)); err != nil {
		t.Fatalf("the valid file in this table fails: %v", err)
	}
	tests := []struct{ name, data, says string }{
		{"empty", "", "no header"},
		{"no newline", "pitweet-outbox v1 85 eb4df3a3", "no header"},
		{"other magic", strings.Replace(good, "pitweet-outbox", "pitweet-inbox!", 1), "is not"},
		{"future version", strings.Replace(good, " v1 ", " v2 ", 1), "another pitweet version"},
		{"extra header field", strings.Replace(good, " "+n+" ", " "+n+" 0 ", 1), "is not"},
		{"signed length", strings.Replace(good, " "+n+" ", " +"+n+" ", 1), "bad length"},
		{"padded length", strings.Replace(good, " "+n+" ", " 0"+n+" ", 1), "bad length"},
		{"huge length", strings.Replace(good, " "+n+" ", " 99999 ", 1), "bad length"},
		{"upper-case crc", strings.Replace(good, crc, strings.ToUpper(crc), 1), "bad crc"},
		{"short crc", strings.Replace(good, crc, crc[:7], 1), "bad crc"},
		{"truncated", good[:len(good)-1], "body is " + fmt.Sprint(len(body)-1)},
		{"trailing byte", good + "\n", "body is " + fmt.Sprint(len(body)+1)},
		{"changed byte", strings.Replace(good, `"hi"`, `"ho"`, 1), "crc is"},
		{"unknown field", withBody(`{"id":"00000000000000000001","text":"hi","extra":1}`), "a field this version does not know"},
		{"two objects", withBody(`{"id":"00000000000000000001"} {}`), "after the JSON object"},
		{"closing brace after", withBody(`{"id":"00000000000000000001"}}`), "after the JSON object"},
		{"bad id", withBody(`{"id":"1","text":"hi"}`), "20 decimal digits"},
		{"id over int64", withBody(`{"id":"99999999999999999999","text":"hi"}`), "20 decimal digits"},
		{"negative attempts", withBody(`{"id":"00000000000000000001","attempts":-1}`), "-1 attempts"},
		{"not json", withBody(`hello`), "not a message record"},
		{"text in the header", "api_key=secret\n", "is not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode([]byte(tt.data))
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("decode = %v, want errCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("decode error %q does not say %q", err, tt.says)
			}
			// The error goes to the log: it never quotes the file.
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), `"hi"`) {
				t.Fatalf("decode error %q quotes the file", err)
			}
		})
	}
}

// withBody frames body with a correct header, to test the JSON checks.
func withBody(body string) string {
	return fmt.Sprintf("%s %s %d %08x\n%s", magic, version, len(body), crc32.Checksum([]byte(body), castagnoli), body)
}

func FuzzDecode(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzDecode.
	if data, err := os.ReadFile(filepath.Join("testdata", "v1.msg")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		// The checksum stops almost every change before the JSON parser;
		// the same bytes framed with a correct header reach it.
		checkDecode(t, []byte(withBody(string(data))))
	})
}

// checkDecode holds decode to its promises on any input: it fails only
// with errCorrupt, and what it accepts encodes, decodes back and encodes
// to the same bytes again.
func checkDecode(t *testing.T, data []byte) {
	r, err := decode(data)
	if err != nil {
		if !errors.Is(err, errCorrupt) {
			t.Fatalf("decode error %v does not wrap errCorrupt", err)
		}
		return
	}
	again, err := encode(r)
	if err != nil {
		t.Fatalf("decoded record does not encode: %v\n%+v", err, r)
	}
	r2, err := decode(again)
	if err != nil {
		t.Fatalf("re-encoded record does not decode: %v\n%q", err, again)
	}
	third, err := encode(r2)
	if err != nil || !bytes.Equal(again, third) {
		t.Fatalf("encoding not stable:\n%q\n%q (%v)", again, third, err)
	}
}
