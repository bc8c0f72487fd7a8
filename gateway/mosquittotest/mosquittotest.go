// Package mosquittotest runs a real Mosquitto broker for tests: on free
// loopback ports, plain and TLS (a CA and server certificate made for the
// test), with a password file and an ACL, and persistence so that a restart
// keeps retained messages and sessions. mosquitto_sub and mosquitto_pub are
// the other side.
//
// Mosquitto comes from Debian's mosquitto and mosquitto-clients packages
// (.ci/run installs them). Where they are missing, Start tries apt-get
// once, and skips the test only if that fails; under CI (CI set) it fails
// instead, so that CI never passes by skipping.
package mosquittotest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configure a broker.
type Options struct {
	// Users maps account names to passwords; anonymous clients are refused.
	Users map[string]string
	// ACL is the acl_file's text (see mosquitto.conf(5)). "" allows every
	// account everything.
	ACL string
}

// Broker is a running mosquitto.
type Broker struct {
	Dir     string // its config, certificates, database and log
	Port    int    // plain MQTT on 127.0.0.1
	TLSPort int    // MQTT over TLS on 127.0.0.1, certificate for localhost and 127.0.0.1
	CAFile  string // the PEM CA that signed the TLS certificate

	t    testing.TB
	conf string
	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{}
	log  *bytes.Buffer
}

// URL is the plain listener, mqtt://127.0.0.1:port.
func (b *Broker) URL() string { return fmt.Sprintf("mqtt://127.0.0.1:%d", b.Port) }

// TLSURL is the TLS listener, mqtts://localhost:port.
func (b *Broker) TLSURL() string { return fmt.Sprintf("mqtts://localhost:%d", b.TLSPort) }

var (
	installOnce sync.Once
	installErr  error
)

// binary finds a mosquitto program, installing the packages if needed.
func binary(t testing.TB, name string) string {
	t.Helper()
	find := func() (string, error) {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if p := filepath.Join(dir, name); fileExists(p) {
				return p, nil
			}
		}
		return "", fmt.Errorf("%s not found", name)
	}
	if p, err := find(); err == nil {
		return p
	}
	installOnce.Do(func() {
		if os.Getuid() != 0 {
			installErr = fmt.Errorf("not root, so apt-get cannot run")
			return
		}
		for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "--no-install-recommends", "mosquitto", "mosquitto-clients"}} {
			cmd := exec.Command("apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := cmd.CombinedOutput(); err != nil {
				installErr = fmt.Errorf("apt-get %s: %v: %s", args[0], err, lastLine(out))
				return
			}
		}
	})
	p, err := find()
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("mosquittotest: %s is not installed and could not be installed (%v); install the Debian packages mosquitto and mosquitto-clients", name, installErr)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// Start runs a broker for the test; it is stopped when the test ends.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	mosquitto := binary(t, "mosquitto")
	binary(t, "mosquitto_sub")
	passwd := binary(t, "mosquitto_passwd")
	b := &Broker{t: t, Dir: t.TempDir()}
	b.Port, b.TLSPort = freePort(t), freePort(t)
	if err := os.Mkdir(filepath.Join(b.Dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	b.CAFile = filepath.Join(b.Dir, "ca.pem")
	certs(t, b.Dir)

	pwFile := filepath.Join(b.Dir, "passwd")
	if err := os.WriteFile(pwFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for user, pass := range opts.Users {
		if out, err := exec.Command(passwd, "-b", pwFile, user, pass).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	acl := opts.ACL
	if acl == "" {
		acl = "pattern readwrite #\n"
	}
	aclFile := filepath.Join(b.Dir, "acl")
	if err := os.WriteFile(aclFile, []byte(acl), 0o600); err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	if os.Getuid() == 0 {
		conf.WriteString("user root\n") // else mosquitto drops to "mosquitto", which cannot read the test's files
	}
	fmt.Fprintf(&conf, `allow_anonymous false
password_file %s
acl_file %s
persistence true
persistence_location %s/
max_queued_messages 10000
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
listener %d 127.0.0.1
listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
`, pwFile, aclFile, filepath.Join(b.Dir, "data"), b.Port, b.TLSPort, b.CAFile,
		filepath.Join(b.Dir, "server.pem"), filepath.Join(b.Dir, "server.key"))
	b.conf = filepath.Join(b.Dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	b.log = &bytes.Buffer{}
	b.start(mosquitto)
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("mosquitto log:\n%s", b.log.String())
			b.mu.Unlock()
		}
	})
	return b
}

// start runs mosquitto and waits until it says it is running.
func (b *Broker) start(mosquitto string) {
	b.t.Helper()
	cmd := exec.Command(mosquitto, "-c", b.conf)
	cmd.SysProcAttr = childAttr()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start mosquitto: %v", err)
	}
	running := make(chan struct{})
	exit := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			b.mu.Lock()
			b.log.WriteString(sc.Text() + "\n")
			b.mu.Unlock()
			if strings.Contains(sc.Text(), " running") {
				once.Do(func() { close(running) })
			}
		}
		cmd.Wait()
		close(exit)
	}()
	select {
	case <-running:
	case <-exit:
		b.t.Fatalf("mosquitto exited at start:\n%s", b.Log())
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		b.t.Fatalf("mosquitto did not start within 20 s:\n%s", b.Log())
	}
	b.mu.Lock()
	b.cmd, b.exit = cmd, exit
	b.mu.Unlock()
}

// Log is what mosquitto logged so far.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

// Stop stops the broker with SIGTERM (it saves its database) and waits.
func (b *Broker) Stop() {
	b.mu.Lock()
	cmd, exit := b.cmd, b.exit
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exit:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-exit
	}
}

// Restart stops the broker and starts it again on the same ports, with
// its saved retained messages and sessions.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.start(binary(b.t, "mosquitto"))
}

// Message is one message mosquitto_sub received.
type Message struct {
	Topic    string
	Payload  string
	Retained bool // delivered from the broker's retained store
	QoS      int
}

// Sub is a running mosquitto_sub.
type Sub struct {
	Messages chan Message
	b        *Broker
	id       string // its client id, when given with -i
	cmd      *exec.Cmd
	done     chan struct{}
	out      *bytes.Buffer
	mu       *sync.Mutex
	stop     sync.Once
}

// Subscribe runs mosquitto_sub (MQTT 5) as user on the topic filters, and
// returns once the broker has acknowledged the subscription. Extra
// arguments go to mosquitto_sub (e.g. "-q", "1", "-c", "-i", "id").
func (b *Broker) Subscribe(user string, pass string, filters []string, extra ...string) *Sub {
	b.t.Helper()
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(b.Port), "-V", "mqttv5", "-d",
		"-F", "MSG\t%r\t%q\t%t\t%p"}
	if user != "" {
		args = append(args, "-u", user, "-P", pass)
	}
	for _, f := range filters {
		args = append(args, "-t", f)
	}
	args = append(args, extra...)
	sub := binary(b.t, "mosquitto_sub")
	cmd := exec.Command(sub, args...)
	// Its debug lines (SUBACK) are written with stdio: line-buffer them,
	// or they wait in the pipe's buffer.
	if stdbuf, err := exec.LookPath("stdbuf"); err == nil {
		cmd = exec.Command(stdbuf, append([]string{"-oL", sub}, args...)...)
	}
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start mosquitto_sub: %v", err)
	}
	s := &Sub{Messages: make(chan Message, 100000), b: b, id: clientID(extra), cmd: cmd, done: make(chan struct{}), out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	subscribed := make(chan struct{})
	go func() {
		defer close(s.done)
		once := sync.Once{}
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "MSG\t"); ok {
				f := strings.SplitN(rest, "\t", 4)
				if len(f) == 4 {
					q, _ := strconv.Atoi(f[1])
					s.Messages <- Message{Retained: f[0] == "1", QoS: q, Topic: f[2], Payload: f[3]}
					continue
				}
			}
			s.mu.Lock()
			s.out.WriteString(line + "\n")
			s.mu.Unlock()
			if strings.Contains(line, "received SUBACK") {
				once.Do(func() { close(subscribed) })
			}
		}
		cmd.Wait()
	}()
	b.t.Cleanup(s.Stop)
	select {
	case <-subscribed:
	case <-s.done:
		b.t.Fatalf("mosquitto_sub exited before subscribing:\n%s", s.Output())
	case <-time.After(20 * time.Second):
		b.t.Fatalf("mosquitto_sub did not subscribe within 20 s:\n%s", s.Output())
	}
	return s
}

// Output is mosquitto_sub's debug output so far.
func (s *Sub) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// Stop ends mosquitto_sub: SIGTERM, so that it acknowledges what it
// printed and disconnects; SIGKILL if it has not exited 2 s later (it
// sometimes misses the signal). For a subscriber with a client id (a
// session that may outlive it), Stop then waits until the broker has seen
// it go, and so has read every PUBACK it sent: a broker stopped before
// that keeps those messages in the session and delivers them again.
func (s *Sub) Stop() { s.stop.Do(s.stopOnce) }

func (s *Sub) stopOnce() {
	gone := s.b.goneCount(s.id)
	s.cmd.Process.Signal(syscall.SIGTERM) // an error means it has exited
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	if s.id == "" {
		return
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !s.b.running() || s.b.goneCount(s.id) > gone {
			return
		}
	}
	s.b.t.Errorf("mosquitto did not see client %s go within 10 s:\n%s", s.id, s.b.Log())
}

// clientID is the -i argument among mosquitto_sub's arguments, or "".
func clientID(args []string) string {
	for i, a := range args {
		if a == "-i" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// goneCount counts the lines in which mosquitto says that client id has
// gone, whichever way it went.
func (b *Broker) goneCount(id string) int {
	l := b.Log()
	return strings.Count(l, "Client "+id+" disconnected") +
		strings.Count(l, "Client "+id+" closed its connection") +
		strings.Count(l, "Socket error on client "+id+",")
}

// running reports whether the broker is running.
func (b *Broker) running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cmd != nil
}

// Next returns the next message, failing the test after timeout.
func (s *Sub) Next(t testing.TB, timeout time.Duration) Message {
	t.Helper()
	select {
	case m := <-s.Messages:
		return m
	case <-time.After(timeout):
		t.Fatalf("no message within %v; mosquitto_sub said:\n%s", timeout, s.Output())
	}
	return Message{}
}

// WaitFor returns the first message for which ok is true, failing the test
// after timeout. Messages before it are dropped.
func (s *Sub) WaitFor(t testing.TB, timeout time.Duration, what string, ok func(Message) bool) Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-s.Messages:
			if ok(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s within %v; mosquitto_sub said:\n%s", what, timeout, s.Output())
			return Message{}
		}
	}
}

// Publish runs mosquitto_pub (MQTT 5) as user and returns its combined
// output and error. Extra arguments go to mosquitto_pub (e.g. "-q", "1",
// "-r", "-l" with stdin).
func (b *Broker) Publish(user, pass, topic string, stdin []byte, extra ...string) (string, error) {
	b.t.Helper()
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(b.Port), "-V", "mqttv5", "-d", "-t", topic}
	if user != "" {
		args = append(args, "-u", user, "-P", pass)
	}
	args = append(args, extra...)
	cmd := exec.Command(binary(b.t, "mosquitto_pub"), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// freePort finds a free TCP port on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// certs writes ca.pem, server.pem and server.key into dir: a CA made for
// this test and a server certificate it signed for localhost and
// 127.0.0.1.
func certs(t testing.TB, dir string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mosquittotest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: leafDER},
		"server.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
