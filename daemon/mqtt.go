package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"pitweet/config"
	"pitweet/gateway"
	"pitweet/hw"
	"pitweet/outbox"
	"pitweet/statedir"
)

// The daemon's side of package gateway: [mqtt] makes a gateway, which
// publishes every reading, press and delivery result, takes commands into
// the outbox, and carries the destination "forward" to a poster.

// forwardTimeout bounds one attempt of the destination "forward": the wait
// for a connection to the broker and for its PUBACK. It is below the
// request timeout the watchdog allows (sender.DefaultTimeout).
const forwardTimeout = 20 * time.Second

// mqttRun is a running gateway: cancel stops it, done is closed once it
// has said offline and disconnected.
type mqttRun struct {
	g      *gateway.Gateway
	cancel context.CancelFunc
	done   chan struct{}
}

// gatewayConfig is cfg's [mqtt] as package gateway takes it: the broker and
// account, the sensors with what each measures, the buttons, and how often
// the sensors are read (Home Assistant shows a sensor unavailable after
// three intervals without a reading).
func (d *runner) gatewayConfig(cfg *config.Config, password string) gateway.Config {
	m := cfg.MQTT
	gc := gateway.Config{
		Broker: m.Broker, CAFile: m.CAFile, Username: m.Username, Password: password,
		ClientID: m.ClientID, TopicPrefix: m.TopicPrefix, Hostname: d.host,
		Discovery: m.Discovery, DiscoveryPrefix: m.DiscoveryPrefix, DiscoveryStyle: m.DiscoveryStyle,
		Device:   gateway.Device{SWVersion: d.opts.Version},
		Commands: m.Commands,
		Log:      d.log,
	}
	if m.Commands {
		gc.Handler = d.command
	}
	for _, s := range cfg.Sensors {
		gc.Sensors = append(gc.Sensors, gateway.Sensor{Name: s.Name, Quantities: config.SensorQuantities[s.Type]})
		gc.ReadingInterval = max(gc.ReadingInterval, readEvery(s))
	}
	for _, b := range cfg.Buttons {
		gc.Buttons = append(gc.Buttons, gateway.Button{Name: b.Name, LongPress: b.LongText != nil})
	}
	return gc
}

// readEvery is how often the daemon reads sensor s by itself (see due);
// reports and alerts may read it more often.
func readEvery(s config.SensorConfig) time.Duration {
	if s.History > 0 {
		return min(s.History, sensorRefresh)
	}
	return sensorRefresh
}

// newGateway makes the gateway cfg's [mqtt] asks for, not yet connected;
// nil when there is no [mqtt]. A fleet member may not forward to its own
// topics.
func (d *runner) newGateway(cfg *config.Config, creds config.Credentials) (*gateway.Gateway, error) {
	if cfg.MQTT == nil {
		return nil, nil
	}
	g, err := gateway.New(d.gatewayConfig(cfg, creds.MQTTPassword))
	if err != nil {
		return nil, fmt.Errorf("%w (in [mqtt] of %s)", err, cfg.Path)
	}
	if prefix, _ := g.Topics(); cfg.MQTT.Forward == prefix {
		return nil, fmt.Errorf("daemon: [mqtt] forward = %q in %s is this Pi's own topic prefix; write the poster's", cfg.MQTT.Forward, cfg.Path)
	}
	return g, nil
}

// startGateway runs g until stopGateway.
func (d *runner) startGateway(g *gateway.Gateway) {
	if g == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &mqttRun{g: g, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := g.Run(ctx); err != nil {
			d.log.Error("daemon: the MQTT gateway stopped", "err", err)
		}
	}()
	d.mqtt = r
	d.gw.Store(g)
	st := g.Status()
	d.log.Info("daemon: publishing on the MQTT broker", "broker", st.Broker, "client_id", st.ClientID, "prefix", st.TopicPrefix, "commands", st.Commands)
}

// stopGateway stops the running gateway, waiting up to shutdownGrace for
// it to say offline and disconnect.
func (d *runner) stopGateway() {
	r := d.mqtt
	if r == nil {
		return
	}
	d.mqtt = nil
	d.gw.Store(nil)
	r.cancel()
	t := time.NewTimer(shutdownGrace)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		d.log.Warn("daemon: the MQTT gateway did not stop in time; leaving it to the broker's will")
	}
}

// reloadGateway applies a reloaded config's [mqtt]: the running gateway
// takes what it can change on the fly (sensors, buttons, discovery); a new
// broker, account, client id or prefix means a new gateway. g is the one
// made from the new config (nil without [mqtt]), checked but not running.
func (d *runner) reloadGateway(cfg *config.Config, g *gateway.Gateway, password string) {
	old := d.mqtt
	switch {
	case old == nil:
		d.startGateway(g)
	case g == nil:
		d.stopGateway()
		d.log.Info("daemon: [mqtt] removed; no longer on the broker")
	default:
		err := old.g.Reconfigure(d.gatewayConfig(cfg, password))
		if err == nil {
			return
		}
		if !errors.Is(err, gateway.ErrRestart) {
			// New checked this config already: not expected.
			d.log.Error("daemon: the MQTT gateway refused the reloaded config; starting it afresh", "err", err)
		}
		d.stopGateway()
		d.startGateway(g)
	}
}

// gateway is the running gateway, nil when there is none. Any goroutine
// may call it.
func (d *runner) gateway() *gateway.Gateway { return d.gw.Load() }

// publishReading puts a good reading on the broker, if there is one.
func (d *runner) publishReading(rd hw.Reading) {
	if g := d.gateway(); g != nil {
		g.Reading(rd)
	}
}

// publishPress puts a press on the broker, if there is one.
func (d *runner) publishPress(p hw.Press) {
	if g := d.gateway(); g != nil {
		g.Press(p)
	}
}

// publishResult puts what destination dest did with m on <prefix>/posted:
// posted (ref is its id there) or refused (the reason).
func (d *runner) publishResult(m outbox.Message, dest, ref, refused string) {
	g := d.gateway()
	if g == nil {
		return
	}
	r := gateway.Result{ID: m.ID, Destination: dest, Outcome: "posted", Ref: ref, At: time.Now().UTC()}
	if m.Kind == "command" {
		r.Command = m.Key
	}
	if refused != "" {
		r.Outcome, r.Ref, r.Reason = "refused", "", refused
	}
	g.Posted(r)
}

// command takes a command from the broker into the outbox; the gateway
// acknowledges it to the broker once this returns nil or a refusal. It
// runs on the gateway's goroutine.
//
// A command names its destinations, or goes to every configured one but
// "forward" (a command is never forwarded again: two Pis forwarding to
// each other would pass it round for ever). One that can never be posted
// as it is (a destination not configured, a text too long for one, a
// picture that is not one) is refused; the reason goes on <prefix>/posted.
// A command whose id is known (queued, posted in the last week, or a dead
// letter) is a redelivery: it is acknowledged and not queued again. Any
// other failure to store it is returned as it is: the command is not
// acknowledged, and the broker delivers it again.
func (d *runner) command(ctx context.Context, c gateway.Command) error {
	cfg := d.cfgNow.Load()
	var posting []string
	for _, name := range cfg.Destinations {
		if name != "forward" {
			posting = append(posting, name)
		}
	}
	to := c.To
	if len(to) == 0 {
		if len(posting) == 0 {
			return gateway.Refuse("this Pi posts nowhere itself (it forwards to %s); send the command to the poster's topic, %s/post", cfg.MQTT.Forward, cfg.MQTT.Forward)
		}
		to = posting
	}
	for _, name := range to {
		switch {
		case name == "forward" && slices.Contains(cfg.Destinations, name):
			return gateway.Refuse("a command is not forwarded again; name the destinations this Pi posts to: %s", strings.Join(posting, ", "))
		case !slices.Contains(posting, name):
			return gateway.Refuse("destination %q is not configured here; configured: %s", name, strings.Join(posting, ", "))
		}
		if rule, ok := config.TextRuleFor(name); ok {
			if n := rule.Length(c.Text); n > rule.Max {
				return gateway.Refuse("the text counts %d characters as %s counts them (%s); the limit is %d: shorten it by %d",
					n, config.DestinationTitle(name), rule.Counts, rule.Max, n-rule.Max)
			}
		}
	}
	var pics []outbox.NewImage
	alts := 0
	for _, p := range c.Pictures {
		pics = append(pics, outbox.NewImage{Data: p.Data, Alt: p.Alt})
		if p.Alt != "" {
			alts++
		}
	}
	// A command that would take X over the month's budget is refused, not
	// held: its sender hears why, on <prefix>/posted.
	if slices.Contains(to, "x") && d.spend != nil {
		if why := d.spend.overBudget(c.Text, alts, time.Now()); why != "" {
			return gateway.Refuse("%s; raise monthly_budget in [x] and pitweet reload, or send it with \"to\" leaving out x", why)
		}
	}
	m, err := d.box.Put(outbox.Message{Kind: "command", Key: c.ID, Source: "command " + c.ID, Text: c.Text, To: to}, pics)
	switch {
	case errors.Is(err, outbox.ErrRepeat):
		d.log.Info("daemon: a command with this id was taken before; not queued again", "command", c.ID, "id", m.ID, "redelivered", c.Redelivered)
		return nil
	case errors.Is(err, outbox.ErrInvalid):
		return gateway.Refuse("%s", strings.TrimPrefix(err.Error(), "outbox: "))
	case err != nil:
		return err
	}
	d.queued(m, to)
	return nil
}

// queued tells the delivery loops of to, the log and status that m was
// queued.
func (d *runner) queued(m outbox.Message, to []string) {
	d.log.Info("daemon: queued", "id", m.ID, "source", m.Source, "to", to, "pictures", len(m.Images), "queue", d.box.Len())
	for _, del := range d.dels {
		if slices.Contains(to, del.name) {
			select {
			case del.wake <- struct{}{}:
			default:
			}
		}
	}
	d.markDirty()
}

// MQTTStatus is how pitweet stands on the MQTT broker.
type MQTTStatus struct {
	Broker      string    `json:"broker"`
	ClientID    string    `json:"client_id"`
	TopicPrefix string    `json:"topic_prefix"`
	Commands    bool      `json:"commands"`          // takes posts on <topic_prefix>/post
	Forward     string    `json:"forward,omitempty"` // the poster's topic prefix, for a fleet member
	Connected   bool      `json:"connected"`
	Since       time.Time `json:"since,omitzero"`       // when the connection went up, or down
	LastError   string    `json:"last_error,omitempty"` // why it is down
	Queued      int       `json:"queued"`               // presses and results waiting for the broker
	Dropped     int       `json:"dropped"`              // presses and results dropped while it was away
}

// mqttStatus is the gateway's state for status; nil without [mqtt].
func (d *runner) mqttStatus() *MQTTStatus {
	g := d.gateway()
	if g == nil {
		return nil
	}
	s := g.Status()
	st := &MQTTStatus{Broker: s.Broker, ClientID: s.ClientID, TopicPrefix: s.TopicPrefix, Commands: s.Commands,
		Connected: s.Connected, Since: s.Since, LastError: s.LastError, Queued: s.Queued, Dropped: s.Dropped}
	if cfg := d.cfgNow.Load(); cfg != nil && cfg.MQTT != nil {
		st.Forward = cfg.MQTT.Forward
	}
	return st
}

// forwarder publishes a command for a poster: the running gateway, or a
// connection of its own for pitweet post. ClientID is this Pi's MQTT
// client id.
type forwarder interface {
	ClientID() string
	Forward(ctx context.Context, poster string, c gateway.Command) error
}

// runningGateway is the running gateway as a forwarder; nil when there is
// none.
func (d *runner) runningGateway() forwarder {
	if g := d.gateway(); g != nil {
		return g
	}
	return nil
}

// forwardDestination is the destination "forward" of a fleet member: a
// message goes to the poster's command topic, and is done once the broker
// has it (PUBACK with a subscriber). The command's id is
// <client id>:<message id>, the same at every attempt and after a
// restart, so the poster posts it once however often it comes.
type forwardDestination struct {
	poster  string // the poster's topic prefix
	fw      func() forwarder
	timeout time.Duration
}

func newForwardDestination(poster string, fw func() forwarder) *forwardDestination {
	return &forwardDestination{poster: poster, fw: fw, timeout: forwardTimeout}
}

func (f *forwardDestination) Name() string { return "forward" }

func (f *forwardDestination) Close() error { return nil }

func (f *forwardDestination) Post(ctx context.Context, p Post, tried int) (Receipt, error) {
	fw := f.fw()
	if fw == nil {
		return Receipt{}, errors.New("daemon: not on the MQTT broker ([mqtt] broker)")
	}
	c := gateway.Command{ID: commandID(fw.ClientID(), p.ID), Text: p.Text}
	size := int64(0)
	for _, pic := range p.Images {
		size += pic.Size
	}
	if size > gateway.MaxPictureBytes {
		return Receipt{}, permanent(fmt.Errorf("daemon: the message's %d pictures are %.1f MiB; a command carries at most %d MiB of pictures",
			len(p.Images), float64(size)/(1<<20), gateway.MaxPictureBytes>>20))
	}
	for _, pic := range p.Images {
		data, err := readPicture(pic.Path, gateway.MaxPictureBytes)
		if err != nil {
			return Receipt{}, err
		}
		c.Pictures = append(c.Pictures, gateway.Picture{Data: data, Alt: pic.Alt})
	}
	if err := c.Check(); err != nil {
		return Receipt{}, permanent(err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	err := fw.Forward(ctx, f.poster, c)
	var refused *gateway.ForwardRefused
	switch {
	case errors.As(err, &refused):
		return Receipt{}, permanent(err)
	case err != nil:
		return Receipt{}, err
	}
	return Receipt{Ref: c.ID}, nil
}

// commandID is the id a forwarded message has at the poster: this Pi's
// client id and the message's id, with what a command id may not hold
// replaced by "_".
func commandID(clientID, msgID string) string {
	id := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', strings.ContainsRune("_-.:@/", r):
			return r
		}
		return '_'
	}, clientID)
	return id + ":" + msgID
}

// readPicture reads a picture of a queued message, as files in the state
// directory are read: no link, at most limit bytes.
func readPicture(path string, limit int64) ([]byte, error) {
	dir, err := statedir.Open(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("daemon: read a picture: %w", err)
	}
	defer dir.Close()
	f, _, err := dir.OpenFile(filepath.Base(path), limit)
	if err != nil {
		return nil, fmt.Errorf("daemon: read a picture: %w", err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}
