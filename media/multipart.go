package media

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// A multipart/form-data body (RFC 7578, with the framing of RFC 2046
// section 5.1.1), written by hand because its bytes are what pitweet
// shows:
//
//	--BOUNDARY\r\n
//	Content-Disposition: form-data; name="media_category"\r\n
//	\r\n
//	tweet_image\r\n
//	--BOUNDARY\r\n
//	Content-Disposition: form-data; name="media"; filename="photo.jpg"\r\n
//	Content-Type: image/jpeg\r\n
//	\r\n
//	<the file's bytes>\r\n
//	--BOUNDARY--\r\n
//
// The body's length is known before a byte is sent, and the files are
// read from the disk as the body is read.

// Field is a form field with a text value.
type Field struct {
	Name  string
	Value string
}

// FilePart is a file sent as a form field.
type FilePart struct {
	Name        string // the field, e.g. "media"
	Filename    string // the name the server is told, e.g. "photo.jpg"
	ContentType string // e.g. "image/jpeg"; "" means application/octet-stream
	Path        string // where it is read from, when the body is read
	Size        int64  // its size; reading the body fails if the file's differs
}

// Multipart is a multipart/form-data body: fields, then files. It can be
// read any number of times (Open), for a retry.
type Multipart struct {
	boundary string
	pieces   []piece
	length   int64
}

// piece is a run of the body: literal text, or a file's contents.
type piece struct {
	text string
	file *FilePart
}

// NewMultipart lays out a body with a random boundary.
func NewMultipart(fields []Field, files []FilePart) (*Multipart, error) {
	return NewMultipartBoundary("pitweet-"+rand.Text(), fields, files)
}

// NewMultipartBoundary lays out a body with the given boundary, for tests
// and explanations: 1 to 70 characters, letters, digits and ' + _ - .
// (RFC 2046 allows a few more, which would need quoting in Content-Type).
// A field value that holds the boundary is refused.
func NewMultipartBoundary(boundary string, fields []Field, files []FilePart) (*Multipart, error) {
	if len(boundary) < 1 || len(boundary) > 70 || strings.IndexFunc(boundary, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("'+_-.", r))
	}) >= 0 {
		return nil, fmt.Errorf("media: bad multipart boundary %q", boundary)
	}
	m := &Multipart{boundary: boundary}
	delim := "--" + boundary
	sep := delim + "\r\n" // before the first part
	for _, f := range fields {
		if err := checkHeaderValue("field name", f.Name); err != nil {
			return nil, err
		}
		if strings.Contains(f.Value, delim) {
			return nil, fmt.Errorf("media: the value of field %q contains the multipart boundary", f.Name)
		}
		m.add(piece{text: sep + `Content-Disposition: form-data; name="` + quoteEscaper.Replace(f.Name) + "\"\r\n\r\n" + f.Value})
		sep = "\r\n" + delim + "\r\n"
	}
	for i := range files {
		f := &files[i]
		ct := f.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		for _, v := range [][2]string{{"field name", f.Name}, {"file name", f.Filename}, {"content type", ct}} {
			if err := checkHeaderValue(v[0], v[1]); err != nil {
				return nil, err
			}
		}
		if f.Size < 0 || f.Path == "" {
			return nil, fmt.Errorf("media: file part %q has no file", f.Name)
		}
		fp := *f
		fp.ContentType = ct
		m.add(piece{text: sep + `Content-Disposition: form-data; name="` + quoteEscaper.Replace(f.Name) +
			`"; filename="` + quoteEscaper.Replace(f.Filename) + "\"\r\nContent-Type: " + ct + "\r\n\r\n"})
		m.add(piece{file: &fp})
		sep = "\r\n" + delim + "\r\n"
	}
	if len(m.pieces) == 0 {
		return nil, errors.New("media: a multipart body needs at least one part")
	}
	m.add(piece{text: "\r\n" + delim + "--\r\n"})
	return m, nil
}

// quoteEscaper escapes a quoted-string's backslashes and quotes, as
// mime/multipart does.
var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func checkHeaderValue(what, v string) error {
	if v == "" && what != "file name" {
		return fmt.Errorf("media: multipart %s is empty", what)
	}
	if strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
		return fmt.Errorf("media: multipart %s %q contains a control character", what, v)
	}
	if what == "content type" && strings.TrimSpace(v) != v {
		return fmt.Errorf("media: multipart content type %q starts or ends with white space", v)
	}
	return nil
}

func (m *Multipart) add(p piece) {
	if p.file != nil {
		m.length += p.file.Size
	} else {
		m.length += int64(len(p.text))
		if n := len(m.pieces); n > 0 && m.pieces[n-1].file == nil {
			m.pieces[n-1].text += p.text
			return
		}
	}
	m.pieces = append(m.pieces, p)
}

// Parts calls text with each run of the body's own bytes (boundaries and
// part headers) and file with each file whose contents come next, in the
// order they are sent: the body is their concatenation. A sender that
// streams files itself (and shows the text runs) lays out the body so.
func (m *Multipart) Parts(text func(string), file func(FilePart)) {
	for _, p := range m.pieces {
		if p.file != nil {
			file(*p.file)
		} else {
			text(p.text)
		}
	}
}

// Boundary returns the boundary.
func (m *Multipart) Boundary() string { return m.boundary }

// ContentType returns the Content-Type header value for the body.
func (m *Multipart) ContentType() string { return "multipart/form-data; boundary=" + m.boundary }

// ContentLength returns the exact length of the body in bytes.
func (m *Multipart) ContentLength() int64 { return m.length }

// Open returns the body as a stream from its beginning. It checks first
// that every file is there with the size it was given; each file is then
// opened when the stream reaches it and closed when it is read. Reading
// fails (never yields a body of another length) if a file changed size.
// Close the stream when done with it.
func (m *Multipart) Open() (io.ReadCloser, error) {
	for _, p := range m.pieces {
		if p.file != nil {
			if err := checkSize(p.file); err != nil {
				return nil, err
			}
		}
	}
	return &bodyReader{pieces: m.pieces}, nil
}

// WriteTo writes the body to w, reading the files as it goes.
func (m *Multipart) WriteTo(w io.Writer) (int64, error) {
	r, err := m.Open()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(w, r)
}

func checkSize(f *FilePart) error {
	st, err := os.Stat(f.Path)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if st.Size() != f.Size {
		return fmt.Errorf("media: %s is now %d bytes, not the %d the request was laid out for", f.Path, st.Size(), f.Size)
	}
	return nil
}

// bodyReader reads the pieces in turn. After an error it returns that
// error for ever.
type bodyReader struct {
	pieces []piece
	text   strings.Reader
	file   *os.File
	left   int64 // bytes of file still to read
	inText bool
	err    error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.read(p)
	if err != nil {
		b.err = err
		b.Close()
	}
	return n, err
}

func (b *bodyReader) read(p []byte) (int, error) {
	for {
		switch {
		case b.inText:
			if n, _ := b.text.Read(p); n > 0 || len(p) == 0 {
				return n, nil
			}
			b.inText = false
		case b.file != nil:
			if b.left == 0 {
				b.file.Close()
				b.file = nil
				continue
			}
			n, err := b.file.Read(p[:min(int64(len(p)), b.left)])
			b.left -= int64(n)
			if n > 0 || len(p) == 0 {
				return n, nil
			}
			if err == io.EOF || err == nil {
				err = fmt.Errorf("media: %s ended %d bytes early: %w", b.file.Name(), b.left, io.ErrUnexpectedEOF)
			}
			return 0, err
		case len(b.pieces) == 0:
			return 0, io.EOF
		default:
			next := b.pieces[0]
			b.pieces = b.pieces[1:]
			if next.file == nil {
				b.text.Reset(next.text)
				b.inText = true
				continue
			}
			f, err := os.Open(next.file.Path)
			if err != nil {
				return 0, fmt.Errorf("media: %w", err)
			}
			st, err := f.Stat()
			if err == nil && st.Size() != next.file.Size {
				err = fmt.Errorf("media: %s is now %d bytes, not the %d the request was laid out for", next.file.Path, st.Size(), next.file.Size)
			}
			if err != nil {
				f.Close()
				return 0, err
			}
			b.file, b.left = f, next.file.Size
		}
	}
}

func (b *bodyReader) Close() error {
	if b.file != nil {
		err := b.file.Close()
		b.file = nil
		return err
	}
	return nil
}

// Layout renders the body for a reader: every line as it goes on the
// wire, its CRLF shown as ⏎, each file's bytes replaced by a note of their
// size. Control characters in field values are shown escaped.
func (m *Multipart) Layout() string {
	var b strings.Builder
	for _, p := range m.pieces {
		if p.file != nil {
			fmt.Fprintf(&b, "[%s bytes of %s, read from %s when sent]", groupDigits(p.file.Size), p.file.ContentType, p.file.Path)
			continue
		}
		for i, line := range strings.Split(p.text, "\r\n") {
			if i > 0 {
				b.WriteString("⏎\n")
			}
			b.WriteString(escapeControls(line))
		}
	}
	return b.String()
}

// escapeControls shows control characters as Go escapes.
func escapeControls(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// groupDigits writes n with thousands separators: 4,999,000.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
