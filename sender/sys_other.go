//go:build !linux

package sender

import (
	"io"
	"net"
	"os"
	"slices"
)

// peerClosed cannot look at the socket here; a kept connection that the
// server has closed then fails when it is used, as a transient error.
func peerClosed(c net.Conn) bool { return false }

// readFileInto reads the file at path into buf, reusing its space, and
// returns the contents.
func readFileInto(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(len(buf), 4096)) // double
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
