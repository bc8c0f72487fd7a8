// Package gateway puts pitweet on the home's MQTT broker: readings,
// presses and delivery results are published, Home Assistant is told about
// the sensors and buttons through MQTT discovery, commands to post arrive
// on <prefix>/post, and a fleet member forwards its posts to another Pi's
// command topic.
//
// The MQTT protocol is eclipse/paho.golang's (MQTT 5). The gateway keeps
// the connection up (reconnecting with backoff, forever) and never makes
// its callers wait for the broker: Reading, Press and Posted return at
// once. While the broker is away, only the latest reading of each quantity
// is kept, and up to MaxQueued event messages (presses, results) wait in
// memory in order.
//
// Topics, under the prefix (default pitweet/<hostname>):
//
//	<prefix>/status                      online / offline (the will), retained
//	<prefix>/sensor/<name>/<quantity>    a number, retained
//	<prefix>/button/<name>               press / long_press
//	<prefix>/button/<name>/event         {"event_type": "press", "at": "..."} (Home Assistant event entity)
//	<prefix>/posted                      a Result as JSON
//	<prefix>/post                        commands (subscribed, QoS 1)
//	homeassistant/device/<node>/config   discovery, retained
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"

	"pitweet/hw"
)

const (
	// MaxQueued bounds the event messages (a press is two: the button
	// topic and its event topic; a result is one) kept while the broker is
	// away. Past it the oldest is dropped and counted.
	MaxQueued = 1000

	// maxReason bounds a result's reason, and so a queued event's size.
	maxReason = 1000

	connectTimeout = 10 * time.Second
	// keepAlive is the MQTT keep alive, in seconds: a dead connection is
	// noticed within 1.5 times it.
	keepAlive = 30
	// sessionExpiry keeps pitweet's session on the broker (its
	// subscription and the commands not yet acknowledged) for a week
	// without a connection: reboots and outages are ridden out.
	sessionExpiry = 7 * 24 * 3600
	// receiveMaximum is how many commands the broker sends before the
	// first is acknowledged; the rest wait on the broker.
	receiveMaximum = 32
	// packetTimeout bounds the wait for an acknowledgement.
	packetTimeout = 10 * time.Second

	minBackoff = 500 * time.Millisecond
	maxBackoff = time.Minute
	// birthDelay is the most the discovery re-publish waits after Home
	// Assistant's birth message (Home Assistant asks for a random delay).
	birthDelay = 5 * time.Second
)

// Gateway is one connection to the broker. Make it with New, run it with
// Run; the other methods may be called from any goroutine, before, during
// and after Run.
type Gateway struct {
	wake    chan struct{} // a publish is waiting
	session *state.State  // MQTT session state, kept across connections

	mu       sync.Mutex
	s        *settings
	latest   map[string][]byte // reading topic → latest value
	dirty    map[string]bool   // reading topics not published since they changed
	queue    []event           // presses and results, oldest first
	seq      uint64            // numbers events
	dropped  int               // events dropped because the queue was full
	announce bool              // the discovery config must be published
	gone     map[string]string // device components to remove: id → platform
	clear    []string          // topics to empty (retained)
	cli      *paho.Client      // nil while not connected
	up       chan struct{}     // closed when a connection is up
	since    time.Time         // when the connection went up or down
	lastErr  string
	running  bool
}

// event is one message that must not be lost: QoS 1, not retained.
type event struct {
	seq     uint64
	topic   string
	payload []byte
	// inSession is set when a publish failed after paho stored it in the
	// session state: paho sends it again on the next connection if the
	// broker kept the session, so it must not be sent anew then.
	inSession bool
}

// New checks cfg and returns a gateway that is not yet connected.
func New(cfg Config) (*Gateway, error) {
	s, err := check(cfg)
	if err != nil {
		return nil, err
	}
	return &Gateway{
		s:       s,
		wake:    make(chan struct{}, 1),
		session: state.NewInMemory(),
		latest:  map[string][]byte{},
		dirty:   map[string]bool{},
		up:      make(chan struct{}),
	}, nil
}

// Topics reports where the gateway publishes, for status and logs.
func (g *Gateway) Topics() (prefix, command string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.s.TopicPrefix, g.s.commandTopic()
}

// ClientID is the MQTT client identifier the gateway connects with.
func (g *Gateway) ClientID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.s.ClientID
}

// Status is the gateway's state for `pitweet status`.
type Status struct {
	Broker      string
	ClientID    string
	TopicPrefix string
	Commands    bool // subscribed to <prefix>/post
	Connected   bool
	Since       time.Time // when the connection went up, or down
	LastError   string    // why the last connection ended or failed
	Queued      int       // event messages waiting for the broker
	Dropped     int       // event messages dropped because the queue was full
}

// Status reports the connection and the queue.
func (g *Gateway) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Status{
		Broker: g.s.Broker, ClientID: g.s.ClientID, TopicPrefix: g.s.TopicPrefix, Commands: g.s.Commands,
		Connected: g.cli != nil, Since: g.since, LastError: g.lastErr,
		Queued: len(g.queue), Dropped: g.dropped,
	}
}

// Reading publishes r's values on <prefix>/sensor/<name>/<quantity>,
// retained. Only configured sensors and quantities are published. It never
// waits: while the broker is away only the latest value of each is kept.
func (g *Gateway) Reading(r hw.Reading) {
	g.mu.Lock()
	i := slices.IndexFunc(g.s.Sensors, func(s Sensor) bool { return s.Name == r.Sensor })
	if i < 0 {
		g.mu.Unlock()
		return
	}
	changed := false
	for _, q := range g.s.Sensors[i].Quantities {
		v, ok := r.Values[q]
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		topic := g.s.readingTopic(r.Sensor, q)
		g.latest[topic] = strconv.AppendFloat(nil, v, 'f', quantities[q].precision+1, 64)
		g.dirty[topic] = true
		changed = true
	}
	g.mu.Unlock()
	if changed {
		g.poke()
	}
}

// Press publishes p: "press" or "long_press" on <prefix>/button/<name>
// (for device triggers) and {"event_type": ..., "at": ...} on
// <prefix>/button/<name>/event (for the event entity). It never waits.
func (g *Gateway) Press(p hw.Press) {
	if !validName(p.Button) {
		return
	}
	kind := "press"
	if p.Long {
		kind = "long_press"
	}
	ev := mustJSON(struct {
		EventType string    `json:"event_type"`
		At        time.Time `json:"at,omitzero"`
	}{kind, p.At.UTC()})
	g.mu.Lock()
	g.enqueue(g.s.buttonTopic(p.Button), []byte(kind))
	g.enqueue(g.s.eventTopic(p.Button), ev)
	g.mu.Unlock()
	g.poke()
}

// Posted publishes r on <prefix>/posted. It never waits. A reason longer
// than 1,000 bytes is cut.
func (g *Gateway) Posted(r Result) {
	if len(r.Reason) > maxReason {
		r.Reason = strings.ToValidUTF8(r.Reason[:maxReason], "") + "..."
	}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	g.mu.Lock()
	g.enqueue(g.s.postedTopic(), b)
	g.mu.Unlock()
	g.poke()
}

// enqueue adds an event, dropping the oldest when the queue is full.
// g.mu is held.
func (g *Gateway) enqueue(topic string, payload []byte) {
	if len(g.queue) >= MaxQueued {
		g.queue = slices.Delete(g.queue, 0, 1)
		g.dropped++
		if g.dropped == 1 || g.dropped%100 == 0 {
			g.s.Log.Warn("gateway: the broker has been away too long; dropping the oldest press or result", "dropped", g.dropped, "kept", MaxQueued)
		}
	}
	g.seq++
	g.queue = append(g.queue, event{seq: g.seq, topic: topic, payload: payload})
}

func (g *Gateway) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// ErrRestart is returned by Reconfigure when the broker settings changed:
// stop this gateway and start a new one.
var ErrRestart = errors.New("gateway: the broker, account, client id or topics changed; the gateway must be restarted")

// Reconfigure applies a new configuration of the same connection (sensors,
// buttons, device, discovery): Home Assistant gets the new discovery
// config, and the entities that are gone are removed (an empty component,
// then the config without it), with their retained readings. It returns
// ErrRestart when the broker, the account, the client id, the prefixes or
// commands changed.
func (g *Gateway) Reconfigure(cfg Config) error {
	ns, err := check(cfg)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	os := g.s
	if ns.Broker != os.Broker || ns.CAFile != os.CAFile || ns.Username != os.Username || ns.Password != os.Password ||
		ns.ClientID != os.ClientID || ns.TopicPrefix != os.TopicPrefix || ns.DiscoveryPrefix != os.DiscoveryPrefix ||
		ns.Commands != os.Commands {
		return ErrRestart
	}
	g.s = ns
	g.forget(os)
	g.announce = true
	g.poke()
	return nil
}

// forget schedules the removal of what old published and g.s no longer
// does. g.mu is held.
func (g *Gateway) forget(old *settings) {
	now := g.s.discovery()
	if old.Discovery && old.DiscoveryStyle == "device" {
		if _, ok := now[old.deviceConfigTopic()]; ok {
			g.removeComponents(mapPlatforms(old.components()))
		} else {
			g.clear = append(g.clear, old.deviceConfigTopic())
		}
	}
	for topic := range old.discovery() {
		if _, ok := now[topic]; !ok && old.DiscoveryStyle == "component" {
			g.clear = append(g.clear, topic)
		}
	}
	var states []string
	for _, c := range old.components() {
		if c.StateTopic != "" {
			states = append(states, c.StateTopic)
		}
	}
	g.clearReadings(states)
}

func mapPlatforms(cs map[string]component) map[string]string {
	m := map[string]string{}
	for id, c := range cs {
		m[id] = c.Platform
	}
	return m
}

// removeComponents schedules the removal of the device components in had
// that g.s no longer has. g.mu is held.
func (g *Gateway) removeComponents(had map[string]string) {
	now := g.s.components()
	for id, platform := range had {
		if _, ok := now[id]; ok {
			continue
		}
		if g.gone == nil {
			g.gone = map[string]string{}
		}
		g.gone[id] = platform
	}
}

// clearReadings empties the retained reading topics among topics that are
// no longer configured. Only topics under the prefix are touched. g.mu is
// held.
func (g *Gateway) clearReadings(topics []string) {
	want := map[string]bool{}
	for _, se := range g.s.Sensors {
		for _, q := range se.Quantities {
			want[g.s.readingTopic(se.Name, q)] = true
		}
	}
	for _, t := range topics {
		if want[t] || !strings.HasPrefix(t, g.s.TopicPrefix+"/sensor/") || slices.Contains(g.clear, t) {
			continue
		}
		g.clear = append(g.clear, t)
		delete(g.latest, t)
		delete(g.dirty, t)
	}
}

// Run keeps the gateway connected until ctx is done, then publishes
// offline and disconnects. It returns nil then; it never gives up on an
// unreachable broker (the causes are logged and in Status).
func (g *Gateway) Run(ctx context.Context) error {
	g.mu.Lock()
	if g.running {
		g.mu.Unlock()
		return errors.New("gateway: Run called twice")
	}
	g.running = true
	g.mu.Unlock()
	defer g.session.Close()
	defer g.down(errors.New("gateway: stopped"))

	delay := minBackoff
	var last string
	for {
		start := time.Now()
		err := g.connection(ctx)
		if ctx.Err() != nil {
			return nil
		}
		g.down(err)
		// A connection that lasted resets the backoff; one that ended
		// because a command could not be stored does not.
		if time.Since(start) > maxBackoff && !errors.Is(err, errNotStored) {
			delay = minBackoff
		}
		wait := delay/2 + rand.N(delay/2+1)
		if msg := err.Error(); msg != last {
			g.s.Log.Warn("gateway: no connection to the broker; retrying", "err", err, "in", wait.Round(time.Millisecond))
			last = msg
		} else {
			g.s.Log.Debug("gateway: no connection to the broker; retrying", "err", err, "in", wait.Round(time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
		delay = min(2*delay, maxBackoff)
	}
}

// down records that the connection is gone.
func (g *Gateway) down(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cli != nil {
		g.up = make(chan struct{})
		g.cli = nil
	}
	g.since = time.Now()
	g.lastErr = err.Error()
}

// errNotStored ends a connection on which a command could not be stored,
// so that the broker delivers it again on the next.
var errNotStored = errors.New("gateway: a command could not be stored; reconnecting so that the broker delivers it again")

// connection makes one connection and serves it until it ends.
func (g *Gateway) connection(ctx context.Context) error {
	g.mu.Lock()
	s := g.s
	g.mu.Unlock()

	conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	ended := make(chan error, 1)
	end := func(err error) {
		select {
		case ended <- err:
		default:
		}
	}
	cmds := &commands{g: g, ctx: ctx, end: end, close: conn.Close}
	cli := paho.NewClient(paho.ClientConfig{
		ClientID:          s.ClientID,
		Conn:              packets.NewThreadSafeConn(conn),
		Session:           g.session,
		PacketTimeout:     packetTimeout,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){cmds.received},
		OnClientError:     func(err error) { end(fmt.Errorf("gateway: connection to the broker lost: %w", err)) },
		OnServerDisconnect: func(d *paho.Disconnect) {
			reason := fmt.Sprintf("reason code %#02x", d.ReasonCode)
			if d.Properties != nil && d.Properties.ReasonString != "" {
				reason += ": " + d.Properties.ReasonString
			}
			end(fmt.Errorf("gateway: the broker closed the connection (%s)", reason))
		},
	})
	expiry, recvMax, maxPacket := uint32(sessionExpiry), uint16(receiveMaximum), uint32(MaxCommand+4096)
	cp := &paho.Connect{
		ClientID:     s.ClientID,
		KeepAlive:    keepAlive,
		CleanStart:   false,
		Username:     s.Username,
		UsernameFlag: s.Username != "",
		Password:     []byte(s.Password),
		PasswordFlag: s.Password != "",
		WillMessage:  &paho.WillMessage{Topic: s.statusTopic(), Payload: []byte(offline), QoS: 1, Retain: true},
		Properties: &paho.ConnectProperties{
			SessionExpiryInterval: &expiry,
			ReceiveMaximum:        &recvMax,
			MaximumPacketSize:     &maxPacket,
		},
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	ca, err := cli.Connect(cctx, cp)
	cancel()
	if err != nil {
		return connectError(s, ca, err)
	}
	// Publishes on this connection end with it.
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-cli.Done():
			stop()
		case <-pctx.Done():
		}
	}()

	// finish ends the connection: on shutdown with offline and a clean
	// DISCONNECT (the broker then drops the will), otherwise at once.
	finish := func(err error) error {
		if ctx.Err() != nil {
			g.goodbye(cli, s)
			return ctx.Err()
		}
		cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
		return err
	}
	if err := g.setup(pctx, cli, s, ca.SessionPresent); err != nil {
		return finish(err)
	}
	s.Log.Info("gateway: connected to the broker", "broker", s.Broker, "client_id", s.ClientID, "session_present", ca.SessionPresent)
	for {
		if err := g.flush(pctx, cli); err != nil {
			return finish(err)
		}
		select {
		case <-g.wake:
		case err := <-ended:
			<-cli.Done()
			return err
		case <-cli.Done():
			select {
			case err := <-ended:
				return err
			default:
				return errors.New("gateway: connection to the broker lost")
			}
		case <-ctx.Done():
			return finish(nil)
		}
	}
}

// connectError says why the broker refused the connection, and what to do.
func connectError(s *settings, ca *paho.Connack, err error) error {
	if ca == nil {
		return fmt.Errorf("gateway: MQTT connect to %s: %w", s.addr, err)
	}
	switch ca.ReasonCode {
	case 0x86, 0x87:
		return fmt.Errorf("gateway: broker %s refused the login of %q (reason code %#02x): check username in [mqtt] and mqtt_password in the credentials file", s.addr, s.Username, ca.ReasonCode)
	case 0x84:
		return fmt.Errorf("gateway: broker %s does not speak MQTT 5; pitweet needs MQTT 5 (Mosquitto 1.6 or later)", s.addr)
	case 0x85, 0x8a:
		return fmt.Errorf("gateway: broker %s refused client id %q (reason code %#02x): set another client_id in [mqtt]", s.addr, s.ClientID, ca.ReasonCode)
	}
	return fmt.Errorf("gateway: broker %s refused the connection (reason code %#02x): %w", s.addr, ca.ReasonCode, err)
}

// setup runs once a connection is up: subscriptions, online, and what must
// be (re)published.
func (g *Gateway) setup(ctx context.Context, cli *paho.Client, s *settings, sessionPresent bool) error {
	// pitweet's own retained discovery configs, to remove what is no
	// longer configured (No Local: not what this connection publishes).
	subs := []paho.SubscribeOptions{
		{Topic: s.deviceConfigTopic(), QoS: 1, NoLocal: true},
		{Topic: s.componentConfigFilter(), QoS: 1, NoLocal: true},
	}
	if s.Discovery {
		subs = append(subs, paho.SubscribeOptions{Topic: s.birthTopic(), QoS: 0})
	}
	if s.Commands {
		subs = append(subs, paho.SubscribeOptions{Topic: s.commandTopic(), QoS: 1})
	}
	sa, err := cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs})
	if err != nil && sa == nil {
		return fmt.Errorf("gateway: subscribe: %w", err)
	}
	for i, code := range sa.Reasons {
		if code >= 0x80 && i < len(subs) {
			s.Log.Error("gateway: the broker refused a subscription; check the account's ACL", "topic", subs[i].Topic, "reason_code", code)
		}
	}
	if !s.Commands {
		// The session may hold the subscription from when commands were on.
		if _, err := cli.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{s.commandTopic()}}); err != nil && ctx.Err() != nil {
			return err
		}
	}

	// online last: whoever sees it may rely on the subscriptions.
	if _, err := cli.Publish(ctx, &paho.Publish{Topic: s.statusTopic(), Payload: []byte(online), QoS: 1, Retain: true}); err != nil {
		return fmt.Errorf("gateway: publish online on %s: %w", s.statusTopic(), err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cli = cli
	close(g.up)
	g.since = time.Now()
	g.lastErr = ""
	g.announce = true
	for t := range g.latest {
		g.dirty[t] = true
	}
	// paho has just sent again what it held, if the broker kept the
	// session; otherwise those events are sent anew, after it.
	g.queue = slices.DeleteFunc(g.queue, func(e event) bool { return e.inSession && sessionPresent })
	for i := range g.queue {
		g.queue[i].inSession = false
	}
	return nil
}

// goodbye publishes offline and disconnects cleanly (the broker then drops
// the will).
func (g *Gateway) goodbye(cli *paho.Client, s *settings) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := cli.Publish(ctx, &paho.Publish{Topic: s.statusTopic(), Payload: []byte(offline), QoS: 1, Retain: true}); err != nil {
		s.Log.Debug("gateway: publish offline", "err", err)
	}
	cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
}

// flush publishes what waits, one message at a time, until nothing does.
func (g *Gateway) flush(ctx context.Context, cli *paho.Client) error {
	for {
		if ctx.Err() != nil {
			return errors.New("gateway: connection to the broker lost")
		}
		g.mu.Lock()
		s := g.s
		switch {
		case len(g.clear) > 0:
			topic := g.clear[0]
			g.mu.Unlock()
			if err := g.publish(ctx, cli, topic, nil, true); err != nil {
				return err
			}
			g.mu.Lock()
			if len(g.clear) > 0 && g.clear[0] == topic {
				g.clear = g.clear[1:]
			}
			g.mu.Unlock()

		case len(g.gone) > 0 && s.Discovery && s.DiscoveryStyle == "device":
			gone := g.gone
			g.gone = nil
			g.announce = true
			g.mu.Unlock()
			if err := g.publish(ctx, cli, s.deviceConfigTopic(), s.removal(gone), true); err != nil {
				g.mu.Lock()
				if g.gone == nil {
					g.gone = map[string]string{}
				}
				for id, p := range gone {
					g.gone[id] = p
				}
				g.mu.Unlock()
				return err
			}
			s.Log.Info("gateway: removed from Home Assistant", "components", sortedKeys(gone))

		case g.announce:
			g.announce = false
			g.gone = nil
			g.mu.Unlock()
			d := s.discovery()
			for _, topic := range sortedKeys(d) {
				if err := g.publish(ctx, cli, topic, d[topic], true); err != nil {
					g.mu.Lock()
					g.announce = true
					g.mu.Unlock()
					return err
				}
			}

		case len(g.dirty) > 0:
			batch := make(map[string][]byte, len(g.dirty))
			for t := range g.dirty {
				batch[t] = g.latest[t]
			}
			clear(g.dirty)
			g.mu.Unlock()
			for _, t := range sortedKeys(batch) {
				// QoS 0: a reading lost with the connection is sent
				// again after the next connect, or replaced.
				if _, err := cli.Publish(ctx, &paho.Publish{Topic: t, Payload: batch[t], QoS: 0, Retain: true}); err != nil {
					g.mu.Lock()
					for t := range batch {
						if _, ok := g.latest[t]; ok {
							g.dirty[t] = true
						}
					}
					g.mu.Unlock()
					return fmt.Errorf("gateway: publish %s: %w", t, err)
				}
			}

		case len(g.queue) > 0 && !g.queue[0].inSession:
			// An event stays queued until its PUBACK.
			e := g.queue[0]
			g.mu.Unlock()
			err := g.publish(ctx, cli, e.topic, e.payload, false)
			var refused *refusedError
			g.mu.Lock()
			if len(g.queue) > 0 && g.queue[0].seq == e.seq {
				switch {
				case err == nil || errors.As(err, &refused):
					g.queue = g.queue[1:]
				case stored(err):
					g.queue[0].inSession = true
				}
			}
			g.mu.Unlock()
			if err != nil && refused == nil {
				return err
			}

		default:
			g.mu.Unlock()
			return nil
		}
	}
}

// stored reports whether a failed QoS 1 publish was stored in the session
// state first (paho then sends it again when the session resumes): every
// failure but those before storing.
func stored(err error) bool {
	return !errors.Is(err, session.ErrNoConnection) && !errors.Is(err, paho.ErrInvalidArguments) &&
		!errors.Is(err, session.ErrPacketIdentifiersExhausted)
}

// refusedError is a publish the broker answered with a failure reason
// code (most often: the account's ACL does not allow the topic).
type refusedError struct {
	topic string
	code  byte
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("gateway: the broker refused a publish on %s (reason code %#02x); check the account's ACL", e.topic, e.code)
}

// publish sends one QoS 1 message and waits for its PUBACK. A refusal is
// logged and returned as a *refusedError: sending it again would not help.
func (g *Gateway) publish(ctx context.Context, cli *paho.Client, topic string, payload []byte, retain bool) error {
	pr, err := cli.Publish(ctx, &paho.Publish{Topic: topic, Payload: payload, QoS: 1, Retain: retain})
	if pr != nil && pr.ReasonCode >= 0x80 {
		e := &refusedError{topic, pr.ReasonCode}
		g.s.Log.Error(e.Error())
		return e
	}
	if err != nil {
		return fmt.Errorf("gateway: publish on %s: %w", topic, err)
	}
	return nil
}

// birth answers Home Assistant's birth message: the discovery config and
// the latest readings again, after a random delay of up to birthDelay so
// that many devices do not answer at once.
func (g *Gateway) birth() {
	time.AfterFunc(rand.N(birthDelay), func() {
		g.mu.Lock()
		g.announce = true
		for t := range g.latest {
			g.dirty[t] = true
		}
		g.mu.Unlock()
		g.poke()
	})
}

// retained acts on a retained discovery config found on the broker when
// subscribing: what it declares that is no longer configured is removed.
func (g *Gateway) retained(topic string, payload []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(payload) == 0 {
		return
	}
	s := g.s
	comps, states := parseRetainedConfig(payload)
	want := s.discovery()
	_, wanted := want[topic]
	switch {
	case topic == s.deviceConfigTopic() && wanted:
		g.removeComponents(comps)
	case !wanted && !slices.Contains(g.clear, topic):
		g.clear = append(g.clear, topic)
	}
	g.clearReadings(states)
	g.poke()
}

// commands receives what the broker sends on one connection.
//
// paho acknowledges a QoS 1 message (PUBACK) when this callback returns, in
// the order received; the callback returns only after the handler did. When
// a command could not be stored, the callback closes the network
// connection before it returns: that PUBACK, and those of the messages
// after it, can no longer be written, and the broker delivers them all
// again on the next connection. (paho's manual acknowledgement mode would
// do the same, but it sends acknowledgements from a ticker, so a clean
// shutdown right after a command could leave it unacknowledged.)
type commands struct {
	g     *Gateway
	ctx   context.Context
	end   func(error)
	close func() error // closes the network connection
	// failed is set once a command could not be stored.
	failed bool
}

// received is paho's callback, called in order for each message.
func (c *commands) received(pr paho.PublishReceived) (bool, error) {
	g, p := c.g, pr.Packet
	g.mu.Lock()
	s := g.s
	g.mu.Unlock()
	switch {
	case c.failed:
	case p.Topic == s.commandTopic():
		if s.Commands && !c.command(s, p) {
			c.failed = true
			c.close()
		}
	case p.Topic == s.birthTopic():
		if string(p.Payload) == online && s.Discovery {
			g.birth()
		}
	case p.Retain:
		g.retained(p.Topic, p.Payload)
	}
	return true, nil
}

// command parses one command and hands it to the handler. It reports
// whether the command may be acknowledged: stored, or refused.
func (c *commands) command(s *settings, p *paho.Publish) bool {
	cmd, err := ParseCommand(p.Payload)
	if err != nil {
		c.g.refused(cmd.ID, err.Error())
		return true
	}
	cmd.Redelivered = p.Duplicate()
	err = s.Handler(c.ctx, cmd)
	var refusal *Refusal
	switch {
	case err == nil:
		s.Log.Debug("gateway: command stored", "id", cmd.ID, "redelivered", cmd.Redelivered)
		return true
	case errors.As(err, &refusal):
		c.g.refused(cmd.ID, refusal.Reason)
		return true
	}
	s.Log.Error("gateway: a command could not be stored; the broker will deliver it again", "id", cmd.ID, "err", err)
	c.end(fmt.Errorf("%w: %w", errNotStored, err))
	return false
}

// refused publishes a refusal on <prefix>/posted and logs it.
func (g *Gateway) refused(id, reason string) {
	g.mu.Lock()
	log := g.s.Log
	g.mu.Unlock()
	log.Warn("gateway: command refused", "id", id, "reason", reason)
	g.Posted(Result{Command: id, Outcome: "refused", Reason: reason, At: time.Now().UTC()})
}
