package budget

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the month file reader: it must never
// panic, must stop at the last complete line, and every record it accepts
// must be valid and written back to the very line it came from.
func FuzzParse(f *testing.F) {
	good := []byte(header("2026-09"))
	good = appendRecord(good, record{kind: recCharge, id: 0x5f0e3c1a9b7d2e44, at: 1788134400123, item: ItemPost, price: 15000, ref: "m:0000000000001a2b"})
	good = appendRecord(good, record{kind: recCharge, id: 2, at: 1788134400200, item: ItemPostURL, price: 200000, ref: "post"})
	good = appendRecord(good, record{kind: recRelease, id: 0x5f0e3c1a9b7d2e44, at: 1788134400456})
	good = appendRecord(good, record{kind: recDepleted, at: 1788134400789})
	good = appendRecord(good, record{kind: recCredited, at: 1788134500789})
	f.Add(good)
	f.Add(good[:len(good)-5])
	f.Add([]byte(header("2026-09")))
	f.Add([]byte{})
	f.Add(append([]byte(header("2026-09")), "c 0000000000000001 1 post 15000 x 00000000\n\n\n"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, damaged, end, err := parseFile(data, "2026-09")
		if err != nil {
			return
		}
		if end > len(data) || (end < len(data) && bytes.IndexByte(data[end:], '\n') >= 0) {
			t.Fatalf("end %d of %d, with a complete line after it", end, len(data))
		}
		if end > len(header("2026-09")) && data[end-1] != '\n' {
			t.Fatalf("end %d is not after a newline", end)
		}
		lines := bytes.Count(data[len(header("2026-09")):end], []byte("\n"))
		if len(recs)+damaged != lines {
			t.Fatalf("%d records and %d damaged of %d lines", len(recs), damaged, lines)
		}
		var back []byte
		for _, r := range recs {
			if r.kind == recCharge && (!r.item.Valid() || !validRef(r.ref) || r.price < 0) {
				t.Fatalf("accepted %+v", r)
			}
			line := appendRecord(nil, r)
			if !bytes.Contains(data, line) {
				t.Fatalf("record %+v writes %q, which is not in the input", r, line)
			}
			back = append(back, line...)
		}
		ms := newMonthState("2026-09")
		for _, r := range recs {
			ms.apply(r)
		}
		if ms.sum.Spent < 0 {
			t.Fatalf("spent %s < 0", ms.sum.Spent)
		}
		kept := 0
		for _, ids := range ms.byRef {
			kept += len(ids)
		}
		n := 0
		for _, c := range ms.charges {
			if !c.released {
				n++
			}
		}
		if kept != n {
			t.Fatalf("%d charges kept, %d by reference", n, kept)
		}
	})
}
