package config

import (
	"slices"
	"strings"

	"pitweet/gateway"
)

// MQTTConfig is the [mqtt] table: pitweet on the home's MQTT broker
// (package gateway). An empty string is the gateway's default.
type MQTTConfig struct {
	// Broker is mqtt://host[:port] (port 1883) or mqtts://host[:port]
	// (TLS verified, port 8883).
	Broker string
	// CAFile is an extra PEM bundle to trust for mqtts://, "" for none.
	CAFile string
	// Username is the broker account; its password is mqtt_password in
	// the credentials file. "" connects without an account.
	Username string
	// ClientID is the MQTT client identifier, pitweet-<hostname> when "":
	// the broker keeps pitweet's session under it.
	ClientID string
	// TopicPrefix is where pitweet publishes, pitweet/<hostname> when "".
	TopicPrefix string
	// Discovery publishes Home Assistant MQTT discovery (default on).
	Discovery bool
	// DiscoveryPrefix is Home Assistant's, "homeassistant" when "".
	DiscoveryPrefix string
	// DiscoveryStyle is "device" (Home Assistant 2024.11 and later) or
	// "component" (one config per entity); "" is "device".
	DiscoveryStyle string
	// Commands takes posts on <prefix>/post.
	Commands bool
	// Forward is the topic prefix of the poster this Pi forwards its
	// messages to (the destination "forward"); "" when it posts itself.
	Forward string
}

// rawMQTT is the [mqtt] table as decoded.
type rawMQTT struct {
	Broker          string `toml:"broker"`
	CAFile          string `toml:"ca_file"`
	Username        string `toml:"username"`
	ClientID        string `toml:"client_id"`
	TopicPrefix     string `toml:"topic_prefix"`
	Discovery       *bool  `toml:"discovery"`
	DiscoveryPrefix string `toml:"discovery_prefix"`
	DiscoveryStyle  string `toml:"discovery_style"`
	Commands        bool   `toml:"commands"`
	Forward         string `toml:"forward"`
}

// mqtt checks the [mqtt] table, if there is one. The rules of each value
// are package gateway's, which uses them.
func (v *validator) mqtt(cfg *Config, raw *rawMQTT) {
	if raw == nil {
		return
	}
	at := func(key string) string { return v.at("mqtt", key) }
	pkg := func(err error) string { return strings.TrimPrefix(err.Error(), "gateway: ") }
	m := &MQTTConfig{
		Broker: raw.Broker, CAFile: raw.CAFile, Username: raw.Username, ClientID: raw.ClientID,
		TopicPrefix: raw.TopicPrefix, Discovery: raw.Discovery == nil || *raw.Discovery,
		DiscoveryPrefix: raw.DiscoveryPrefix, DiscoveryStyle: raw.DiscoveryStyle,
		Commands: raw.Commands, Forward: raw.Forward,
	}
	cfg.MQTT = m
	switch {
	case raw.Broker == "":
		v.problem(v.at("mqtt"), "[mqtt] needs broker, such as broker = \"mqtt://broker.lan:1883\" (or \"mqtts://broker.lan:8883\" for TLS)")
	default:
		if err := gateway.CheckBroker(raw.Broker); err != nil {
			v.problem(at("broker"), "%s", pkg(err))
		} else if raw.CAFile != "" && !strings.HasPrefix(raw.Broker, "mqtts://") {
			v.problem(at("ca_file"), "ca_file is for a TLS broker, and broker = %q is not one; write mqtts:// or remove ca_file", raw.Broker)
		}
	}
	if raw.ClientID != "" {
		if err := gateway.CheckClientID(raw.ClientID); err != nil {
			v.problem(at("client_id"), "%s", pkg(err))
		}
	}
	for _, p := range []struct{ key, value string }{
		{"topic_prefix", raw.TopicPrefix}, {"discovery_prefix", raw.DiscoveryPrefix},
	} {
		if p.value == "" {
			continue
		}
		if err := gateway.CheckTopicPrefix(p.key, p.value); err != nil {
			v.problem(at(p.key), "%s", pkg(err))
		}
	}
	switch raw.DiscoveryStyle {
	case "", "device", "component":
	default:
		v.problem(at("discovery_style"), "discovery_style = %q is not known; use \"device\" (Home Assistant 2024.11 and later, the default) or \"component\" (one config per entity, for older ones)", raw.DiscoveryStyle)
	}
	if raw.Commands && raw.Username == "" {
		// The broker lets pitweet in without an account, so it lets in
		// anonymous clients, and each may post as the account unless its
		// ACL says otherwise, which pitweet cannot see.
		v.warning(at("commands"), "commands = true, and pitweet reaches the broker without an account: a broker that lets clients in without one lets any of them post as the account; give each client an account (username, and mqtt_password in the credentials file) and the broker an ACL (/usr/share/doc/pitweet/mqtt.md.gz)")
	}
	if raw.Forward != "" {
		if err := gateway.CheckTopicPrefix("forward", raw.Forward); err != nil {
			v.problem(at("forward"), "%s; write the poster's topic_prefix, such as \"pitweet/poster\"", pkg(err))
		} else if raw.Forward == raw.TopicPrefix {
			v.problem(at("forward"), "forward = %q is this Pi's own topic_prefix; write the poster's", raw.Forward)
		}
	}
}

// CredentialUsers names what needs keys from the credentials file: the
// destinations, and "mqtt" when the broker account has a username (its
// password is mqtt_password).
func (c *Config) CredentialUsers() []string {
	users := slices.Clone(c.Destinations)
	if c.MQTT != nil && c.MQTT.Username != "" {
		users = append(users, "mqtt")
	}
	return users
}
