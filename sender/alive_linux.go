package sender

import (
	"crypto/tls"
	"net"
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
