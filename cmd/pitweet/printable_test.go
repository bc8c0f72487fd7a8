package main

import (
	"bytes"
	"testing"
)

func TestPrintableWriter(t *testing.T) {
	var out bytes.Buffer
	w := newPrintableWriter(&out)
	// "°" and "日" split across writes are held back, then written whole.
	for _, part := range []string{"21.5 \xc2", "\xb0C\n\x1b[2J", "\u009b31m \xe6\x97", "\xa5\t", "end \xe6"} {
		if n, err := w.Write([]byte(part)); n != len(part) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", part, n, err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "21.5 °C\n\\u001b[2J\\u009b31m 日\tend \\xe6"; out.String() != want {
		t.Errorf("wrote %q, want %q", out.String(), want)
	}
}
