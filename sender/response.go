package sender

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Bounds on what ReadResponse accepts. A response that goes past one is
// refused with an error wrapping ErrProtocol: X's answers are a few hundred
// bytes, so anything this large is not X.
const (
	MaxHeaderBytes = 64 << 10 // status line plus header block, and again for trailers
	MaxHeaders     = 100      // header fields, and again for trailer fields
	MaxBodyBytes   = 1 << 20  // decoded body
	maxChunkLine   = 4096     // one chunk-size line, extensions included
)

// Header holds response header fields. Keys are lower case; values keep
// their order of arrival, with surrounding spaces and tabs removed.
type Header map[string][]string

// Get returns the first value of the named field, or "" when it is absent.
// The name is matched without regard to case.
func (h Header) Get(name string) string {
	if v := h[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Response is one parsed HTTP/1.x response, body read in full.
type Response struct {
	Proto      string // "HTTP/1.1" or "HTTP/1.0"
	StatusCode int    // 100..999
	Reason     string // may be empty
	Header     Header
	Body       []byte
	Trailer    Header // fields after a chunked body; nil when none
}

// Reusable reports whether the connection that carried resp may carry
// another request: HTTP/1.1, a body framed by Content-Length or chunked
// encoding (not by the end of the stream), and no "Connection: close".
func (resp *Response) Reusable() bool {
	if resp.Proto != "HTTP/1.1" || resp.StatusCode < 200 {
		return false
	}
	for _, v := range resp.Header["connection"] {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "close") {
				return false
			}
		}
	}
	chunked, length, err := framing(resp)
	return err == nil && (chunked || length >= 0 || !bodyAllowed(resp.StatusCode))
}

// ReadResponse reads one response from r: the status line, the header
// block, and the body framed by Transfer-Encoding: chunked, by
// Content-Length, or by the end of the stream when neither is present.
//
// It is stricter than net/http in a few places, on purpose:
//   - only HTTP/1.0 and HTTP/1.1 are accepted;
//   - folded (obs-fold) header lines are refused, not joined;
//   - a response carrying both Transfer-Encoding and Content-Length is
//     refused (RFC 9112 section 6.3 calls it a likely smuggling attempt),
//     and so is Transfer-Encoding in an HTTP/1.0 response (section 6.1);
//   - sizes are bounded by MaxHeaderBytes, MaxHeaders and MaxBodyBytes.
//
// Malformed input gives an error that quotes the bad text and wraps
// ErrProtocol. A stream that ends inside the message gives an error
// wrapping io.ErrUnexpectedEOF, including when it ends before the status
// line: for a client that has sent a request, no answer is a short answer.
func ReadResponse(r *bufio.Reader) (*Response, error) {
	resp, err := readResponseHead(r)
	if err != nil {
		return nil, err
	}
	// The framing fields are checked even when no body may follow, as
	// net/http does.
	chunked, length, err := framing(resp)
	if err != nil {
		return nil, err
	}
	if !bodyAllowed(resp.StatusCode) {
		return resp, nil
	}
	switch {
	case chunked:
		err = readChunked(r, resp)
	case length >= 0:
		err = readLength(r, resp, length)
	default:
		err = readUntilClose(r, resp)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// bodyAllowed reports whether a response with this status may carry a body
// (RFC 9112 section 6.3: 1xx, 204 and 304 never do).
func bodyAllowed(status int) bool {
	return status >= 200 && status != 204 && status != 304
}

func readResponseHead(r *bufio.Reader) (*Response, error) {
	budget := MaxHeaderBytes
	line, err := readLine(r, &budget, "status line", false)
	if err != nil {
		return nil, err
	}
	resp, err := parseStatusLine(line)
	if err != nil {
		return nil, err
	}
	resp.Header, err = readFields(r, &budget, "header", false)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func parseStatusLine(line string) (*Response, error) {
	proto, rest, ok := strings.Cut(line, " ")
	if !ok {
		return nil, protoErr("malformed status line %q", line)
	}
	if proto != "HTTP/1.1" && proto != "HTTP/1.0" {
		return nil, protoErr("unsupported protocol %q in status line %q", proto, line)
	}
	code, reason, _ := strings.Cut(rest, " ")
	if len(code) != 3 || !allDigits(code) {
		return nil, protoErr("malformed status code %q in status line %q", code, line)
	}
	n, _ := strconv.Atoi(code)
	if n < 100 {
		return nil, protoErr("status code %q out of range in status line %q", code, line)
	}
	return &Response{Proto: proto, StatusCode: n, Reason: reason}, nil
}

// readFields reads header (or trailer) fields up to and including the empty
// line that ends them.
// Trailer lines must end in CRLF, as chunk-size lines must.
func readFields(r *bufio.Reader, budget *int, what string, crlf bool) (Header, error) {
	h := Header{}
	count := 0
	for {
		line, err := readLine(r, budget, what, crlf)
		if err != nil {
			return nil, err
		}
		if line == "" {
			return h, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, protoErr("folded %s line %q: obsolete line folding is not accepted", what, line)
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, protoErr("malformed %s line %q: no colon", what, line)
		}
		if name == "" || !isToken(name) {
			return nil, protoErr("malformed %s name %q in line %q", what, name, line)
		}
		for i := 0; i < len(value); i++ {
			if !validValueByte(value[i]) {
				return nil, protoErr("control character in %s line %q", what, line)
			}
		}
		count++
		if count > MaxHeaders {
			return nil, protoErr("more than %d %s fields", MaxHeaders, what)
		}
		key := strings.ToLower(name)
		h[key] = append(h[key], strings.Trim(value, " \t"))
	}
}

// readLine returns one line without its line ending, charging its length
// to *budget. CRLF ends a line; a bare CR inside the line is refused. A
// bare LF is accepted too (RFC 9112 section 2.2 allows it) unless crlf is
// set: chunk-size lines must end in CRLF, as net/http also insists, so that
// a proxy that reads them differently cannot be used to split a response.
func readLine(r *bufio.Reader, budget *int, what string, crlf bool) (string, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		*budget -= len(frag)
		if *budget < 0 {
			return "", protoErr("%s too long, after %q", what, clip(line))
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF && len(line) == 0 && what == "status line" {
			return "", fmt.Errorf("sender: server closed the connection without answering: %w", io.ErrUnexpectedEOF)
		}
		if err == io.EOF {
			return "", fmt.Errorf("sender: connection closed in the middle of the %s after %q: %w", what, clip(line), io.ErrUnexpectedEOF)
		}
		return "", err
	}
	if crlf && !bytes.HasSuffix(line, []byte("\r\n")) {
		return "", protoErr("%s %q does not end in CRLF", what, clip(line))
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	if i := bytes.IndexByte(line, '\r'); i >= 0 {
		return "", protoErr("bare CR in %s %q", what, clip(line))
	}
	return string(line), nil
}

// framing reads how the body is delimited: chunked, or a Content-Length
// (length >= 0), or neither (length -1: until the connection closes).
func framing(resp *Response) (chunked bool, length int64, err error) {
	te := resp.Header["transfer-encoding"]
	cl := resp.Header["content-length"]
	switch {
	case len(te) > 0 && len(cl) > 0:
		return false, 0, protoErr("response has both Transfer-Encoding %q and Content-Length %q", strings.Join(te, ", "), strings.Join(cl, ", "))
	case len(te) > 0 && resp.Proto == "HTTP/1.0":
		// RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message
		// means the framing is faulty.
		return false, 0, protoErr("HTTP/1.0 response with Transfer-Encoding %q", strings.Join(te, ", "))
	case len(te) > 0:
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return false, 0, protoErr("unsupported Transfer-Encoding %q: only chunked is understood", strings.Join(te, ", "))
		}
		return true, -1, nil
	case len(cl) > 0:
		n, err := parseContentLength(cl)
		return false, n, err
	}
	return false, -1, nil
}

func readLength(r *bufio.Reader, resp *Response, n int64) error {
	if n > MaxBodyBytes {
		return protoErr("Content-Length %d larger than %d bytes", n, MaxBodyBytes)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("sender: connection closed before the %d-byte body was complete: %w", n, io.ErrUnexpectedEOF)
		}
		return err
	}
	resp.Body = body
	return nil
}

func readUntilClose(r *bufio.Reader, resp *Response) error {
	body, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		return err
	}
	if len(body) > MaxBodyBytes {
		return protoErr("body larger than %d bytes", MaxBodyBytes)
	}
	resp.Body = body
	return nil
}

// parseContentLength accepts one or more identical Content-Length values
// made of decimal digits only.
func parseContentLength(values []string) (int64, error) {
	for _, v := range values[1:] {
		if v != values[0] {
			return 0, protoErr("conflicting Content-Length values %q", strings.Join(values, ", "))
		}
	}
	v := values[0]
	if v == "" || !allDigits(v) {
		return 0, protoErr("bad Content-Length %q", v)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, protoErr("Content-Length %q out of range", v)
	}
	return n, nil
}

// readChunked decodes a chunked body (RFC 9112 section 7.1) and its trailer.
func readChunked(r *bufio.Reader, resp *Response) error {
	var body []byte
	for {
		budget := maxChunkLine
		line, err := readLine(r, &budget, "chunk size line", true)
		if err != nil {
			return err
		}
		sizeText, _, _ := strings.Cut(line, ";") // chunk extensions are ignored
		sizeText = strings.TrimRight(sizeText, " \t")
		size, err := parseChunkSize(sizeText)
		if err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if size > uint64(MaxBodyBytes-len(body)) {
			return protoErr("chunked body larger than %d bytes", MaxBodyBytes)
		}
		start := len(body)
		body = append(body, make([]byte, size)...)
		if _, err := io.ReadFull(r, body[start:]); err != nil {
			return unexpected(err, "chunk data")
		}
		var crlf [2]byte
		if _, err := io.ReadFull(r, crlf[:]); err != nil {
			return unexpected(err, "chunk data")
		}
		if crlf != [2]byte{'\r', '\n'} {
			return protoErr("chunk of %d bytes not followed by CRLF but %q", size, crlf[:])
		}
	}
	budget := MaxHeaderBytes
	trailer, err := readFields(r, &budget, "trailer", true)
	if err != nil {
		return err
	}
	if len(trailer) > 0 {
		resp.Trailer = trailer
	}
	if body == nil {
		body = []byte{}
	}
	resp.Body = body
	return nil
}

func parseChunkSize(s string) (uint64, error) {
	if s == "" || len(s) > 16 {
		return 0, protoErr("bad chunk size %q", s)
	}
	n, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, protoErr("bad chunk size %q", s)
	}
	return n, nil
}

func unexpected(err error, what string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("sender: connection closed in the middle of the %s: %w", what, io.ErrUnexpectedEOF)
	}
	return err
}

func protoErr(format string, args ...any) error {
	return fmt.Errorf("sender: bad response from server: %s: %w", fmt.Sprintf(format, args...), ErrProtocol)
}

// clip shortens quoted text in error messages.
func clip(b []byte) string {
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token, the grammar of field names.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validValueByte reports whether c may appear in a field value: visible
// ASCII, space, tab, or obs-text (0x80 and up).
func validValueByte(c byte) bool {
	return c == '\t' || (c >= 0x20 && c != 0x7f)
}
