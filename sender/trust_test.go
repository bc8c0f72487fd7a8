package sender

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The tests of this file compare pitweet's certificate verification with
// crypto/tls's own against x509.SystemCertPool. crypto/x509 reads
// SSL_CERT_FILE and SSL_CERT_DIR once per process, so each environment is
// tested in a test process of its own: the parent test writes the files,
// sets the environment and runs one child test (named *Child) in a fresh
// process; a child test skips itself when run any other way.

// childEnv holds the directory of the files a child test reads.
const childEnv = "PITWEET_SENDER_TRUST_DIR"

// runChild runs the test named name in a new process with env added to
// the environment (SSL_CERT_FILE and SSL_CERT_DIR removed first) and dir
// in childEnv. It fails t with the child's output when the child fails or
// did not run.
func runChild(t *testing.T, name, dir string, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSL_CERT_FILE=") && !strings.HasPrefix(kv, "SSL_CERT_DIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, append(env, childEnv+"="+dir)...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s with %q: %v\n%s", name, env, err, out)
	}
	if testing.Verbose() {
		t.Logf("%s with %q:\n%s", name, env, out)
	}
}

// childDir returns the child's directory, or skips t when it is not a child.
func childDir(t *testing.T) string {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("run in a process of its own by the test without Child in its name")
	}
	return dir
}

// pkiCert is a certificate and its key.
type pkiCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serialNo atomic.Int64

// issue makes a certificate from tmpl, signed by parent (self-signed when
// parent is nil), with a new P-256 key.
func issue(t testing.TB, tmpl *x509.Certificate, parent *pkiCert) *pkiCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(serialNo.Add(1))
	signer, parentCert := crypto.Signer(key), tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pkiCert{cert: cert, key: key}
}

func caTmpl(name string, from, until time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"pitweet tests"}, CommonName: name},
		NotBefore:             from,
		NotAfter:              until,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
}

func leafTmpl(from, until time.Time, names ...string) *x509.Certificate {
	t := &x509.Certificate{
		Subject:     pkix.Name{CommonName: names[0]},
		NotBefore:   from,
		NotAfter:    until,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			t.IPAddresses = append(t.IPAddresses, ip)
		} else {
			t.DNSNames = append(t.DNSNames, n)
		}
	}
	return t
}

func (p *pkiCert) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.cert.Raw})
}

// chain returns the tls.Certificate a server presents: leaf's key and the
// certificates given, leaf first.
func chain(leaf *pkiCert, more ...*pkiCert) *tls.Certificate {
	c := &tls.Certificate{Certificate: [][]byte{leaf.cert.Raw}, PrivateKey: leaf.key}
	for _, m := range more {
		c.Certificate = append(c.Certificate, m.cert.Raw)
	}
	return c
}

func writePKI(t testing.TB, dir, name string, p *pkiCert) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(p.key)
	if err != nil {
		t.Fatal(err)
	}
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := errors.Join(os.WriteFile(filepath.Join(dir, name+".pem"), p.pem(), 0o600),
		os.WriteFile(filepath.Join(dir, name+".key"), key, 0o600)); err != nil {
		t.Fatal(err)
	}
}

func readPKI(t testing.TB, dir, name string) *pkiCert {
	t.Helper()
	cb, err := os.ReadFile(filepath.Join(dir, name+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	kb, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(kblock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return &pkiCert{cert: cert, key: key.(crypto.Signer)}
}

// systemBundle returns the system's CA bundle, as crypto/x509 would find
// it without SSL_CERT_FILE, or nothing.
func systemBundle() []byte {
	for _, f := range certFiles {
		if b, err := os.ReadFile(f); err == nil {
			return b
		}
	}
	return nil
}

// TestVerificationMatchesStandard: with SSL_CERT_FILE holding the system
// bundle plus a test CA ("system CA"), and a second CA in ca_file, every
// handshake below is accepted or refused by pitweet's verification exactly
// as by crypto/tls's own against x509.SystemCertPool plus ca_file, for the
// same reason.
func TestVerificationMatchesStandard(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	sysCA := issue(t, caTmpl("pitweet system test CA", now.Add(-time.Hour), now.AddDate(1, 0, 0)), nil)
	fileCA := issue(t, caTmpl("pitweet ca_file test CA", now.Add(-time.Hour), now.AddDate(1, 0, 0)), nil)
	writePKI(t, dir, "sysca", sysCA)
	writePKI(t, dir, "fileca", fileCA)
	bundle := append(append(systemBundle(), '\n'), sysCA.pem()...)
	if err := os.WriteFile(filepath.Join(dir, "bundle.pem"), bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	runChild(t, "TestVerificationMatchesStandardChild", dir, "SSL_CERT_FILE="+filepath.Join(dir, "bundle.pem"))
}

// scenario is one server, and the names a client asks for.
type scenario struct {
	name       string
	serverName string
	cert       *tls.Certificate
	caFile     bool // the client has ca_file set
	accept     bool // what crypto/tls's verification says; checked too
}

func TestVerificationMatchesStandardChild(t *testing.T) {
	dir := childDir(t)
	sysCA, fileCA := readPKI(t, dir, "sysca"), readPKI(t, dir, "fileca")
	caFile := filepath.Join(dir, "fileca.pem")
	now := time.Now()
	from, until := now.Add(-time.Hour), now.Add(24*time.Hour)
	host := "api.x.test"

	other := issue(t, caTmpl("pitweet untrusted CA", from, until), nil)
	// Same subject as the system CA, another key: found by subject, refused by signature.
	impostor := issue(t, caTmpl("pitweet system test CA", from, until), nil)
	sysInter := issue(t, caTmpl("pitweet system intermediate", from, until), sysCA)
	otherInter := issue(t, caTmpl("pitweet untrusted intermediate", from, until), other)
	expiredInter := issue(t, caTmpl("pitweet expired intermediate", now.Add(-48*time.Hour), now.Add(-24*time.Hour)), sysCA)
	selfSigned := issue(t, leafTmpl(from, until, host), nil)
	clientOnly := leafTmpl(from, until, host)
	clientOnly.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}

	// A leaf that is itself trusted: a self-signed one, and one issued by
	// an untrusted CA, each through a ca_file of its own.
	pinned := issue(t, leafTmpl(from, until, host), other)
	leafFiles := map[string]string{"self-signed": string(selfSigned.pem()), "pinned": string(pinned.pem())}
	for name, pem := range leafFiles {
		leafFiles[name] = filepath.Join(t.TempDir(), name+".pem")
		if err := os.WriteFile(leafFiles[name], []byte(pem), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	scenarios := []scenario{
		{"system CA, leaf only", host, chain(issue(t, leafTmpl(from, until, host), sysCA)), false, true},
		{"system CA, leaf and CA", host, chain(issue(t, leafTmpl(from, until, host), sysCA), sysCA), false, true},
		{"system CA through an intermediate", host, chain(issue(t, leafTmpl(from, until, host), sysInter), sysInter), false, true},
		{"intermediate not sent", host, chain(issue(t, leafTmpl(from, until, host), sysInter)), false, false},
		{"server outside the store", host, chain(issue(t, leafTmpl(from, until, host), other), other), false, false},
		{"chain to an untrusted root", host, chain(issue(t, leafTmpl(from, until, host), otherInter), otherInter, other), false, false},
		{"impostor with the system CA's name", host, chain(issue(t, leafTmpl(from, until, host), impostor), impostor), false, false},
		{"wrong host name", host, chain(issue(t, leafTmpl(from, until, "api.example.org"), sysCA)), false, false},
		{"IP address", "127.0.0.1", chain(issue(t, leafTmpl(from, until, "127.0.0.1"), sysCA)), false, true},
		{"IP address not in the certificate", "127.0.0.2", chain(issue(t, leafTmpl(from, until, "127.0.0.1"), sysCA)), false, false},
		{"expired", host, chain(issue(t, leafTmpl(now.Add(-48*time.Hour), now.Add(-time.Minute), host), sysCA)), false, false},
		{"not yet valid", host, chain(issue(t, leafTmpl(now.Add(time.Hour), until, host), sysCA)), false, false},
		{"expired intermediate", host, chain(issue(t, leafTmpl(from, until, host), expiredInter), expiredInter), false, false},
		{"client-only certificate", host, chain(issue(t, clientOnly, sysCA)), false, false},
		{"ca_file CA, with ca_file", host, chain(issue(t, leafTmpl(from, until, host), fileCA)), true, true},
		{"ca_file CA, without ca_file", host, chain(issue(t, leafTmpl(from, until, host), fileCA)), false, false},
		{"system CA, with ca_file", host, chain(issue(t, leafTmpl(from, until, host), sysCA)), true, true},
		{"self-signed leaf in ca_file", host, chain(selfSigned), true, true},
		{"self-signed leaf not trusted", host, chain(selfSigned), false, false},
		{"pinned leaf in ca_file", host, chain(pinned), true, true},
		{"pinned leaf, wrong host name", "api.example.org", chain(pinned), true, false},
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, sc := range scenarios {
			t.Run(fmt.Sprintf("%s/TLS%x", sc.name, version), func(t *testing.T) {
				ca := ""
				if sc.caFile {
					ca = caFile
					if strings.HasPrefix(sc.name, "self-signed") {
						ca = leafFiles["self-signed"]
					} else if strings.HasPrefix(sc.name, "pinned") {
						ca = leafFiles["pinned"]
					}
				}
				srv := newHandshakeServer(t, sc.cert, version)
				mine, ref := clientConfigs(t, sc.serverName, ca)
				got, want := srv.handshake(t, mine), srv.handshake(t, ref)
				if got != want {
					t.Errorf("pitweet: %s; crypto/tls: %s", got, want)
				}
				if want.ok != sc.accept {
					t.Errorf("crypto/tls says %s; the scenario expects accept=%v", want, sc.accept)
				}
			})
		}
	}

	// Resumption: a session resumes when crypto/tls's would; one whose
	// chain has expired since is not used, whether the server still
	// presents that chain or a new one; nor one whose leaf has expired.
	type step struct {
		name  string
		cert  *tls.Certificate // what the server presents from this step on
		clock time.Duration    // client and server time, from now
	}
	shortInter := issue(t, caTmpl("pitweet short intermediate", from, now.Add(2*time.Hour)), sysCA)
	oldChain := chain(issue(t, leafTmpl(from, until, host), shortInter), shortInter)
	newChain := chain(issue(t, leafTmpl(from, until, host), sysCA))
	shortLeaf := chain(issue(t, leafTmpl(from, now.Add(2*time.Hour), host), sysCA))
	sequences := map[string][]step{
		"intermediate expires, same chain": {
			{"first", oldChain, 0},
			{"resumed", oldChain, time.Minute},
			{"intermediate expired", oldChain, 3 * time.Hour},
			{"again", oldChain, 3*time.Hour + time.Minute},
		},
		"intermediate expires, new chain": {
			{"first", oldChain, 0},
			{"resumed", oldChain, time.Minute},
			{"intermediate expired, server renewed", newChain, 3 * time.Hour},
			{"resumed with the new chain", newChain, 3*time.Hour + time.Minute},
		},
		"leaf expires": {
			{"first", shortLeaf, 0},
			{"resumed", shortLeaf, time.Minute},
			{"leaf expired", shortLeaf, 3 * time.Hour},
		},
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for name, steps := range sequences {
			t.Run(fmt.Sprintf("resumption, %s/TLS%x", name, version), func(t *testing.T) {
				srv := newHandshakeServer(t, steps[0].cert, version)
				mine, ref := clientConfigs(t, host, "")
				var clock atomic.Int64
				at := func() time.Time { return now.Add(time.Duration(clock.Load())) }
				srv.cfg.Time, mine.Time, ref.Time = at, at, at
				resumed := false
				for _, st := range steps {
					clock.Store(int64(st.clock))
					srv.cert.Store(st.cert)
					got, want := srv.handshake(t, mine), srv.handshake(t, ref)
					if got != want {
						t.Errorf("%s: pitweet: %s; crypto/tls: %s", st.name, got, want)
					}
					resumed = resumed || want.resumed
					t.Logf("%s: %s", st.name, want)
				}
				if !resumed {
					t.Error("no handshake resumed a session: the sequence tests nothing")
				}
			})
		}
	}
}

// outcome is what a client made of a handshake.
type outcome struct {
	ok, resumed bool
	why         string // the reason for a refusal
}

func (o outcome) String() string {
	switch {
	case o.ok && o.resumed:
		return "accepted, resumed"
	case o.ok:
		return "accepted"
	}
	return "refused: " + o.why
}

// handshakeServer is a loopback TLS server presenting *cert, which may be
// changed between handshakes; one tls.Config, so one set of session ticket
// keys, for all of them.
type handshakeServer struct {
	addr string
	cfg  *tls.Config
	cert atomic.Pointer[tls.Certificate]
}

func newHandshakeServer(t *testing.T, cert *tls.Certificate, version uint16) *handshakeServer {
	s := &handshakeServer{}
	s.cert.Store(cert)
	s.cfg = &tls.Config{
		MinVersion: version,
		MaxVersion: version,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cert.Load(), nil
		},
	}
	s.addr = listen(t, func(c net.Conn) {
		defer c.Close()
		tc := tls.Server(c, s.cfg)
		if tc.Handshake() == nil {
			io.WriteString(tc, "ok")
			tc.Close()
		}
	})
	return s
}

// handshake connects with cfg through dialTLS and reads to the end, so a
// TLS 1.3 session ticket is stored.
func (s *handshakeServer) handshake(t *testing.T, cfg *tls.Config) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dialTLS(ctx, &net.Dialer{}, nil, s.addr, cfg, "")
	if err != nil {
		if !errors.Is(err, ErrTLS) {
			t.Errorf("handshake error %v does not wrap ErrTLS", err)
		}
		return outcome{why: reason(err)}
	}
	defer conn.Close()
	if b, err := io.ReadAll(conn); string(b) != "ok" {
		t.Fatalf("read after the handshake: %q, %v", b, err)
	}
	return outcome{ok: true, resumed: conn.ConnectionState().DidResume}
}

// reason names the certificate problem behind a failed handshake.
func reason(err error) string {
	var host x509.HostnameError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var verr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &host):
		return "host name " + host.Host
	case errors.As(err, &unknown):
		return "unknown authority for " + unknown.Cert.Subject.CommonName
	case errors.As(err, &invalid):
		return fmt.Sprintf("invalid certificate %s, reason %d", invalid.Cert.Subject.CommonName, invalid.Reason)
	case errors.As(err, &verr):
		return "verification: " + verr.Err.Error()
	}
	return "other: " + err.Error()
}

// clientConfigs returns pitweet's TLS configuration for serverName with
// caFile, and crypto/tls's standard one with the same roots: the system
// pool plus caFile.
func clientConfigs(t *testing.T, serverName, caFile string) (mine, ref *tls.Config) {
	t.Helper()
	tr, err := newTrust(caFile)
	if err != nil {
		t.Fatal(err)
	}
	mine = tlsConfig(serverName, tr)
	pool, err := x509.SystemCertPool()
	if err != nil {
		t.Fatal(err)
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil || !pool.AppendCertsFromPEM(b) {
			t.Fatalf("ca_file %s: %v", caFile, err)
		}
	}
	ref = &tls.Config{
		ServerName:         serverName,
		RootCAs:            pool,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
	return mine, ref
}
