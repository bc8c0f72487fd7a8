package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pitweet/gateway"
	"pitweet/gateway/mosquittotest"
	"pitweet/hw"
)

var update = flag.Bool("update", false, "rewrite the golden discovery payloads in testdata")

// wait is how long a test waits for an event from the broker.
const wait = 20 * time.Second

// The accounts of the test broker: the Pi, the fleet member, a home
// automation account allowed to send commands, and a viewer that may only
// read.
const acl = `# pitweet devices: their own prefix, discovery, Home Assistant's status
user kitchen
topic readwrite pitweet/kitchen/#
topic readwrite homeassistant/+/pitweet_kitchen/#
topic read homeassistant/status

user poster
topic readwrite pitweet/poster/#
topic readwrite homeassistant/+/pitweet_poster/#
topic read homeassistant/status

user shed
topic readwrite pitweet/shed/#
topic readwrite homeassistant/+/pitweet_shed/#
topic read homeassistant/status
topic write pitweet/poster/post

# Home Assistant (or Node-RED): reads everything, may send commands
user ha
topic readwrite homeassistant/#
topic read pitweet/#
topic write pitweet/+/post

# a dashboard: reads only
user viewer
topic read pitweet/#
topic read homeassistant/#
`

var users = map[string]string{
	"kitchen": "kitchen-pass", "poster": "poster-pass", "shed": "shed-pass",
	"ha": "ha-pass", "viewer": "viewer-pass",
}

func broker(t *testing.T) *mosquittotest.Broker {
	return mosquittotest.Start(t, mosquittotest.Options{Users: users, ACL: acl})
}

// kitchen is the configuration of the Pi under test.
func kitchen(b *mosquittotest.Broker) gateway.Config {
	return gateway.Config{
		Broker:          b.URL(),
		Username:        "kitchen",
		Password:        users["kitchen"],
		Hostname:        "kitchen",
		Discovery:       true,
		Device:          gateway.Device{SWVersion: "1.4.0"},
		ReadingInterval: time.Minute,
		Sensors: []gateway.Sensor{
			{Name: "room", Quantities: []string{hw.Temperature, hw.Humidity, hw.Pressure}},
			{Name: "air", Quantities: []string{hw.CO2}},
			{Name: "window", Quantities: []string{hw.Illuminance}},
		},
		Buttons: []gateway.Button{{Name: "door", LongPress: true}, {Name: "bell"}},
		Log:     slog.New(slog.NewTextHandler(testWriter{}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// testWriter sends the gateway's log to the test's log when -v is given.
type testWriter struct{}

func (testWriter) Write(b []byte) (int, error) {
	if testing.Verbose() {
		os.Stderr.Write(b)
	}
	return len(b), nil
}

// run starts g and stops it (waiting for Run to return) when the test ends.
func run(t *testing.T, g *gateway.Gateway) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(wait):
				t.Errorf("Run did not return within %v of its context's end", wait)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func newGateway(t *testing.T, cfg gateway.Config) *gateway.Gateway {
	t.Helper()
	g, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// online waits until the gateway with this prefix has said online: it has
// subscribed by then.
func online(t *testing.T, b *mosquittotest.Broker, prefix string) {
	t.Helper()
	s := b.Subscribe("viewer", users["viewer"], []string{prefix + "/status"})
	s.WaitFor(t, wait, prefix+" online", func(m mosquittotest.Message) bool { return m.Payload == "online" })
	s.Stop()
}

var configTopic = regexp.MustCompile(`^homeassistant/(device|[a-z_]+)/([a-zA-Z0-9_-]+/)?[a-zA-Z0-9_-]+/config$`)

// The discovery config as Home Assistant receives it: retained, QoS 1, a
// device block, origin, availability, and each quantity with the device
// class, unit and state class of Home Assistant's sensor documentation.
// The whole payload is kept in testdata as evidence.
func TestDiscoveryAsHomeAssistantReceivesIt(t *testing.T) {
	b := broker(t)
	g := newGateway(t, kitchen(b))
	run(t, g)
	online(t, b, "pitweet/kitchen")

	isConfig := func(m mosquittotest.Message) bool { return strings.HasSuffix(m.Topic, "/config") }
	first := b.Subscribe("ha", users["ha"], []string{"homeassistant/#"}, "-q", "1")
	first.WaitFor(t, wait, "the discovery config", isConfig)
	first.Stop()
	// A fresh Home Assistant subscribes to homeassistant/# at QoS 1 and
	// gets the retained config.
	ha := b.Subscribe("ha", users["ha"], []string{"homeassistant/#"}, "-q", "1")
	m := ha.WaitFor(t, wait, "the discovery config", isConfig)
	if m.Topic != "homeassistant/device/pitweet_kitchen/config" || !configTopic.MatchString(m.Topic) {
		t.Errorf("config topic %q", m.Topic)
	}
	if !m.Retained || m.QoS != 1 {
		t.Errorf("config retained %v, QoS %d; want retained, QoS 1", m.Retained, m.QoS)
	}
	golden(t, "discovery-device.json", m.Payload)

	var cfg struct {
		Device map[string]any            `json:"device"`
		Origin map[string]any            `json:"origin"`
		Avail  string                    `json:"availability_topic"`
		Comps  map[string]map[string]any `json:"components"`
	}
	if err := json.Unmarshal([]byte(m.Payload), &cfg); err != nil {
		t.Fatalf("config is not JSON: %v\n%s", err, m.Payload)
	}
	if ids, _ := cfg.Device["identifiers"].([]any); len(ids) == 0 || cfg.Device["name"] == "" || cfg.Device["sw_version"] != "1.4.0" {
		t.Errorf("device block %v: want identifiers, name, sw_version", cfg.Device)
	}
	if cfg.Origin["name"] != "pitweet" {
		t.Errorf("origin %v: want name pitweet", cfg.Origin)
	}
	if cfg.Avail != "pitweet/kitchen/status" {
		t.Errorf("availability_topic %q", cfg.Avail)
	}
	want := map[string][3]string{ // state topic: device class, unit, component
		"pitweet/kitchen/sensor/room/temperature":   {"temperature", "°C", "room_temperature"},
		"pitweet/kitchen/sensor/room/humidity":      {"humidity", "%", "room_humidity"},
		"pitweet/kitchen/sensor/room/pressure":      {"atmospheric_pressure", "hPa", "room_pressure"},
		"pitweet/kitchen/sensor/air/co2":            {"carbon_dioxide", "ppm", "air_co2"},
		"pitweet/kitchen/sensor/window/illuminance": {"illuminance", "lx", "window_illuminance"},
	}
	uniq := map[any]bool{}
	triggers := map[[2]any]bool{}
	for id, c := range cfg.Comps {
		switch c["platform"] {
		case "sensor":
			w, ok := want[c["state_topic"].(string)]
			if !ok || w[2] != id || c["device_class"] != w[0] || c["unit_of_measurement"] != w[1] || c["state_class"] != "measurement" || c["expire_after"] != 180.0 {
				t.Errorf("sensor component %s: %v", id, c)
			}
			delete(want, c["state_topic"].(string))
		case "event":
			if c["device_class"] != "button" || !strings.HasPrefix(c["state_topic"].(string), "pitweet/kitchen/button/") {
				t.Errorf("event component %s: %v", id, c)
			}
		case "device_automation":
			key := [2]any{c["type"], c["subtype"]}
			if c["automation_type"] != "trigger" || triggers[key] {
				t.Errorf("trigger %s: %v (type and subtype must be unique)", id, c)
			}
			triggers[key] = true
			continue
		default:
			t.Errorf("component %s has platform %v", id, c["platform"])
		}
		if c["unique_id"] == nil || uniq[c["unique_id"]] {
			t.Errorf("component %s: unique_id %v missing or not unique", id, c["unique_id"])
		}
		uniq[c["unique_id"]] = true
	}
	if len(want) != 0 {
		t.Errorf("no sensor component for %v", want)
	}
	if len(triggers) != 3 { // door short and long, bell short
		t.Errorf("%d device triggers; want 3", len(triggers))
	}

	// Home Assistant restarts: its birth message brings the config and
	// the latest readings again (within the random delay of up to 5 s).
	g.Reading(hw.Reading{Sensor: "room", At: time.Now(), Values: map[string]float64{hw.Temperature: 21.437}})
	ha2 := b.Subscribe("ha", users["ha"], []string{"homeassistant/device/#", "pitweet/kitchen/sensor/#"}, "-q", "1")
	ha2.WaitFor(t, wait, "the retained reading", func(m mosquittotest.Message) bool { return m.Payload == "21.44" })
	if out, err := b.Publish("ha", users["ha"], "homeassistant/status", nil, "-m", "online"); err != nil {
		t.Fatalf("publish birth: %v\n%s", err, out)
	}
	var sawConfig, sawReading bool
	for !sawConfig || !sawReading {
		m := ha2.Next(t, wait)
		if m.Retained {
			continue
		}
		sawConfig = sawConfig || m.Topic == "homeassistant/device/pitweet_kitchen/config"
		sawReading = sawReading || m.Topic == "pitweet/kitchen/sensor/room/temperature" && m.Payload == "21.44"
	}
}

// golden compares a JSON payload, indented, with testdata/name.
func golden(t *testing.T, name, payload string) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(payload), "", "  "); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs; got:\n%s", path, buf.Bytes())
	}
}

// The older per-component style: one retained config per entity, each
// with the device block.
func TestDiscoveryPerComponent(t *testing.T) {
	b := broker(t)
	cfg := kitchen(b)
	cfg.DiscoveryStyle = "component"
	cfg.Sensors = cfg.Sensors[:1]
	cfg.Buttons = cfg.Buttons[:1]
	run(t, newGateway(t, cfg))
	online(t, b, "pitweet/kitchen")
	// 3 sensors, 1 event, 2 triggers: once all are published, a new
	// subscriber gets them retained.
	first := b.Subscribe("ha", users["ha"], []string{"homeassistant/#"}, "-q", "1")
	for seen := map[string]bool{}; len(seen) < 6; {
		seen[first.Next(t, wait).Topic] = true
	}
	first.Stop()
	ha := b.Subscribe("ha", users["ha"], []string{"homeassistant/#"}, "-q", "1")
	got := map[string]string{}
	for len(got) < 6 {
		m := ha.Next(t, wait)
		if !m.Retained || !configTopic.MatchString(m.Topic) {
			t.Errorf("%s retained %v", m.Topic, m.Retained)
		}
		got[m.Topic] = m.Payload
	}
	var c map[string]any
	if err := json.Unmarshal([]byte(got["homeassistant/sensor/pitweet_kitchen/room_temperature/config"]), &c); err != nil {
		t.Fatalf("%v: %v", err, got)
	}
	if c["unique_id"] != "pitweet_kitchen_room_temperature" || c["device"] == nil || c["availability_topic"] != "pitweet/kitchen/status" || c["unit_of_measurement"] != "°C" {
		t.Errorf("temperature config %v", c)
	}
	if _, ok := got["homeassistant/device_automation/pitweet_kitchen/door_long/config"]; !ok {
		t.Errorf("no long press trigger among %v", slices.Sorted(mapsKeys(got)))
	}
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Readings are retained; while the broker is down only the latest value
// of each is kept, and it is what the broker holds once it is back.
func TestReadingsRetainedLatestWins(t *testing.T) {
	b := broker(t)
	g := newGateway(t, kitchen(b))
	run(t, g)
	online(t, b, "pitweet/kitchen")
	s := b.Subscribe("viewer", users["viewer"], []string{"pitweet/kitchen/sensor/#"})
	g.Reading(hw.Reading{Sensor: "room", At: time.Now(), Values: map[string]float64{hw.Temperature: 20, hw.Humidity: 41.26, hw.Pressure: 1013.254}})
	got := map[string]string{}
	for len(got) < 3 {
		m := s.Next(t, wait)
		got[m.Topic] = m.Payload
	}
	want := map[string]string{
		"pitweet/kitchen/sensor/room/temperature": "20.00",
		"pitweet/kitchen/sensor/room/humidity":    "41.26",
		"pitweet/kitchen/sensor/room/pressure":    "1013.3",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q; want %q", k, got[k], v)
		}
	}
	s.Stop()

	b.Stop()
	const n = 100000 // far more than an hour of readings
	for i := range n {
		g.Reading(hw.Reading{Sensor: "room", At: time.Now(), Values: map[string]float64{hw.Temperature: float64(i) / 100}})
	}
	if st := g.Status(); st.Queued != 0 {
		t.Errorf("%d messages queued for readings; readings keep only the latest", st.Queued)
	}
	b.Restart()
	last := fmt.Sprintf("%.2f", float64(n-1)/100)
	s = b.Subscribe("viewer", users["viewer"], []string{"pitweet/kitchen/sensor/room/temperature"})
	// Before the latest, at most the value retained before the stop: no
	// value from the outage but the last is sent.
	s.WaitFor(t, wait, "the latest reading", func(m mosquittotest.Message) bool {
		if m.Payload != last && m.Payload != "20.00" {
			t.Errorf("reading %s from the outage was published; only the latest, %s, should be", m.Payload, last)
		}
		return m.Payload == last
	})
	s.Stop()
	s = b.Subscribe("viewer", users["viewer"], []string{"pitweet/kitchen/sensor/room/temperature"})
	if m := s.Next(t, wait); !m.Retained || m.Payload != last {
		t.Errorf("retained reading %+v; want %s retained", m, last)
	}
}

// Presses made while the broker is down are delivered, in order, once it
// is back.
func TestPressesDeliveredAfterBrokerRestart(t *testing.T) {
	b := broker(t)
	g := newGateway(t, kitchen(b))
	run(t, g)
	online(t, b, "pitweet/kitchen")
	// A subscriber with a persistent session, as Home Assistant has.
	watch := func() *mosquittotest.Sub {
		return b.Subscribe("viewer", users["viewer"], []string{"pitweet/kitchen/button/#"}, "-q", "1", "-c", "-i", "watcher")
	}
	s := watch()
	g.Press(hw.Press{Button: "door", At: time.Now()})
	if m := s.Next(t, wait); m.Topic != "pitweet/kitchen/button/door" || m.Payload != "press" || m.Retained {
		t.Errorf("press arrived as %+v", m)
	}
	if m := s.Next(t, wait); m.Topic != "pitweet/kitchen/button/door/event" || !strings.HasPrefix(m.Payload, `{"event_type":"press"`) {
		t.Errorf("event arrived as %+v", m)
	}
	s.Stop()

	b.Stop()
	const n = 20
	for i := range n {
		g.Press(hw.Press{Button: "door", Long: i%2 == 1, At: time.Now()})
	}
	if st := g.Status(); st.Queued != 2*n {
		t.Errorf("with the broker down: %+v; want %d queued", st, 2*n)
	}
	b.Restart()
	s = watch()
	for i := range n {
		want := "press"
		if i%2 == 1 {
			want = "long_press"
		}
		m := s.Next(t, wait)
		if m.Topic != "pitweet/kitchen/button/door" || m.Payload != want {
			t.Fatalf("press %d arrived as %+v; want %s", i, m, want)
		}
		m = s.Next(t, wait)
		if m.Topic != "pitweet/kitchen/button/door/event" || !strings.Contains(m.Payload, `"event_type":"`+want+`"`) {
			t.Fatalf("event %d arrived as %+v", i, m)
		}
	}
}

// recorder is a command handler that records what it was given, and fails
// or refuses on request.
type recorder struct {
	mu     sync.Mutex
	got    []gateway.Command
	seen   chan gateway.Command
	fail   map[string]int // id → how many more times to fail storing
	refuse map[string]string
}

func newRecorder() *recorder {
	return &recorder{seen: make(chan gateway.Command, 10000), fail: map[string]int{}, refuse: map[string]string{}}
}

func (r *recorder) handle(ctx context.Context, c gateway.Command) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, c)
	r.seen <- c
	if r.fail[c.ID] > 0 {
		r.fail[c.ID]--
		return errors.New("outbox: write message: no space left on device")
	}
	if reason, ok := r.refuse[c.ID]; ok {
		return gateway.Refuse("%s", reason)
	}
	return nil
}

func (r *recorder) next(t *testing.T) gateway.Command {
	t.Helper()
	select {
	case c := <-r.seen:
		return c
	case <-time.After(wait):
		t.Fatalf("the handler was not called within %v", wait)
	}
	return gateway.Command{}
}

func command(t *testing.T, b *mosquittotest.Broker, user, topic, payload string) string {
	t.Helper()
	out, err := b.Publish(user, users[user], topic, nil, "-q", "1", "-m", payload)
	if err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	return out
}

// A command that could not be stored is not acknowledged: the broker
// delivers it again. A refused one is acknowledged and its reason
// published on <prefix>/posted, as is a malformed one.
func TestCommandStoreFailureAndRefusal(t *testing.T) {
	b := broker(t)
	rec := newRecorder()
	rec.fail["full"] = 1
	rec.refuse["long"] = "text is 300 characters; X takes 280"
	cfg := kitchen(b)
	cfg.Commands, cfg.Handler = true, rec.handle
	run(t, newGateway(t, cfg))
	online(t, b, "pitweet/kitchen")
	posted := b.Subscribe("viewer", users["viewer"], []string{"pitweet/kitchen/posted"}, "-q", "1")

	command(t, b, "ha", "pitweet/kitchen/post", `{"id": "full", "text": "hello", "to": ["x"]}`)
	if c := rec.next(t); c.ID != "full" || c.Text != "hello" || !slices.Equal(c.To, []string{"x"}) || c.Redelivered {
		t.Errorf("first delivery %+v", c)
	}
	if c := rec.next(t); c.ID != "full" || !c.Redelivered {
		t.Errorf("after the store failed, the broker delivered %+v; want full again, flagged as redelivered", c)
	}

	command(t, b, "ha", "pitweet/kitchen/post", `{"id": "long", "text": "a long one"}`)
	if c := rec.next(t); c.ID != "long" {
		t.Errorf("handler got %+v", c)
	}
	m := posted.Next(t, wait)
	var r gateway.Result
	if err := json.Unmarshal([]byte(m.Payload), &r); err != nil || r.Command != "long" || r.Outcome != "refused" || r.Reason != rec.refuse["long"] {
		t.Errorf("posted %s; want the refusal of long", m.Payload)
	}

	command(t, b, "ha", "pitweet/kitchen/post", `{"id": "bad", "text": "hi", "colour": "red"}`)
	m = posted.Next(t, wait)
	if err := json.Unmarshal([]byte(m.Payload), &r); err != nil || r.Command != "bad" || r.Outcome != "refused" || !strings.Contains(r.Reason, `unknown key "colour"`) {
		t.Errorf("posted %s; want the refusal of bad", m.Payload)
	}

	// Neither the refused nor the malformed command comes back: the next
	// command is the next thing the handler sees.
	command(t, b, "ha", "pitweet/kitchen/post", `{"id": "after", "text": "next"}`)
	if c := rec.next(t); c.ID != "after" {
		t.Errorf("handler got %+v; want after", c)
	}
}

// Commands are taken only from an account the ACL lets write the command
// topic; anonymous clients are refused by the broker.
func TestCommandsOnlyFromAllowedAccount(t *testing.T) {
	b := broker(t)
	rec := newRecorder()
	cfg := kitchen(b)
	cfg.Commands, cfg.Handler = true, rec.handle
	run(t, newGateway(t, cfg))
	online(t, b, "pitweet/kitchen")

	out := command(t, b, "viewer", "pitweet/kitchen/post", `{"id": "from-viewer", "text": "hi"}`)
	if !strings.Contains(out, "RC:135") {
		t.Errorf("the viewer's command was not refused (PUBACK reason code 135):\n%s", out)
	}
	if out, err := b.Publish("", "", "pitweet/kitchen/post", nil, "-q", "1", "-m", `{"id": "anonymous", "text": "hi"}`); err == nil || !strings.Contains(out, "Not authorized") {
		t.Errorf("an anonymous client could connect: %v\n%s", err, out)
	}
	// The refusals above were answered before this is published, so the
	// handler would see them first.
	command(t, b, "ha", "pitweet/kitchen/post", `{"id": "from-ha", "text": "hi"}`)
	if c := rec.next(t); c.ID != "from-ha" {
		t.Errorf("handler got %+v; want only from-ha", c)
	}
}

// A thousand commands published at once: the handler is called once for
// each, and after a restart of the gateway none comes again.
func TestThousandCommands(t *testing.T) {
	b := broker(t)
	rec := newRecorder()
	cfg := kitchen(b)
	cfg.Commands, cfg.Handler = true, rec.handle
	stop := run(t, newGateway(t, cfg))
	online(t, b, "pitweet/kitchen")

	const n = 1000
	var lines bytes.Buffer
	for i := range n {
		fmt.Fprintf(&lines, `{"id": "cmd-%04d", "text": "post %d"}`+"\n", i, i)
	}
	start := time.Now()
	if out, err := b.Publish("ha", users["ha"], "pitweet/kitchen/post", lines.Bytes(), "-q", "1", "-l"); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	count := map[string]int{}
	for range n {
		c := rec.next(t)
		count[c.ID]++
	}
	t.Logf("%d commands handled in %v", n, time.Since(start).Round(time.Millisecond))
	for i := range n {
		if id := fmt.Sprintf("cmd-%04d", i); count[id] != 1 {
			t.Errorf("%s handled %d times", id, count[id])
		}
	}
	stop()
	run(t, newGateway(t, cfg))
	command(t, b, "ha", "pitweet/kitchen/post", `{"id": "sentinel", "text": "after the restart"}`)
	if c := rec.next(t); c.ID != "sentinel" {
		t.Errorf("after a restart the handler got %s first; every command was acknowledged, so want sentinel", c.ID)
	}
}

// Helper process: a gateway whose handler never returns, so that the test
// can kill it while a command is being stored.
func TestMain(m *testing.M) {
	if os.Getenv("GATEWAY_TEST_HELPER") == "hang" {
		os.Exit(hangingGateway())
	}
	os.Exit(m.Run())
}

// helperConfig is what the helper process is told.
type helperConfig struct{ Broker, Username, Password, Hostname string }

func hangingGateway() int {
	var hc helperConfig
	if err := json.Unmarshal([]byte(os.Getenv("GATEWAY_TEST_CONFIG")), &hc); err != nil {
		fmt.Println("config:", err)
		return 2
	}
	cfg := gateway.Config{Broker: hc.Broker, Username: hc.Username, Password: hc.Password, Hostname: hc.Hostname, Commands: true}
	cfg.Handler = func(ctx context.Context, c gateway.Command) error {
		fmt.Printf("handling %s\n", c.ID)
		select {} // killed here
	}
	g, err := gateway.New(cfg)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	g.Run(context.Background())
	return 0
}

// A command is acknowledged only after the handler returned: killed while
// storing it, pitweet gets it again from the broker when it comes back.
// The kill also shows the will: the broker publishes offline.
func TestCommandRedeliveredAfterKill(t *testing.T) {
	b := broker(t)
	cfg := kitchen(b)
	js, err := json.Marshal(helperConfig{cfg.Broker, cfg.Username, cfg.Password, cfg.Hostname})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GATEWAY_TEST_HELPER=hang", "GATEWAY_TEST_CONFIG="+string(js))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // an error means it has exited
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	status := b.Subscribe("viewer", users["viewer"], []string{"pitweet/kitchen/status"})
	status.WaitFor(t, wait, "online", func(m mosquittotest.Message) bool { return m.Payload == "online" })

	command(t, b, "ha", "pitweet/kitchen/post", `{"id": "killed-1", "text": "hello"}`)
	select {
	case l := <-lines:
		if l != "handling killed-1" {
			t.Fatalf("helper said %q", l)
		}
	case <-time.After(wait):
		t.Fatal("the helper's handler was not called")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	status.WaitFor(t, wait, "the will (offline)", func(m mosquittotest.Message) bool { return m.Payload == "offline" })

	rec := newRecorder()
	cfg = kitchen(b)
	cfg.Commands, cfg.Handler = true, rec.handle
	stop := run(t, newGateway(t, cfg))
	if c := rec.next(t); c.ID != "killed-1" || c.Text != "hello" || !c.Redelivered {
		t.Errorf("after the kill the broker delivered %+v; want killed-1 again, flagged as redelivered", c)
	}
	// Stored this time: acknowledged, so not delivered a third time.
	stop()
	run(t, newGateway(t, cfg))
	command(t, b, "ha", "pitweet/kitchen/post", `{"id": "next", "text": "hi"}`)
	if c := rec.next(t); c.ID != "next" {
		t.Errorf("handler got %s; want next", c.ID)
	}
}

// TLS: verified against the CA in ca_file, with the password file.
func TestTLS(t *testing.T) {
	b := broker(t)
	cfg := kitchen(b)
	cfg.Broker, cfg.CAFile = b.TLSURL(), b.CAFile
	run(t, newGateway(t, cfg))
	online(t, b, "pitweet/kitchen")
}

// Forward returns nil only once the broker acknowledged the command with
// a subscriber to take it; the poster's handler gets it whole.
func TestForward(t *testing.T) {
	b := broker(t)
	shed := kitchen(b)
	shed.Hostname, shed.Username, shed.Password = "shed", "shed", users["shed"]
	shed.Discovery = false
	member := newGateway(t, shed)
	run(t, member)
	online(t, b, "pitweet/shed")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	pic := bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0}, 1000)
	c := gateway.Command{ID: "shed:17", Text: "the shed door opened", To: []string{"x"}, Pictures: []gateway.Picture{{Data: pic, Alt: "door"}, {Data: pic[:100]}}}

	// No poster has ever subscribed: the broker would drop it.
	if err := member.Forward(ctx, "pitweet/poster", c); !errors.Is(err, gateway.ErrNoPoster) {
		t.Errorf("Forward with no poster: %v; want ErrNoPoster", err)
	}
	// The ACL does not let the shed write another Pi's command topic.
	var refused *gateway.ForwardRefused
	if err := member.Forward(ctx, "pitweet/kitchen", c); !errors.As(err, &refused) || refused.Code != 0x87 {
		t.Errorf("Forward to a topic the ACL denies: %v; want *ForwardRefused 0x87", err)
	}

	rec := newRecorder()
	poster := kitchen(b)
	poster.Hostname, poster.Username, poster.Password = "poster", "poster", users["poster"]
	poster.Commands, poster.Handler = true, rec.handle
	run(t, newGateway(t, poster))
	online(t, b, "pitweet/poster")
	if err := member.Forward(ctx, "pitweet/poster", c); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	got := rec.next(t)
	if got.ID != c.ID || got.Text != c.Text || !slices.Equal(got.To, c.To) || len(got.Pictures) != 2 ||
		!bytes.Equal(got.Pictures[0].Data, pic) || got.Pictures[0].Alt != "door" || !bytes.Equal(got.Pictures[1].Data, pic[:100]) {
		t.Errorf("poster got %+v", got)
	}

	// On a connection of its own, as pitweet post forwards.
	once := c
	once.ID = "shed:once"
	if err := member.ForwardOnce(ctx, "pitweet/poster", once); err != nil {
		t.Fatalf("ForwardOnce: %v", err)
	}
	if got := rec.next(t); got.ID != "shed:once" || got.Text != c.Text || len(got.Pictures) != 2 {
		t.Errorf("poster got %+v", got)
	}
	var refusedOnce *gateway.ForwardRefused
	if err := member.ForwardOnce(ctx, "pitweet/kitchen", once); !errors.As(err, &refusedOnce) || refusedOnce.Code != 0x87 {
		t.Errorf("ForwardOnce to a topic the ACL denies: %v; want *ForwardRefused 0x87", err)
	}

	// With the broker down, Forward does not return nil: it waits for the
	// connection until its context ends.
	b.Stop()
	short, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if err := member.Forward(short, "pitweet/poster", c); err == nil {
		t.Error("Forward returned nil with the broker down")
	}
}

// Reconfigure removes from Home Assistant what is no longer configured:
// the component emptied to its platform, then the config without it, and
// its retained readings cleared. A gateway started afresh does the same
// from the retained config it finds.
func TestRemovedEntities(t *testing.T) {
	b := broker(t)
	cfg := kitchen(b)
	g := newGateway(t, cfg)
	stop := run(t, g)
	online(t, b, "pitweet/kitchen")
	g.Reading(hw.Reading{Sensor: "window", Values: map[string]float64{hw.Illuminance: 300}})
	ha := b.Subscribe("ha", users["ha"], []string{"homeassistant/device/#", "pitweet/kitchen/sensor/window/#"}, "-q", "1")
	ha.WaitFor(t, wait, "the window reading", func(m mosquittotest.Message) bool { return m.Payload == "300.0" })

	cfg.Sensors = slices.DeleteFunc(slices.Clone(cfg.Sensors), func(s gateway.Sensor) bool { return s.Name == "window" })
	if err := g.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	var removal, final map[string]map[string]map[string]any
	cleared := false
	for final == nil || !cleared {
		m := ha.Next(t, wait)
		if m.Retained {
			continue
		}
		if m.Topic == "pitweet/kitchen/sensor/window/illuminance" && m.Payload == "" {
			cleared = true
			continue
		}
		var p map[string]map[string]map[string]any
		json.Unmarshal([]byte(m.Payload), &p)
		if removal == nil {
			removal = p
		} else if final == nil {
			final = p
		}
	}
	if c := removal["components"]["window_illuminance"]; len(c) != 1 || c["platform"] != "sensor" {
		t.Errorf("removal config has window_illuminance %v; want only its platform", c)
	}
	if len(removal["components"]["room_temperature"]) < 2 {
		t.Errorf("removal config lost room_temperature: %v", removal["components"])
	}
	if _, ok := final["components"]["window_illuminance"]; ok {
		t.Error("window_illuminance is still in the final config")
	}
	stop()

	// Restarted with the air sensor gone too: found in the retained config.
	cfg.Sensors = cfg.Sensors[:1]
	stop = run(t, newGateway(t, cfg))
	removal = nil
	for removal == nil {
		m := ha.Next(t, wait)
		var p map[string]map[string]map[string]any
		json.Unmarshal([]byte(m.Payload), &p)
		if c := p["components"]["air_co2"]; !m.Retained && len(c) == 1 {
			removal = p
		}
	}
	stop()

	// Discovery turned off: the retained config is emptied.
	cfg.Discovery = false
	run(t, newGateway(t, cfg))
	ha.WaitFor(t, wait, "the emptied config", func(m mosquittotest.Message) bool {
		return m.Topic == "homeassistant/device/pitweet_kitchen/config" && m.Payload == "" && !m.Retained
	})
	s := b.Subscribe("ha", users["ha"], []string{"homeassistant/#", "pitweet/kitchen/status"})
	if m := s.Next(t, wait); m.Topic != "pitweet/kitchen/status" {
		t.Errorf("after discovery was turned off the broker still holds %s", m.Topic)
	}
}
