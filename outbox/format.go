package outbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"
)

// A message file is one header line followed by a JSON object:
//
//	pitweet-outbox v1 <length> <crc>\n
//	{"id":"…","text":"…",…}
//
// length is the decimal byte count of the JSON object and crc its CRC-32C
// (Castagnoli) as eight lower-case hex digits. A file that is cut short,
// has bytes after the object, or whose bytes changed fails the check, so a
// damaged file is detected and quarantined, never half read.

const (
	magic   = "pitweet-outbox"
	version = "v1"
	// maxBody bounds the JSON object. A tweet is a few hundred bytes; the
	// bound keeps a damaged length field from allocating much.
	maxBody = 64 << 10
	// maxHeader bounds the header line: magic, version, up to 5 digits of
	// length and 8 of crc, with spaces and the newline.
	maxHeader = len(magic) + 1 + len(version) + 1 + 5 + 1 + 8 + 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a message file that fails the format's checks.
var errCorrupt = errors.New("outbox: corrupt message file")

// record is what one message file holds: a queued message, and for a dead
// letter also why and when it was given up.
type record struct {
	ID         string    `json:"id"`
	Text       string    `json:"text"`
	Source     string    `json:"source,omitempty"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires,omitzero"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error,omitempty"`
	NotBefore  time.Time `json:"not_before,omitzero"`
	DeadReason string    `json:"dead_reason,omitempty"`
	DeadAt     time.Time `json:"dead_at,omitzero"`
}

func (r record) message() Message {
	return Message{
		ID:        r.ID,
		Text:      r.Text,
		Source:    r.Source,
		Created:   r.Created,
		Expires:   r.Expires,
		Attempts:  r.Attempts,
		LastError: r.LastError,
		NotBefore: r.NotBefore,
	}
}

func recordOf(m Message) record {
	return record{
		ID:        m.ID,
		Text:      m.Text,
		Source:    m.Source,
		Created:   m.Created,
		Expires:   m.Expires,
		Attempts:  m.Attempts,
		LastError: m.LastError,
		NotBefore: m.NotBefore,
	}
}

// encode returns the bytes of a message file holding r.
func encode(r record) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("outbox: encode message %s: %w", r.ID, err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("outbox: message %s is %d bytes encoded, over the %d byte limit; shorten its text", r.ID, len(body), maxBody)
	}
	out := make([]byte, 0, maxHeader+len(body))
	out = fmt.Appendf(out, "%s %s %d %08x\n", magic, version, len(body), crc32.Checksum(body, castagnoli))
	return append(out, body...), nil
}

// decode parses a message file. Every failure wraps errCorrupt and says
// what was wrong, without quoting the file: a file in the spool may hold
// anything, and the error goes to the log.
func decode(data []byte) (record, error) {
	header, body, ok := bytes.Cut(data[:min(len(data), maxHeader)], []byte("\n"))
	if !ok {
		return record{}, corrupt("no header line in the first %d bytes", maxHeader)
	}
	body = data[len(header)+1:]
	fields := bytes.Split(header, []byte(" "))
	if len(fields) != 4 || string(fields[0]) != magic {
		return record{}, corrupt("the first line is not %q", magic+" "+version+" <length> <crc>")
	}
	if string(fields[1]) != version {
		return record{}, corrupt("the format version is not %s; it was written by another pitweet version", version)
	}
	n, err := strconv.Atoi(string(fields[2]))
	if err != nil || n < 0 || n > maxBody || string(fields[2]) != strconv.Itoa(n) {
		return record{}, corrupt("bad length in header")
	}
	if len(fields[3]) != 8 {
		return record{}, corrupt("bad crc in header")
	}
	want, err := strconv.ParseUint(string(fields[3]), 16, 32)
	if err != nil || string(fields[3]) != fmt.Sprintf("%08x", want) {
		return record{}, corrupt("bad crc in header")
	}
	if len(body) != n {
		return record{}, corrupt("body is %d bytes, header says %d", len(body), n)
	}
	if got := crc32.Checksum(body, castagnoli); got != uint32(want) {
		return record{}, corrupt("crc is %08x, header says %08x", got, want)
	}
	var r record
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return record{}, corrupt("the body has a field this version does not know; it was written by a newer pitweet")
		}
		return record{}, corrupt("the body is not a message record")
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return record{}, corrupt("body has %d bytes after the JSON object", len(rest))
	}
	if err := r.validate(); err != nil {
		return record{}, corrupt("%v", err)
	}
	return r, nil
}

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errCorrupt}, a...)...)
}

// validate checks what every stored record must satisfy. Its errors quote
// no text of the record.
func (r record) validate() error {
	if !validID(r.ID) {
		return errors.New("outbox: the message id is not 20 decimal digits")
	}
	if r.Attempts < 0 {
		return fmt.Errorf("outbox: message %s has %d attempts", r.ID, r.Attempts)
	}
	return nil
}

// idLen is the width of a message id: a zero-padded decimal int64, so that
// ids sort as text in the order they were made.
const idLen = 20

func validID(id string) bool {
	_, ok := parseID(id)
	return ok
}

// parseID returns the number an id stands for.
func parseID(id string) (int64, bool) {
	if len(id) != idLen {
		return 0, false
	}
	for i := range len(id) {
		if id[i] < '0' || id[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil
}

func formatID(n int64) string {
	return fmt.Sprintf("%0*d", idLen, n)
}
