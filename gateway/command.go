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
	// MaxPictures is how many pictures a command may carry (X, Mastodon
	// and Bluesky take four with a post).
	MaxPictures = 4
	// MaxPictureBytes bounds a command's pictures together, decoded: the
	// largest photo X accepts, or a photo and a chart.
	MaxPictureBytes = 5 << 20
	// MaxCommand is the largest command payload: the pictures in base64
	// plus room for the rest. The broker is asked not to send larger
	// packets (CONNECT Maximum Packet Size), so it drops them.
	MaxCommand = MaxPictureBytes/3*4 + 128<<10
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
// or, with several pictures,
//
//	{"id": "...", "text": "...", "images": [{"data": "<base64>", "alt": "..."}, ...]}
//
// id is the sender's name for the post: a command redelivered with the
// same id is the same post. to and the pictures are optional; empty to
// means every configured destination.
type Command struct {
	ID       string
	Text     string
	To       []string
	Pictures []Picture // in order; nil for none
	// Redelivered is true when the broker flagged the message as a
	// redelivery (MQTT DUP): an earlier delivery may have reached the
	// handler.
	Redelivered bool
}

// Picture is one picture of a command.
type Picture struct {
	Data []byte // the file's bytes (JPEG, PNG, GIF or WebP, as the receiver checks)
	Alt  string // "" for none
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
		return c, fmt.Errorf("gateway: command is %d bytes; at most %d (pictures of at most %d MiB together)", len(payload), MaxCommand, MaxPictureBytes>>20)
	}
	if !utf8.Valid(payload) {
		return c, errors.New("gateway: command is not UTF-8 JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	var image, alt string
	var images []json.RawMessage
	var hasImage, hasAlt, hasImages bool
	err := readObject(dec, func(key string, raw json.RawMessage) error {
		switch key {
		case "id":
			return decodeString(raw, &c.ID)
		case "text":
			return decodeString(raw, &c.Text)
		case "image":
			hasImage = true
			return decodeString(raw, &image)
		case "alt":
			hasAlt = true
			return decodeString(raw, &alt)
		case "images":
			hasImages = true
			if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &images) != nil {
				return errors.New("not a list of pictures such as [{\"data\": \"<base64>\", \"alt\": \"...\"}]")
			}
			return nil
		case "to":
			if len(raw) == 0 || raw[0] != '[' {
				return errors.New("not a list of strings")
			}
			return json.Unmarshal(raw, &c.To)
		}
		return errUnknownKey
	})
	var ke *keyError
	switch {
	case errors.Is(err, errNotObject):
		return c, errors.New(`gateway: command is not a JSON object such as {"id": "1", "text": "hello"}`)
	case errors.As(err, &ke) && errors.Is(ke.err, errUnknownKey):
		return c, fmt.Errorf("gateway: command has unknown key %q; known: id, text, to, image, alt, images", ke.key)
	case errors.As(err, &ke) && errors.Is(ke.err, errRepeated):
		return c, fmt.Errorf("gateway: command has %q twice", ke.key)
	case errors.As(err, &ke):
		return c, fmt.Errorf("gateway: command %q: %w", ke.key, ke.err)
	case err != nil:
		return c, fmt.Errorf("gateway: command is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, errors.New("gateway: command has something after its JSON object")
	}
	switch {
	case hasImages && (hasImage || hasAlt):
		return c, fmt.Errorf("gateway: command %q has both images and image or alt; give one picture as image and alt, or every picture in images", c.ID)
	case hasAlt && !hasImage:
		return c, fmt.Errorf("gateway: command %q has alt but no image", c.ID)
	case len(images) > MaxPictures:
		return c, fmt.Errorf("gateway: command %q has %d pictures; at most %d", c.ID, len(images), MaxPictures)
	}
	var encoded []string
	if hasImage {
		encoded = []string{image}
		c.Pictures = []Picture{{Alt: alt}}
	}
	for i, raw := range images {
		var p Picture
		var data string
		err := readObject(json.NewDecoder(bytes.NewReader(raw)), func(key string, raw json.RawMessage) error {
			switch key {
			case "data":
				return decodeString(raw, &data)
			case "alt":
				return decodeString(raw, &p.Alt)
			}
			return errUnknownKey
		})
		switch {
		case errors.As(err, &ke) && errors.Is(ke.err, errUnknownKey):
			return c, fmt.Errorf("gateway: command %q: picture %d has unknown key %q; known: data, alt", c.ID, i+1, ke.key)
		case errors.As(err, &ke) && errors.Is(ke.err, errRepeated):
			return c, fmt.Errorf("gateway: command %q: picture %d has %q twice", c.ID, i+1, ke.key)
		case errors.As(err, &ke):
			return c, fmt.Errorf("gateway: command %q: picture %d %q: %w", c.ID, i+1, ke.key, ke.err)
		case err != nil:
			return c, fmt.Errorf("gateway: command %q: picture %d is not an object such as {\"data\": \"<base64>\", \"alt\": \"...\"}", c.ID, i+1)
		}
		encoded = append(encoded, data)
		c.Pictures = append(c.Pictures, p)
	}
	total := 0
	for _, e := range encoded {
		total += base64.StdEncoding.DecodedLen(len(e))
	}
	if total > MaxPictureBytes+2*len(encoded) {
		return c, fmt.Errorf("gateway: command %q: the pictures are larger than %d MiB together", c.ID, MaxPictureBytes>>20)
	}
	for i, e := range encoded {
		b, err := base64.StdEncoding.Strict().DecodeString(e)
		if err != nil {
			return c, fmt.Errorf("gateway: command %q: picture %d is not base64 (RFC 4648 with padding): %w", c.ID, i+1, err)
		}
		c.Pictures[i].Data = b
	}
	return c, c.Check()
}

var (
	errNotObject  = errors.New("not a JSON object")
	errUnknownKey = errors.New("unknown key")
	errRepeated   = errors.New("repeated key")
)

// keyError is a problem with one key of an object.
type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return fmt.Sprintf("%q: %v", e.key, e.err) }

// readObject reads one JSON object from dec, handing each key's raw value
// to field. A key that comes twice, and any error of field, is returned
// as a *keyError; what is not an object as errNotObject.
func readObject(dec *json.Decoder, field func(key string, raw json.RawMessage) error) error {
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errNotObject
	}
	var seen []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if slices.Contains(seen, key) {
			return &keyError{key, errRepeated}
		}
		seen = append(seen, key)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if err := field(key, raw); err != nil {
			return &keyError{key, err}
		}
	}
	_, err := dec.Token()
	return err
}

// decodeString decodes a JSON string (and nothing else, not even null).
func decodeString(raw json.RawMessage, s *string) error {
	if len(raw) == 0 || raw[0] != '"' {
		return errors.New("not a string")
	}
	return json.Unmarshal(raw, s)
}

// Check applies the limits of a command that do not depend on its
// encoding: a command it refuses would be refused by its receiver.
func (c Command) Check() error {
	size := 0
	for _, p := range c.Pictures {
		size += len(p.Data)
	}
	switch {
	case c.ID == "":
		return errors.New(`gateway: command has no "id"; give each post its own id, so that a repeat is recognised`)
	case len(c.ID) > MaxID || strings.ContainsFunc(c.ID, func(r rune) bool { return !idChar(r) && !strings.ContainsRune(".:@/", r) }):
		id := c.ID
		if len(id) > 40 {
			id = id[:40] + "..."
		}
		return fmt.Errorf("gateway: command id %q must be 1 to %d of A-Z a-z 0-9 _ - . : @ /", id, MaxID)
	case c.Text == "":
		return fmt.Errorf("gateway: command %q has no text; pitweet posts a text, with or without pictures", c.ID)
	case len(c.Text) > MaxText:
		return fmt.Errorf("gateway: command %q: text is %d bytes; at most %d", c.ID, len(c.Text), MaxText)
	case !utf8.ValidString(c.Text) || strings.ContainsFunc(c.Text, control):
		return fmt.Errorf("gateway: command %q: text has a control character (only newline and tab are allowed)", c.ID)
	case len(c.Pictures) > MaxPictures:
		return fmt.Errorf("gateway: command %q has %d pictures; at most %d", c.ID, len(c.Pictures), MaxPictures)
	case size > MaxPictureBytes:
		return fmt.Errorf("gateway: command %q: the pictures are larger than %d MiB together", c.ID, MaxPictureBytes>>20)
	case len(c.To) > MaxTo:
		return fmt.Errorf("gateway: command %q names %d destinations; at most %d", c.ID, len(c.To), MaxTo)
	}
	for i, p := range c.Pictures {
		switch {
		case len(p.Data) == 0:
			return fmt.Errorf("gateway: command %q: picture %d is empty", c.ID, i+1)
		case len(p.Alt) > MaxAlt:
			return fmt.Errorf("gateway: command %q: the alt of picture %d is %d bytes; at most %d", c.ID, i+1, len(p.Alt), MaxAlt)
		case !utf8.ValidString(p.Alt) || strings.ContainsFunc(p.Alt, control):
			return fmt.Errorf("gateway: command %q: the alt of picture %d has a control character (only newline and tab are allowed)", c.ID, i+1)
		}
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

// EncodeCommand writes c as ParseCommand reads it: one picture as image
// and alt, several as images. A command it refuses to encode would be
// refused by the receiver too.
func EncodeCommand(c Command) ([]byte, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	type picture struct {
		Data string `json:"data"`
		Alt  string `json:"alt,omitempty"`
	}
	w := struct {
		ID     string    `json:"id"`
		Text   string    `json:"text"`
		To     []string  `json:"to,omitempty"`
		Image  string    `json:"image,omitempty"`
		Alt    string    `json:"alt,omitempty"`
		Images []picture `json:"images,omitempty"`
	}{ID: c.ID, Text: c.Text, To: c.To}
	switch len(c.Pictures) {
	case 0:
	case 1:
		w.Image, w.Alt = base64.StdEncoding.EncodeToString(c.Pictures[0].Data), c.Pictures[0].Alt
	default:
		for _, p := range c.Pictures {
			w.Images = append(w.Images, picture{base64.StdEncoding.EncodeToString(p.Data), p.Alt})
		}
	}
	return json.Marshal(w)
}
