package sender

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// FuzzReadResponse feeds the same bytes to ReadResponse and to net/http's
// ReadResponse (the oracle). When both accept them they must agree on the
// status code, the header fields, and the body bytes. ReadResponse may
// refuse what net/http accepts; these refusals are intentional:
//   - protocols other than HTTP/1.0 and HTTP/1.1, and status codes below 100
//     or written with a sign ("+20");
//   - folded header lines (net/http joins them);
//   - Transfer-Encoding together with Content-Length (net/http ignores the
//     Content-Length), and Transfer-Encoding in an HTTP/1.0 response
//     (net/http ignores the Transfer-Encoding);
//   - anything over MaxHeaderBytes, MaxHeaders or MaxBodyBytes.
//
// It must never accept what net/http refuses.
func FuzzReadResponse(f *testing.F) {
	for _, tt := range readResponseTests {
		f.Add([]byte(tt.raw))
	}
	for _, tt := range readResponseErrorTests {
		if len(tt.raw) < 4096 {
			f.Add([]byte(tt.raw))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mine, err := ReadResponse(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		theirs, herr := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), &http.Request{Method: "POST"})
		var theirBody []byte
		if herr == nil {
			theirBody, herr = io.ReadAll(theirs.Body)
		}
		if herr != nil {
			t.Fatalf("ReadResponse accepted what net/http refuses (%v):\n%q\nparsed as %d %q body %q", herr, data, mine.StatusCode, mine.Header, mine.Body)
		}
		if mine.StatusCode != theirs.StatusCode {
			t.Fatalf("status %d, net/http %d, for %q", mine.StatusCode, theirs.StatusCode, data)
		}
		if !bytes.Equal(mine.Body, theirBody) {
			t.Fatalf("body %q, net/http %q, for %q", mine.Body, theirBody, data)
		}
		for name, values := range mine.Header {
			switch name {
			case "transfer-encoding", "content-length", "trailer":
				// net/http moves these out of Header into framing fields.
				continue
			case "cache-control", "pragma":
				// net/http adds Cache-Control for a Pragma: no-cache.
				continue
			}
			if got := theirs.Header.Values(name); !reflect.DeepEqual(values, got) && !(len(values) == 0 && len(got) == 0) {
				t.Fatalf("header %s = %q, net/http %q, for %q", name, values, got, data)
			}
		}
		for name := range theirs.Header {
			if _, ok := mine.Header[strings.ToLower(name)]; !ok && name != "Cache-Control" {
				t.Fatalf("net/http found header %s that ReadResponse did not, in %q", name, data)
			}
		}
	})
}
