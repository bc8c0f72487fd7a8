package httpd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// This file reads HTTP/1.1 requests (RFC 9112), the other half of the wire
// format that package sender writes:
//
//	POST /2/tweets HTTP/1.1\r\n
//	Host: api.x.com\r\n
//	Authorization: OAuth oauth_consumer_key="…", …\r\n
//	Content-Type: application/json\r\n
//	Content-Length: 28\r\n
//	\r\n
//	{"text":"Hello from the Pi"}
//
// It is stricter than net/http where strictness costs nothing: the target
// must be a path ("/…"; no absolute URL, no "*"), the version HTTP/1.0 or
// HTTP/1.1, header lines may not be folded, chunk size lines carry no
// whitespace, and a request may carry Transfer-Encoding only alone (not
// with Content-Length, and not in HTTP/1.0).

const (
	// maxHead bounds the request line and header fields together.
	maxHead = 16 << 10
	// DefaultMaxBody bounds a request body unless Server.MaxBody says
	// otherwise; a post is far smaller.
	DefaultMaxBody = 1 << 20
)

// A Request is one HTTP request as read from the connection, body included.
type Request struct {
	Method   string // "POST"
	Target   string // as sent: "/1.1/statuses/update.json?status=hi"
	Path     string // Target up to "?", still percent-encoded
	RawQuery string // Target after "?"
	Proto    string // "HTTP/1.1" or "HTTP/1.0"
	Host     string // the Host header
	Header   Header
	Body     []byte

	c *conn // the connection it came on; nil in parser tests
}

// A refusal is a request the server answers with an error status before
// any handler sees it. The connection is closed after the answer: what
// follows on it cannot be trusted to start a request.
type refusal struct {
	status int
	reason string
}

func (e *refusal) Error() string {
	return fmt.Sprintf("httpd: %d %s: %s", e.status, StatusText(e.status), e.reason)
}

func refuse(status int, format string, args ...any) error {
	return &refusal{status, fmt.Sprintf(format, args...)}
}

// errLineTooLong is returned by readLine when a line overruns its budget.
var errLineTooLong = errors.New("httpd: line too long")

// readRequest reads a whole request, head and body, the body at most
// maxBody bytes. It returns io.EOF when the connection ends before a
// request starts, io.ErrUnexpectedEOF when it ends within one, and a
// *refusal for a request to answer with an error.
func readRequest(br *bufio.Reader, maxBody int) (*Request, error) {
	r, err := readHead(br)
	if err != nil {
		return nil, err
	}
	if err := r.readBody(br, maxBody); err != nil {
		return nil, err
	}
	return r, nil
}

// readHead reads the request line and the header fields, up to and
// including the empty line that ends them.
func readHead(br *bufio.Reader) (*Request, error) {
	budget := maxHead
	line, err := readLine(br, &budget)
	if err != nil {
		if errors.Is(err, errLineTooLong) {
			return nil, refuse(414, "request line over %d bytes", maxHead)
		}
		return nil, err // io.EOF here is a connection closed between requests
	}
	r := &Request{Header: Header{}}
	var rest string
	var ok1, ok2 bool
	r.Method, rest, ok1 = strings.Cut(line, " ")
	r.Target, r.Proto, ok2 = strings.Cut(rest, " ")
	if !ok1 || !ok2 || !isToken(r.Method) || !strings.HasPrefix(r.Target, "/") ||
		hasControl(r.Target) || strings.Contains(r.Target, "\t") {
		return nil, refuse(400, "malformed request line %q", line)
	}
	switch p := r.Proto; {
	case p == "HTTP/1.1" || p == "HTTP/1.0":
	case len(p) == len("HTTP/2.0") && strings.HasPrefix(p, "HTTP/") && isDigit(p[5]) && p[6] == '.' && isDigit(p[7]):
		return nil, refuse(505, "unsupported version %q; speak HTTP/1.1", p)
	default:
		return nil, refuse(400, "malformed request line %q", line)
	}
	r.Path, r.RawQuery, _ = strings.Cut(r.Target, "?")
	if !validEscapes(r.Path) {
		return nil, refuse(400, "malformed percent-encoding in %q", r.Path)
	}

	for {
		line, err := readLine(br, &budget)
		if errors.Is(err, errLineTooLong) {
			return nil, refuse(431, "request line and header fields over %d bytes", maxHead)
		}
		if err != nil {
			return nil, unexpected(err)
		}
		if line == "" {
			break
		}
		// Reasons quote no header value: it may be the Authorization.
		name, value, ok := strings.Cut(line, ":")
		switch {
		case line[0] == ' ' || line[0] == '\t':
			return nil, refuse(400, "folded header line; send each field on one line")
		case !ok:
			return nil, refuse(400, "malformed header line %q", truncate(line, 40))
		case !isToken(name):
			return nil, refuse(400, "malformed header name %q", truncate(name, 40))
		}
		value = strings.Trim(value, " \t")
		if hasControl(value) {
			return nil, refuse(400, "header %s has a control character", name)
		}
		r.Header.Add(name, value)
	}

	switch hosts := r.Header["Host"]; {
	case len(hosts) > 1:
		return nil, refuse(400, "%d Host headers; send one", len(hosts))
	case len(hosts) == 1 && !validHost(hosts[0]):
		return nil, refuse(400, "malformed Host header %q", hosts[0])
	case len(hosts) == 1:
		r.Host = hosts[0]
	case r.Proto == "HTTP/1.1":
		return nil, refuse(400, "no Host header; HTTP/1.1 requires one")
	}
	return r, nil
}

// readBody reads the body the header fields announce, at most maxBody
// bytes: Content-Length bytes, or chunks for Transfer-Encoding: chunked, or
// nothing.
func (r *Request) readBody(br *bufio.Reader, maxBody int) error {
	te, cl := r.Header["Transfer-Encoding"], r.Header["Content-Length"]
	switch {
	case len(te) > 0 && len(cl) > 0:
		return refuse(400, "both Transfer-Encoding and Content-Length; send one")
	case len(te) > 0 && r.Proto == "HTTP/1.0":
		return refuse(400, "Transfer-Encoding in an HTTP/1.0 request")
	case len(te) > 0:
		if len(te) > 1 || !strings.EqualFold(te[0], "chunked") {
			return refuse(501, "unsupported Transfer-Encoding %q; use chunked", strings.Join(te, ", "))
		}
		body, err := readChunked(br, maxBody)
		r.Body = body
		return err
	case len(cl) > 0:
		n, err := strconv.ParseUint(cl[0], 10, 63)
		if err != nil {
			return refuse(400, "malformed Content-Length %q", cl[0])
		}
		for _, v := range cl[1:] {
			if v != cl[0] {
				return refuse(400, "Content-Length headers disagree: %q", strings.Join(cl, ", "))
			}
		}
		if n > uint64(maxBody) {
			return refuse(413, "body of %d bytes is over the limit of %d", n, maxBody)
		}
		r.Body = make([]byte, n)
		if _, err := io.ReadFull(br, r.Body); err != nil {
			return unexpected(err)
		}
	}
	return nil
}

// readChunked reads a chunked body of at most limit bytes:
//
//	1c\r\n
//	{"text":"Hello from the Pi"}\r\n
//	0\r\n
//	\r\n
//
// Chunk extensions (";name=value" after the size) and trailer fields are
// read and dropped.
func readChunked(br *bufio.Reader, limit int) ([]byte, error) {
	var body []byte
	budget := maxHead // for size lines and trailer fields together
	for {
		line, err := readChunkLine(br, &budget)
		if err != nil {
			return nil, err
		}
		hex, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseUint(hex, 16, 63)
		if err != nil || len(hex) > 16 { // 16 hex digits at most, as net/http
			return nil, refuse(400, "malformed chunk size line %q", line)
		}
		if size > uint64(limit-len(body)) {
			return nil, refuse(413, "chunked body over the limit of %d bytes", limit)
		}
		if size == 0 {
			break
		}
		n := len(body)
		body = append(body, make([]byte, size)...)
		if _, err := io.ReadFull(br, body[n:]); err != nil {
			return nil, unexpected(err)
		}
		if end, err := readChunkLine(br, &budget); err != nil || end != "" {
			if err == nil {
				err = refuse(400, "chunk of %d bytes followed by %q, not CRLF", size, end)
			}
			return nil, err
		}
	}
	for { // trailer fields, up to an empty line
		line, err := readChunkLine(br, &budget)
		if err != nil {
			return nil, err
		}
		if line == "" {
			return body, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) {
			return nil, refuse(400, "malformed trailer line %q", line)
		}
		if hasControl(strings.Trim(value, " \t")) {
			return nil, refuse(400, "trailer %s has a control character", name)
		}
	}
}

// readChunkLine reads a line of the chunked framing: a size line, the end
// of a chunk, or a trailer line. Unlike a header line it must end in CRLF:
// a bare LF is refused (RFC 9112, erratum 7633).
func readChunkLine(br *bufio.Reader, budget *int) (string, error) {
	raw, err := readRawLine(br, budget)
	if err != nil {
		return "", chunkLineError(err)
	}
	line, ok := strings.CutSuffix(raw, "\r\n")
	if !ok || strings.Contains(line, "\r") {
		return "", refuse(400, "chunked framing line %q does not end in CRLF", raw)
	}
	if len(line) >= 4096 {
		return "", refuse(400, "chunk size line over 4096 bytes")
	}
	return line, nil
}

func chunkLineError(err error) error {
	if errors.Is(err, errLineTooLong) {
		return refuse(400, "chunk size lines and trailers over %d bytes", maxHead)
	}
	return unexpected(err)
}

// readLine reads one line and returns it without its CRLF (or bare LF).
func readLine(br *bufio.Reader, budget *int) (string, error) {
	line, err := readRawLine(br, budget)
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

// readRawLine reads one line, its "\n" included, charging its length to
// *budget. A line that would overrun the budget returns errLineTooLong.
func readRawLine(br *bufio.Reader, budget *int) (string, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		*budget -= len(frag)
		if *budget < 0 {
			return "", errLineTooLong
		}
		line = append(line, frag...)
		if err == nil {
			return string(line), nil
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}

// truncate returns s cut to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// unexpected turns io.EOF within a request into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// isToken reports whether s is an RFC 9110 token, as methods and header
// names must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// validEscapes reports whether every "%" in s starts an escape such as %2F.
func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// validHost reports whether h is made of the bytes a host and port can
// hold: letters, digits, "-._~", sub-delimiters, "%" for escapes and IPv6
// zones, ":" and brackets for ports and IPv6 addresses.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) ||
			strings.IndexByte("-._~!$&'()*+,;=%:[]", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// hasControl reports whether s holds an ASCII control character other
// than tab, which may appear in header values.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// keepAlive reports whether the client lets the connection carry another
// request after this one. HTTP/1.0 connections are closed after one.
func (r *Request) keepAlive() bool {
	if r.Proto != "HTTP/1.1" {
		return false
	}
	for _, v := range r.Header["Connection"] {
		for _, opt := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(opt), "close") {
				return false
			}
		}
	}
	return true
}

// MediaType returns the media type of a Content-Type value, lower case and
// without parameters: "application/json" for "application/json; charset=utf-8".
func MediaType(contentType string) string {
	t, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// A Header holds header fields by canonical name ("Content-Type" for
// "content-type"), as field names are case-insensitive.
type Header map[string][]string

// Get returns the first value of the named field, or "".
func (h Header) Get(name string) string {
	if v := h[canonical(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the named field's values with value.
func (h Header) Set(name, value string) { h[canonical(name)] = []string{value} }

// Add appends value to the named field's values.
func (h Header) Add(name, value string) {
	k := canonical(name)
	h[k] = append(h[k], value)
}

// Del removes the named field.
func (h Header) Del(name string) { delete(h, canonical(name)) }

// canonical returns a field name with the first letter and every letter
// after a hyphen upper case, the rest lower case: "X-Rate-Limit-Reset".
func canonical(name string) string {
	b := []byte(name)
	upper := true
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}
