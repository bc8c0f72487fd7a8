package bluesky

import (
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Record keys of posts are TIDs (atproto.com/specs/tid): a 64-bit integer
// whose top bit is 0, whose next 53 bits are microseconds since the Unix
// epoch and whose last 10 bits are a "clock identifier", written as 13
// characters of base32-sortable ("234567abcdefghijklmnopqrstuvwxyz"), most
// significant first. The PDS checks the syntax only; what the bits mean is
// the client's affair ("not validated anywhere in the network").

// tidAlphabet is base32-sortable.
const tidAlphabet = "234567abcdefghijklmnopqrstuvwxyz"

// RecordKey is the rkey of the post of the outbox message id, created at
// created: the same for every attempt and after a restart, so a second
// createRecord of a message that is already posted meets the first one
// instead of making another.
//
// An outbox id is the Unix time in nanoseconds at which the message was
// queued, made unique within the outbox: its microseconds are the TID's
// time and its remaining nanoseconds (0 to 999, below the 1024 a clock
// identifier holds) the clock identifier, so two ids never share a key.
// An id that is not such a number (none is, today) takes the time of
// created and a clock identifier hashed from the id.
func RecordKey(id string, created time.Time) string {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
		return TID(uint64(n/1000), uint64(n%1000))
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	us := created.UnixMicro()
	if us < 0 {
		us = 0
	}
	return TID(uint64(us), uint64(h.Sum32()))
}

// TID encodes microseconds us (the low 53 bits) and clock identifier
// clock (the low 10 bits) as a TID.
func TID(us, clock uint64) string {
	v := (us&(1<<53-1))<<10 | clock&0x3ff
	var b [13]byte
	for i := 12; i >= 0; i-- {
		b[i] = tidAlphabet[v&31]
		v >>= 5
	}
	return string(b[:])
}

// ValidTID reports whether s has TID syntax: 13 characters of
// base32-sortable, the first one of "234567abcdefghij" (the top bit 0).
func ValidTID(s string) bool {
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
