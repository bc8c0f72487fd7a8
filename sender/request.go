package sender

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Request is one HTTP/1.1 request as a service client builds it; the
// Transport adds Host, User-Agent and Connection. The header fields are
// always written in the same order, so the bytes are reproducible:
//
//	Host, User-Agent, Accept, Content-Type, Content-Length, Authorization,
//	the fields of Header in their order, Connection
//
// Content-Type and Content-Length are written when the method is POST, PUT
// or PATCH, or a body is present; Authorization when it is set. Connection
// is "close" (one request per connection) unless the transport keeps
// connections alive.
type Request struct {
	Method        string // "GET", "POST", ...
	Target        string // origin-form: path and optional query, e.g. "/2/tweets"
	Accept        string // "" means application/json
	ContentType   string
	Authorization string        // e.g. an OAuth 1.0a header, or "Bearer " and a token
	Header        []Field       // further fields, e.g. Idempotency-Key
	Body          *Body         // nil: no body
	Timeout       time.Duration // for this request, dial to last byte; 0 means the transport's
}

// Field is one request header field.
type Field struct{ Name, Value string }

// reserved are the fields that Header may not carry: the transport writes
// them (Host, Content-Length, Connection), Request has a field for them,
// or they would change how the message is framed or answered.
var reserved = map[string]string{
	"host":              "the transport writes it",
	"content-length":    "the transport writes it from the body",
	"connection":        "the transport writes it",
	"user-agent":        "the transport writes it",
	"accept":            "use Request.Accept",
	"content-type":      "use Request.ContentType",
	"authorization":     "use Request.Authorization",
	"transfer-encoding": "bodies are sent with a Content-Length",
	"te":                "the transport reads no transfer codings but chunked",
	"trailer":           "requests carry no trailer",
	"upgrade":           "the transport does not switch protocols",
	"keep-alive":        "the transport manages connections",
	"proxy-connection":  "the transport manages connections",
	"expect":            "the transport does not wait for 100 Continue",
}

// head returns the request line and header block, ending in the empty
// line. It refuses fields that would let one header spill into another.
func (r *Request) head(host, userAgent string, keepAlive bool) ([]byte, error) {
	if r.Method == "" || !isToken(r.Method) {
		return nil, fmt.Errorf("sender: bad request method %q", r.Method)
	}
	if !strings.HasPrefix(r.Target, "/") || !validValue(r.Target) || strings.ContainsAny(r.Target, " \t") {
		return nil, fmt.Errorf("sender: bad request target %q", r.Target)
	}
	if host == "" {
		return nil, errors.New("sender: request has no Host")
	}
	if r.Body != nil && r.Body.err != nil {
		return nil, r.Body.err
	}
	accept := r.Accept
	if accept == "" {
		accept = "application/json"
	}
	for _, f := range [][2]string{
		{"Host", host}, {"User-Agent", userAgent}, {"Accept", accept}, {"Content-Type", r.ContentType}, {"Authorization", r.Authorization},
	} {
		if !validValue(f[1]) {
			return nil, fmt.Errorf("sender: %s contains a control character (a line break or NUL)", f[0])
		}
	}
	size := 256 + len(r.Authorization)
	for _, f := range r.Header {
		if f.Name == "" || !isToken(f.Name) {
			return nil, fmt.Errorf("sender: bad header field name %q", f.Name)
		}
		if why, ok := reserved[strings.ToLower(f.Name)]; ok {
			return nil, fmt.Errorf("sender: header field %s may not be set here: %s", f.Name, why)
		}
		if !validValue(f.Value) {
			return nil, fmt.Errorf("sender: header field %s contains a control character (a line break or NUL)", f.Name)
		}
		size += len(f.Name) + len(f.Value) + 4
	}

	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(r.Method + " " + r.Target + " HTTP/1.1\r\n")
	b.WriteString("Host: " + host + "\r\n")
	if userAgent != "" {
		b.WriteString("User-Agent: " + userAgent + "\r\n")
	}
	b.WriteString("Accept: " + accept + "\r\n")
	if r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH" || r.Body.Len() > 0 {
		if r.ContentType != "" {
			b.WriteString("Content-Type: " + r.ContentType + "\r\n")
		}
		b.WriteString("Content-Length: " + strconv.FormatInt(r.Body.Len(), 10) + "\r\n")
	}
	if r.Authorization != "" {
		b.WriteString("Authorization: " + r.Authorization + "\r\n")
	}
	for _, f := range r.Header {
		b.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	if keepAlive {
		b.WriteString("Connection: keep-alive\r\n\r\n")
	} else {
		b.WriteString("Connection: close\r\n\r\n")
	}
	return b.Bytes(), nil
}

// validValue reports whether s may be written as a field value: no control
// characters but tab (RFC 9110 section 5.5), so no line break or NUL.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if !validValueByte(s[i]) {
			return false
		}
	}
	return true
}

// Body is a request body of known length, made of parts written in order:
// bytes held in memory, and streams, each opened anew for every attempt
// and read to its stated size, so a large file is sent from disk without
// being held in memory and a retry sends the same body again. A nil *Body
// is an empty body. Build one with BytesBody, or with Append and
// AppendStream on a new(Body).
type Body struct {
	parts []bodyPart
	n     int64
	err   error // a part that cannot be sent; Transport.Do and Render return it
}

type bodyPart struct {
	data  []byte
	size  int64
	label string
	open  func() (io.ReadCloser, error) // nil for bytes
}

// BytesBody returns a body of the bytes b.
func BytesBody(b []byte) *Body { return new(Body).Append(b) }

// Append adds the bytes p to the body and returns it.
func (b *Body) Append(p []byte) *Body {
	if len(p) > 0 {
		b.parts = append(b.parts, bodyPart{data: p, size: int64(len(p))})
		b.n += int64(len(p))
	}
	return b
}

// AppendStream adds size bytes read from what open returns (a file, for
// example; it is opened for each attempt and closed after), and returns the
// body. An attempt whose stream ends early or holds more than size bytes
// fails, and the connection is closed with the request incomplete. label
// names the stream where Transport.Render leaves its bytes out.
func (b *Body) AppendStream(size int64, label string, open func() (io.ReadCloser, error)) *Body {
	if (size < 0 || open == nil) && b.err == nil {
		b.err = fmt.Errorf("sender: the request body's %s has no size or no way to open it", label)
		return b
	}
	b.parts = append(b.parts, bodyPart{size: size, label: label, open: open})
	b.n += size
	return b
}

// Len returns the body's length in bytes, the Content-Length.
func (b *Body) Len() int64 {
	if b == nil {
		return 0
	}
	return b.n
}

// render returns the body as Transport.Render shows it: bytes as they are,
// each stream as "[N bytes: label, not shown]".
func (b *Body) render() []byte {
	if b == nil {
		return nil
	}
	var out []byte
	for _, p := range b.parts {
		if p.open == nil {
			out = append(out, p.data...)
		} else {
			out = fmt.Appendf(out, "[%d bytes: %s, not shown]", p.size, p.label)
		}
	}
	return out
}

// streamBuffer is the size of the reads a streamed part is sent in.
const streamBuffer = 32 << 10

// writeTo writes head and then the body to w: head with the bytes parts
// that follow it in one write, so a small request goes in one TLS record,
// and each stream in reads of streamBuffer. A failure to read a stream is
// a *bodyError; a failure to write is returned as it is.
func (b *Body) writeTo(w io.Writer, head []byte) error {
	pending := head
	var buf []byte
	var parts []bodyPart
	if b != nil {
		parts = b.parts
	}
	for _, p := range parts {
		if p.open == nil {
			pending = append(pending, p.data...)
			continue
		}
		if len(pending) > 0 {
			if _, err := w.Write(pending); err != nil {
				return err
			}
			pending = nil
		}
		if buf == nil {
			buf = make([]byte, streamBuffer)
		}
		if err := p.copyTo(w, buf); err != nil {
			return err
		}
	}
	if len(pending) > 0 {
		if _, err := w.Write(pending); err != nil {
			return err
		}
	}
	return nil
}

// copyTo writes exactly p.size bytes of p's stream to w. A stream longer
// than stated was changed after its size was taken: that is found before
// its last bytes are written, so the server never gets a complete request
// that is not what was meant.
func (p *bodyPart) copyTo(w io.Writer, buf []byte) error {
	rc, err := p.open()
	if err != nil {
		return &bodyError{fmt.Errorf("sender: open %s for the request body: %w", p.label, err)}
	}
	defer rc.Close()
	r := progressReader{r: rc}
	var sent int64
	for sent < p.size {
		chunk := buf[:min(int64(len(buf)), p.size-sent)]
		n, rerr := r.Read(chunk)
		if rerr != nil && rerr != io.EOF {
			return &bodyError{fmt.Errorf("sender: read %s for the request body: %w", p.label, rerr)}
		}
		if sent+int64(n) == p.size && rerr == nil {
			if err := atEOF(r, p); err != nil {
				return err
			}
		}
		if n > 0 {
			if _, err := w.Write(chunk[:n]); err != nil {
				return err
			}
			sent += int64(n)
		}
		if rerr == io.EOF && sent < p.size {
			return &bodyError{fmt.Errorf("sender: %s ended after %d of its %d bytes; was it changed while being sent?", p.label, sent, p.size)}
		}
	}
	if p.size == 0 {
		return atEOF(r, p)
	}
	return nil
}

// atEOF checks that r, p's stream, has nothing more to give.
func atEOF(r io.Reader, p *bodyPart) error {
	var one [1]byte
	n, err := r.Read(one[:])
	switch {
	case n > 0:
		return &bodyError{fmt.Errorf("sender: %s holds more than its %d bytes; was it changed while being sent?", p.label, p.size)}
	case err != nil && err != io.EOF:
		return &bodyError{fmt.Errorf("sender: read %s for the request body: %w", p.label, err)}
	}
	return nil
}

// progressReader reads from r, retrying a read that returns nothing and
// no error, up to 100 times in a row (as bufio does), then failing with
// io.ErrNoProgress rather than spinning.
type progressReader struct{ r io.Reader }

func (p progressReader) Read(b []byte) (int, error) {
	for range 100 {
		n, err := p.r.Read(b)
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, io.ErrNoProgress
}

// bodyError is a failure to read a request's body, not the network's: it
// does not wrap ErrTransient.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }
