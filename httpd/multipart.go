package httpd

import (
	"bytes"
	"fmt"
	"mime"
	"strings"
)

// This file reads multipart/form-data bodies (RFC 7578, framed as RFC 2046
// says), the encoding of file uploads:
//
//	--pitweet4f1c\r\n
//	Content-Disposition: form-data; name="description"\r\n
//	\r\n
//	A doorbell\r\n
//	--pitweet4f1c\r\n
//	Content-Disposition: form-data; name="file"; filename="door.jpg"\r\n
//	Content-Type: image/jpeg\r\n
//	\r\n
//	<the JPEG's bytes>\r\n
//	--pitweet4f1c--\r\n
//
// Lines of the framing end in CRLF, as the RFC says and every client
// sends; a preamble before the first boundary (up to 1 KiB, without the
// boundary in it) and an epilogue after the last are allowed and dropped.

const (
	maxParts      = 100     // parts in one body
	maxPartHeader = 8 << 10 // header bytes of one part
	maxBoundary   = 70      // RFC 2046
	maxPreamble   = 1 << 10 // bytes before the first boundary
	maxPadding    = 128     // spaces and tabs after a boundary
	bcharsnospace = "'()+_,-./:=?"
)

// A Part is one part of a multipart/form-data body.
type Part struct {
	Name        string // the form field's name, from Content-Disposition
	Filename    string // the file's name, "" for a plain field
	ContentType string // the part's Content-Type as sent, "" if it has none
	Header      Header
	Body        []byte
}

// Multipart returns the parts of r's multipart/form-data body.
func (r *Request) Multipart() ([]Part, error) {
	return ParseMultipart(r.Header.Get("Content-Type"), r.Body)
}

// ParseMultipart returns the parts of a multipart/form-data body whose
// Content-Type header is contentType.
func ParseMultipart(contentType string, body []byte) ([]Part, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("httpd: Content-Type %q: %w", truncate(contentType, 80), err)
	}
	if mt != "multipart/form-data" {
		return nil, fmt.Errorf("httpd: Content-Type is %s, not multipart/form-data", mt)
	}
	boundary := params["boundary"]
	if err := checkBoundary(boundary); err != nil {
		return nil, err
	}
	delim := []byte("--" + boundary)

	// The first boundary starts the body or follows the preamble's CRLF.
	var rest []byte
	if bytes.HasPrefix(body, delim) {
		rest = body[len(delim):]
	} else {
		i := findDelimiter(body, delim)
		if i < 0 {
			return nil, fmt.Errorf("httpd: multipart body has no boundary %q", boundary)
		}
		if i > maxPreamble {
			return nil, fmt.Errorf("httpd: multipart preamble over %d bytes; send none", maxPreamble)
		}
		// A boundary in the preamble that lacks the CR before it is not a
		// delimiter by RFC 2046, but readers disagree on it (Go's
		// mime/multipart starts the first part there), so it is refused.
		if bytes.Contains(body[:i], delim) {
			return nil, fmt.Errorf("httpd: multipart preamble has the boundary without a CRLF before it; send no preamble, or one without the boundary")
		}
		rest = body[i+2+len(delim):]
	}
	var parts []Part
	for {
		// rest starts just after a delimiter.
		if after, ok := bytes.CutPrefix(rest, []byte("--")); ok {
			if after, err = trimPadding(after); err != nil {
				return nil, err
			}
			if len(after) > 0 && !bytes.HasPrefix(after, []byte("\r\n")) {
				return nil, fmt.Errorf("httpd: multipart close boundary line does not end in CRLF")
			}
			if len(parts) == 0 {
				return nil, fmt.Errorf("httpd: multipart body has no parts")
			}
			return parts, nil // the epilogue is dropped
		}
		if rest, err = trimPadding(rest); err != nil {
			return nil, err
		}
		var ok bool
		if rest, ok = bytes.CutPrefix(rest, []byte("\r\n")); !ok {
			return nil, fmt.Errorf("httpd: multipart boundary line does not end in CRLF")
		}
		if len(parts) == maxParts {
			return nil, fmt.Errorf("httpd: multipart body has over %d parts", maxParts)
		}
		p, after, err := readPart(rest, delim)
		if err != nil {
			return nil, fmt.Errorf("httpd: multipart part %d: %w", len(parts)+1, err)
		}
		parts = append(parts, p)
		rest = after
	}
}

// trimPadding drops the transport padding (spaces and tabs) that may
// follow a boundary. Readers hold a boundary line whole (Go's
// mime/multipart in 4 KiB), so a long one is refused.
func trimPadding(b []byte) ([]byte, error) {
	rest := bytes.TrimLeft(b, " \t")
	if len(b)-len(rest) > maxPadding {
		return nil, fmt.Errorf("httpd: multipart boundary line has over %d bytes of padding", maxPadding)
	}
	return rest, nil
}

// checkBoundary reports whether b is a boundary RFC 2046 allows: 1 to 70
// characters of letters, digits and "'()+_,-./:=? ", not ending in a space.
func checkBoundary(b string) error {
	if b == "" || len(b) > maxBoundary || b[len(b)-1] == ' ' {
		return fmt.Errorf("httpd: multipart boundary %q must be 1 to 70 characters, not ending in a space", truncate(b, 80))
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == ' ' || strings.IndexByte(bcharsnospace, c) >= 0) {
			return fmt.Errorf("httpd: multipart boundary %q has a character RFC 2046 does not allow", truncate(b, 80))
		}
	}
	return nil
}

// findDelimiter returns the index of the CRLF before the next delimiter
// in b: CRLF and the delimiter, followed by "--", a space, a tab, CR or LF
// (what follows is checked by the caller). It returns -1 if there is none.
func findDelimiter(b, delim []byte) int {
	for off := 0; ; {
		i := bytes.Index(b[off:], delim)
		if i < 0 {
			return -1
		}
		i += off
		off = i + 1
		if i < 2 || b[i-2] != '\r' || b[i-1] != '\n' || i+len(delim) >= len(b) {
			continue
		}
		switch after := b[i+len(delim):]; after[0] {
		case ' ', '\t', '\r', '\n':
			return i - 2
		case '-':
			if len(after) > 1 && after[1] == '-' {
				return i - 2
			}
		}
	}
}

// readPart reads one part's header fields and content from b, which
// starts just after a boundary line, and returns the rest after the next
// delimiter.
func readPart(b, delim []byte) (Part, []byte, error) {
	p := Part{Header: Header{}}
	head := 0
	for {
		end := bytes.Index(b, []byte("\r\n"))
		if end < 0 {
			return Part{}, nil, fmt.Errorf("header fields do not end")
		}
		line := string(b[:end])
		b = b[end+2:]
		head += end + 2
		if head > maxPartHeader {
			return Part{}, nil, fmt.Errorf("header fields over %d bytes", maxPartHeader)
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		switch {
		case line[0] == ' ' || line[0] == '\t':
			return Part{}, nil, fmt.Errorf("folded header line")
		case !ok || !isToken(name):
			return Part{}, nil, fmt.Errorf("malformed header line %q", truncate(line, 40))
		}
		value = strings.Trim(value, " \t")
		if hasControl(value) || strings.ContainsRune(value, '\n') {
			return Part{}, nil, fmt.Errorf("header %s has a control character", name)
		}
		p.Header.Add(name, value)
	}

	cd := p.Header.Get("Content-Disposition")
	disposition, params, err := mime.ParseMediaType(cd)
	switch {
	case cd == "":
		return Part{}, nil, fmt.Errorf("no Content-Disposition; each part needs form-data; name=\"…\"")
	case err != nil:
		return Part{}, nil, fmt.Errorf("Content-Disposition %q: %w", truncate(cd, 80), err)
	case disposition != "form-data":
		return Part{}, nil, fmt.Errorf("Content-Disposition is %q, not form-data", disposition)
	case params["name"] == "":
		return Part{}, nil, fmt.Errorf("Content-Disposition has no name")
	}
	p.Name, p.Filename = params["name"], params["filename"]
	p.ContentType = p.Header.Get("Content-Type")
	switch te := strings.ToLower(p.Header.Get("Content-Transfer-Encoding")); te {
	case "", "binary", "8bit", "7bit":
	default:
		return Part{}, nil, fmt.Errorf("Content-Transfer-Encoding %q; send the content as it is (binary)", te)
	}

	// A delimiter right after the blank line has no CRLF of its own: by
	// RFC 2046 it is content, where a boundary may not appear, and readers
	// disagree on it (Go's mime/multipart takes it for an empty part).
	if bytes.HasPrefix(b, delim) {
		return Part{}, nil, fmt.Errorf("content begins with the boundary; an empty part is the blank line, then CRLF and the boundary")
	}
	end := findDelimiter(b, delim)
	if end < 0 {
		return Part{}, nil, fmt.Errorf("content does not end with a boundary")
	}
	p.Body = b[:end]
	return p, b[end+2+len(delim):], nil
}
