package sender

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// dialer opens a TCP connection; *net.Dialer is one. Tests give their own
// to reach scripted servers.
type dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// dialTimeout bounds the TCP connect, within the whole-request deadline.
const dialTimeout = 10 * time.Second

// dialTLS connects to addr (host:port), through proxy when it is not nil,
// and completes a TLS handshake verified against cfg. On failure the raw
// connection is closed.
func dialTLS(ctx context.Context, d dialer, proxy *url.URL, addr string, cfg *tls.Config, userAgent string) (*tls.Conn, error) {
	conn, err := dialTLSOnce(ctx, d, proxy, addr, cfg, userAgent)
	if errors.Is(err, errStaleSession) {
		// A resumed session whose certificates no longer verify has been
		// dropped; crypto/tls would not have offered it, and would have
		// made a full handshake instead. So make one.
		conn, err = dialTLSOnce(ctx, d, proxy, addr, cfg, userAgent)
	}
	return conn, err
}

func dialTLSOnce(ctx context.Context, d dialer, proxy *url.URL, addr string, cfg *tls.Config, userAgent string) (*tls.Conn, error) {
	target := addr
	if proxy != nil {
		target = proxyAddr(proxy)
	}
	raw, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		if proxy != nil {
			return nil, fmt.Errorf("sender: connect to proxy %s: %w: %w", target, ErrTransient, err)
		}
		return nil, fmt.Errorf("sender: connect to %s: %w: %w", addr, ErrTransient, err)
	}
	if proxy != nil {
		if err := connectTunnel(ctx, raw, proxy, addr, userAgent); err != nil {
			raw.Close()
			return nil, err
		}
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, handshakeError(addr, err)
	}
	return conn, nil
}

// handshakeError says why a handshake failed. Certificate problems and TLS
// alerts wrap ErrTLS: trying again will not help. A dropped or timed-out
// connection wraps ErrTransient.
func handshakeError(addr string, err error) error {
	var verr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var alert tls.AlertError
	var rec tls.RecordHeaderError
	switch {
	case errors.As(err, &verr), errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &host):
		return fmt.Errorf("sender: TLS to %s: the server's certificate is not trusted (check ca_file, and that the clock is right: a Pi without network time starts in 1970): %w: %w", addr, ErrTLS, err)
	case errors.As(err, &rec):
		return fmt.Errorf("sender: TLS to %s: the server does not speak TLS (is base_url an https address?): %w: %w", addr, ErrTLS, err)
	case errors.As(err, &alert), isRemoteAlert(err):
		return fmt.Errorf("sender: TLS to %s refused by the server: %w: %w", addr, ErrTLS, err)
	}
	return fmt.Errorf("sender: TLS handshake with %s: %w: %w", addr, ErrTransient, err)
}

// isRemoteAlert reports whether err is an alert the server sent during the
// handshake (crypto/tls reports it as a *net.OpError "remote error").
func isRemoteAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// connectTunnel asks an HTTP proxy to open a tunnel to addr (RFC 9110
// section 9.3.6) over conn.
func connectTunnel(ctx context.Context, conn net.Conn, proxy *url.URL, addr, userAgent string) error {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var b strings.Builder
	b.WriteString("CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n")
	if userAgent != "" {
		b.WriteString("User-Agent: " + userAgent + "\r\n")
	}
	if u := proxy.User; u != nil {
		pass, _ := u.Password()
		b.WriteString("Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)) + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return fmt.Errorf("sender: proxy %s: send CONNECT: %w: %w", proxyAddr(proxy), ErrTransient, err)
	}
	br := bufio.NewReader(conn)
	resp, err := readResponseHead(br)
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			return fmt.Errorf("sender: proxy %s: %w", proxyAddr(proxy), err)
		}
		return fmt.Errorf("sender: proxy %s: read CONNECT answer: %w: %w", proxyAddr(proxy), ErrTransient, err)
	}
	switch {
	case resp.StatusCode == 407:
		return fmt.Errorf("sender: proxy %s wants credentials (407); put them in the proxy URL as http://user:password@host:port: %w", proxyAddr(proxy), ErrProtocol)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("sender: proxy %s refused the tunnel to %s: %d %s: %w", proxyAddr(proxy), addr, resp.StatusCode, resp.Reason, ErrTransient)
	case br.Buffered() > 0:
		return fmt.Errorf("sender: proxy %s sent data before the TLS handshake: %w", proxyAddr(proxy), ErrProtocol)
	}
	return nil
}

func proxyAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// parseProxy reads a proxy setting: "http://[user:pass@]host[:port]" or a
// bare "host:port".
func parseProxy(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return nil, errors.New("sender: the proxy setting (https_proxy, HTTPS_PROXY or proxy) is not a URL such as http://host:3128")
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("sender: proxy %q: only http:// proxies (HTTP CONNECT) are supported", u.Redacted())
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("sender: proxy %q has no host", u.Redacted())
	}
	return u, nil
}

// proxyFor chooses the proxy for a connection to host. setting is
// Config.Proxy: "none" disables proxying, any other non-empty value is
// used for every host, and "" means the environment: HTTPS_PROXY or
// https_proxy, skipped for loopback hosts and for hosts NO_PROXY (or
// no_proxy) names. getenv is os.Getenv outside tests.
func proxyFor(setting, host string, getenv func(string) string) (*url.URL, error) {
	switch setting {
	case "none":
		return nil, nil
	case "":
	default:
		return parseProxy(setting)
	}
	env := getenv("HTTPS_PROXY")
	if env == "" {
		env = getenv("https_proxy")
	}
	if env == "" || isLoopback(host) {
		return nil, nil
	}
	noProxy := getenv("NO_PROXY")
	if noProxy == "" {
		noProxy = getenv("no_proxy")
	}
	if noProxyMatch(noProxy, host) {
		return nil, nil
	}
	return parseProxy(env)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// noProxyMatch reports whether list (comma- or space-separated) names host:
// "*" matches everything, "example.com" and ".example.com" match the domain
// and its subdomains, an IP matches itself. Ports in entries are ignored.
func noProxyMatch(list, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, e := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		e = strings.ToLower(e)
		if e == "*" {
			return true
		}
		if h, _, err := net.SplitHostPort(e); err == nil {
			e = h
		}
		e = strings.TrimPrefix(e, ".")
		if host == e || strings.HasSuffix(host, "."+e) {
			return true
		}
	}
	return false
}
