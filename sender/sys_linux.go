package sender

import (
	"crypto/tls"
	"net"
	"os"
	"slices"
	"syscall"
)

// peerClosed reports whether anything has arrived on c (under TLS, on the
// TCP connection beneath it) or the peer has closed it, without reading or
// waiting: recv with MSG_PEEK|MSG_DONTWAIT finds a FIN as a 0-byte read,
// data as bytes, and an open, quiet connection as EAGAIN.
func peerClosed(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	quiet := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		quiet = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true // never wait for the socket to become readable
	})
	return err != nil || !quiet
}

// readFileInto reads the file at path into buf, reusing its space, and
// returns the contents. For a file that fits in buf it makes only the
// system calls the work needs (open, read until a read returns nothing,
// close), where os.ReadFile also stats the file and tries to register it
// with the poller; for the hundred-odd small files of /etc/ssl/certs the
// difference shows.
func readFileInto(path string, buf []byte) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			// Larger than the buffer: grow it once to the file's size
			// (and a byte, to see the end), or else double it.
			more := max(len(buf), 4096)
			var st syscall.Stat_t
			if syscall.Fstat(fd, &st) == nil && st.Size >= int64(len(buf)) && st.Size < 1<<30 {
				more = int(st.Size) - len(buf) + 1
			}
			buf = slices.Grow(buf, more)
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}
