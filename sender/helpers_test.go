package sender

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pitweet/oauth"
)

// testCreds are the example credentials from X's "Creating a signature"
// page; they sign nothing real.
var testCreds = oauth.Credentials{
	ConsumerKey:    "xvz1evFTYgLQxtP3N72r0n3c",
	ConsumerSecret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
	Token:          "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
	TokenSecret:    "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
}

// testCA is a self-signed CA and a server certificate it issued for
// 127.0.0.1, localhost and api.x.test.
type testCA struct {
	certPEM []byte
	server  tls.Certificate
	caFile  string
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pitweet test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "api.x.test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		DNSNames:     []string{"localhost", "api.x.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		server:  tls.Certificate{Certificate: [][]byte{srvDER, caDER}, PrivateKey: srvKey},
	}
	ca.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca.caFile, ca.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

func (ca *testCA) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12}
}

// seen is what a scripted server received: the request, parsed by
// net/http as an oracle, its body, and the outcome of checking its
// signature.
type seen struct {
	req       *http.Request
	body      []byte
	verifyErr error
}

// scriptedServer answers one TLS connection on conn: it reads a request,
// checks its signature against testCreds, writes answer verbatim, and
// closes. What it saw arrives on the returned channel.
func scriptedServer(conn net.Conn, cfg *tls.Config, answer string) <-chan seen {
	out := make(chan seen, 1)
	go func() {
		defer close(out)
		// Closing the raw pipe, not the TLS layer, ends the exchange at
		// once: a close_notify on a net.Pipe would wait for a reader.
		defer conn.Close()
		tc := tls.Server(conn, cfg)
		req, err := http.ReadRequest(bufio.NewReader(tc))
		if err != nil {
			out <- seen{verifyErr: err}
			return
		}
		body, _ := io.ReadAll(req.Body)
		var form []oauth.Param
		if req.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
			form = oauth.ParseQuery(string(body))
		}
		url := "https://" + req.Host + req.URL.RequestURI()
		_, verr := oauth.Verify(req.Method, url, req.Header.Get("Authorization"), form, testCreds.ConsumerSecret, testCreds.TokenSecret)
		io.WriteString(tc, answer)
		out <- seen{req: req, body: body, verifyErr: verr}
	}()
	return out
}

// pipeDialer hands out the client end of a net.Pipe for every dial; a
// scripted TLS server answers on the other end with the next of answers.
// What each server saw arrives on seen, one per dial.
type pipeDialer struct {
	cfg     *tls.Config
	answers []string
	seen    chan seen
	addrs   []string
}

func (d *pipeDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if len(d.answers) == 0 {
		return nil, errors.New("test: no more scripted answers")
	}
	d.addrs = append(d.addrs, addr)
	c, s := net.Pipe()
	srv := scriptedServer(s, d.cfg, d.answers[0])
	d.answers = d.answers[1:]
	go func() { d.seen <- <-srv }()
	return c, nil
}

// newPipeClient returns a Client for https://api.x.test whose connections
// are answered, in turn, with answers.
func newPipeClient(t testing.TB, api string, answers ...string) (*Client, *pipeDialer) {
	t.Helper()
	ca := newTestCA(t)
	c, err := New(Config{BaseURL: "https://api.x.test", API: api, CAFile: ca.caFile, Proxy: "none"}, testCreds)
	if err != nil {
		t.Fatal(err)
	}
	d := &pipeDialer{cfg: ca.serverConfig(), answers: answers, seen: make(chan seen, len(answers))}
	c.tr.dialer = d
	return c, d
}

// next returns what the server behind the next dial saw, waiting up to ten
// seconds.
func (d *pipeDialer) next(t testing.TB) seen {
	t.Helper()
	select {
	case s := <-d.seen:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("scripted server saw nothing within 10s")
		return seen{}
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

// newTestTransport returns a Transport for base with cfg, no proxy.
func newTestTransport(t testing.TB, base string, cfg TransportConfig) *Transport {
	t.Helper()
	cfg.BaseURL = base
	cfg.Proxy = "none"
	tr, err := NewTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
