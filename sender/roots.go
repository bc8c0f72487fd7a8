package sender

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Trusted roots, loaded without being parsed.
//
// crypto/x509's system pool parses every certificate it finds before the
// first handshake: on Debian the whole bundle, then every file in
// /etc/ssl/certs again (the same certificates, one per file). For a
// one-shot `pitweet tweet` that is most of its run time: about 11 ms on an
// x86 laptop, half a second on a Pi Zero, to use one or two roots.
//
// pitweet reads the same files in the same order, by the same rules
// (crypto/x509's root_unix.go and root_linux.go), and keeps each
// certificate crypto/x509 would keep, but only indexes it by its subject:
// a PEM decode and a walk over the first fields of the DER. A root is
// parsed when a handshake presents a certificate it may have issued (see
// trust.pool), and then kept parsed.

// certFiles and certDirectories are crypto/x509's default locations on
// Linux (root_linux.go): the first file that can be read is used, then
// every directory is read.
var (
	certFiles = []string{
		"/etc/ssl/certs/ca-certificates.crt",                // Debian/Ubuntu/Gentoo etc.
		"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora/RHEL 6
		"/etc/ssl/ca-bundle.pem",                            // OpenSUSE
		"/etc/pki/tls/cacert.pem",                           // OpenELEC
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS/RHEL 7
		"/etc/ssl/cert.pem",                                 // Alpine Linux
	}
	certDirectories = []string{
		"/etc/ssl/certs",     // SLES10/SLES11
		"/etc/pki/tls/certs", // Fedora/RHEL
	}
)

// rootSet is a set of trusted certificates indexed by subject. It is not
// changed once loaded, so it may be shared; each root is parsed at most
// once, on first use.
type rootSet struct {
	bySubject map[string][]*root // in the order the certificates were read
	n         int
}

// root is one trusted certificate, parsed on first use.
type root struct {
	der  []byte
	once sync.Once
	cert *x509.Certificate // after once: nil when crypto/x509 refuses der
}

// parsed returns the certificate, or nil when crypto/x509 cannot parse it
// (x509.CertPool.AppendCertsFromPEM skips those too).
func (r *root) parsed() *x509.Certificate {
	r.once.Do(func() {
		r.cert, _ = x509.ParseCertificate(r.der)
	})
	return r.cert
}

func newRootSet() *rootSet { return &rootSet{bySubject: map[string][]*root{}} }

// len returns the number of distinct certificates indexed.
func (s *rootSet) len() int { return s.n }

// addPEM indexes the certificates in data, the blocks that
// x509.CertPool.AppendCertsFromPEM would consider: type CERTIFICATE and no
// headers. It returns those that were not already in the set.
func (s *rootSet) addPEM(data []byte) []*root {
	var added []*root
	for len(data) > 0 {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" || len(block.Headers) != 0 {
			continue
		}
		if r := s.addDER(block.Bytes); r != nil {
			added = append(added, r)
		}
	}
	return added
}

// addDER indexes one certificate by its subject. A certificate already in
// the set (the same DER bytes) is kept once, as a CertPool keeps it. DER
// whose subject cannot be found is not a certificate crypto/x509 would
// parse, and is dropped; nil is returned then, and for a duplicate.
func (s *rootSet) addDER(der []byte) *root {
	subject, ok := rawSubject(der)
	if !ok {
		return nil
	}
	list := s.bySubject[string(subject)]
	for _, r := range list {
		if bytes.Equal(r.der, der) {
			return nil
		}
	}
	r := &root{der: der}
	s.bySubject[string(subject)] = append(list, r)
	s.n++
	return r
}

// rawSubject returns the DER of a certificate's subject name, the bytes
// x509.Certificate.RawSubject holds, reading the fields before it the way
// crypto/x509's parser does (parser.go, parseCertificate) but without
// checking them: whatever is found here is parsed in full before it is
// used.
func rawSubject(der []byte) ([]byte, bool) {
	in := cryptobyte.String(der)
	var cert, tbs, subject cryptobyte.String
	ok := in.ReadASN1Element(&cert, cbasn1.SEQUENCE) &&
		cert.ReadASN1(&cert, cbasn1.SEQUENCE) &&
		cert.ReadASN1(&tbs, cbasn1.SEQUENCE) &&
		tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) && // version
		tbs.SkipASN1(cbasn1.INTEGER) && // serialNumber
		tbs.SkipASN1(cbasn1.SEQUENCE) && // signature algorithm
		tbs.SkipASN1(cbasn1.SEQUENCE) && // issuer
		tbs.SkipASN1(cbasn1.SEQUENCE) && // validity
		tbs.ReadASN1Element(&subject, cbasn1.SEQUENCE)
	return subject, ok
}

// addCandidates adds to pool, in the order they were read, the roots whose
// subject is name and that crypto/x509 can parse.
func (s *rootSet) addCandidates(pool *x509.CertPool, name []byte) {
	for _, r := range s.bySubject[string(name)] {
		if c := r.parsed(); c != nil {
			pool.AddCert(c)
		}
	}
}

// systemRoots is the system's set, loaded once per process as crypto/x509
// loads its own.
var systemRoots = sync.OnceValue(func() *rootSet { return loadSystemRoots(os.Getenv) })

// loadSystemRoots reads the system's trusted roots exactly where and as
// crypto/x509 reads them on Linux (root_unix.go, loadSystemRoots):
//
//   - SSL_CERT_FILE, when set, replaces the list of default files; the
//     first file of the list that can be read is used, even when it holds
//     no certificate, and the others are not read;
//   - SSL_CERT_DIR, when set, replaces the default directories; it is a
//     colon-separated list;
//   - every file in every directory is read, in name order, except the
//     symbolic links whose target has no slash (OpenSSL's hash links
//     beside the files they name, see readUniqueDirectoryEntries);
//   - what cannot be read is skipped.
//
// Every file is read, but one whose text has been decoded already is not
// decoded again (see pemSeen): Debian's bundle is the files of
// /etc/ssl/certs one after the other, and is itself in /etc/ssl/certs.
func loadSystemRoots(getenv func(string) string) *rootSet {
	s := newRootSet()
	var seen pemSeen

	files := certFiles
	if f := getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			s.addPEMSeen(data, &seen)
			break
		}
	}

	// The directories hold many small files, most of them seen already:
	// each is read into the same buffer, and kept only when it is new.
	scratch := make([]byte, 0, 8<<10)

	dirs := certDirectories
	if d := getenv("SSL_CERT_DIR"); d != "" {
		dirs = strings.Split(d, ":")
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if isSameDirSymlink(e, dir) {
				continue
			}
			data, err := readFileInto(dir+"/"+e.Name(), scratch)
			if err != nil {
				continue
			}
			scratch = data
			if !seen.has(data) {
				s.addPEMSeen(bytes.Clone(data), &seen)
			}
		}
	}
	return s
}

// pemSeen holds PEM text already decoded: whole files, and the text each
// call of pem.Decode consumed to return a block. Text equal to either
// decodes to exactly what it decoded to before, which has been indexed
// already. For a block's text that holds because it is a prefix of what
// pem.Decode was given, ending with the block's END line: pem.Decode looks
// at nothing past the END line of the block it returns, so on the prefix
// alone it takes the same steps, returns the same block, and leaves
// nothing.
type pemSeen struct {
	byLen map[int][][]byte
}

func (p *pemSeen) has(b []byte) bool {
	for _, prev := range p.byLen[len(b)] {
		if bytes.Equal(prev, b) {
			return true
		}
	}
	return false
}

func (p *pemSeen) add(b []byte) {
	if p.byLen == nil {
		p.byLen = map[int][][]byte{}
	}
	p.byLen[len(b)] = append(p.byLen[len(b)], b)
}

// addPEMSeen is addPEM that also records in seen the whole of data and
// the text of each block.
func (s *rootSet) addPEMSeen(data []byte, seen *pemSeen) {
	defer seen.add(data) // after: a block's text may be the whole of data
	if s.addPlainPEM(data, seen) {
		return
	}
	for len(data) > 0 {
		block, rest := pem.Decode(data)
		if block == nil {
			break
		}
		seen.add(data[:len(data)-len(rest)])
		data = rest
		if block.Type == "CERTIFICATE" && len(block.Headers) == 0 {
			s.addDER(block.Bytes)
		}
	}
}

var (
	plainBegin = []byte("-----BEGIN CERTIFICATE-----\n")
	plainEnd   = []byte("\n-----END CERTIFICATE-----\n")
)

// addPlainPEM is addPEMSeen's work for data in the plain form of the
// bundles systems ship: CERTIFICATE blocks, each
// "-----BEGIN CERTIFICATE-----\n" at the start of a line, then lines that
// hold no space, tab or dash, then "-----END CERTIFICATE-----\n"; and
// between the blocks, text (comments, blank lines) with no five dashes in
// a row. It reports false, having done nothing, for data in any other
// form; then pem.Decode reads it.
//
// Such data gives the certificates pem.Decode and AppendCertsFromPEM would
// give, in order. With no dash in a block's lines and no marker between
// blocks, the first END line pem.Decode finds is the block's own and the
// last BEGIN line before it is the block's own; with no space or tab,
// pem.Decode gives the lines to base64.StdEncoding.Decode as they are, as
// this does, and drops a block whose lines do not decode (moving on to
// the next block), as this does. A line that pem.Decode would read as a
// header (it holds a colon) makes no difference: AppendCertsFromPEM skips
// a block with headers, and a colon does not decode as base64.
//
// It decodes into one buffer for all the certificates, where pem.Decode
// allocates a copy of the text, the bytes and a map of headers for each;
// and it does not decode a block whose text is in seen (another bundle
// holding the same certificates, or the same file under another name).
func (s *rootSet) addPlainPEM(data []byte, seen *pemSeen) bool {
	var blocks [][2]int // start of each block's lines, and their end
	size := 0
	for at := 0; ; {
		n := bytes.Index(data[at:], plainBegin)
		if n < 0 {
			if bytes.Contains(data[at:], dashes) {
				return false
			}
			break
		}
		if bytes.Contains(data[at:at+n], dashes) || (at+n > 0 && data[at+n-1] != '\n') {
			return false
		}
		start := at + n + len(plainBegin)
		n = bytes.Index(data[start:], plainEnd)
		if n <= 0 {
			return false
		}
		body := data[start : start+n]
		if bytes.IndexByte(body, '-') >= 0 || bytes.IndexByte(body, ' ') >= 0 || bytes.IndexByte(body, '\t') >= 0 {
			return false
		}
		blocks = append(blocks, [2]int{start, start + n})
		size += base64.StdEncoding.DecodedLen(n)
		at = start + n + len(plainEnd)
	}
	var buf []byte
	for _, b := range blocks {
		text := data[b[0]-len(plainBegin) : b[1]+len(plainEnd)]
		if seen.has(text) {
			continue
		}
		seen.add(text)
		if buf == nil {
			buf = make([]byte, size)
		}
		n, err := base64.StdEncoding.Decode(buf, data[b[0]:b[1]])
		if err != nil {
			continue
		}
		s.addDER(buf[:n:n])
		buf = buf[n:]
	}
	return true
}

var dashes = []byte("-----")

// isSameDirSymlink reports whether e in dir is a symbolic link whose
// target contains no slash, as crypto/x509's function of the same name.
func isSameDirSymlink(e fs.DirEntry, dir string) bool {
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	target, err := os.Readlink(filepath.Join(dir, e.Name()))
	return err == nil && !strings.Contains(target, "/")
}
