//go:build linux

package main

// A hostile server with a certificate the config trusts puts terminal
// escapes (and a systemd notification field) in its answers. They must
// reach the terminal, the log and systemd as text.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/fakex"
)

// evil is what the hostile server puts in its answers: a window title
// change, a screen clear, a C1 CSI, a right-to-left override, and a line
// that systemd would read as a notification field.
const evil = "\x1b]0;owned\x07\x1b[2J\u009b31m\u202eevil\nWATCHDOG_USEC=1"

// raw reports whether s holds any of evil's characters unescaped.
func raw(s string) bool { return strings.ContainsAny(s, "\x1b\x07\u009b\u202e") }

// startHostileX serves TLS on loopback with a new CA, written to ca. It
// answers every post with a 403 whose title and detail hold evil, and
// GET /2/users/me with an account whose name holds evil.
func startHostileX(t *testing.T, ca string) (url string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	problem, _ := json.Marshal(map[string]any{"title": "Forbidden" + evil, "detail": "You may not post." + evil, "type": "about:blank", "status": 403})
	user, _ := json.Marshal(map[string]any{"data": map[string]string{"id": "1", "name": "Evil" + evil, "username": "evil"}})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				first, err := br.ReadString('\n')
				if err != nil {
					return
				}
				length := 0
				for {
					h, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if h == "\r\n" {
						break
					}
					if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(k, "content-length") {
						length, _ = strconv.Atoi(strings.TrimSpace(v))
					}
				}
				io.CopyN(io.Discard, br, int64(length))
				status, body := "403 Forbidden", problem
				if strings.HasPrefix(first, "GET /2/users/me ") {
					status, body = "200 OK", user
				}
				fmt.Fprintf(c, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nx-access-level: read-write\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", status, len(body), body)
			}()
		}
	}()
	return "https://" + ln.Addr().String()
}

func TestHostileServerTextIsEscaped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	url := startHostileX(t, ca)
	creds := writeTestCredentials(t, dir, fakex.DemoCredentials, 0o600)
	config := filepath.Join(dir, "pitweet.toml")
	if err := os.WriteFile(config, fmt.Appendf(nil, "[x]\nbase_url = %q\nca_file = %q\ncredentials = %q\n", url, ca, creds), 0o644); err != nil {
		t.Fatal(err)
	}

	// tweet: the refusal is one line, with the escapes shown as text.
	code, out, errOut := runPitweet(t, "tweet", "--config", config, "hello")
	if code != 1 || raw(errOut) || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, `Forbidden\u001b]0;owned\u0007\u001b[2J\u009b31m\u202eevil\u000aWATCHDOG_USEC=1`) {
		t.Errorf("tweet: exit %d, stdout %q, stderr %q; want 1 and one line with the server's text escaped", code, out, errOut)
	}
	// check --online: the account's name likewise.
	code, out, errOut = runPitweet(t, "check", "--config", config, "--online")
	if code != 0 || raw(out) || !strings.Contains(out, `ok    account @evil (Evil\u001b]0;owned\u0007\u001b[2J\u009b31m\u202eevil\u000aWATCHDOG_USEC=1, id 1)`+"\n") {
		t.Errorf("check --online: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}

func TestE2EHostileServerTextIsEscaped(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", "")
	// X is the hostile server now, trusted through the config's ca_file.
	url := startHostileX(t, e.ca)
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), e.x.URL(), url, 1))
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	notify, notifySocket := listenNotify(t, t.TempDir())
	e.env = []string{"NOTIFY_SOCKET=" + notifySocket}
	e.start()
	e.press("doorbell")
	s := e.waitStatus("the refusal", func(s *daemon.Status) bool { return s.DeadLetters == 1 && s.LastError != nil })

	// The status keeps what the server said, exactly, in JSON...
	if !strings.Contains(s.LastError.Error, evil) || !strings.Contains(s.RecentDead[0].Reason, evil) {
		t.Errorf("status over the socket lost the server's text: %+v", s.LastError)
	}
	out, _, code := e.pitweet("status", "--json")
	var js daemon.Status
	if err := json.Unmarshal([]byte(out), &js); code != 0 || err != nil || raw(out) || !strings.Contains(js.LastError.Error, evil) {
		t.Errorf("status --json: exit %d, %v, raw escapes %v:\n%s", code, err, raw(out), out)
	}
	// ...and shows it as text, each field on its line.
	out, _, code = e.pitweet("status")
	if code != 0 || raw(out) || !strings.Contains(out, `\u001b]0;owned\u0007\u001b[2J\u009b31m\u202eevil\u000aWATCHDOG_USEC=1`) || strings.Contains(out, "\nWATCHDOG_USEC=1") {
		t.Errorf("status: exit %d:\n%s", code, out)
	}
	// The log, and what systemd is told, have no escapes and no line of
	// the server's making.
	if log := e.log.String(); raw(log) || strings.Contains(log, "\nWATCHDOG_USEC") {
		t.Errorf("the daemon's log holds the server's escapes:\n%s", log)
	}
	deadline := time.After(20 * time.Second)
	for done := false; !done; {
		select {
		case line := <-notify:
			if raw(line) || strings.HasPrefix(line, "WATCHDOG_USEC=") {
				t.Fatalf("notification line %q holds the server's text unescaped", line)
			}
			done = strings.HasPrefix(line, "STATUS=") && strings.Contains(line, "last error")
		case <-deadline:
			t.Fatal("no STATUS= with the last error within 20s")
		}
	}
}
