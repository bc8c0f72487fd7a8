package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of a command, checked before anything is decoded.
const (
	// MaxImage is the largest picture a command may carry, decoded: the
	// largest X accepts for a photo.
	MaxImage = 5 << 20
	// MaxCommand is the largest command payload: the picture in base64
	// plus room for the rest. The broker is asked not to send larger
	// packets (CONNECT Maximum Packet Size), so it drops them.
	MaxCommand = MaxImage/3*4 + 64<<10
	// MaxText, MaxAlt and MaxID bound the other fields, in bytes.
	MaxText = 8 << 10
	MaxAlt  = 2000
	MaxID   = 128
	// MaxTo is how many destinations a command may name.
	MaxTo = 8
)

// Command is a request to post, received on <prefix>/post as
//
//	{"id": "...", "text": "...", "to": ["x"], "image": "<base64>", "alt": "..."}
//
// id is the sender's name for the post: a command redelivered with the
// same id is the same post. to, image and alt are optional; empty to means
// every configured destination.
type Command struct {
	ID    string
	Text  string
	To    []string
	Image []byte // the picture's bytes, nil for none
	Alt   string
	// Redelivered is true when the broker flagged the message as a
	// redelivery (MQTT DUP): an earlier delivery may have reached the
	// handler.
	Redelivered bool
}

// Handler takes a command and makes it durable. It returns nil once the
// command is stored (or recognised as a repeat of an id already stored):
// only then is it acknowledged to the broker. It returns a *Refusal for a
// command that will never be accepted (too long, unknown destination, over
// budget): that is acknowledged too, and the reason published on
// <prefix>/posted. Any other error (the disk is full) leaves the command
// unacknowledged: the gateway reconnects and the broker delivers it again.
type Handler func(ctx context.Context, c Command) error

// Refusal is a handler's answer for a command it will never accept.
type Refusal struct {
	Reason string
}

func (r *Refusal) Error() string { return "gateway: command refused: " + r.Reason }

// Refuse returns a *Refusal with the formatted reason.
func Refuse(format string, args ...any) error {
	return &Refusal{Reason: fmt.Sprintf(format, args...)}
}

// Result is what happened to a message, published on <prefix>/posted.
type Result struct {
	// ID is pitweet's id of the message, "" for a command refused before
	// it was queued.
	ID string `json:"id,omitempty"`
	// Command is the id of the command the message came from, if any.
	Command     string `json:"command,omitempty"`
	Destination string `json:"destination,omitempty"`
	// Outcome is "posted" or "refused".
	Outcome string `json:"outcome"`
	// Ref is the post's id or URL at the destination, when posted.
	Ref string `json:"ref,omitempty"`
	// Reason says why, when refused.
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// ParseCommand reads a command strictly: one JSON object with only the
// known keys, each once and of its type, within the limits above. On error
// the returned Command holds the id if it was read, so that the refusal
// can name it.
func ParseCommand(payload []byte) (Command, error) {
	var c Command
	if len(payload) > MaxCommand {
		return c, fmt.Errorf("gateway: command is %d bytes; at most %d (a picture of at most %d MiB)", len(payload), MaxCommand, MaxImage>>20)
	}
	if !utf8.Valid(payload) {
		return c, errors.New("gateway: command is not UTF-8 JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return c, errors.New(`gateway: command is not a JSON object such as {"id": "1", "text": "hello"}`)
	}
	var seen []string
	var image string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return c, fmt.Errorf("gateway: command is not valid JSON: %w", err)
		}
		key, _ := t.(string)
		if slices.Contains(seen, key) {
			return c, fmt.Errorf("gateway: command has %q twice", key)
		}
		seen = append(seen, key)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return c, fmt.Errorf("gateway: command is not valid JSON: %w", err)
		}
		switch key {
		case "id":
			err = decodeString(raw, &c.ID)
		case "text":
			err = decodeString(raw, &c.Text)
		case "alt":
			err = decodeString(raw, &c.Alt)
		case "image":
			err = decodeString(raw, &image)
		case "to":
			if len(raw) == 0 || raw[0] != '[' {
				err = errors.New("not a list of strings")
			} else {
				err = json.Unmarshal(raw, &c.To)
			}
		default:
			return c, fmt.Errorf("gateway: command has unknown key %q; known: id, text, to, image, alt", key)
		}
		if err != nil {
			return c, fmt.Errorf("gateway: command %q: %w", key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return c, fmt.Errorf("gateway: command is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, errors.New("gateway: command has something after its JSON object")
	}
	if image != "" {
		if base64.StdEncoding.DecodedLen(len(image)) > MaxImage+2 {
			return c, fmt.Errorf("gateway: command %q: the picture is larger than %d MiB", c.ID, MaxImage>>20)
		}
		b, err := base64.StdEncoding.Strict().DecodeString(image)
		if err != nil {
			return c, fmt.Errorf("gateway: command %q: image is not base64 (RFC 4648 with padding): %w", c.ID, err)
		}
		if len(b) > MaxImage {
			return c, fmt.Errorf("gateway: command %q: the picture is larger than %d MiB", c.ID, MaxImage>>20)
		}
		c.Image = b
	}
	return c, c.check()
}

// decodeString decodes a JSON string (and nothing else, not even null).
func decodeString(raw json.RawMessage, s *string) error {
	if len(raw) == 0 || raw[0] != '"' {
		return errors.New("not a string")
	}
	return json.Unmarshal(raw, s)
}

// check applies the limits that do not depend on the encoding.
func (c Command) check() error {
	switch {
	case c.ID == "":
		return errors.New(`gateway: command has no "id"; give each post its own id, so that a repeat is recognised`)
	case len(c.ID) > MaxID || strings.ContainsFunc(c.ID, func(r rune) bool { return !idChar(r) && !strings.ContainsRune(".:@/", r) }):
		id := c.ID
		if len(id) > 40 {
			id = id[:40] + "..."
		}
		return fmt.Errorf("gateway: command id %q must be 1 to %d of A-Z a-z 0-9 _ - . : @ /", id, MaxID)
	case c.Text == "" && len(c.Image) == 0:
		return fmt.Errorf("gateway: command %q has neither text nor image", c.ID)
	case len(c.Text) > MaxText:
		return fmt.Errorf("gateway: command %q: text is %d bytes; at most %d", c.ID, len(c.Text), MaxText)
	case !utf8.ValidString(c.Text) || strings.ContainsFunc(c.Text, control):
		return fmt.Errorf("gateway: command %q: text has a control character (only newline and tab are allowed)", c.ID)
	case c.Alt != "" && len(c.Image) == 0:
		return fmt.Errorf("gateway: command %q has alt but no image", c.ID)
	case len(c.Alt) > MaxAlt:
		return fmt.Errorf("gateway: command %q: alt is %d bytes; at most %d", c.ID, len(c.Alt), MaxAlt)
	case !utf8.ValidString(c.Alt) || strings.ContainsFunc(c.Alt, control):
		return fmt.Errorf("gateway: command %q: alt has a control character (only newline and tab are allowed)", c.ID)
	case len(c.Image) > MaxImage:
		return fmt.Errorf("gateway: command %q: the picture is larger than %d MiB", c.ID, MaxImage>>20)
	case len(c.To) > MaxTo:
		return fmt.Errorf("gateway: command %q names %d destinations; at most %d", c.ID, len(c.To), MaxTo)
	}
	for i, d := range c.To {
		if d == "" || len(d) > 32 || strings.ContainsFunc(d, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '-') }) {
			return fmt.Errorf("gateway: command %q: destination %q is not a name such as \"x\"", c.ID, d)
		}
		if slices.Contains(c.To[:i], d) {
			return fmt.Errorf("gateway: command %q names destination %q twice", c.ID, d)
		}
	}
	return nil
}

func control(r rune) bool {
	return r < ' ' && r != '\n' && r != '\t' || r == 0x7f || r == utf8.RuneError
}

// EncodeCommand writes c as ParseCommand reads it; a command it refuses
// to encode would be refused by the receiver too.
func EncodeCommand(c Command) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	w := struct {
		ID    string   `json:"id"`
		Text  string   `json:"text,omitempty"`
		To    []string `json:"to,omitempty"`
		Image string   `json:"image,omitempty"`
		Alt   string   `json:"alt,omitempty"`
	}{c.ID, c.Text, c.To, "", c.Alt}
	if len(c.Image) > 0 {
		w.Image = base64.StdEncoding.EncodeToString(c.Image)
	}
	return json.Marshal(w)
}
