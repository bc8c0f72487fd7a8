package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"pitweet/hw"
)

// Config says where the broker is, who pitweet is on it, and what it
// publishes there. The zero value of each optional field is a working
// default.
type Config struct {
	// Broker is mqtt://host[:port] (plain, port 1883) or mqtts://host[:port]
	// (TLS verified against the system roots and CAFile, port 8883).
	Broker string
	// CAFile is an extra PEM bundle to trust for mqtts, "" for none.
	CAFile   string
	Username string
	Password string
	// ClientID is the MQTT client identifier, pitweet-<hostname> when "".
	// It must stay the same across restarts: the broker keeps the
	// session, and the commands not yet acknowledged, under it.
	ClientID string
	// TopicPrefix is where pitweet publishes, pitweet/<hostname> when "".
	TopicPrefix string
	// Hostname fills the defaults above; os.Hostname() when "".
	Hostname string

	// Discovery publishes Home Assistant MQTT discovery.
	Discovery bool
	// DiscoveryPrefix is Home Assistant's discovery prefix, "homeassistant"
	// when "".
	DiscoveryPrefix string
	// DiscoveryStyle is "device" (one config for the whole device, Home
	// Assistant 2024.11 and later; the default) or "component" (one config
	// per entity, for older Home Assistant).
	DiscoveryStyle string
	// Device describes the Pi in Home Assistant.
	Device Device
	// Sensors and Buttons are what Home Assistant is told about.
	Sensors []Sensor
	Buttons []Button
	// ReadingInterval is how often readings are published; Home Assistant
	// shows a sensor as unavailable after three intervals without one.
	// 0 means readings never expire.
	ReadingInterval time.Duration

	// Commands subscribes to <prefix>/post and passes each command to
	// Handler. Handler must be set when Commands is true.
	Commands bool
	Handler  Handler

	// Log receives the gateway's messages; nil discards them.
	Log *slog.Logger
}

// Device is the device block of the discovery payload.
type Device struct {
	Name      string // "pitweet <hostname>" when ""
	Model     string // "Raspberry Pi gateway" when ""
	SWVersion string // pitweet's version
}

// Sensor is one configured sensor and the quantities it measures, named as
// in package hw (hw.Temperature, hw.Humidity, ...).
type Sensor struct {
	Name       string
	Quantities []string
}

// Button is one configured button. LongPress is true when it reports long
// presses too.
type Button struct {
	Name      string
	LongPress bool
}

// quantity is what discovery says about one measured quantity.
type quantity struct {
	topic       string // last topic level, lower case
	deviceClass string
	unit        string
	precision   int // suggested_display_precision, and decimals published
}

// quantities maps hw's quantity names to Home Assistant's sensor device
// classes and units (home-assistant.io, integrations/sensor, "Device class").
var quantities = map[string]quantity{
	hw.Temperature: {"temperature", "temperature", "°C", 1},
	hw.Humidity:    {"humidity", "humidity", "%", 1},
	hw.Pressure:    {"pressure", "atmospheric_pressure", "hPa", 0},
	hw.CO2:         {"co2", "carbon_dioxide", "ppm", 0},
	hw.Illuminance: {"illuminance", "illuminance", "lx", 0},
}

// settings is a checked Config with every default filled in.
type settings struct {
	Config
	addr    string      // host:port to dial
	tls     *tls.Config // nil for mqtt://
	nodeID  string      // the device's id in discovery, [a-zA-Z0-9_-]
	hostTag string      // hostname as used in defaults
}

// check validates cfg and fills in the defaults.
func check(cfg Config) (*settings, error) {
	s := &settings{Config: cfg}
	if s.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return nil, errors.New("gateway: cannot read the hostname; set client_id and topic_prefix in [mqtt]")
		}
		s.Hostname = h
	}
	// A hostname can be a FQDN; its first label names the Pi.
	s.hostTag, _, _ = strings.Cut(s.Hostname, ".")
	if s.ClientID == "" {
		s.ClientID = "pitweet-" + s.hostTag
	}
	if err := CheckClientID(s.ClientID); err != nil {
		return nil, err
	}
	if s.TopicPrefix == "" {
		s.TopicPrefix = "pitweet/" + topicLevel(s.hostTag)
	}
	if err := CheckTopicPrefix("topic_prefix", s.TopicPrefix); err != nil {
		return nil, err
	}
	if s.DiscoveryPrefix == "" {
		s.DiscoveryPrefix = "homeassistant"
	}
	if err := CheckTopicPrefix("discovery_prefix", s.DiscoveryPrefix); err != nil {
		return nil, err
	}
	switch s.DiscoveryStyle {
	case "":
		s.DiscoveryStyle = "device"
	case "device", "component":
	default:
		return nil, fmt.Errorf("gateway: discovery_style %q: use \"device\" (Home Assistant 2024.11 and later) or \"component\"", s.DiscoveryStyle)
	}
	s.nodeID = objectID(s.ClientID)
	if s.Device.Name == "" {
		s.Device.Name = "pitweet " + s.hostTag
	}
	if s.Device.Model == "" {
		s.Device.Model = "Raspberry Pi gateway"
	}
	if s.Commands && s.Handler == nil {
		return nil, errors.New("gateway: commands are on but no handler was given")
	}
	if s.ReadingInterval < 0 {
		return nil, fmt.Errorf("gateway: reading interval %v is negative", s.ReadingInterval)
	}
	if err := checkEntities(s.Sensors, s.Buttons); err != nil {
		return nil, err
	}
	if err := s.broker(); err != nil {
		return nil, err
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// checkEntities checks that every name can be a topic level and an id.
func checkEntities(sensors []Sensor, buttons []Button) error {
	var seen []string
	for _, se := range sensors {
		if !validName(se.Name) || slices.Contains(seen, se.Name) {
			return fmt.Errorf("gateway: sensor name %q must be unique and only letters, digits, _ and -", se.Name)
		}
		seen = append(seen, se.Name)
		for _, q := range se.Quantities {
			if _, ok := quantities[q]; !ok {
				return fmt.Errorf("gateway: sensor %q: unknown quantity %q", se.Name, q)
			}
		}
	}
	seen = nil
	for _, b := range buttons {
		if !validName(b.Name) || slices.Contains(seen, b.Name) {
			return fmt.Errorf("gateway: button name %q must be unique and only letters, digits, _ and -", b.Name)
		}
		seen = append(seen, b.Name)
	}
	return nil
}

// CheckBroker checks a broker address as [mqtt] broker gives it:
// mqtt://host[:port] or mqtts://host[:port], nothing else.
func CheckBroker(broker string) error {
	_, _, err := parseBroker(broker)
	return err
}

// parseBroker returns the host and port to dial, and whether the broker
// speaks TLS.
func parseBroker(broker string) (u *url.URL, port string, err error) {
	u, err = url.Parse(broker)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return nil, "", fmt.Errorf("gateway: broker %q is not a URL such as mqtt://broker.lan:1883 or mqtts://broker.lan:8883", broker)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, "", fmt.Errorf("gateway: broker %q: give only scheme, host and port (username in [mqtt] username, the password as mqtt_password in the credentials file)", u.Redacted())
	}
	port = u.Port()
	switch u.Scheme {
	case "mqtt":
		if port == "" {
			port = "1883"
		}
	case "mqtts":
		if port == "" {
			port = "8883"
		}
	default:
		return nil, "", fmt.Errorf("gateway: broker %q: the scheme must be mqtt:// or mqtts://", broker)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, "", fmt.Errorf("gateway: broker %q: the port must be a number from 1 to 65535", broker)
	}
	return u, port, nil
}

// broker parses s.Broker and prepares TLS.
func (s *settings) broker() error {
	u, port, err := parseBroker(s.Broker)
	if err != nil {
		return err
	}
	if u.Scheme == "mqtt" && s.CAFile != "" {
		return fmt.Errorf("gateway: ca_file is set but broker %s is not TLS; use mqtts://", s.Broker)
	}
	if u.Scheme == "mqtts" {
		t, err := tlsConfig(u.Hostname(), s.CAFile)
		if err != nil {
			return err
		}
		s.tls = t
	}
	s.addr = net.JoinHostPort(u.Hostname(), port)
	return nil
}

// CheckClientID checks an MQTT client identifier as [mqtt] client_id
// gives it.
func CheckClientID(id string) error {
	if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return fmt.Errorf("gateway: client_id %q must be 1 to 64 printable ASCII characters without spaces", id)
	}
	return nil
}

// tlsConfig trusts the system roots (SSL_CERT_FILE and SSL_CERT_DIR are
// honoured) plus the certificates in caFile.
func tlsConfig(serverName, caFile string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, _, err := readCAFile(caFile)
		if err != nil {
			return nil, err
		}
		pool.AppendCertsFromPEM(pem)
	}
	return &tls.Config{ServerName: serverName, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// maxCAFile bounds a ca_file: a bundle of every public root is about
// 200 KB.
const maxCAFile = 1 << 20

// CheckCAFile reads [mqtt] ca_file as the gateway does, and says how many
// certificates it holds.
func CheckCAFile(path string) (certs int, err error) {
	_, n, err := readCAFile(path)
	return n, err
}

// readCAFile reads a PEM bundle: a regular file of at most maxCAFile bytes
// with at least one certificate.
func readCAFile(path string) (data []byte, certs int, err error) {
	const fix = "set ca_file in [mqtt] to the PEM file of the broker's CA, or remove it"
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("gateway: ca_file: %w; %s", err, fix)
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, 0, fmt.Errorf("gateway: ca_file: %w", err)
	case !fi.Mode().IsRegular():
		return nil, 0, fmt.Errorf("gateway: ca_file %s is not a regular file; %s", path, fix)
	case fi.Size() > maxCAFile:
		return nil, 0, fmt.Errorf("gateway: ca_file %s is %d bytes, more than a PEM bundle needs; %s", path, fi.Size(), fix)
	}
	data, err = io.ReadAll(io.LimitReader(f, maxCAFile+1))
	if err != nil {
		return nil, 0, fmt.Errorf("gateway: read ca_file %s: %w", path, err)
	}
	if len(data) > maxCAFile {
		return nil, 0, fmt.Errorf("gateway: ca_file %s is more than %d bytes, more than a PEM bundle needs; %s", path, maxCAFile, fix)
	}
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(b.Bytes); err == nil {
				certs++
			}
		}
	}
	if certs == 0 {
		return nil, 0, fmt.Errorf("gateway: ca_file %s holds no PEM certificate (-----BEGIN CERTIFICATE-----); %s", path, fix)
	}
	return data, certs, nil
}

// dial opens the network connection to the broker, TLS when configured.
func (s *settings) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: connect to broker %s (is it running and reachable from here? [mqtt] broker names it): %w", s.addr, err)
	}
	if s.tls == nil {
		return raw, nil
	}
	conn := tls.Client(raw, s.tls)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		var verr *tls.CertificateVerificationError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("gateway: TLS to broker %s: the certificate is not trusted (set ca_file to the broker's CA, and check the clock): %w", s.addr, err)
		}
		return nil, fmt.Errorf("gateway: TLS handshake with broker %s: %w", s.addr, err)
	}
	return conn, nil
}

// CheckTopicPrefix refuses a topic prefix (key names it in the message:
// topic_prefix, discovery_prefix, forward) that is empty, has wildcards
// or empty levels, or starts with $ (the broker's own topics).
func CheckTopicPrefix(key, p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//") ||
		strings.ContainsAny(p, "+#\x00") || strings.HasPrefix(p, "$") || len(p) > 200 {
		return fmt.Errorf("gateway: %s %q must be topic levels separated by /, without +, #, a leading $ or empty levels", key, p)
	}
	return nil
}

// validName reports whether s is usable as a topic level and in ids.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !idChar(c) {
			return false
		}
	}
	return true
}

func idChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// objectID makes an id from s that Home Assistant accepts in a discovery
// topic: [a-zA-Z0-9_-]; "-" becomes "_" too, so "pitweet-kitchen" gives
// "pitweet_kitchen".
func objectID(s string) string {
	return strings.Map(func(r rune) rune {
		if idChar(r) && r != '-' {
			return r
		}
		return '_'
	}, s)
}

// topicLevel makes s safe as one topic level.
func topicLevel(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '+' || r == '#' || r == 0 {
			return '_'
		}
		return r
	}, s)
}
