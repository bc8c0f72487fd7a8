//go:build linux

package main

// End-to-end tests of pitweet on an MQTT broker: the real pitweet binary,
// a real Mosquitto (package mosquittotest, with the ACL docs/mqtt.md
// gives) and fakex. mosquitto_sub plays Home Assistant and the other
// clients on the broker.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"pitweet/daemon"
	"pitweet/fakex"
	"pitweet/gateway/mosquittotest"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// mqttWait is how long a test waits for a message from the broker.
const mqttWait = 20 * time.Second

// mqttUsers are the broker's accounts, as docs/mqtt.md's ACL names them:
// the Pis, Home Assistant and a dashboard that may only read.
var mqttUsers = map[string]string{
	"kitchen": "kitchen-pass", "shed": "shed-pass", "poster": "poster-pass",
	"homeassistant": "homeassistant-pass", "dashboard": "dashboard-pass",
}

// docACL is the Mosquitto ACL that docs/mqtt.md gives, read from the page
// itself: the tests run what users are told to write.
func docACL(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/mqtt.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```\n# /etc/mosquitto/acl\n")
	acl, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 || !strings.Contains(acl, "user kitchen") {
		t.Fatal("docs/mqtt.md has no Mosquitto ACL block starting with # /etc/mosquitto/acl")
	}
	return acl
}

// mqttBroker starts a Mosquitto with the documented ACL and the accounts.
func mqttBroker(t testing.TB) *mosquittotest.Broker {
	t.Helper()
	return mosquittotest.Start(t, mosquittotest.Options{Users: mqttUsers, ACL: docACL(t)})
}

// mqttPi is how one test daemon is on the broker.
type mqttPi struct {
	name  string // the account, and pitweet-<name>, pitweet/<name>
	noX   bool   // no [x]: a fleet member that forwards
	extra string // more [mqtt] keys
	rules string // more rules after e2eRules ([[sensor]] ...)
}

// newMQTTE2E writes the config of a daemon on broker b, with its own
// fakex unless pi.noX; the daemon is not started yet. The broker password
// comes from the credentials file (mqtt_password), or from
// PITWEET_MQTT_PASSWORD for a member without [x], whose credentials file
// is the default one.
func newMQTTE2E(t testing.TB, b *mosquittotest.Broker, pi mqttPi) *e2e {
	t.Helper()
	e := &e2e{t: t, dir: t.TempDir(), log: &lockedBuffer{}, bin: pitweetBin}
	e.socket = filepath.Join(e.dir, daemon.SocketName)
	e.ca = filepath.Join(e.dir, "ca.pem")
	text := fmt.Sprintf("state_dir = %q\n", filepath.Join(e.dir, "state"))
	if !pi.noX {
		e.x = e.startX("127.0.0.1:0")
		creds := filepath.Join(e.dir, "credentials")
		if err := writeCredentials(creds, fakex.DemoCredentials); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(creds, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "mqtt_password=%s\n", mqttUsers[pi.name])
		f.Close()
		text += fmt.Sprintf("[x]\nbase_url = %q\nca_file = %q\ncredentials = %q\n", e.x.URL(), e.ca, creds)
	} else {
		e.both = append(e.both, "PITWEET_MQTT_PASSWORD="+mqttUsers[pi.name])
	}
	text += "[hardware]\nmode = \"fake\"\nenvironment = \"fixed\"\n" + e2eRules + pi.rules
	text += fmt.Sprintf("[mqtt]\nbroker = %q\nusername = %q\nclient_id = \"pitweet-%s\"\ntopic_prefix = \"pitweet/%s\"\n%s",
		b.URL(), pi.name, pi.name, pi.name, pi.extra)
	e.config = filepath.Join(e.dir, "pitweet.toml")
	if err := os.WriteFile(e.config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.kill()
		if t.Failed() {
			t.Logf("daemon %s log:\n%s", pi.name, e.log.String())
		}
	})
	return e
}

// waitConnected waits until status says the daemon is on the broker.
func (e *e2e) waitConnected() *daemon.Status {
	e.t.Helper()
	return e.waitStatus("the broker connection", func(s *daemon.Status) bool { return s.MQTT != nil && s.MQTT.Connected })
}

// subscribe runs mosquitto_sub as user on filters at QoS 1.
func subscribe(t testing.TB, b *mosquittotest.Broker, user string, filters ...string) *mosquittotest.Sub {
	t.Helper()
	return b.Subscribe(user, mqttUsers[user], filters, "-q", "1")
}

// result reads a message of <prefix>/posted.
func result(t testing.TB, m mosquittotest.Message) map[string]string {
	t.Helper()
	var r map[string]string
	if err := json.Unmarshal([]byte(m.Payload), &r); err != nil {
		t.Fatalf("%s: %v: %s", m.Topic, err, m.Payload)
	}
	return r
}

// Home Assistant, subscribed to homeassistant/#, receives the real
// daemon's retained discovery config (kept in testdata as evidence, with
// the machine's host name as HOST); the daemon's readings, presses and
// delivery results follow on its topics, status shows the connection,
// and a clean stop leaves it offline.
func TestE2EMQTTHomeAssistant(t *testing.T) {
	t.Parallel()
	b := mqttBroker(t)
	e := newMQTTE2E(t, b, mqttPi{name: "kitchen"})
	ha := subscribe(t, b, "homeassistant", "homeassistant/#", "pitweet/kitchen/#")
	e.start()
	e.waitConnected()

	var config mosquittotest.Message
	reading := map[string]string{}
	var online bool
	for config.Topic == "" || len(reading) < 3 || !online {
		m := ha.Next(t, mqttWait)
		switch {
		case m.Topic == "homeassistant/device/pitweet_kitchen/config":
			config = m
		case strings.HasPrefix(m.Topic, "pitweet/kitchen/sensor/room/"):
			reading[strings.TrimPrefix(m.Topic, "pitweet/kitchen/sensor/room/")] = m.Payload
		case m.Topic == "pitweet/kitchen/status":
			online = m.Payload == "online"
		}
	}
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	payload := strings.ReplaceAll(config.Payload, `"pitweet `+host+`"`, `"pitweet HOST"`)
	golden(t, "mqtt-discovery.json", payload)
	var cfg struct {
		Device map[string]any            `json:"device"`
		Avail  string                    `json:"availability_topic"`
		Comps  map[string]map[string]any `json:"components"`
	}
	if err := json.Unmarshal([]byte(config.Payload), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Device["sw_version"] != "dev" || cfg.Avail != "pitweet/kitchen/status" {
		t.Errorf("device %v, availability %q", cfg.Device, cfg.Avail)
	}
	for id, want := range map[string][2]string{
		"room_temperature": {"temperature", "°C"}, "room_humidity": {"humidity", "%"}, "room_pressure": {"atmospheric_pressure", "hPa"},
	} {
		c := cfg.Comps[id]
		// The daemon reads the room every minute (history = "1m"):
		// unavailable after three minutes without a reading.
		if c["device_class"] != want[0] || c["unit_of_measurement"] != want[1] || c["expire_after"] != 180.0 {
			t.Errorf("component %s = %v", id, c)
		}
	}
	for _, id := range []string{"doorbell_event", "doorbell_short", "mailbox_event", "mailbox_short"} {
		if cfg.Comps[id] == nil {
			t.Errorf("no component %s among %v", id, cfg.Comps)
		}
	}
	if cfg.Comps["doorbell_long"] != nil {
		t.Error("a long-press trigger for a button without long_text")
	}

	// The readings are those status shows.
	st := e.status()
	for q, v := range st.Sensors[0].Values {
		if got := reading[strings.ToLower(q)]; !closeTo(got, v) {
			t.Errorf("%s published %s; status says %v", q, got, v)
		}
	}

	// A press: on the button topics, then its result once X has it.
	e.press("doorbell")
	tw := e.waitTweets(1)[0]
	var press, event bool
	var posted map[string]string
	for !press || !event || posted == nil {
		m := ha.Next(t, mqttWait)
		switch m.Topic {
		case "pitweet/kitchen/button/doorbell":
			press = m.Payload == "press"
		case "pitweet/kitchen/button/doorbell/event":
			event = strings.HasPrefix(m.Payload, `{"event_type":"press","at":"`)
		case "pitweet/kitchen/posted":
			posted = result(t, m)
		}
	}
	if posted["outcome"] != "posted" || posted["destination"] != "x" || posted["ref"] != tw.ID || posted["id"] == "" {
		t.Errorf("posted %v; want tweet %s on x", posted, tw.ID)
	}

	out, _, code := e.pitweet("status")
	if code != 0 || !strings.Contains(out, "mqtt:         connected to "+b.URL()+" as pitweet-kitchen since ") ||
		!strings.Contains(out, "; publishing on pitweet/kitchen\n") {
		t.Errorf("status:\n%s", out)
	}

	// A clean stop: offline, retained.
	if err := e.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("pitweet exited with %v", err)
	}
	ha.WaitFor(t, mqttWait, "offline", func(m mosquittotest.Message) bool {
		return m.Topic == "pitweet/kitchen/status" && m.Payload == "offline"
	})
	s := subscribe(t, b, "dashboard", "pitweet/kitchen/status")
	if m := s.Next(t, mqttWait); !m.Retained || m.Payload != "offline" {
		t.Errorf("retained status %+v; want offline", m)
	}
}

// closeTo reports whether a published reading (rounded to its
// quantity's decimals) is v.
func closeTo(published string, v float64) bool {
	f, err := strconv.ParseFloat(published, 64)
	return err == nil && f-v < 0.06 && v-f < 0.06
}

// golden compares a JSON payload, indented, with testdata/name.
func golden(t *testing.T, name, payload string) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(payload), "", "  "); err != nil {
		t.Fatalf("%s: %v: %s", name, err, payload)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs; got:\n%s", path, buf.Bytes())
	}
}

// waitLog waits until the daemon has logged what at least n times.
func (e *e2e) waitLog(what string, n int, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for strings.Count(e.log.String(), what) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("the daemon logged %q %d times in %v; want %d", what, strings.Count(e.log.String(), what), within, n)
		}
		select {
		case err := <-e.exited:
			e.t.Fatalf("waiting for %q in the log: pitweet exited: %v", what, err)
		case <-time.After(2 * time.Millisecond): // polling interval, not synchronisation
		}
	}
}

// waitTweetsWithin waits until x has accepted n tweets in all.
func waitTweetsWithin(t testing.TB, x *fakex.Server, n int, within time.Duration) []fakex.Tweet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	tweets, err := x.WaitTweets(ctx, n)
	if err != nil {
		t.Fatalf("%v; %d accepted so far", err, len(x.Tweets()))
	}
	return tweets
}

// onceEach checks that x posted each of want exactly once, and nothing
// else; it returns how many it posted.
func onceEach(t testing.TB, x *fakex.Server, want map[string]bool) int {
	t.Helper()
	count := map[string]int{}
	for _, tw := range x.Tweets() {
		count[tw.Text]++
	}
	for text := range want {
		if count[text] != 1 {
			t.Errorf("%q posted %d times", text, count[text])
		}
	}
	for text, n := range count {
		if !want[text] {
			t.Errorf("%q posted %d times; it is no command", text, n)
		}
	}
	return len(x.Tweets())
}

// 1,000 commands published at once, as Home Assistant publishes them:
// pitweet is killed (SIGKILL) while it takes and posts them, and the
// broker restarts while pitweet is down. Every command is posted on X
// exactly once: those stored before the kill are in the outbox, those
// not acknowledged come again from the broker, and those that come twice
// are known by their id.
func TestE2EMQTTThousandCommandsKillAndBrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("posts 1,000 commands")
	}
	t.Parallel()
	b := mqttBroker(t)
	e := newMQTTE2E(t, b, mqttPi{name: "kitchen", extra: "commands = true\ndiscovery = false\n"})
	e.start()
	e.waitConnected()

	const n = 1000
	want := map[string]bool{}
	var lines bytes.Buffer
	for i := range n {
		text := fmt.Sprintf("Command %04d from Home Assistant", i)
		want[text] = true
		fmt.Fprintf(&lines, `{"id": "ha-%04d", "text": %q}`+"\n", i, text)
	}
	start := time.Now()
	if out, err := b.Publish("homeassistant", mqttUsers["homeassistant"], "pitweet/kitchen/post", lines.Bytes(), "-q", "1", "-l"); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	published := time.Since(start)
	// Killed while it takes them into the outbox and posts them.
	e.waitLog("daemon: queued", n/4, time.Minute)
	if err := e.signal(syscall.SIGKILL); err == nil {
		t.Fatal("pitweet exited cleanly after SIGKILL")
	}
	queued, before := strings.Count(e.log.String(), "daemon: queued"), len(e.x.Tweets())
	b.Restart()
	e.start()
	waitTweetsWithin(t, e.x, n, 5*time.Minute)
	took := time.Since(start)

	// The first 100 sent again, as a sender unsure of its PUBACKs does:
	// known by their ids, not posted again.
	first := bytes.Join(bytes.SplitAfter(lines.Bytes(), []byte("\n"))[:100], nil)
	if out, err := b.Publish("homeassistant", mqttUsers["homeassistant"], "pitweet/kitchen/post", first, "-q", "1", "-l"); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	// A command after them all is the next, and the only one, posted:
	// nothing came twice.
	want["the last one"] = true
	if out, err := b.Publish("homeassistant", mqttUsers["homeassistant"], "pitweet/kitchen/post", nil, "-q", "1", "-m", `{"id": "ha-last", "text": "the last one"}`); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	waitTweetsWithin(t, e.x, n+1, time.Minute)
	st := e.waitStatus("the queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	if got := onceEach(t, e.x, want); got != n+1 {
		t.Errorf("%d tweets; want %d", got, n+1)
	}
	if st.DeadLetters != 0 {
		t.Errorf("%d dead letters: %+v", st.DeadLetters, st.RecentDead)
	}
	known := strings.Count(e.log.String(), "a command with this id was taken before")
	if known < 100 {
		t.Errorf("%d commands known by their ids; the 100 sent again at least", known)
	}
	t.Logf("%d commands published in %v; before the kill %d were queued and %d posted; after it %d posted; %d came again (100 sent again) and were known by their id; %d posting requests for %d tweets; all posted %v after the first was published",
		n, published.Round(time.Millisecond), queued, before, len(e.x.Tweets())-before-1, known, len(postRequests(e.x)), len(e.x.Tweets()), took.Round(time.Millisecond))
}

// A fleet behind one account: the shed has no X keys and forwards through
// the broker to the poster, which posts each of its presses exactly once.
// The shed keeps a message in its own outbox until the broker has
// acknowledged it: with the broker down its queue holds them, and they go
// once it is back; with the poster killed, the broker keeps them in the
// poster's session until it is back; with the shed killed right after its
// presses, its outbox has them when it starts again.
func TestE2EMQTTFleet(t *testing.T) {
	t.Parallel()
	b := mqttBroker(t)
	poster := newMQTTE2E(t, b, mqttPi{name: "poster", extra: "commands = true\n"})
	shed := newMQTTE2E(t, b, mqttPi{name: "shed", noX: true, extra: "forward = \"pitweet/poster\"\n"})
	poster.start()
	poster.waitConnected()
	shed.start()
	if st := shed.waitConnected(); len(st.Destinations) != 1 || st.Destinations[0].Name != "forward" {
		t.Fatalf("the shed's destinations: %+v; want forward alone", st.Destinations)
	}
	results := subscribe(t, b, "homeassistant", "pitweet/poster/posted", "pitweet/shed/posted")
	want := map[string]bool{}
	press := func(n int) {
		for range n {
			want[shed.pressText()] = true
		}
	}

	// Up: each press is forwarded, then posted by the poster.
	press(3)
	waitTweetsOn(t, poster.x, 3)
	forwarded := map[string]string{} // command id → the shed's result
	postedFor := map[string]string{} // command id → the poster's tweet
	for len(forwarded) < 3 || len(postedFor) < 3 {
		m := results.Next(t, mqttWait)
		r := result(t, m)
		switch {
		case m.Topic == "pitweet/shed/posted" && r["destination"] == "forward" && r["outcome"] == "posted":
			forwarded[r["ref"]] = r["id"]
		case m.Topic == "pitweet/poster/posted" && r["destination"] == "x" && r["outcome"] == "posted":
			postedFor[r["command"]] = r["ref"]
		default:
			t.Errorf("%s: %s", m.Topic, m.Payload)
		}
	}
	for cmd, id := range forwarded {
		if cmd != "pitweet-shed:"+id || postedFor[cmd] == "" {
			t.Errorf("the shed forwarded message %s as command %s; the poster posted %v", id, cmd, postedFor)
		}
	}

	// The broker down: the presses wait in the shed's outbox.
	b.Stop()
	press(3)
	shed.waitStatus("3 messages kept while the broker is down", func(s *daemon.Status) bool {
		return s.Queue == 3 && s.MQTT != nil && !s.MQTT.Connected
	})
	b.Restart()
	waitTweetsWithin(t, poster.x, 6, time.Minute)

	// The poster killed: the broker holds its commands in its session.
	if err := poster.signal(syscall.SIGKILL); err == nil {
		t.Fatal("the poster exited cleanly after SIGKILL")
	}
	press(3)
	shed.waitStatus("the broker to take the 3 messages", func(s *daemon.Status) bool { return s.Queue == 0 })
	if n := len(poster.x.Tweets()); n != 6 {
		t.Fatalf("%d tweets while the poster was down; want 6", n)
	}
	poster.start()
	waitTweetsWithin(t, poster.x, 9, time.Minute)

	// The shed killed right after its presses: its outbox has them.
	press(3)
	if err := shed.signal(syscall.SIGKILL); err == nil {
		t.Fatal("the shed exited cleanly after SIGKILL")
	}
	shed.start()
	waitTweetsWithin(t, poster.x, 12, time.Minute)

	// pitweet post on the shed forwards on a connection of its own.
	out, errOut, code := shed.pitweet("post", "--config", shed.config, "posted from the shed's command line")
	if code != 0 || !strings.HasPrefix(out, "forward: the broker has it for the poster, as command pitweet-shed:") {
		t.Errorf("pitweet post on the shed: exit %d\n%s%s", code, out, errOut)
	}
	want["posted from the shed's command line"] = true
	waitTweetsWithin(t, poster.x, 13, time.Minute)

	shedSt := shed.waitStatus("the shed's queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	posterSt := poster.waitStatus("the poster's queue to empty", func(s *daemon.Status) bool { return s.Queue == 0 })
	// A press after it all is the next, and the only one, posted.
	press(1)
	waitTweetsWithin(t, poster.x, 14, time.Minute)
	if got := onceEach(t, poster.x, want); got != 14 {
		t.Errorf("%d tweets; want 14", got)
	}
	if shedSt.DeadLetters+posterSt.DeadLetters != 0 {
		t.Errorf("dead letters: shed %+v, poster %+v", shedSt.RecentDead, posterSt.RecentDead)
	}
	known := strings.Count(poster.log.String(), "a command with this id was taken before")
	t.Logf("13 presses and a pitweet post on the shed, forwarded through the broker (down once) to the poster (killed once), the shed killed once: %d tweets, each once; the poster knew %d commands that came twice by their ids",
		len(poster.x.Tweets()), known)
}

// Commands that can never be posted as they are are refused, each with
// its reason on <prefix>/posted, and acknowledged: the next command is
// taken. A command from an account the ACL does not let write the
// command topic never reaches pitweet.
func TestE2EMQTTCommandRefusals(t *testing.T) {
	t.Parallel()
	b := mqttBroker(t)
	e := newMQTTE2E(t, b, mqttPi{name: "kitchen", extra: "commands = true\ndiscovery = false\n"})
	e.start()
	e.waitConnected()
	posted := subscribe(t, b, "homeassistant", "pitweet/kitchen/posted")
	send := func(user, payload string) string {
		t.Helper()
		out, err := b.Publish(user, mqttUsers[user], "pitweet/kitchen/post", nil, "-q", "1", "-m", payload)
		if err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
		return out
	}
	for _, c := range []struct{ payload, reason string }{
		{`{"id": "r1", "text": "hello", "to": ["mastodon"]}`, `destination "mastodon" is not configured here; configured: x`},
		{`{"id": "r2", "text": "` + strings.Repeat("long ", 60) + `"}`, "the text counts 300 characters as X counts them"},
		{`{"id": "r3", "text": "a picture", "image": "bm90IGEgcGljdHVyZQ=="}`, "picture 1: media: the data is not a JPEG, PNG, GIF or WebP image"},
		{`{"id": "r4", "text": "hi", "colour": "red"}`, `unknown key "colour"`},
		{`{"id": "r5", "text": "hi", "to": ["forward"]}`, `destination "forward" is not configured here`},
	} {
		send("homeassistant", c.payload)
		r := result(t, posted.Next(t, mqttWait))
		if r["outcome"] != "refused" || !strings.Contains(r["reason"], c.reason) || r["command"] == "" {
			t.Errorf("%.60s: posted %v; want refused: %s", c.payload, r, c.reason)
		}
	}
	if out := send("dashboard", `{"id": "from-dashboard", "text": "hi"}`); !strings.Contains(out, "RC:135") {
		t.Errorf("the dashboard's command was not refused by the broker (PUBACK reason code 135):\n%s", out)
	}
	send("homeassistant", `{"id": "ok", "text": "the one to post"}`)
	tw := e.waitTweets(1)
	r := result(t, posted.Next(t, mqttWait))
	if r["outcome"] != "posted" || r["command"] != "ok" || r["ref"] != tw[0].ID || tw[0].Text != "the one to post" {
		t.Errorf("posted %v, tweets %+v; want the command ok posted", r, tw)
	}
	// With $0.015 spent, a budget of $0.02 has no room for another post:
	// the command is refused, not held.
	e.editConfig("[x]\n", "[x]\nmonthly_budget = 0.02\n")
	send("homeassistant", `{"id": "r6", "text": "one post too many"}`)
	if r := result(t, posted.Next(t, mqttWait)); r["outcome"] != "refused" || r["command"] != "r6" ||
		!strings.Contains(r["reason"], "over X's monthly budget: $0.015 of $0.02 spent") {
		t.Errorf("posted %v; want r6 refused as over the budget", r)
	}
	if st := e.status(); st.Queue != 0 || st.DeadLetters != 0 {
		t.Errorf("queue %d, dead letters %d; refused commands are not queued", st.Queue, st.DeadLetters)
	}
}

// editConfig replaces old by new in the daemon's config and reloads it.
func (e *e2e) editConfig(old, new string) {
	e.t.Helper()
	b, err := os.ReadFile(e.config)
	if err != nil {
		e.t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		e.t.Fatalf("config %s has no %q", e.config, old)
	}
	if err := os.WriteFile(e.config, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if out, errOut, code := e.pitweet("reload"); code != 0 {
		e.t.Fatalf("pitweet reload: exit %d\n%s%s", code, out, errOut)
	}
}

// A reload changes what Home Assistant sees without a new connection: a
// sensor removed from the config is removed from Home Assistant, its
// retained readings cleared. A reload that turns commands on starts the
// gateway afresh, subscribed; one that removes [mqtt] leaves the broker,
// offline.
func TestE2EMQTTReload(t *testing.T) {
	t.Parallel()
	b := mqttBroker(t)
	const window = "[[sensor]]\nname = \"window\"\ntype = \"bh1750\"\n"
	e := newMQTTE2E(t, b, mqttPi{name: "kitchen", rules: window})
	ha := subscribe(t, b, "homeassistant", "homeassistant/device/#", "pitweet/kitchen/sensor/window/#", "pitweet/kitchen/status")
	e.start()
	e.waitConnected()
	ha.WaitFor(t, mqttWait, "the window's reading", func(m mosquittotest.Message) bool {
		return m.Topic == "pitweet/kitchen/sensor/window/illuminance" && m.Payload != ""
	})

	e.editConfig(window, "")
	var removal map[string]map[string]map[string]any
	cleared := false
	for removal == nil || !cleared {
		m := ha.Next(t, mqttWait)
		switch {
		case m.Topic == "pitweet/kitchen/sensor/window/illuminance" && m.Payload == "" && !m.Retained:
			cleared = true
		case m.Topic == "homeassistant/device/pitweet_kitchen/config" && !m.Retained:
			var p map[string]map[string]map[string]any
			json.Unmarshal([]byte(m.Payload), &p)
			if c, ok := p["components"]["window_illuminance"]; ok && len(c) == 1 && c["platform"] == "sensor" {
				removal = p
			}
		}
	}
	if len(removal["components"]["room_temperature"]) < 2 {
		t.Errorf("the removal config lost room_temperature: %v", removal["components"])
	}

	e.editConfig("topic_prefix = \"pitweet/kitchen\"\n", "topic_prefix = \"pitweet/kitchen\"\ncommands = true\n")
	st := e.waitStatus("commands on", func(s *daemon.Status) bool { return s.MQTT != nil && s.MQTT.Commands && s.MQTT.Connected })
	if st.MQTT.TopicPrefix != "pitweet/kitchen" {
		t.Errorf("status after the reload: %+v", st.MQTT)
	}
	if out, err := b.Publish("homeassistant", mqttUsers["homeassistant"], "pitweet/kitchen/post", nil, "-q", "1", "-m", `{"id": "after-reload", "text": "taken after the reload"}`); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	if tw := e.waitTweets(1); tw[0].Text != "taken after the reload" {
		t.Errorf("tweeted %q", tw[0].Text)
	}

	b2, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(b2), "[mqtt]\n")
	e.editConfig(string(b2), head)
	ha.WaitFor(t, mqttWait, "offline", func(m mosquittotest.Message) bool {
		return m.Topic == "pitweet/kitchen/status" && m.Payload == "offline"
	})
	if st := e.status(); st.MQTT != nil {
		t.Errorf("status shows the broker after [mqtt] was removed: %+v", st.MQTT)
	}
}

// fastSensors are read every second (the fastest the simulated board
// allows; real hardware, every minute at most): three sensors, four
// quantities.
const fastSensors = `[[sensor]]
name = "window"
type = "bh1750"
history = "1s"
[[sensor]]
name = "air"
type = "aht20"
history = "1s"
[[sensor]]
name = "soc"
type = "cpu"
history = "1s"
`

// sensorAt is when status last saw sensor name read.
func sensorAt(s *daemon.Status, name string) time.Time {
	for _, ss := range s.Sensors {
		if ss.Name == name {
			return ss.At
		}
	}
	return time.Time{}
}

// While the broker is down, nothing waits for it: presses are posted,
// readings go on, only the latest of each is kept, and the presses and
// results wait in memory, counted, to be published in order once it is
// back.
func TestE2EMQTTBrokerDown(t *testing.T) {
	t.Parallel()
	b := mqttBroker(t)
	e := newMQTTE2E(t, b, mqttPi{name: "kitchen", rules: fastSensors})
	// Home Assistant's session outlives the broker's restart.
	watch := func() *mosquittotest.Sub {
		return b.Subscribe("homeassistant", mqttUsers["homeassistant"], []string{"pitweet/kitchen/button/#", "pitweet/kitchen/posted"}, "-q", "1", "-c", "-i", "ha-watch")
	}
	watch().Stop()
	e.start()
	e.waitConnected()

	b.Stop()
	down := e.waitStatus("the broker down", func(s *daemon.Status) bool {
		return s.MQTT != nil && !s.MQTT.Connected && !sensorAt(s, "window").IsZero()
	})
	const presses = 20
	for range presses {
		e.press("doorbell")
	}
	e.waitTweets(presses)
	// Five more seconds of readings, every second, with the broker down.
	st := e.waitStatus("5 s of readings", func(s *daemon.Status) bool {
		return s.Queue == 0 && sensorAt(s, "window").Sub(sensorAt(down, "window")) >= 5*time.Second
	})
	// Each press is two messages (the button's topic and its event), and
	// its result one: readings take no room.
	if st.MQTT.Queued != 3*presses || st.MQTT.Dropped != 0 {
		t.Errorf("with the broker down: %d waiting, %d dropped; want %d waiting", st.MQTT.Queued, st.MQTT.Dropped, 3*presses)
	}
	out, _, _ := e.pitweet("status")
	if !strings.Contains(out, "mqtt:         NOT CONNECTED to "+b.URL()) || !strings.Contains(out, fmt.Sprintf("; %d presses and results waiting for the broker", 3*presses)) {
		t.Errorf("status:\n%s", out)
	}

	b.Restart()
	s := watch()
	var pressed, events, results int
	for pressed+events+results < 3*presses {
		m := s.Next(t, mqttWait)
		switch m.Topic {
		case "pitweet/kitchen/button/doorbell":
			pressed++
			if m.Payload != "press" || events != pressed-1 {
				t.Errorf("press %d: %q after %d events", pressed, m.Payload, events)
			}
		case "pitweet/kitchen/button/doorbell/event":
			events++
		case "pitweet/kitchen/posted":
			if r := result(t, m); r["outcome"] != "posted" || r["destination"] != "x" {
				t.Errorf("result %v", r)
			}
			results++
		}
	}
	if pressed != presses || events != presses || results != presses {
		t.Errorf("after the broker came back: %d presses, %d events, %d results; want %d each", pressed, events, results, presses)
	}
	e.waitStatus("nothing waiting", func(s *daemon.Status) bool { return s.MQTT.Connected && s.MQTT.Queued == 0 })
	// The reading retained is the latest (the simulated room is fixed).
	r := subscribe(t, b, "dashboard", "pitweet/kitchen/sensor/window/illuminance")
	m := r.Next(t, mqttWait)
	if v := e.status().Sensors; !m.Retained || !closeTo(m.Payload, sensorValue(v, "window", "Illuminance")) {
		t.Errorf("retained %+v; status %+v", m, v)
	}
}

// sensorValue is quantity q of sensor name in status.
func sensorValue(sensors []daemon.SensorState, name, q string) float64 {
	for _, s := range sensors {
		if s.Name == name {
			return s.Values[q]
		}
	}
	return -1
}

// BenchmarkE2EMQTTReadingToBroker measures, reading by reading, the time
// from a sensor read in the daemon (the reading's time, as status gives
// it) to a subscriber on the broker receiving its value: the gateway's
// publish, Mosquitto, loopback. Three sensors are read every second.
// Run it with: go test -run '^$' -bench MQTTReadingToBroker -benchtime 300x ./cmd/pitweet
func BenchmarkE2EMQTTReadingToBroker(b *testing.B) {
	br := mqttBroker(b)
	e := newMQTTE2E(b, br, mqttPi{name: "kitchen", rules: fastSensors})
	e.start()
	type arrival struct {
		sensor string
		at     time.Time
	}
	arrivals := make(chan arrival, 1000)
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(br.Port)))
	if err != nil {
		b.Fatal(err)
	}
	sub := paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			at := time.Now()
			// One quantity of each sensor: one arrival per reading.
			if parts := strings.Split(pr.Packet.Topic, "/"); len(parts) == 5 && !pr.Packet.Retain && (parts[4] == "temperature" || parts[4] == "illuminance") {
				arrivals <- arrival{parts[3], at}
			}
			return true, nil
		}},
	})
	ctx := context.Background()
	if _, err := sub.Connect(ctx, &paho.Connect{ClientID: "bench-sub", CleanStart: true, KeepAlive: 30,
		Username: "dashboard", UsernameFlag: true, Password: []byte(mqttUsers["dashboard"]), PasswordFlag: true}); err != nil {
		b.Fatal(err)
	}
	defer sub.Disconnect(&paho.Disconnect{})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "pitweet/kitchen/sensor/+/+"}}}); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	skipped := 0
	for b.Loop() {
		for {
			a := <-arrivals
			resp, err := daemon.Call(e.socket, daemon.ControlRequest{Op: "status"})
			if err != nil {
				b.Fatal(err)
			}
			// A newer reading since: its time is not this one's.
			read := sensorAt(resp.Status, a.sensor)
			if read.IsZero() || read.After(a.at) {
				skipped++
				continue
			}
			lat = append(lat, a.at.Sub(read))
			break
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(skipped), "skipped")
}
