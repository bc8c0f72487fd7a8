package gateway

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	pic := base64.StdEncoding.EncodeToString([]byte("\xff\xd8\xff\xe0 a picture"))
	ok := []struct {
		in   string
		want Command
	}{
		{`{"id": "1", "text": "hello"}`, Command{ID: "1", Text: "hello"}},
		{`{"text": "two\nlines\tand tab", "id": "kitchen:42", "to": ["x", "mastodon"]}`,
			Command{ID: "kitchen:42", Text: "two\nlines\tand tab", To: []string{"x", "mastodon"}}},
		{`{"id": "p", "text": "look", "image": "` + pic + `", "alt": "a cat"}`,
			Command{ID: "p", Text: "look", Pictures: []Picture{{Data: []byte("\xff\xd8\xff\xe0 a picture"), Alt: "a cat"}}}},
		{`{"id": "p", "text": "two", "images": [{"data": "` + pic + `", "alt": "a cat"}, {"alt": "", "data": "AAEC"}]}`,
			Command{ID: "p", Text: "two", Pictures: []Picture{{Data: []byte("\xff\xd8\xff\xe0 a picture"), Alt: "a cat"}, {Data: []byte{0, 1, 2}}}}},
		{` {"id":"a.b@c/d_e-f", "text":"é ✓"} `, Command{ID: "a.b@c/d_e-f", Text: "é ✓"}},
	}
	for _, c := range ok {
		got, err := ParseCommand([]byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if !sameCommand(got, c.want) {
			t.Errorf("%s: got %+v; want %+v", c.in, got, c.want)
		}
	}

	bad := []struct{ in, want string }{
		{``, "not a JSON object"},
		{`[]`, "not a JSON object"},
		{`"hi"`, "not a JSON object"},
		{`{"id": "1", "text": "a"} {}`, "something after"},
		{`{"id": "1", "text": "a"`, "not valid JSON"},
		{`{"id": "1", "text": "a", "colour": "red"}`, `unknown key "colour"`},
		{`{"id": "1", "text": "a", "text": "b"}`, `"text" twice`},
		{`{"id": 1, "text": "a"}`, `"id": not a string`},
		{`{"id": null, "text": "a"}`, `"id": not a string`},
		{`{"id": "1", "to": "x", "text": "a"}`, `"to": not a list`},
		{`{"id": "1", "to": [1], "text": "a"}`, `"to"`},
		{`{"id": "1", "to": ["x", "x"], "text": "a"}`, `"x" twice`},
		{`{"id": "1", "to": ["X"], "text": "a"}`, `destination "X"`},
		{`{"id": "1", "to": [""], "text": "a"}`, `destination ""`},
		{`{"id": "1", "to": ["a","b","c","d","e","f","g","h","i"], "text": "a"}`, "9 destinations"},
		{`{"text": "a"}`, `no "id"`},
		{`{"id": "", "text": "a"}`, `no "id"`},
		{`{"id": "a b", "text": "a"}`, "command id"},
		{`{"id": "` + strings.Repeat("a", MaxID+1) + `", "text": "a"}`, "command id"},
		{`{"id": "1"}`, "has no text"},
		{`{"id": "1", "text": ""}`, "has no text"},
		{`{"id": "1", "image": "AAEC"}`, "has no text"},
		{`{"id": "1", "text": "a\u0000b"}`, "control character"},
		{`{"id": "1", "text": "a\rb"}`, "control character"},
		{`{"id": "1", "text": "\ud800"}`, "control character"},
		{`{"id": "1", "text": "` + strings.Repeat("a", MaxText+1) + `"}`, "text is"},
		{`{"id": "1", "text": "a", "alt": "x"}`, "alt but no image"},
		{`{"id": "1", "text": "a", "image": "not base64!"}`, "picture 1 is not base64"},
		{`{"id": "1", "text": "a", "image": "AAA"}`, "not base64"},
		{`{"id": "1", "text": "a", "image": ""}`, "picture 1 is empty"},
		{`{"id": "1", "text": "a", "image": "` + strings.Repeat("A", MaxPictureBytes/3*4+8) + `"}`, "larger than"},
		{`{"id": "1", "text": "a", "images": [{"data": "` + strings.Repeat("A", MaxPictureBytes/3*2) + `"}, {"data": "` + strings.Repeat("A", MaxPictureBytes/3*2+8) + `"}]}`, "larger than 5 MiB together"},
		{`{"id": "1", "text": "a", "images": "AAEC"}`, `"images": not a list of pictures`},
		{`{"id": "1", "text": "a", "images": [1]}`, "picture 1 is not an object"},
		{`{"id": "1", "text": "a", "images": [{"data": "AAEC", "size": 3}]}`, `picture 1 has unknown key "size"`},
		{`{"id": "1", "text": "a", "images": [{"data": "AAEC", "data": "AAEC"}]}`, `picture 1 has "data" twice`},
		{`{"id": "1", "text": "a", "images": [{"data": 3}]}`, `picture 1 "data": not a string`},
		{`{"id": "1", "text": "a", "images": [{"data": "AAEC"}, {"data": "AAEC", "alt": "\u0007"}]}`, "alt of picture 2 has a control character"},
		{`{"id": "1", "text": "a", "images": [{"data": "AAEC"}], "image": "AAEC"}`, "both images and image"},
		{`{"id": "1", "text": "a", "images": [{"data": "AAEC"}, {"data": "AAEC"}, {"data": "AAEC"}, {"data": "AAEC"}, {"data": "AAEC"}]}`, "5 pictures; at most 4"},
		{`{"id": "1", "text": "a", "image": "AAEC", "alt": "` + strings.Repeat("a", MaxAlt+1) + `"}`, "alt of picture 1 is"},
		{"{\"id\": \"1\", \"text\": \"\xff\"}", "not UTF-8"},
		{`{"id": "1", "text": "` + strings.Repeat("a", MaxCommand) + `"}`, "bytes; at most"},
	}
	for _, c := range bad {
		_, err := ParseCommand([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "gateway: ") {
			in := c.in
			if len(in) > 80 {
				in = in[:80] + "..."
			}
			t.Errorf("%s: error %v; want one with %q", in, err, c.want)
		}
	}
	// The id is kept for the refusal even when something else is wrong.
	if c, err := ParseCommand([]byte(`{"id": "keep", "text": "a", "x": 1}`)); err == nil || c.ID != "keep" {
		t.Errorf("got %+v, %v; want the id kept with the error", c, err)
	}
}

// sameCommand compares what the wire carries of two commands.
func sameCommand(a, b Command) bool {
	return a.ID == b.ID && a.Text == b.Text && slices.Equal(a.To, b.To) &&
		slices.EqualFunc(a.Pictures, b.Pictures, func(p, q Picture) bool { return bytes.Equal(p.Data, q.Data) && p.Alt == q.Alt })
}

func TestEncodeCommandRoundTrip(t *testing.T) {
	for _, c := range []Command{
		{ID: "shed:17", Text: "door \"open\"\n", To: []string{"x"}, Pictures: []Picture{{Data: []byte{0, 1, 2, 255}, Alt: "the door"}}},
		{ID: "shed:18", Text: "two", Pictures: []Picture{{Data: []byte{0, 1, 2, 255}, Alt: "the door"}, {Data: []byte{9}}}},
		{ID: "shed:19", Text: "none"},
	} {
		b, err := EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseCommand(b)
		if err != nil || !sameCommand(got, c) {
			t.Errorf("round trip of %s: %+v, %v", b, got, err)
		}
	}
	if _, err := EncodeCommand(Command{ID: "no text"}); err == nil {
		t.Error("EncodeCommand took a command the receiver refuses")
	}
}

// FuzzParseCommand: any payload is refused with an error or gives a command
// within the limits that encodes and parses back to itself.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		`{"id": "1", "text": "hello"}`,
		`{"id": "kitchen:42", "text": "a\nb", "to": ["x", "mastodon"], "image": "/9j/4A==", "alt": "cat"}`,
		`{"id": "k", "text": "a", "images": [{"data": "/9j/4A==", "alt": "cat"}, {"data": "AAEC"}]}`,
		`{"id": "k", "text": "a", "images": [{"data": "AA==", "data": "AA=="}]}`,
		`{"id": "1", "text": "a", "text": "b"}`,
		`{"id": "1", "to": [null], "text": "a"}`,
		`{"id": "1", "text": "\ud800"}`,
		`{"id": "1"} x`,
		`{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "gateway: ") {
				t.Errorf("error without the package name: %v", err)
			}
			return
		}
		size := 0
		for _, p := range c.Pictures {
			size += len(p.Data)
		}
		if c.ID == "" || len(c.ID) > MaxID || len(c.Text) > MaxText || size > MaxPictureBytes || len(c.Pictures) > MaxPictures || len(c.To) > MaxTo || c.Text == "" {
			t.Fatalf("accepted a command outside the limits: %+v", c)
		}
		enc, err := EncodeCommand(c)
		if err != nil {
			t.Fatalf("a parsed command does not encode: %v", err)
		}
		back, err := ParseCommand(enc)
		if err != nil || !sameCommand(back, c) {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, c)
		}
	})
}

// FuzzParseRetainedConfig: whatever a retained discovery config on the
// broker holds, reading it does not fail and yields only sane ids.
func FuzzParseRetainedConfig(f *testing.F) {
	s, err := check(Config{Broker: "mqtt://b", Hostname: "kitchen", Discovery: true,
		Sensors: []Sensor{{Name: "room", Quantities: []string{"Temperature"}}}, Buttons: []Button{{Name: "door", LongPress: true}}})
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range s.discovery() {
		f.Add(p)
	}
	f.Add([]byte(`{"components": {"a": {"platform": "sensor", "state_topic": "x"}, "b": {}}}`))
	f.Add([]byte(`{"platform": "sensor", "state_topic": "pitweet/kitchen/sensor/room/temperature"}`))
	f.Add([]byte(`{"components": null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		comps, states := parseRetainedConfig(b)
		for id, p := range comps {
			if id == "" || !validPlatform(p) {
				t.Fatalf("component %q platform %q", id, p)
			}
		}
		if !slices.IsSorted(states) {
			t.Fatalf("state topics not sorted: %q", states)
		}
	})
}

func TestParseRetainedConfig(t *testing.T) {
	comps, states := parseRetainedConfig([]byte(`{"components": {"room_temperature": {"platform": "sensor", "state_topic": "p/sensor/room/temperature"}, "door_short": {"platform": "device_automation"}, "bad": {"platform": "Sensor!"}}}`))
	if len(comps) != 2 || comps["room_temperature"] != "sensor" || comps["door_short"] != "device_automation" {
		t.Errorf("components %v", comps)
	}
	if !slices.Equal(states, []string{"p/sensor/room/temperature"}) {
		t.Errorf("state topics %v", states)
	}
	if comps, _ := parseRetainedConfig([]byte("not json")); comps != nil {
		t.Errorf("garbage gave %v", comps)
	}
}

func TestCheckConfig(t *testing.T) {
	good := Config{Broker: "mqtt://broker.lan", Hostname: "kitchen.lan"}
	s, err := check(good)
	if err != nil {
		t.Fatal(err)
	}
	if s.ClientID != "pitweet-kitchen" || s.TopicPrefix != "pitweet/kitchen" || s.addr != "broker.lan:1883" || s.nodeID != "pitweet_kitchen" || s.tls != nil {
		t.Errorf("defaults: client id %q, prefix %q, addr %q, node %q", s.ClientID, s.TopicPrefix, s.addr, s.nodeID)
	}
	s, err = check(Config{Broker: "mqtts://broker.lan", Hostname: "k"})
	if err != nil || s.addr != "broker.lan:8883" || s.tls == nil || s.tls.ServerName != "broker.lan" || s.tls.InsecureSkipVerify {
		t.Errorf("mqtts: %v %+v", err, s)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Broker: "http://broker.lan"}, "mqtt:// or mqtts://"},
		{Config{Broker: "broker.lan:1883"}, "not a URL"},
		{Config{Broker: "mqtt://user:secret@broker.lan"}, "only scheme, host and port"},
		{Config{Broker: "mqtt://broker.lan", CAFile: "/x"}, "not TLS"},
		{Config{Broker: "mqtt://broker.lan:70000"}, "port must be a number from 1 to 65535"},
		{Config{Broker: "mqtt://broker.lan:0"}, "port must be a number from 1 to 65535"},
		{Config{Broker: "mqtts://broker.lan", CAFile: "/nonexistent"}, "ca_file: open /nonexistent"},
		{Config{Broker: "mqtts://broker.lan", CAFile: "command_test.go"}, "holds no PEM certificate"},
		{Config{Broker: "mqtts://broker.lan", CAFile: "testdata"}, "not a regular file"},
		{Config{Broker: "mqtt://b", TopicPrefix: "a/+/b"}, "topic_prefix"},
		{Config{Broker: "mqtt://b", TopicPrefix: "$SYS/x"}, "topic_prefix"},
		{Config{Broker: "mqtt://b", TopicPrefix: "a/"}, "topic_prefix"},
		{Config{Broker: "mqtt://b", DiscoveryStyle: "both"}, "discovery_style"},
		{Config{Broker: "mqtt://b", ClientID: "has space"}, "client_id"},
		{Config{Broker: "mqtt://b", Commands: true}, "no handler"},
		{Config{Broker: "mqtt://b", Sensors: []Sensor{{Name: "a/b"}}}, "sensor name"},
		{Config{Broker: "mqtt://b", Sensors: []Sensor{{Name: "a", Quantities: []string{"Wind"}}}}, "unknown quantity"},
		{Config{Broker: "mqtt://b", Buttons: []Button{{Name: "a"}, {Name: "a"}}}, "button name"},
	} {
		c.cfg.Hostname = "k"
		_, err := check(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want an error with %q", c.cfg, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
