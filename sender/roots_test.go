package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestSystemRootsMatchX509: the roots pitweet indexes are exactly those of
// x509.SystemCertPool, with the default locations and with SSL_CERT_FILE
// and SSL_CERT_DIR pointing at files that exercise crypto/x509's rules.
func TestSystemRootsMatchX509(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca := func(name string) *pkiCert {
		return issue(t, caTmpl(name, now.Add(-time.Hour), now.AddDate(1, 0, 0)), nil)
	}
	a, b, c, d, e, f := ca("a"), ca("b"), ca("c"), ca("d"), ca("e"), ca("f")
	mkdir := func(p string) string {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write := func(p string, parts ...[]byte) string {
		p = filepath.Join(dir, p)
		if err := os.WriteFile(p, bytes.Join(parts, nil), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(target, p string) {
		if err := os.Symlink(target, filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	block := func(typ string, headers map[string]string, der []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: der})
	}
	// A certificate whose subject is found but that crypto/x509 refuses:
	// trailing data after its DER.
	trailing := block("CERTIFICATE", nil, append(append([]byte{}, f.cert.Raw...), 0))
	crlf := bytes.ReplaceAll(c.pem(), []byte("\n"), []byte("\r\n"))

	mkdir("a")
	mkdir("b")
	mkdir("a/sub")
	mkdir("elsewhere")
	mkdir("empty")
	bundle := write("bundle.pem",
		[]byte("junk before\n"), a.pem(), a.pem(), // a duplicate
		block("PRIVATE KEY", nil, []byte{1, 2, 3}),
		block("CERTIFICATE", map[string]string{"Proc-Type": "4,ENCRYPTED"}, b.cert.Raw), // headers: skipped
		block("CERTIFICATE", nil, []byte("not DER")),
		trailing, crlf, []byte("junk after"))
	write("a/1.pem", d.pem())
	link("1.pem", "a/1.0")               // a same-directory hash link: not read
	write("elsewhere/e.pem", e.pem())    // read through the link below only
	link("../elsewhere/e.pem", "a/e.0")  // a link with a slash: read
	write("a/sub/f.pem", f.pem())        // a subdirectory: not read
	write("a/two.pem", b.pem(), d.pem()) // two in a file
	write("a/zero", nil)                 // empty
	write("b/bundle-again.pem", readAll(t, bundle))
	write("b/b.pem", b.pem())
	empty := write("empty.pem")
	link(filepath.Join(dir, "nowhere"), "a/dangling")

	for _, env := range [][]string{
		nil, // the system's own files
		{"SSL_CERT_FILE=" + bundle, "SSL_CERT_DIR=" + filepath.Join(dir, "a") + "::" + filepath.Join(dir, "b") + ":/nonexistent"},
		{"SSL_CERT_FILE=" + bundle},
		{"SSL_CERT_DIR=" + filepath.Join(dir, "a")},
		{"SSL_CERT_FILE=/nonexistent/ca.pem"}, // no file; the default directories
		{"SSL_CERT_FILE=" + empty, "SSL_CERT_DIR=" + filepath.Join(dir, "empty")},
		{"SSL_CERT_FILE=" + filepath.Join(dir, "a"), "SSL_CERT_DIR=" + filepath.Join(dir, "b")}, // a directory as the file
	} {
		runChild(t, "TestSystemRootsMatchX509Child", dir, env...)
	}
}

func readAll(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSystemRootsMatchX509Child(t *testing.T) {
	childDir(t)
	mine := loadSystemRoots(os.Getenv)
	theirs, err := x509.SystemCertPool()
	if err != nil {
		t.Fatalf("x509.SystemCertPool: %v", err)
	}
	pool, parsed := mine.parseAll()
	if !pool.Equal(theirs) {
		t.Errorf("pitweet's %d roots (%d parsed) differ from x509.SystemCertPool's", mine.len(), parsed)
	}
	t.Logf("SSL_CERT_FILE=%q SSL_CERT_DIR=%q: %d roots indexed, %d parsed, pools equal",
		os.Getenv("SSL_CERT_FILE"), os.Getenv("SSL_CERT_DIR"), mine.len(), parsed)
}

// parseAll returns a CertPool of every root crypto/x509 parses, and their
// number.
func (s *rootSet) parseAll() (*x509.CertPool, int) {
	pool := x509.NewCertPool()
	n := 0
	for _, list := range s.bySubject {
		for _, r := range list {
			if c := r.parsed(); c != nil {
				pool.AddCert(c)
				n++
			}
		}
	}
	return pool, n
}

// The pool for a chain holds the roots that can end it, no others.
func TestTrustPoolHoldsOnlyCandidates(t *testing.T) {
	now := time.Now()
	from, until := now.Add(-time.Hour), now.Add(time.Hour)
	ca := issue(t, caTmpl("pitweet test root", from, until), nil)
	sameName := issue(t, caTmpl("pitweet test root", from, until), nil)
	unrelated := issue(t, caTmpl("pitweet unrelated root", from, until), nil)
	inter := issue(t, caTmpl("pitweet test intermediate", from, until), ca)
	leaf := issue(t, leafTmpl(from, until, "api.x.test"), inter)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, bytes.Join([][]byte{unrelated.pem(), ca.pem(), sameName.pem(), ca.pem()}, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := newTrust(caFile)
	if err != nil {
		t.Fatal(err)
	}
	tr.system = newRootSet // no system roots, so the count is exact
	if n := tr.extra.len(); n != 3 {
		t.Errorf("ca_file indexed as %d roots, want 3 (one duplicate)", n)
	}
	for _, tt := range []struct {
		name  string
		chain []*x509.Certificate
		want  int
	}{
		{"leaf and intermediate", []*x509.Certificate{leaf.cert, inter.cert}, 2}, // the root and its namesake
		{"leaf only", []*x509.Certificate{leaf.cert}, 0},
		{"the unrelated root itself", []*x509.Certificate{unrelated.cert}, 1},
	} {
		pool := tr.pool(tt.chain)
		if n := len(pool.Subjects()); n != tt.want { // Subjects is deprecated for system pools only
			t.Errorf("%s: pool of %d roots, want %d", tt.name, n, tt.want)
		}
	}
}

// rawSubject finds the subject crypto/x509 finds, and no subject in what is
// not a certificate.
func TestRawSubject(t *testing.T) {
	now := time.Now()
	c := issue(t, leafTmpl(now, now.Add(time.Hour), "api.x.test"), nil)
	got, ok := rawSubject(c.cert.Raw)
	if !ok || !bytes.Equal(got, c.cert.RawSubject) {
		t.Errorf("rawSubject = %x, %v; want %x", got, ok, c.cert.RawSubject)
	}
	for _, bad := range [][]byte{nil, {0x30}, {0x30, 0x00}, []byte("not DER"), c.cert.Raw[:len(c.cert.Raw)/2]} {
		if s, ok := rawSubject(bad); ok {
			t.Errorf("rawSubject(%x) = %x, true; want false", bad, s)
		}
	}
}

// FuzzRootIndex: the certificates rootSet indexes from any PEM input are
// those x509.CertPool.AppendCertsFromPEM adds, and each parsed one's
// subject is the one crypto/x509 reads.
func FuzzRootIndex(f *testing.F) {
	now := time.Unix(1700000000, 0)
	c := issue(f, caTmpl("pitweet fuzz root", now, now.Add(time.Hour)), nil)
	f.Add(c.pem())
	f.Add(append(c.pem(), c.pem()...))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: append(append([]byte{}, c.cert.Raw...), 0)}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"A": "b"}, Bytes: c.cert.Raw}))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	// The plain form (see addPlainPEM): a block whose base64 does not
	// decode between two that do; and text after the last.
	f.Add(append(append([]byte("-----BEGIN CERTIFICATE-----\nMA=A\n-----END CERTIFICATE-----\n"), c.pem()...), c.pem()...))
	f.Add(append(c.pem(), "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\nx"...))
	// Plain with text between blocks: comments, a blank line; a marker in
	// the text, a BEGIN line not at the start of a line.
	f.Add(bytes.Join([][]byte{[]byte("# Issuer: CN=pitweet - fuzz\n"), c.pem(), []byte("\n# Label: second\n"), c.pem(), []byte("\n")}, nil))
	f.Add(bytes.Join([][]byte{c.pem(), []byte("-----END CERTIFICATE-----\n"), c.pem()}, nil))
	f.Add(bytes.Join([][]byte{[]byte("x "), c.pem()}, nil))
	c2 := issue(f, caTmpl("pitweet fuzz root 2", now, now.Add(time.Hour)), nil)
	f.Add(bytes.Join([][]byte{c.pem(), bytes.Replace(c2.pem(), []byte("-----\n"), []byte("----- \n"), 1)}, nil))
	// Nearly plain: a space or a tab in the base64 (pem.Decode drops them),
	// a header line.
	f.Add(bytes.Replace(c.pem(), []byte("\nMII"), []byte("\nM I\tI"), 1))
	f.Add(bytes.Replace(c.pem(), []byte("-----\nMII"), []byte("-----\nProc-Type: 4\n\nMII"), 1))
	if b := systemBundle(); len(b) > 0 {
		f.Add(b[:min(len(b), 8192)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The text pem.Decode consumed for a block decodes alone to the
		// same block, and nothing else (see pemSeen).
		for rest := data; len(rest) > 0; {
			block, next := pem.Decode(rest)
			if block == nil {
				break
			}
			text := rest[:len(rest)-len(next)]
			again, left := pem.Decode(text)
			if again == nil || len(left) != 0 || again.Type != block.Type || !bytes.Equal(again.Bytes, block.Bytes) || !reflect.DeepEqual(again.Headers, block.Headers) {
				t.Fatalf("text %q decodes alone to %v, %q; in %q to %v", text, again, left, data, block)
			}
			rest = next
		}

		theirs := x509.NewCertPool()
		theirs.AppendCertsFromPEM(data)
		// ca_file's way (addPEM) and the system files' (addPEMSeen, with
		// its plain-form path) both index what AppendCertsFromPEM adds.
		s, sys := newRootSet(), newRootSet()
		s.addPEM(data)
		var seen pemSeen
		sys.addPEMSeen(data, &seen)
		for name, set := range map[string]*rootSet{"addPEM": s, "addPEMSeen": sys} {
			mine, _ := set.parseAll()
			if !mine.Equal(theirs) {
				t.Fatalf("%s's index differs from AppendCertsFromPEM for %q", name, data)
			}
			for subject, list := range set.bySubject {
				for _, r := range list {
					if c := r.parsed(); c != nil && string(c.RawSubject) != subject {
						t.Fatalf("%s indexed under subject %x what crypto/x509 reads as %x", name, subject, c.RawSubject)
					}
				}
			}
		}
		// A file holding any text recorded as seen adds nothing new.
		for _, texts := range seen.byLen {
			for _, text := range texts {
				both := theirs.Clone()
				both.AppendCertsFromPEM(text)
				if !both.Equal(theirs) {
					t.Fatalf("text %q recorded as seen holds certificates %q does not", text, data)
				}
			}
		}
	})
}

// BenchmarkColdTrust is the work of trusting the system's roots, plus
// ca_file, for one full handshake, from a cold start: crypto/x509's way
// (every certificate of every file parsed, as loadSystemRoots in
// root_unix.go does, then crypto/tls's verification) against pitweet's (the
// files indexed, then the roots the chain can use parsed and verified in
// VerifyConnection). The server is on loopback, in the same process. Run it
// on the target too: on a Pi Zero the difference is most of a one-shot
// post's time.
func BenchmarkColdTrust(b *testing.B) {
	ca := newTestCA(b)
	addr := listen(b, func(c net.Conn) {
		defer c.Close()
		tls.Server(c, ca.serverConfig()).Handshake()
	})
	handshake := func(b *testing.B, cfg *tls.Config) {
		conn, err := dialTLS(context.Background(), &net.Dialer{}, nil, addr, cfg, "")
		if err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
	b.Run("x509", func(b *testing.B) {
		for b.Loop() {
			pool := x509SystemPool()
			pem, err := os.ReadFile(ca.caFile)
			if err != nil || !pool.AppendCertsFromPEM(pem) {
				b.Fatal("ca_file", err)
			}
			handshake(b, &tls.Config{ServerName: "127.0.0.1", RootCAs: pool, MinVersion: tls.VersionTLS12})
		}
	})
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			s := loadSystemRoots(os.Getenv)
			tr, err := newTrust(ca.caFile)
			if err != nil {
				b.Fatal(err)
			}
			tr.system = func() *rootSet { return s }
			handshake(b, tlsConfig("127.0.0.1", tr))
		}
	})
}

// x509SystemPool builds the system pool as crypto/x509 does on Linux
// (root_unix.go, loadSystemRoots), anew on every call.
func x509SystemPool() *x509.CertPool {
	pool := x509.NewCertPool()
	files := certFiles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			pool.AppendCertsFromPEM(data)
			break
		}
	}
	dirs := certDirectories
	if d := os.Getenv("SSL_CERT_DIR"); d != "" {
		dirs = strings.Split(d, ":")
	}
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !isSameDirSymlink(e, dir) {
				if data, err := os.ReadFile(dir + "/" + e.Name()); err == nil {
					pool.AppendCertsFromPEM(data)
				}
			}
		}
	}
	return pool
}
