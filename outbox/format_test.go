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

var update = flag.Bool("update", false, "rewrite testdata/v2.msg")

// golden is the record in testdata/v2.msg. The file pins format v2: files
// written by released versions must keep reading back.
var golden = record{
	ID:      "01748779200000000001",
	Text:    "Room 21.5 °C, 40 % — ok 🌡️",
	Source:  "report 1",
	Kind:    "report",
	Key:     "cmd-7",
	Created: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
	Expires: time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC),
	To:      []string{"x", "mastodon", "bluesky"},
	Dest: map[string]delivery{
		"x":        {Done: true, Ref: "1930000000000000001", At: time.Date(2025, 6, 1, 12, 0, 1, 0, time.UTC), Text: "Room 21.5 °C, 40 % — ok 🌡️ (2)"},
		"mastodon": {Attempts: 2, LastError: "sender: 503 service unavailable", NotBefore: time.Date(2025, 6, 1, 12, 0, 30, 500, time.FixedZone("", 2*3600))},
		"bluesky":  {Refused: "permanent: text too long", At: time.Date(2025, 6, 1, 12, 0, 2, 0, time.UTC)},
	},
	Images: []picture{{Name: "1.png", Type: "image/png", Alt: "A chart of the room", Width: 1200, Height: 675, Size: 81234}},
}

func TestGoldenFile(t *testing.T) {
	path := filepath.Join("testdata", "v2.msg")
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
		t.Errorf("encode changed the v2 format:\ngot  %q\nwant %q", data, want)
	}
	r, err := decode(want)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if err := sameMessage(r.message(), golden.message()); err != nil {
		t.Fatalf("decode %s:\n%v", path, err)
	}
}

// Files pitweet 0.1 wrote (format v1, kept in testdata as it wrote them)
// read as messages to X, with X's delivery where 0.1 kept it.
func TestV1FilesRead(t *testing.T) {
	for _, tt := range []struct {
		file string
		want Message
	}{
		{"v1.msg", Message{
			ID: "01748779200000000001", Text: "Room 21.5 °C, 40 % — ok 🌡️", Source: "report", Kind: "report",
			Created: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), Expires: time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC),
			To: []string{"x"},
			Dest: map[string]Delivery{"x": {Attempts: 2, LastError: "sender: 503 service unavailable",
				NotBefore: time.Date(2025, 6, 1, 12, 0, 30, 500, time.FixedZone("", 2*3600)),
				Refused:   "expired", At: time.Date(2025, 6, 1, 13, 0, 1, 0, time.UTC)}},
		}},
		{"v1-queued-tried.msg", Message{
			ID: "01748779201000000000", Text: "Ding dong at 12:00:01, queued by 0.1", Source: "button doorbell", Kind: "press",
			Created: time.Date(2025, 6, 1, 12, 0, 1, 0, time.UTC), To: []string{"x"},
			Dest: map[string]Delivery{"x": {Attempts: 1, LastError: "sender: transient error: read response: connection reset by peer",
				NotBefore: time.Date(2025, 6, 1, 12, 0, 3, 0, time.UTC)}},
		}},
		{"v1-queued.msg", Message{
			ID: "01748779202000000000", Text: "Room 21.5 °C at 12:00, queued by 0.1", Source: "report 1", Kind: "report",
			Created: time.Date(2025, 6, 1, 12, 0, 2, 0, time.UTC), To: []string{"x"},
			Dest: map[string]Delivery{"x": {}},
		}},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("pitweet-outbox v1 ")) {
			t.Fatalf("%s is not a v1 file", tt.file)
		}
		r, err := decode(data)
		if err != nil {
			t.Fatalf("decode %s: %v", tt.file, err)
		}
		if err := sameMessage(r.message(), tt.want); err != nil {
			t.Errorf("%s:\n%v", tt.file, err)
		}
	}
}

// A queue 0.1 left is delivered after an upgrade: its messages load, in
// order, X's attempts where 0.1 kept them, and the first change writes v2.
func TestV1QueueLoads(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"v1-queued-tried.msg", "v1-queued.msg"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		r, err := decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, r.ID+msgSuffix), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := open(t, dir, nil)
	m, ok, err := o.NextFor("x")
	if err != nil || !ok || m.ID != "01748779201000000000" || m.Dest["x"].Attempts != 1 {
		t.Fatalf("NextFor(x) = %+v, %v, %v; want 0.1's first message, tried once", m, ok, err)
	}
	if _, err := o.Attempt(m.ID, "x", "503"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, m.ID+msgSuffix))
	if err != nil || !bytes.HasPrefix(data, []byte("pitweet-outbox v2 ")) {
		t.Fatalf("the message after a change: %.30q, %v; want v2", data, err)
	}
	if err := o.Delivered(m.ID, "x", "1"); err != nil {
		t.Fatal(err)
	}
	if m, _, _ := o.NextFor("x"); m.ID != "01748779202000000000" {
		t.Fatalf("NextFor(x) = %q, want 0.1's second message", m.ID)
	}
}

func TestZeroTimesOmitted(t *testing.T) {
	data, err := encode(record{ID: golden.ID, Text: "t", Created: golden.Created, To: []string{"x"}, Dest: map[string]delivery{"x": {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"expires", "not_before", "\"at\"", "refused", "last_error", "source", "kind", "key", "images", "attempts"} {
		if bytes.Contains(data, []byte(field)) {
			t.Errorf("empty %s written: %s", field, data)
		}
	}
	r, err := decode(data)
	if err != nil || !r.Expires.IsZero() || !r.Dest["x"].NotBefore.IsZero() {
		t.Fatalf("decode = %+v, %v; want zero times", r, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	body := `{"id":"00000000000000000001","text":"hi","created":"2025-01-01T00:00:00Z","to":["x"],"dest":{"x":{}}}`
	good := withBody(body)
	n := fmt.Sprint(len(body))
	crc := fmt.Sprintf("%08x", crc32.Checksum([]byte(body), castagnoli))
	if _, err := decode([]byte(good)); err != nil {
		t.Fatalf("the valid file in this table fails: %v", err)
	}
	tests := []struct{ name, data, says string }{
		{"empty", "", "no header"},
		{"no newline", "pitweet-outbox v2 85 eb4df3a3", "no header"},
		{"other magic", strings.Replace(good, "pitweet-outbox", "pitweet-inbox!", 1), "is not"},
		{"future version", strings.Replace(good, " v2 ", " v3 ", 1), "another pitweet version"},
		{"v2 body under a v1 header", strings.Replace(good, " v2 ", " v1 ", 1), "a field this version does not know"},
		{"extra header field", strings.Replace(good, " "+n+" ", " "+n+" 0 ", 1), "is not"},
		{"signed length", strings.Replace(good, " "+n+" ", " +"+n+" ", 1), "bad length"},
		{"padded length", strings.Replace(good, " "+n+" ", " 0"+n+" ", 1), "bad length"},
		{"huge length", strings.Replace(good, " "+n+" ", " 999999 ", 1), "bad length"},
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
		{"negative attempts", withBody(`{"id":"00000000000000000001","to":["x"],"dest":{"x":{"attempts":-1}}}`), "-1 attempts"},
		{"no destination", withBody(`{"id":"00000000000000000001","text":"hi","to":[],"dest":{}}`), "0 destinations"},
		{"a destination without a delivery", withBody(`{"id":"00000000000000000001","to":["x","bluesky"],"dest":{"x":{},"mastodon":{}}}`), "no delivery record"},
		{"a delivery without a destination", withBody(`{"id":"00000000000000000001","to":["x"],"dest":{"x":{},"mastodon":{}}}`), "2 delivery records for 1"},
		{"a destination twice", withBody(`{"id":"00000000000000000001","to":["x","x"],"dest":{"x":{}}}`), "delivery records"},
		{"a destination that is a path", withBody(`{"id":"00000000000000000001","to":["../x"],"dest":{"../x":{}}}`), "not a name"},
		{"posted and refused", withBody(`{"id":"00000000000000000001","to":["x"],"dest":{"x":{"done":true,"refused":"no"}}}`), "both posted and refused"},
		{"a picture named as a path", withBody(`{"id":"00000000000000000001","to":["x"],"dest":{"x":{}},"images":[{"name":"../../etc/shadow","type":"image/png","width":1,"height":1,"size":9}]}`), "picture name"},
		{"a picture of another type", withBody(`{"id":"00000000000000000001","to":["x"],"dest":{"x":{}},"images":[{"name":"1.svg","type":"image/svg+xml","width":1,"height":1,"size":9}]}`), "not JPEG, PNG, GIF or WebP"},
		{"a giant picture", withBody(`{"id":"00000000000000000001","to":["x"],"dest":{"x":{}},"images":[{"name":"1.png","type":"image/png","width":1,"height":1,"size":99999999999}]}`), "pictures are 1 to"},
		{"five pictures", withBody(`{"id":"00000000000000000001","to":["x"],"dest":{"x":{}},"images":[{},{},{},{},{}]}`), "5 pictures"},
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
	for _, name := range []string{"v1.msg", "v1-queued-tried.msg", "v2.msg"} {
		if data, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(data)
		}
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
