package sender

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

var readResponseTests = []struct {
	name    string
	raw     string
	status  int
	reason  string
	header  Header
	body    string
	trailer Header
}{
	{
		name:   "content-length",
		raw:    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n" + `{"data":{"id":"1","text":"hello world"}}`,
		status: 201, reason: "Created",
		header: Header{"content-type": {"application/json"}, "content-length": {"40"}},
		body:   `{"data":{"id":"1","text":"hello world"}}`,
	},
	{
		name:   "content-length stops at its count",
		raw:    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
		status: 200, reason: "OK",
		header: Header{"content-length": {"5"}},
		body:   "hello",
	},
	{
		name:   "names are case-insensitive, values trimmed, repeats kept in order",
		raw:    "HTTP/1.1 200 OK\r\nX-Rate-Limit-Remaining:  7 \r\nSET-COOKIE: a\r\nset-cookie: b\r\nContent-Length: 0\r\n\r\n",
		status: 200, reason: "OK",
		header: Header{"x-rate-limit-remaining": {"7"}, "set-cookie": {"a", "b"}, "content-length": {"0"}},
		body:   "",
	},
	{
		name:   "chunked with extension and trailer",
		raw:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n",
		status: 200, reason: "OK",
		header:  Header{"transfer-encoding": {"chunked"}, "trailer": {"X-Checksum"}},
		body:    "hello world",
		trailer: Header{"x-checksum": {"abc"}},
	},
	{
		name:   "chunked, upper-case hex, no trailer",
		raw:    "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
		status: 200, reason: "OK",
		header: Header{"transfer-encoding": {"Chunked"}},
		body:   "0123456789",
	},
	{
		name:   "read until close",
		raw:    "HTTP/1.0 503 Service Unavailable\r\nServer: tsa_b\r\n\r\nover capacity",
		status: 503, reason: "Service Unavailable",
		header: Header{"server": {"tsa_b"}},
		body:   "over capacity",
	},
	{
		name:   "no reason phrase, bare LF line endings",
		raw:    "HTTP/1.1 204\nDate: Tue, 25 Apr 2023 11:28:02 UTC\n\n",
		status: 204,
		header: Header{"date": {"Tue, 25 Apr 2023 11:28:02 UTC"}},
	},
	{
		name:   "304 has no body even with a Content-Length",
		raw:    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		status: 304, reason: "Not Modified",
		header: Header{"content-length": {"10"}},
	},
	{
		name:   "identical repeated Content-Length",
		raw:    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
		status: 200, reason: "OK",
		header: Header{"content-length": {"2", "2"}},
		body:   "ok",
	},
}

func TestReadResponse(t *testing.T) {
	for _, tt := range readResponseTests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ReadResponse(bufio.NewReader(strings.NewReader(tt.raw)))
			if err != nil {
				t.Fatalf("ReadResponse: %v", err)
			}
			if r.StatusCode != tt.status || r.Reason != tt.reason {
				t.Errorf("status = %d %q, want %d %q", r.StatusCode, r.Reason, tt.status, tt.reason)
			}
			if !reflect.DeepEqual(r.Header, tt.header) {
				t.Errorf("header = %q, want %q", r.Header, tt.header)
			}
			if string(r.Body) != tt.body {
				t.Errorf("body = %q, want %q", r.Body, tt.body)
			}
			if !reflect.DeepEqual(r.Trailer, tt.trailer) {
				t.Errorf("trailer = %q, want %q", r.Trailer, tt.trailer)
			}
		})
	}
}

func TestHeaderGet(t *testing.T) {
	h := Header{"x-access-level": {"read-write", "ignored"}}
	if got := h.Get("X-Access-Level"); got != "read-write" {
		t.Errorf("Get = %q, want read-write", got)
	}
	if got := h.Get("date"); got != "" {
		t.Errorf("Get(absent) = %q, want empty", got)
	}
}

var readResponseErrorTests = []struct {
	name string
	raw  string
	want error  // errors.Is target
	text string // the error must quote this
}{
	{"empty stream", "", io.ErrUnexpectedEOF, "without answering"},
	{"truncated status line", "HTTP/1.1 200", io.ErrUnexpectedEOF, `"HTTP/1.1 200"`},
	{"truncated headers", "HTTP/1.1 200 OK\r\nContent-Le", io.ErrUnexpectedEOF, "Content-Le"},
	{"no blank line", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", io.ErrUnexpectedEOF, "header"},
	{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", io.ErrUnexpectedEOF, "10-byte body"},
	{"truncated chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", io.ErrUnexpectedEOF, "chunk data"},
	{"missing last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", io.ErrUnexpectedEOF, "chunk size"},
	{"truncated trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: b\r\n", io.ErrUnexpectedEOF, "trailer"},

	{"not http", "SSH-2.0-OpenSSH_9.2\r\n\r\n", ErrProtocol, `"SSH-2.0-OpenSSH_9.2"`},
	{"http/2 preface", "HTTP/2 200\r\n\r\n", ErrProtocol, `"HTTP/2"`},
	{"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", ErrProtocol, `"20"`},
	{"letters in status", "HTTP/1.1 2x0 OK\r\n\r\n", ErrProtocol, `"2x0"`},
	{"status below 100", "HTTP/1.1 099 Odd\r\n\r\n", ErrProtocol, `"099"`},
	{"lower-case proto", "http/1.1 200 OK\r\n\r\n", ErrProtocol, `"http/1.1"`},
	{"header without colon", "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\nok", ErrProtocol, `"Content-Length 2"`},
	{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", ErrProtocol, `"Content-Length "`},
	{"folded header", "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n\r\n", ErrProtocol, `" two"`},
	{"control byte in value", "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n\r\n", ErrProtocol, `"X-A: a\x01b"`},
	{"bare CR", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", ErrProtocol, "bare CR"},
	{"bad content-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", ErrProtocol, `"-1"`},
	{"content-length with plus", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", ErrProtocol, `"+3"`},
	{"empty content-length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", ErrProtocol, `""`},
	{"conflicting content-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", ErrProtocol, `"2, 3"`},
	{"content-length over limit", "HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n", ErrProtocol, "Content-Length 1048577 larger"},
	{"both te and cl", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ErrProtocol, `"chunked"`},
	{"gzip te", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ErrProtocol, `"gzip, chunked"`},
	{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ErrProtocol, `"zz"`},
	{"negative chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", ErrProtocol, `"-1"`},
	{"huge chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", ErrProtocol, `"10000000000000000"`},
	{"chunk over limit", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", ErrProtocol, "larger than 1048576"},
	{"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n", ErrProtocol, `"XY"`},
	{"too many headers", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: b\r\n", MaxHeaders+1) + "\r\n", ErrProtocol, "more than 100 header"},
	{"header block too large", "HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n", ErrProtocol, "header too long"},
	{"chunk line too long", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("e", maxChunkLine) + "\r\n", ErrProtocol, "chunk size line too long"},
	{"body over limit", "HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("a", MaxBodyBytes+1), ErrProtocol, "body larger than"},
	{"chunked body over limit", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("80000\r\n"+strings.Repeat("a", 0x80000)+"\r\n", 2) + "1\r\na\r\n0\r\n\r\n", ErrProtocol, "chunked body larger than"},
}

func TestReadResponseErrors(t *testing.T) {
	for _, tt := range readResponseErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ReadResponse(bufio.NewReader(strings.NewReader(tt.raw)))
			if err == nil {
				t.Fatalf("ReadResponse succeeded with status %d body %q; want error", r.StatusCode, r.Body)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q does not wrap %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %s", err, tt.text)
			}
			if !strings.HasPrefix(err.Error(), "sender: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
		})
	}
}

// A header block just under the limit is accepted: the limit is a bound,
// not an off-by-one.
func TestReadResponseAtLimits(t *testing.T) {
	status := "HTTP/1.1 200 OK\r\n"
	pad := MaxHeaderBytes - len(status) - len("X-A: \r\n") - len("Content-Length: 0\r\n") - len("\r\n")
	raw := status + "X-A: " + strings.Repeat("a", pad) + "\r\nContent-Length: 0\r\n\r\n"
	if len(raw) != MaxHeaderBytes {
		t.Fatalf("test setup: head is %d bytes", len(raw))
	}
	if _, err := ReadResponse(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Errorf("head of exactly %d bytes: %v", MaxHeaderBytes, err)
	}
	raw = "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: b\r\n", MaxHeaders) + "\r\n"
	if _, err := ReadResponse(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Errorf("%d headers: %v", MaxHeaders, err)
	}
	body := strings.Repeat("a", MaxBodyBytes)
	r, err := ReadResponse(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + body)))
	if err != nil || len(r.Body) != MaxBodyBytes {
		t.Errorf("body of exactly %d bytes: %v", MaxBodyBytes, err)
	}
}
