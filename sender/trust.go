package sender

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"
)

// trust is what a client trusts: the system's roots, as crypto/x509 would
// find them, and the certificates of the configured CA file.
type trust struct {
	system func() *rootSet // loaded when first needed, not before
	extra  *rootSet        // ca_file; nil when none
	warmed sync.Once
}

// warm starts loading the system's roots in the background, once, so that
// the work overlaps the connection's dial and the server's half of the
// handshake instead of following them.
func (t *trust) warm() {
	t.warmed.Do(func() { go t.system() })
}

// newTrust returns the system's roots plus those in caFile, if given. It
// reads caFile now, so a mistake shows at start-up; the system's roots are
// indexed when the first connection is dialled (see warm).
func newTrust(caFile string) (*trust, error) {
	t := &trust{system: systemRoots}
	if caFile == "" {
		return t, nil
	}
	data, err := ReadCAFile(caFile)
	if err != nil {
		return nil, err
	}
	t.extra = newRootSet()
	usable := false
	for _, r := range t.extra.addPEM(data) {
		if r.parsed() != nil { // one is enough, as for AppendCertsFromPEM
			usable = true
			break
		}
	}
	if !usable {
		return nil, fmt.Errorf("sender: ca_file %s holds no PEM certificate; give a PEM bundle (-----BEGIN CERTIFICATE-----)", caFile)
	}
	return t, nil
}

// pool returns the trusted roots that can end a chain for the certificates
// a server presented: a CertPool with which x509.Certificate.Verify
// answers as it would with every trusted root.
//
// Verify builds chains upwards from the leaf: the parents it considers for
// a certificate are those whose subject is the certificate's issuer, taken
// from Roots (which end a chain) and from Intermediates (the server's other
// certificates, which continue it); and a leaf that is itself in Roots is
// a chain of one. So the roots a chain can use are those whose subject is
// the issuer of a presented certificate, or the subject of the leaf; every
// other root is never looked at. They are added system roots first, in the
// order read, then ca_file's, as the full pool would hold them.
func (t *trust) pool(certs []*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	sets := []*rootSet{t.system(), t.extra}
	for _, s := range sets {
		if s == nil {
			continue
		}
		for _, c := range certs {
			s.addCandidates(pool, c.RawIssuer)
		}
		if len(certs) > 0 {
			s.addCandidates(pool, certs[0].RawSubject)
		}
	}
	return pool
}

// errStaleSession marks a resumed session whose certificates no longer
// verify; the session has been dropped and a full handshake will do.
var errStaleSession = errors.New("sender: the resumed TLS session's certificates no longer verify")

// tlsConfig returns the client TLS configuration for serverName: TLS 1.2
// or later, session resumption, and the server's certificate chain and
// host name verified against t.
//
// This is the one place in pitweet that sets InsecureSkipVerify, and it
// does not skip verification: it moves it. crypto/tls can only verify
// against RootCAs, a CertPool every certificate of which was parsed before
// the handshake; that parsing is what makes a cold start slow. So
// crypto/tls's own check is turned off (InsecureSkipVerify) and the same
// check is made in VerifyConnection, against only the roots the presented
// chain can use (trust.pool). It is safe because:
//
//   - VerifyConnection runs on every handshake, full and resumed, whatever
//     InsecureSkipVerify says, after the server has proved it holds the
//     leaf's key; an error from it aborts the handshake with a
//     bad_certificate alert before a byte of the request is written;
//   - verifyServer makes the call crypto/tls makes (handshake_client.go,
//     verifyServerCertificate): the leaf's Verify with the server name,
//     the server's other certificates as intermediates, the configured
//     time, and the roots; and it returns its error the same way, as a
//     *tls.CertificateVerificationError;
//   - what crypto/tls checks regardless of InsecureSkipVerify (the
//     handshake signature, key types, RSA key sizes, a resumed session's
//     leaf expiry) it still checks;
//   - a resumed session is checked again, as crypto/tls does before it
//     offers one (loadSession): a session whose chain no longer verifies
//     is dropped from the cache and the caller makes a full handshake
//     (errStaleSession, see dialTLS).
//
// The tests compare every outcome with crypto/tls's own verification
// against x509.SystemCertPool on the same handshakes (trust_test.go).
func tlsConfig(serverName string, t *trust) *tls.Config {
	cfg := &tls.Config{
		ServerName: serverName,
		MinVersion: tls.VersionTLS12,
		// A new connection (one per request unless keep-alive is on)
		// resumes the last TLS session, which saves the key exchange.
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
	}
	cfg.InsecureSkipVerify = true // verification is VerifyConnection's; see above
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		now := time.Now()
		if cfg.Time != nil {
			now = cfg.Time()
		}
		err := t.verifyServer(cs.PeerCertificates, serverName, now)
		if err != nil && cs.DidResume {
			// The cache key of a session is the ServerName.
			cfg.ClientSessionCache.Put(serverName, nil)
			return fmt.Errorf("%w: %w", errStaleSession, err)
		}
		return err
	}
	return cfg
}

// verifyServer verifies a server's certificates for serverName at now as
// crypto/tls does when InsecureSkipVerify is false.
func (t *trust) verifyServer(certs []*x509.Certificate, serverName string, now time.Time) error {
	if len(certs) == 0 {
		return errors.New("sender: the server sent no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:         t.pool(certs), // never nil: a nil Roots means the system pool, parsed in full
		CurrentTime:   now,
		DNSName:       serverName,
		Intermediates: x509.NewCertPool(),
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}
