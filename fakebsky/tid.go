package fakebsky

import (
	"strings"
	"time"
)

// Record keys (atproto.com/specs/record-key) and TIDs (atproto.com/specs/tid).

// tidAlphabet is base32-sortable: "encoded with characters
// 234567abcdefghijklmnopqrstuvwxyz".
const tidAlphabet = "234567abcdefghijklmnopqrstuvwxyz"

// IsTID reports whether s has TID syntax: "length is always 13 ASCII
// characters", "the first character must be one of 234567abcdefghij",
// case-sensitive.
func IsTID(s string) bool {
	if len(s) != 13 || strings.IndexByte("234567abcdefghij", s[0]) < 0 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if strings.IndexByte(tidAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// TID encodes v (below 2^63) as a TID: 13 base32-sortable digits, most
// significant first.
func TID(v uint64) string {
	var b [13]byte
	for i := 12; i >= 0; i-- {
		b[i] = tidAlphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}

// newTID returns a TID of t's microseconds and clock identifier id: "The
// next 53 bits represent microseconds since the UNIX epoch. The final 10
// bits are a random clock identifier."
func newTID(t time.Time, id uint64) string {
	return TID(uint64(t.UnixMicro())&(1<<53-1)<<10 | id&0x3ff)
}

// validRecordKey reports whether k has generic record-key syntax: 1 to 512
// characters of A-Za-z0-9 and ".-_:~", not "." or "..".
func validRecordKey(k string) bool {
	if k == "" || len(k) > 512 || k == "." || k == ".." {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-_:~", c) >= 0) {
			return false
		}
	}
	return true
}

// validNSID reports whether s has NSID syntax (atproto.com/specs/nsid):
// at least three dot-separated segments of letters, digits and hyphens,
// the domain part's segments not starting or ending with a hyphen, the
// name (last) segment letters and digits, not starting with a digit; 317
// characters at most.
func validNSID(s string) bool {
	segs := strings.Split(s, ".")
	if len(s) > 317 || len(segs) < 3 {
		return false
	}
	for i, seg := range segs {
		if seg == "" || len(seg) > 63 {
			return false
		}
		last := i == len(segs)-1
		for j := 0; j < len(seg); j++ {
			c := seg[j]
			letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
			digit := '0' <= c && c <= '9'
			switch {
			case letter:
			case digit && !(last && j == 0) && !(i == 0 && j == 0):
			case c == '-' && !last && j > 0 && j < len(seg)-1:
			default:
				return false
			}
		}
	}
	return true
}
