package outbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A message file is one header line followed by a JSON object:
//
//	pitweet-outbox v2 <length> <crc>\n
//	{"id":"…","text":"…","to":["x"],"dest":{"x":{…}},…}
//
// length is the decimal byte count of the JSON object and crc its CRC-32C
// (Castagnoli) as eight lower-case hex digits. A file that is cut short,
// has bytes after the object, or whose bytes changed fails the check, so a
// damaged file is detected and quarantined, never half read.
//
// Version 1 (pitweet 0.1) had one destination, X, and kept its delivery
// state in the message itself. Such files are still read: a v1 message is
// a message to "x" whose attempts, last error and retry time are X's, and
// a v1 dead letter is one X refused for its dead reason. Files are always
// written as v2.

const (
	magic     = "pitweet-outbox"
	version   = "v2"
	versionV1 = "v1"
	// maxBody bounds the JSON object: the text, up to MaxImages pictures
	// with their alt texts, and a delivery record per destination. Put
	// refuses a message that could outgrow it as its deliveries are
	// recorded, so an update never fails for size. The bound keeps a
	// damaged length field from allocating much.
	maxBody = 256 << 10
	// maxHeader bounds the header line: magic, version, up to 6 digits of
	// length and 8 of crc, with spaces and the newline.
	maxHeader = len(magic) + 1 + len(version) + 1 + 6 + 1 + 8 + 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a message file that fails the format's checks.
var errCorrupt = errors.New("outbox: corrupt message file")

// record is what one message file holds.
type record struct {
	ID      string              `json:"id"`
	Text    string              `json:"text"`
	Source  string              `json:"source,omitempty"`
	Kind    string              `json:"kind,omitempty"`
	Key     string              `json:"key,omitempty"`
	Created time.Time           `json:"created"`
	Expires time.Time           `json:"expires,omitzero"`
	To      []string            `json:"to"`
	Dest    map[string]delivery `json:"dest"`
	Images  []picture           `json:"images,omitempty"`

	OnBudget string `json:"on_budget,omitempty"` // "", "hold" or "drop"
}

type delivery struct {
	Attempts  int       `json:"attempts,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	Done      bool      `json:"done,omitempty"`
	Ref       string    `json:"ref,omitempty"`
	Refused   string    `json:"refused,omitempty"`
	At        time.Time `json:"at,omitzero"`
	Text      string    `json:"text,omitempty"`
}

type picture struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Alt    string `json:"alt,omitempty"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Size   int64  `json:"size"`
}

// recordV1 is what a v1 file holds: a message to X, and for a dead letter
// also why and when it was given up.
type recordV1 struct {
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

// upgrade turns a v1 record into the message it stands for.
func (r recordV1) upgrade() record {
	d := delivery{Attempts: r.Attempts, LastError: r.LastError, NotBefore: r.NotBefore}
	if r.DeadReason != "" || !r.DeadAt.IsZero() {
		d.Refused = r.DeadReason
		if d.Refused == "" {
			d.Refused = "given up"
		}
		d.At = r.DeadAt
	}
	return record{
		ID:      r.ID,
		Text:    r.Text,
		Source:  r.Source,
		Kind:    kindOfSource(r.Source),
		Created: r.Created,
		Expires: r.Expires,
		To:      []string{"x"},
		Dest:    map[string]delivery{"x": d},
	}
}

// kindOfSource is the Kind of a message 0.1 queued, from its Source:
// "button doorbell", "report 1", "alert 2".
func kindOfSource(source string) string {
	switch first, _, _ := strings.Cut(source, " "); first {
	case "button":
		return "press"
	case "report", "alert":
		return first
	}
	return ""
}

func (r record) message() Message {
	m := Message{
		ID:      r.ID,
		Text:    r.Text,
		Source:  r.Source,
		Kind:    r.Kind,
		Key:     r.Key,
		Created: r.Created,
		Expires: r.Expires,
		To:      append([]string(nil), r.To...),
		Dest:    make(map[string]Delivery, len(r.Dest)),
	}
	m.OnBudget = r.OnBudget
	for name, d := range r.Dest {
		m.Dest[name] = Delivery(d)
	}
	for _, im := range r.Images {
		m.Images = append(m.Images, Image(im))
	}
	return m
}

func recordOf(m Message) record {
	r := record{
		ID:      m.ID,
		Text:    m.Text,
		Source:  m.Source,
		Kind:    m.Kind,
		Key:     m.Key,
		Created: m.Created,
		Expires: m.Expires,
		To:      m.To,
		Dest:    make(map[string]delivery, len(m.Dest)),
	}
	r.OnBudget = m.OnBudget
	for name, d := range m.Dest {
		r.Dest[name] = delivery(d)
	}
	for _, im := range m.Images {
		r.Images = append(r.Images, picture(im))
	}
	return r
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

// decode parses a message file of either version. Every failure wraps
// errCorrupt and says what was wrong, without quoting the file: a file in
// the spool may hold anything, and the error goes to the log.
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
	v := string(fields[1])
	if v != version && v != versionV1 {
		return record{}, corrupt("the format version is not %s or %s; it was written by another pitweet version", versionV1, version)
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
	if v == versionV1 {
		var old recordV1
		if err := decodeJSON(body, &old); err != nil {
			return record{}, err
		}
		if old.Attempts < 0 {
			return record{}, corrupt("message has %d attempts", old.Attempts)
		}
		r = old.upgrade()
	} else if err := decodeJSON(body, &r); err != nil {
		return record{}, err
	}
	if err := r.validate(); err != nil {
		return record{}, corrupt("%v", err)
	}
	return r, nil
}

// decodeJSON decodes the one JSON object body into v, refusing unknown
// fields and anything after the object.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return corrupt("the body has a field this version does not know; it was written by a newer pitweet")
		}
		return corrupt("the body is not a message record")
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return corrupt("body has %d bytes after the JSON object", len(rest))
	}
	return nil
}

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errCorrupt}, a...)...)
}

// Bounds on what a message holds besides its text.
const (
	maxDests    = 8
	maxDestName = 32
	maxKey      = 256
	maxKind     = 32
	maxSource   = 256
	maxAlt      = 8 << 10
	// maxNote bounds what a delivery records of a service's answer (an
	// error, a refusal, a remote id); longer ones are cut.
	maxNote = 1 << 10
)

// validate checks what every stored record must satisfy. Its errors quote
// no text of the record.
func (r record) validate() error {
	if !validID(r.ID) {
		return errors.New("outbox: the message id is not 20 decimal digits")
	}
	if len(r.Key) > maxKey || len(r.Kind) > maxKind || len(r.Source) > maxSource {
		return fmt.Errorf("outbox: message %s has a key, kind or source longer than allowed", r.ID)
	}
	if r.OnBudget != "" && r.OnBudget != "hold" && r.OnBudget != "drop" {
		return fmt.Errorf("outbox: message %s has an on_budget that is neither hold nor drop", r.ID)
	}
	if len(r.To) == 0 || len(r.To) > maxDests {
		return fmt.Errorf("outbox: message %s has %d destinations; it needs 1 to %d", r.ID, len(r.To), maxDests)
	}
	if len(r.Dest) != len(r.To) {
		return fmt.Errorf("outbox: message %s has %d delivery records for %d destinations", r.ID, len(r.Dest), len(r.To))
	}
	for i, name := range r.To {
		if !ValidDestination(name) {
			return fmt.Errorf("outbox: message %s has a destination that is not a name of lower-case letters and digits", r.ID)
		}
		if slices.Contains(r.To[:i], name) {
			return fmt.Errorf("outbox: message %s names a destination twice", r.ID)
		}
		d, ok := r.Dest[name]
		if !ok {
			return fmt.Errorf("outbox: message %s has no delivery record for one of its destinations", r.ID)
		}
		if d.Attempts < 0 {
			return fmt.Errorf("outbox: message %s has %d attempts", r.ID, d.Attempts)
		}
		if d.Done && d.Refused != "" {
			return fmt.Errorf("outbox: message %s is both posted and refused on one destination", r.ID)
		}
		if len(d.LastError) > maxNote || len(d.Ref) > maxNote || len(d.Refused) > maxNote {
			return fmt.Errorf("outbox: message %s has a delivery note longer than allowed", r.ID)
		}
	}
	if len(r.Images) > MaxImages {
		return fmt.Errorf("outbox: message %s has %d pictures; at most %d are allowed", r.ID, len(r.Images), MaxImages)
	}
	for i, im := range r.Images {
		ext, ok := imageTypes[im.Type]
		switch {
		case !ok:
			return fmt.Errorf("outbox: message %s has a picture of a type that is not JPEG, PNG, GIF or WebP", r.ID)
		case im.Name != pictureName(i, ext):
			return fmt.Errorf("outbox: message %s has a picture name that is not its number and type", r.ID)
		case im.Size <= 0 || im.Size > MaxPictureSize:
			return fmt.Errorf("outbox: message %s has a picture of %d bytes; pictures are 1 to %d bytes", r.ID, im.Size, MaxPictureSize)
		case im.Width <= 0 || im.Height <= 0:
			return fmt.Errorf("outbox: message %s has a picture without a size in pixels", r.ID)
		case len(im.Alt) > maxAlt:
			return fmt.Errorf("outbox: message %s has an alt text longer than %d bytes", r.ID, maxAlt)
		}
	}
	return nil
}

// ValidDestination reports whether name can name a destination: 1 to 32
// lower-case ASCII letters and digits ("x", "mastodon", "bluesky").
func ValidDestination(name string) bool {
	if name == "" || len(name) > maxDestName {
		return false
	}
	for i := range len(name) {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
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
