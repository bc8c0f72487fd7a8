package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestMQTT(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	cfg, err := Parse([]byte("[mqtt]\nbroker = \"mqtt://broker.lan\"\n"), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	// Defaults: discovery on, commands off, the rest the gateway's.
	want := MQTTConfig{Broker: "mqtt://broker.lan", Discovery: true}
	if cfg.MQTT == nil || *cfg.MQTT != want {
		t.Errorf("[mqtt] = %+v, want %+v", cfg.MQTT, want)
	}
	if !slices.Equal(cfg.Destinations, []string{"x"}) || !slices.Equal(cfg.CredentialUsers(), []string{"x"}) {
		t.Errorf("destinations %q, credential users %q; want x alone", cfg.Destinations, cfg.CredentialUsers())
	}

	cfg, err = Parse([]byte(`[mqtt]
broker = "mqtts://broker.lan:8883"
ca_file = "/etc/pitweet/broker-ca.pem"
username = "shed"
client_id = "pitweet-shed"
topic_prefix = "home/shed"
discovery = false
discovery_prefix = "ha"
discovery_style = "component"
commands = true
forward = "home/poster"
`), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	want = MQTTConfig{Broker: "mqtts://broker.lan:8883", CAFile: "/etc/pitweet/broker-ca.pem", Username: "shed", ClientID: "pitweet-shed",
		TopicPrefix: "home/shed", DiscoveryPrefix: "ha", DiscoveryStyle: "component", Commands: true, Forward: "home/poster"}
	if *cfg.MQTT != want {
		t.Errorf("[mqtt] = %+v, want %+v", *cfg.MQTT, want)
	}
	// A member without [x] forwards only; its account needs a password.
	if !slices.Equal(cfg.Destinations, []string{"forward"}) || !slices.Equal(cfg.CredentialUsers(), []string{"forward", "mqtt"}) {
		t.Errorf("destinations %q, credential users %q", cfg.Destinations, cfg.CredentialUsers())
	}

	if cfg, err := Parse([]byte("x.api = \"v2\"\n"), "pitweet.toml"); err != nil || cfg.MQTT != nil {
		t.Errorf("no [mqtt]: %+v, %v; want MQTT nil", cfg, err)
	}
}

// Commands are posts as the account: taking them on a broker that lets
// pitweet in without an account, and so lets in anyone, is warned about.
func TestMQTTCommandsWithoutAccountWarned(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	for _, tt := range []struct {
		name, text string
		warned     bool
	}{
		{"anonymous", "[mqtt]\nbroker = \"mqtt://b\"\ncommands = true\n", true},
		{"account", "[mqtt]\nbroker = \"mqtt://b\"\nusername = \"kitchen\"\ncommands = true\n", false},
		{"no commands", "[mqtt]\nbroker = \"mqtt://b\"\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.text), "pitweet.toml")
			if err != nil {
				t.Fatal(err)
			}
			const want = "pitweet.toml:3: commands = true, and pitweet reaches the broker without an account: "
			warned := len(cfg.Warnings) == 1 && strings.HasPrefix(cfg.Warnings[0], want) && strings.Contains(cfg.Warnings[0], "ACL")
			if warned != tt.warned || (!tt.warned && len(cfg.Warnings) != 0) {
				t.Errorf("warnings %q; want a warning %v (%q...)", cfg.Warnings, tt.warned, want)
			}
		})
	}
}

func TestMQTTErrors(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	for _, tt := range []struct{ name, text, want string }{
		{"no broker", "[mqtt]\ncommands = true\n", `pitweet.toml:1: [mqtt] needs broker, such as broker = "mqtt://broker.lan:1883"`},
		{"http", "[mqtt]\nbroker = \"http://broker.lan\"\n", `pitweet.toml:2: broker "http://broker.lan": the scheme must be mqtt:// or mqtts://`},
		{"no scheme", "[mqtt]\nbroker = \"broker.lan:1883\"\n", `pitweet.toml:2: broker "broker.lan:1883" is not a URL such as mqtt://broker.lan:1883`},
		{"password in the URL", "[mqtt]\nbroker = \"mqtt://kitchen:secret@broker.lan\"\n", `pitweet.toml:2: broker "mqtt://kitchen:xxxxx@broker.lan": give only scheme, host and port (username in [mqtt] username, the password as mqtt_password in the credentials file)`},
		{"bad port", "[mqtt]\nbroker = \"mqtt://broker.lan:99999\"\n", "port must be a number from 1 to 65535"},
		{"ca_file without TLS", "[mqtt]\nbroker = \"mqtt://broker.lan\"\nca_file = \"/ca.pem\"\n", `pitweet.toml:3: ca_file is for a TLS broker, and broker = "mqtt://broker.lan" is not one`},
		{"client id", "[mqtt]\nbroker = \"mqtt://b\"\nclient_id = \"two words\"\n", `pitweet.toml:3: client_id "two words" must be 1 to 64 printable ASCII characters without spaces`},
		{"prefix wildcard", "[mqtt]\nbroker = \"mqtt://b\"\ntopic_prefix = \"pitweet/+\"\n", `pitweet.toml:3: topic_prefix "pitweet/+" must be topic levels`},
		{"prefix $SYS", "[mqtt]\nbroker = \"mqtt://b\"\ndiscovery_prefix = \"$SYS\"\n", `pitweet.toml:3: discovery_prefix "$SYS" must be topic levels`},
		{"style", "[mqtt]\nbroker = \"mqtt://b\"\ndiscovery_style = \"both\"\n", `pitweet.toml:3: discovery_style = "both" is not known`},
		{"forward to itself", "[mqtt]\nbroker = \"mqtt://b\"\ntopic_prefix = \"p/k\"\nforward = \"p/k\"\n", `pitweet.toml:4: forward = "p/k" is this Pi's own topic_prefix`},
		{"forward empty level", "[mqtt]\nbroker = \"mqtt://b\"\nforward = \"pitweet//poster\"\n", `pitweet.toml:3: forward "pitweet//poster" must be topic levels`},
		{"discovery not a bool", "[mqtt]\nbroker = \"mqtt://b\"\ndiscovery = \"yes\"\n", "pitweet.toml:3:"},
		{"password in the config", "[mqtt]\nbroker = \"mqtt://b\"\npassword = \"secret\"\n", `pitweet.toml:3: unknown key "password" in [mqtt]; the broker's password goes in the credentials file as mqtt_password=... (or PITWEET_MQTT_PASSWORD), not here`},
		{"unknown key", "[mqtt]\nbroker = \"mqtt://b\"\nprefix = \"p\"\n", `pitweet.toml:3: unknown key "prefix" in [mqtt]; known keys: broker, ca_file, username, client_id, topic_prefix, discovery, discovery_prefix, discovery_style, commands, forward`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.text), "pitweet.toml")
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) != 1 || !strings.Contains(ce.Problems[0], tt.want) {
				t.Fatalf("err = %v\nwant one problem with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
