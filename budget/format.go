package budget

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"
)

// A month's spend is one file in the state directory's spend/ folder,
// named after the month ("2026-09"): a header line, then one line per
// record, appended and never changed:
//
//	pitweet-spend 1 2026-09
//	c 5f0e3c1a9b7d2e44 1788134400123 post 15000 m:0000000000001a2b 8c1d2e3f
//	r 5f0e3c1a9b7d2e44 1788134400456 0a1b2c3d
//	d 1788134400789 11223344
//	a 1788138000000 55667788
//
// c is a charge, recorded before the request is sent: its id, the time
// (Unix milliseconds), the item, the price in millionths of a dollar and a
// reference (the outbox id of a post, "check", "post"). r releases a
// charge whose request X refused (X bills only successful requests). d
// records that X answered that the account's credits are depleted, a that
// a request succeeded after that. The last field of each line is the
// CRC-32C (Castagnoli) of the line before it, as eight lower-case hex
// digits.
//
// A line cut short (a kill -9 or a power cut mid-write) has no newline
// and is not read; the next writer ends it with one before appending, so
// it becomes a damaged line. A damaged line (its checksum or syntax wrong)
// is skipped and counted, and every line after it is still read. The file
// is created whole with its header (a temporary file, fsync'd, renamed).

const (
	fileMagic   = "pitweet-spend"
	fileVersion = "1"
	// maxLine bounds a record line.
	maxLine = 160
	// maxRef bounds a charge's reference.
	maxRef = 64
	// MaxFile bounds a month's file: about 50,000 charges, far beyond
	// what a month's budget buys.
	MaxFile = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the first line of month's file.
func header(month string) string {
	return fileMagic + " " + fileVersion + " " + month + "\n"
}

// validMonth reports whether s names a month as MonthOf does.
func validMonth(s string) bool {
	if len(s) != 7 || s[4] != '-' {
		return false
	}
	t, err := time.Parse("2006-01", s)
	return err == nil && t.Format("2006-01") == s
}

// recKind is a record's first field.
type recKind byte

const (
	recCharge   recKind = 'c'
	recRelease  recKind = 'r'
	recDepleted recKind = 'd'
	recCredited recKind = 'a'
)

// record is one line of a month's file.
type record struct {
	kind  recKind
	id    uint64 // charge and release
	at    int64  // Unix milliseconds
	item  Item   // charge
	price Amount // charge
	ref   string // charge
}

// appendRecord appends r's line to dst.
func appendRecord(dst []byte, r record) []byte {
	start := len(dst)
	dst = append(dst, byte(r.kind), ' ')
	if r.kind == recCharge || r.kind == recRelease {
		dst = appendID(dst, r.id)
		dst = append(dst, ' ')
	}
	dst = strconv.AppendInt(dst, r.at, 10)
	if r.kind == recCharge {
		dst = append(dst, ' ')
		dst = append(dst, r.item...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(r.price), 10)
		dst = append(dst, ' ')
		dst = append(dst, r.ref...)
	}
	sum := crc32.Checksum(dst[start:], castagnoli)
	dst = append(dst, ' ')
	dst = appendHex8(dst, sum)
	return append(dst, '\n')
}

func appendID(dst []byte, id uint64) []byte {
	s := strconv.FormatUint(id, 16)
	for range 16 - len(s) {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

func appendHex8(dst []byte, v uint32) []byte {
	s := strconv.FormatUint(uint64(v), 16)
	for range 8 - len(s) {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// errDamaged marks a line that fails its checks.
var errDamaged = errors.New("budget: damaged record")

// parseRecord reads one line, without its newline.
func parseRecord(line []byte) (record, error) {
	if len(line) > maxLine {
		return record{}, errDamaged
	}
	i := bytes.LastIndexByte(line, ' ')
	if i < 0 || len(line)-i-1 != 8 {
		return record{}, errDamaged
	}
	sum, err := strconv.ParseUint(string(line[i+1:]), 16, 32)
	if err != nil || !lowerHex(line[i+1:]) || uint32(sum) != crc32.Checksum(line[:i], castagnoli) {
		return record{}, errDamaged
	}
	f := strings.Split(string(line[:i]), " ")
	if len(f[0]) != 1 {
		return record{}, errDamaged
	}
	r := record{kind: recKind(f[0][0])}
	want := map[recKind]int{recCharge: 6, recRelease: 3, recDepleted: 2, recCredited: 2}[r.kind]
	if want == 0 || len(f) != want {
		return record{}, errDamaged
	}
	at := f[1]
	if r.kind == recCharge || r.kind == recRelease {
		if len(f[1]) != 16 || !lowerHex([]byte(f[1])) {
			return record{}, errDamaged
		}
		r.id, _ = strconv.ParseUint(f[1], 16, 64)
		at = f[2]
	}
	if r.at, err = strconv.ParseInt(at, 10, 64); err != nil || r.at < 0 || !canonical(at) {
		return record{}, errDamaged
	}
	if r.kind == recCharge {
		r.item = Item(f[3])
		price, err := strconv.ParseInt(f[4], 10, 64)
		if !r.item.Valid() || err != nil || price < 0 || Amount(price) > MaxAmount || !canonical(f[4]) || !validRef(f[5]) {
			return record{}, errDamaged
		}
		r.price, r.ref = Amount(price), f[5]
	}
	return r, nil
}

// canonical reports whether a decimal number is written as
// strconv.FormatInt writes it, so that a line reads back to the same bytes.
func canonical(s string) bool {
	return s != "" && (s == "0" || s[0] != '0')
}

func lowerHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validRef reports whether s may stand as a charge's reference.
func validRef(s string) bool {
	if s == "" || len(s) > maxRef {
		return false
	}
	for _, c := range []byte(s) {
		if !refByte(c) {
			return false
		}
	}
	return true
}

func refByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._:@/+-", c) >= 0
}

// Ref makes s a charge's reference: what is not allowed in one becomes _,
// and it is cut to its bound.
func Ref(s string) string {
	b := []byte(s)
	if len(b) > maxRef {
		b = b[:maxRef]
	}
	for i, c := range b {
		if !refByte(c) {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// parseFile reads a month's file from its start: the header, which must
// be month's, then the records (see parseLines).
func parseFile(data []byte, month string) (recs []record, damaged, end int, err error) {
	h := header(month)
	if !bytes.HasPrefix(data, []byte(h)) {
		return nil, 0, 0, fmt.Errorf("it is not the spend record of %s (its first line should be %q); move it away", month, strings.TrimSpace(h))
	}
	recs, damaged, end = parseLines(data[len(h):])
	return recs, damaged, len(h) + end, nil
}

// parseLines reads record lines up to the last complete one. It returns
// the records of the good lines, the number of damaged lines, and the
// offset after the last complete line: where the next read begins. A last
// line without its newline is being written, or was cut short: it is left
// for the next read.
func parseLines(data []byte) (recs []record, damaged, end int) {
	for end < len(data) {
		nl := bytes.IndexByte(data[end:], '\n')
		if nl < 0 {
			break
		}
		r, err := parseRecord(data[end : end+nl])
		end += nl + 1
		if err != nil {
			damaged++
			continue
		}
		recs = append(recs, r)
	}
	return recs, damaged, end
}
