package sender

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Request is one HTTP/1.1 request as it goes on the wire. The header
// fields are always written in the same order, so the bytes are
// reproducible:
//
//	Host, User-Agent, Accept, Content-Type, Content-Length, Authorization, Connection
//
// Content-Type and Content-Length are written when the method is POST or a
// body is present; Authorization when it is set. Connection is "close"
// (one request per connection) unless KeepAlive is set.
type Request struct {
	Method        string // "GET", "POST"
	Host          string // the Host field: host, plus ":port" unless it is 443
	Target        string // origin-form: path and optional query, e.g. "/2/tweets"
	UserAgent     string
	ContentType   string
	Authorization string
	Body          []byte
	// KeepAlive asks the server to keep the connection open for the next
	// request ("Connection: keep-alive"), which saves a TLS handshake.
	KeepAlive bool
}

// Bytes returns the request exactly as it is written to the connection.
// It refuses fields that would let one header spill into another.
func (r *Request) Bytes() ([]byte, error) {
	if r.Method == "" || !isToken(r.Method) {
		return nil, fmt.Errorf("sender: bad request method %q", r.Method)
	}
	if !strings.HasPrefix(r.Target, "/") || strings.ContainsAny(r.Target, " \t\r\n") {
		return nil, fmt.Errorf("sender: bad request target %q", r.Target)
	}
	for _, f := range [][2]string{
		{"Host", r.Host}, {"User-Agent", r.UserAgent}, {"Content-Type", r.ContentType}, {"Authorization", r.Authorization},
	} {
		if strings.ContainsAny(f[1], "\r\n\x00") {
			return nil, fmt.Errorf("sender: %s contains a line break or NUL", f[0])
		}
	}
	if r.Host == "" {
		return nil, fmt.Errorf("sender: request has no Host")
	}

	var b bytes.Buffer
	b.Grow(256 + len(r.Authorization) + len(r.Body))
	b.WriteString(r.Method + " " + r.Target + " HTTP/1.1\r\n")
	b.WriteString("Host: " + r.Host + "\r\n")
	if r.UserAgent != "" {
		b.WriteString("User-Agent: " + r.UserAgent + "\r\n")
	}
	b.WriteString("Accept: application/json\r\n")
	if r.Method == "POST" || len(r.Body) > 0 {
		if r.ContentType != "" {
			b.WriteString("Content-Type: " + r.ContentType + "\r\n")
		}
		b.WriteString("Content-Length: " + strconv.Itoa(len(r.Body)) + "\r\n")
	}
	if r.Authorization != "" {
		b.WriteString("Authorization: " + r.Authorization + "\r\n")
	}
	if r.KeepAlive {
		b.WriteString("Connection: keep-alive\r\n\r\n")
	} else {
		b.WriteString("Connection: close\r\n\r\n")
	}
	b.Write(r.Body)
	return b.Bytes(), nil
}
