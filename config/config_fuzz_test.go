package config

import (
	"errors"
	"os"
	"pitweet/gateway"
	"pitweet/textlen"
	"slices"
	"strings"
	"testing"
)

func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{"testdata/example.toml", "testdata/sensors.toml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("[[button]]\nname = \"a\"\npin = \"P1_11\"\ntext = \"{{.Time}}\"\nlong_text = \"x\"\n"))
	f.Add([]byte("[[sensor]]\nname = \"r\"\ntype = \"bme280\"\naddress = 0x77\n[[alert]]\nwhen = \"(r.Temperature > 1 or r.Humidity < 2) and r.Pressure != 3\"\ntext = \"{{.Sensors.r.Pressure}}\"\n"))
	f.Add([]byte("[x]\nmonthly_budget = 5.00\nprice_post = 0.015\nprice_post_url = 1\n[[report]]\nevery = \"1h\"\ntext = \"example.com\"\non_budget = \"drop\"\n"))
	f.Add([]byte("[[button]]\nname = \"a\"\npin = 17\ntext = \"t\"\nphoto = [\"rpicam-still\", \"-o\", \"-\"]\nphoto_timeout = \"5s\"\nalt = '{{.Button}} at {{.Time}}'\n"))
	f.Add([]byte("[mqtt]\nbroker = \"mqtts://b:8883\"\nca_file = \"/c.pem\"\nusername = \"k\"\nclient_id = \"pitweet-k\"\ntopic_prefix = \"home/k\"\ndiscovery = false\ndiscovery_prefix = \"ha\"\ndiscovery_style = \"component\"\ncommands = true\n"))
	f.Add([]byte("[x]\n[bluesky]\n[mqtt]\nbroker = \"mqtt://b\"\nforward = \"p/q\"\n[[button]]\nname = \"a\"\npin = 17\ntext = \"t\"\nto = [\"bluesky\", \"x\"]\n[[report]]\nevery = \"1h\"\ntext = \"r\"\nto = [\"forward\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		t.Setenv("STATE_DIRECTORY", "")
		t.Setenv("CREDENTIALS_DIRECTORY", "")
		cfg, err := Parse(data, "f.toml")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			var ce *Error
			if errors.As(err, &ce) {
				for _, p := range ce.Problems {
					if !strings.HasPrefix(p, "f.toml") {
						t.Fatalf("problem %q does not say where", p)
					}
				}
			}
			return
		}
		// A config that loads renders every template and evaluates
		// every condition.
		data1 := cfg.SampleData("b")
		render := func(tmpl *Template) {
			if tmpl == nil {
				t.Fatal("nil template in a valid config")
			}
			text, err := tmpl.Render(data1)
			if err != nil {
				t.Fatalf("template %q passed validation but fails: %v", tmpl, err)
			}
			if short := textlen.TruncateX(text, textlen.MaxX); textlen.X(short) > textlen.MaxX {
				t.Fatalf("Truncate left %d characters", textlen.X(short))
			}
		}
		// What [mqtt] gives, the gateway takes.
		if m := cfg.MQTT; m != nil {
			if err := gateway.CheckBroker(m.Broker); err != nil {
				t.Fatalf("broker %q passed validation but the gateway refuses it: %v", m.Broker, err)
			}
			for key, p := range map[string]string{"topic_prefix": m.TopicPrefix, "discovery_prefix": m.DiscoveryPrefix, "forward": m.Forward} {
				if p != "" && gateway.CheckTopicPrefix(key, p) != nil {
					t.Fatalf("%s %q passed validation but the gateway refuses it", key, p)
				}
			}
			if m.ClientID != "" && gateway.CheckClientID(m.ClientID) != nil {
				t.Fatalf("client_id %q passed validation but the gateway refuses it", m.ClientID)
			}
		}
		// Every rule posts somewhere configured.
		if len(cfg.Destinations) == 0 {
			t.Fatal("a valid config with no destination")
		}
		checkTo := func(to []string) {
			if len(to) == 0 {
				t.Fatalf("a rule of a valid config posts nowhere (destinations %q)", cfg.Destinations)
			}
			for _, name := range to {
				if !slices.Contains(cfg.Destinations, name) {
					t.Fatalf("a rule posts to %q, not among %q", name, cfg.Destinations)
				}
			}
		}
		for _, b := range cfg.Buttons {
			checkTo(b.To)
		}
		for _, r := range cfg.Reports {
			checkTo(r.To)
		}
		for _, a := range cfg.Alerts {
			checkTo(a.To)
		}
		for _, b := range cfg.Buttons {
			render(b.Text)
			if b.LongText != nil {
				render(b.LongText)
			}
			if p := b.Photo; p != nil {
				render(p.Alt)
				if checkPhotoCommand(p.Command) != nil || p.Timeout < MinPhotoTimeout || p.Timeout > MaxPhotoTimeout {
					t.Fatalf("photo %+v passed validation", p)
				}
			}
		}
		for _, r := range cfg.Reports {
			render(r.Text)
		}
		readings := map[string]map[string]float64{}
		for name, qs := range data1.Sensors {
			readings[name] = map[string]float64{}
			for q, v := range qs {
				readings[name][q] = v.V
			}
		}
		for _, a := range cfg.Alerts {
			render(a.Text)
			a.When.Eval(readings)
		}
	})
}
