// Package daemon is pitweet's daemon: it loads the configuration, turns
// button presses, sensor reports and alerts into messages, queues them in
// the durable outbox and posts them to each configured destination (X,
// and the others as they are configured) in order, each on its own, and
// answers on a control socket. It tells systemd its state (READY, STATUS,
// WATCHDOG, RELOADING, STOPPING) through go-systemd's daemon package.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"pitweet/config"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"pitweet/gateway"
	"pitweet/history"
	"pitweet/hw"
	"pitweet/outbox"
	"pitweet/sender"
	"pitweet/statedir"
)

// Options is what Run needs besides the config file.
type Options struct {
	ConfigPath string // "" means DefaultConfigPath
	// Fake runs the simulated board whatever [hardware] mode says.
	Fake bool
	// Board, when not nil, is used instead of opening one; Run does not
	// close it. The demo passes its simulated board so it can press its
	// buttons.
	Board hw.Board
	// OpenBoard, when not nil and Board is nil, opens the board in place of
	// the one [hardware] mode names; Run closes it. Like periph.io's
	// drivers, it runs with file descriptor 0 held open (hw.LoadDrivers).
	OpenBoard func() (hw.Board, error)
	// Socket is the control socket's path; "" means DefaultSocket().
	Socket string
	// UserAgent is sent to X; "" means the sender's default.
	UserAgent string
	// Version is pitweet's, for Home Assistant's device block.
	Version string
	// Reload receives a value for each SIGHUP: the config is read again.
	Reload <-chan struct{}
	// Ready, when not nil, is called once the daemon is serving (when
	// systemd is sent READY=1).
	Ready func()
	// FakeCamera is the simulated board's camera: a command that writes
	// a test card to its standard output (pitweet fake-camera), run in
	// place of each button's photo command with fake hardware. nil: the
	// configured commands run.
	FakeCamera []string
	// SensorTimeout bounds one sensor read; 0 means 10 s (an SCD4x
	// takes 5 s for its first measurement).
	SensorTimeout time.Duration
	Log           *slog.Logger // nil discards
}

// keepAlive is how long the connection to X stays open after a post for
// the next one: a queue drained after an outage then costs one TLS
// handshake, not one per post. It is short, well below what servers allow.
const keepAlive = 20 * time.Second

// freeAfter is how long the outbox stays empty before the daemon hands its
// unused memory back to the kernel.
const freeAfter = 2 * time.Second

// shutdownGrace is how long shutdown waits, beyond the request timeout, for
// the request in flight before cancelling it.
const shutdownGrace = 5 * time.Second

// sensorTimeout is the default of Options.SensorTimeout.
const sensorTimeout = 10 * time.Second

// When the hardware does not open at start under systemd, the daemon runs
// without it and tries again after hardwareRetry, doubling the pause up to
// maxHardwareRetry, instead of exiting to be restarted every RestartSec=.
const (
	hardwareRetry    = 10 * time.Second
	maxHardwareRetry = 10 * time.Minute
)

// sensorRefresh is how often a sensor whose history is off (or recorded
// less often) is read, so that presses render recent values even with no
// report or alert due.
const sensorRefresh = 5 * time.Minute

// HistoryDir is where the sensor history lives in the state directory.
const HistoryDir = "history"

// Run runs the daemon until ctx is done (SIGTERM), then finishes or times
// out the request in flight, tells systemd STOPPING=1 and returns nil. A
// config, credentials, hardware or outbox problem at start is returned as
// an error that says what to fix.
func Run(ctx context.Context, opts Options) error {
	if opts.Log == nil {
		opts.Log = discardLog()
	}
	if opts.ConfigPath == "" {
		opts.ConfigPath = config.DefaultPath
	}
	if opts.Socket == "" {
		opts.Socket = DefaultSocket()
	}
	if opts.SensorTimeout <= 0 {
		opts.SensorTimeout = sensorTimeout
	}
	cfg, err := config.Load(opts.ConfigPath)
	if err != nil {
		return err
	}
	if opts.Fake {
		cfg.Hardware.Mode = "fake"
	}
	d := &runner{opts: opts, log: opts.Log, dirty: make(chan struct{}, 1), fired: map[string]int{}, failedFor: map[string]bool{}}
	return d.run(ctx, cfg)
}

// runner is one running daemon.
type runner struct {
	opts     Options
	log      *slog.Logger
	host     string
	stateDir string // cfg.StateDir, which a reload may not change

	box     *outbox.Outbox
	st      *state
	dels    []*deliverer // one per destination, in the config's order
	spend   *spending    // X's spending gate; nil when X is not a destination
	board   hw.Board
	hist    *history.Store // nil when it could not be opened
	histErr error          // why not
	histDir string

	ledMu     sync.Mutex
	failedFor map[string]bool // destinations whose last outcome lit the error LED

	freeMu    sync.Mutex
	freeTimer *time.Timer // returns memory to the kernel once the outbox stays empty

	rigMu sync.Mutex // guards rig, which the delivery goroutine reads for its LEDs
	rig   *rig       // written only by the main loop

	pics pictures // photos and charts being made (pictures.go)
	// The MQTT gateway: gw is read by any goroutine, mqtt owned by the
	// main loop. cfgNow is the running config, for the gateway's command
	// handler.
	gw     atomic.Pointer[gateway.Gateway]
	mqtt   *mqttRun
	cfgNow atomic.Pointer[config.Config]

	// Owned by the main loop.
	cfg     *config.Config
	reports []reportState
	alerts  []alertState
	sensors []sensorState // by index in cfg.Sensors
	gen     int           // bumped at each reload; stale sensor results are ignored
	lastSt  string
	fired   map[string]int // times each source (button, report, alert) fired: .Count

	dirty chan struct{} // status changed: send STATUS=

	// While the hardware does not open (owned by the main loop).
	hwTimer *time.Timer   // the next attempt; nil when the hardware is open
	hwPause time.Duration // before the attempt after the next
	hwErr   string        // the last error, logged once
}

type reportState struct{ next time.Time }

type alertState struct {
	next      time.Time
	armed     bool
	lastFired time.Time
}

// sensorState is when a sensor is next read for itself: to record its
// history, or to keep its reading fresh.
type sensorState struct {
	read   time.Time // next read
	record time.Time // next read that is recorded; zero: history off
}

func (d *runner) run(ctx context.Context, cfg *config.Config) error {
	d.host, _ = os.Hostname()
	dests, creds, err := d.newDestinations(cfg)
	if err != nil {
		return err
	}
	gw, err := d.newGateway(cfg, creds)
	if err != nil {
		closeDestinations(dests)
		return err
	}
	d.stateDir = cfg.StateDir
	d.box, err = outbox.Open(cfg.StateDir, d.log)
	if err != nil {
		closeDestinations(dests)
		return fmt.Errorf("%w (state directory %s; set state_dir in %s or $STATE_DIRECTORY)", err, cfg.StateDir, cfg.Path)
	}
	defer d.box.Close()
	d.pics.init(cfg.StateDir)
	// Results and presses are kept for the broker from now on; the
	// gateway connects once the daemon is up.
	d.gw.Store(gw)
	defer d.stopGateway()
	d.dropUnconfigured(cfg)
	stateDir, err := statedir.Open(cfg.StateDir)
	if err != nil {
		return fmt.Errorf("daemon: %w (state directory; set state_dir in %s or $STATE_DIRECTORY)", err, cfg.Path)
	}
	defer stateDir.Close()
	d.histDir = filepath.Join(cfg.StateDir, HistoryDir)
	d.hist, d.histErr = history.Open(d.histDir, history.Options{Log: d.log})
	if d.histErr != nil {
		d.log.Error("daemon: sensor history is not recorded; charts stay empty", "err", d.histErr)
	} else {
		defer d.hist.Close()
	}

	d.board = d.opts.Board
	if d.board == nil {
		open := d.opts.OpenBoard
		if open == nil {
			open = func() (hw.Board, error) { return openBoard(cfg) }
		}
		err := hw.LoadDrivers(func() error {
			var err error
			d.board, err = open()
			return err
		})
		if err != nil {
			return err
		}
		defer d.board.Close()
		if !cfg.Hardware.Fake() {
			d.logHost()
		}
	}
	for _, w := range cfg.Warnings {
		d.log.Warn("daemon: config: " + w)
	}

	d.st = &state{pid: os.Getpid(), started: time.Now(), hardware: cfg.Hardware.Mode}
	d.st.changed = d.markDirty
	for _, dest := range dests {
		del := newDeliverer(d.box, dest, d.st, d.log)
		name := del.name
		del.sent = d.ledSent
		del.failed = func(on bool) { d.ledFailed(name, on) }
		del.idleHook = d.idle
		del.finished = d.publishResult
		del.wake = make(chan struct{}, 1)
		if name == "x" {
			// X signs with the time: its clock offset outlives a restart.
			del.clock = &clockStore{dir: stateDir, log: d.log}
			del.restoreOffset()
			d.spend = newSpending(cfg.StateDir, cfg.X.Spending, d.log)
			defer d.spend.close()
			del.spend = d.spend
		}
		d.dels = append(d.dels, del)
	}

	hwCtx, stopHW := context.WithCancel(ctx)
	defer stopHW()
	presses := make(chan hw.Press, 16)
	results := make(chan readResult, 16)
	r, err := openRig(hwCtx, d.board, cfg, presses, d.log)
	if err != nil {
		if os.Getenv("NOTIFY_SOCKET") == "" {
			return err // run by hand: say it and stop
		}
		// Under systemd: run without the hardware and try again later.
		d.hwPause = hardwareRetry
		d.hardwareFailed(err)
	}
	d.setRig(r)
	d.apply(cfg, time.Now())
	d.startGateway(gw)

	ln, err := listenControl(d.opts.Socket)
	if err != nil {
		d.rig.stop()
		return err
	}
	defer os.Remove(d.opts.Socket)
	controls := make(chan controlCall)
	go serveControl(hwCtx, ln, d.log, func(ctx context.Context, req ControlRequest) ControlResponse {
		return d.handleControl(ctx, controls, req)
	})

	// The delivery loops, one per destination: loopCtx stops them between
	// attempts; sendCtx cancels a request in flight, only once its time is
	// up at shutdown.
	loopCtx, stopLoop := context.WithCancel(context.Background())
	sendCtx, cancelSend := context.WithCancel(context.Background())
	defer cancelSend()
	var loops sync.WaitGroup
	for _, del := range d.dels {
		loops.Go(func() { del.run(loopCtx, sendCtx, del.wake) })
	}
	delivered := make(chan struct{})
	go func() {
		loops.Wait()
		close(delivered)
	}()

	d.log.Info("daemon: started", "config", cfg.Path, "hardware", cfg.Hardware.Mode, "rules", cfg.Summary(), "destinations", cfg.Destinations,
		"state_dir", cfg.StateDir, "socket", d.opts.Socket, "queued", d.box.Len())
	d.notify("READY=1")
	d.sendStatus()
	if d.opts.Ready != nil {
		d.opts.Ready()
	}
	watchdog := d.watchdogInterval()
	var ping <-chan time.Time
	if watchdog > 0 {
		t := time.NewTicker(watchdog / 2)
		defer t.Stop()
		ping = t.C
	}
	flush := time.NewTicker(history.FlushEvery)
	defer flush.Stop()

	for {
		timer := time.NewTimer(time.Until(d.nextDue()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return d.shutdown(stopHW, stopLoop, cancelSend, delivered)
		case <-d.opts.Reload:
			d.reload(hwCtx, presses) // SIGHUP: the outcome is in the log
		case <-d.hwRetry():
			if err := d.retryHardware(hwCtx, presses, results); err != nil {
				timer.Stop()
				d.shutdown(stopHW, stopLoop, cancelSend, delivered)
				return err
			}
		case p := <-presses:
			if _, _, err := d.press(p); err != nil {
				d.log.Error("daemon: queue a press", "button", p.Button, "err", err)
			}
		case c := <-controls:
			if !d.controlLater(c) {
				c.reply <- d.control(hwCtx, presses, c.req)
			}
		case r := <-results:
			d.readDone(r)
		case now := <-timer.C:
			d.due(hwCtx, results, now)
		case <-flush.C:
			go d.flushHistory("timer")
		case <-d.dirty:
			d.sendStatus()
		case <-ping:
			d.pingWatchdog()
		}
		timer.Stop()
	}
}

// dropUnconfigured gives up the messages still queued for a destination
// the config no longer names (its section was removed): they would wait
// for ever. Each is kept in dead letters, with what the other
// destinations did, once they are done with it.
func (d *runner) dropUnconfigured(cfg *config.Config) {
	n := 0
	for _, m := range d.box.Pending() {
		for _, name := range m.To {
			if !m.Needs(name) || slices.Contains(cfg.Destinations, name) {
				continue
			}
			const why = "not posted: the destination is no longer configured"
			if err := d.box.Refuse(m.ID, name, why); err != nil {
				d.log.Error("daemon: give up a message on a destination no longer configured", "id", m.ID, "destination", name, "err", err)
				continue
			}
			d.publishResult(m, name, "", why)
			n++
		}
	}
	if n > 0 {
		d.log.Warn("daemon: messages were queued for destinations no longer configured; given up there and kept in dead letters", "deliveries", n)
	}
}

// newDestinations loads the keys cfg's destinations and broker account
// need, saying in the log when the file systemd copies them from could
// not be checked, and makes each destination.
func (d *runner) newDestinations(cfg *config.Config) ([]destination, config.Credentials, error) {
	creds, info, err := cfg.X.LoadCredentialsFor(cfg.CredentialUsers())
	if err != nil {
		return nil, creds, err
	}
	if info.Source != nil && info.Source.Unchecked != nil {
		d.log.Warn("daemon: the credentials file was not checked", "err", info.Source.Unchecked)
	}
	opts := destOptions{UserAgent: d.opts.UserAgent, Log: d.log, KeepAlive: keepAlive, Forwarder: d.runningGateway, StateDir: cfg.StateDir}
	var dests []destination
	for _, name := range cfg.Destinations {
		dest, err := newDestination(name, cfg, creds, opts)
		if err != nil {
			closeDestinations(dests)
			return nil, creds, err
		}
		dests = append(dests, dest)
	}
	return dests, creds, nil
}

func closeDestinations(dests []destination) {
	for _, dest := range dests {
		dest.Close()
	}
}

// apply makes cfg the running config's rules, keeping the alert states of
// unchanged alerts.
func (d *runner) apply(cfg *config.Config, now time.Time) {
	d.cfg = cfg
	d.cfgNow.Store(cfg)
	d.gen++
	d.reports = make([]reportState, len(cfg.Reports))
	for i, r := range cfg.Reports {
		d.reports[i].next = nextAligned(now, r.Every)
	}
	d.alerts = make([]alertState, len(cfg.Alerts))
	for i := range cfg.Alerts {
		d.alerts[i] = alertState{next: now, armed: true}
	}
	d.sensors = make([]sensorState, len(cfg.Sensors))
	d.readSensorsAt(now)
	d.applyPictures(cfg)
	d.st.mu.Lock()
	d.st.recording = 0
	for _, s := range cfg.Sensors {
		if s.History > 0 {
			d.st.recording += len(config.SensorQuantities[s.Type])
		}
	}
	d.st.hardware = cfg.Hardware.Mode
	d.st.buttons = nil
	for _, b := range cfg.Buttons {
		d.st.buttons = append(d.st.buttons, b.Name)
	}
	d.st.mu.Unlock()
}

// nextAligned is the first multiple of every after now (a "1h" report comes
// on the hour).
func nextAligned(now time.Time, every time.Duration) time.Time {
	return now.Truncate(every).Add(every)
}

// nextDue is when the main loop next has a report or alert check to start.
func (d *runner) nextDue() time.Time {
	next := time.Now().Add(time.Hour)
	for _, r := range d.reports {
		if r.next.Before(next) {
			next = r.next
		}
	}
	for _, a := range d.alerts {
		if a.next.Before(next) {
			next = a.next
		}
	}
	for _, s := range d.sensors {
		if s.read.Before(next) {
			next = s.read
		}
		if !s.record.IsZero() && s.record.Before(next) {
			next = s.record
		}
	}
	return next
}

// readSensorsAt has every sensor read at now, and recorded if its history
// is on.
func (d *runner) readSensorsAt(now time.Time) {
	for i, s := range d.cfg.Sensors {
		d.sensors[i].read = now
		d.sensors[i].record = time.Time{}
		if s.History > 0 && d.hist != nil {
			d.sensors[i].record = now
		}
	}
}

// due starts the sensor reads of every report and alert whose time has
// come, and of every sensor due to be recorded or refreshed.
func (d *runner) due(ctx context.Context, results chan<- readResult, now time.Time) {
	var jobs []sensorJob
	for i, s := range d.cfg.Sensors {
		st := &d.sensors[i]
		recordDue := !st.record.IsZero() && !st.record.After(now)
		if !recordDue && st.read.After(now) {
			continue
		}
		job := sensorJob{name: s.Name, quantities: config.SensorQuantities[s.Type]}
		every := sensorRefresh
		if s.History > 0 {
			every = min(s.History, sensorRefresh)
		}
		if recordDue {
			job.record = s.History
			st.record = nextAligned(now, s.History)
		}
		st.read = nextAligned(now, every)
		jobs = append(jobs, job)
	}
	if len(jobs) > 0 {
		d.readJobs(ctx, results, readResult{}, jobs)
	}
	for i := range d.reports {
		r := &d.reports[i]
		if now.Before(r.next) {
			continue
		}
		at := r.next
		for !r.next.After(now) {
			r.next = r.next.Add(d.cfg.Reports[i].Every)
		}
		d.read(ctx, results, readResult{kind: "report", index: i, due: at}, d.cfg.Reports[i].Sensors)
	}
	for i := range d.alerts {
		a := &d.alerts[i]
		if now.Before(a.next) {
			continue
		}
		a.next = now.Add(d.cfg.Alerts[i].Every)
		d.read(ctx, results, readResult{kind: "alert", index: i, due: now}, d.cfg.Alerts[i].When.Sensors())
	}
}

// readResult says that the sensors a report or alert needed were read.
type readResult struct {
	kind  string // "report", "alert", or "" for a plain refresh
	index int
	due   time.Time
	gen   int
}

// read reads the named sensors in the background for a report or alert
// (see readJobs).
func (d *runner) read(ctx context.Context, results chan<- readResult, r readResult, names []string) {
	jobs := make([]sensorJob, len(names))
	for i, n := range names {
		jobs[i].name = n
	}
	d.readJobs(ctx, results, r, jobs)
}

// A sensorJob is one sensor to read, and whether to record the reading in
// the history.
type sensorJob struct {
	name       string
	record     time.Duration // the history interval; 0: not recorded
	quantities []string      // what a failed read leaves a gap in
}

// readJobs reads sensors in the background, notes each reading (or the
// failure, keeping the last good reading) for status and templates,
// records it in the history when the job says so, then hands r back to
// the main loop.
func (d *runner) readJobs(ctx context.Context, results chan<- readResult, r readResult, jobs []sensorJob) {
	r.gen = d.gen
	type open struct {
		job    sensorJob
		sensor hw.Sensor
	}
	var todo []open
	for _, j := range jobs {
		for _, s := range d.rig.sensorsNamed([]string{j.name}) {
			todo = append(todo, open{j, s})
		}
	}
	go func() {
		for _, o := range todo {
			j, s := o.job, o.sensor
			rctx, cancel := context.WithTimeout(ctx, d.opts.SensorTimeout)
			rd, err := s.Read(rctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return // stopping: not a sensor failure
				}
				d.log.Warn("daemon: sensor read failed; keeping its last reading", "sensor", s.Name(), "err", err)
			}
			d.st.sensorRead(s.Name(), s.Type(), rd.At, rd.Values, err)
			if err == nil {
				d.publishReading(rd)
			}
			if j.record > 0 {
				d.record(j, rd, err)
			}
		}
		select {
		case results <- r:
		case <-ctx.Done():
		}
	}()
}

// record adds a reading to the history, or a gap in each quantity when
// the read failed. Nothing is recorded while the clock is implausible (a
// Pi before NTP): the samples would be filed at the wrong time.
func (d *runner) record(j sensorJob, rd hw.Reading, err error) {
	if d.hist == nil {
		return
	}
	at := rd.At
	if err != nil {
		at = time.Now()
	}
	if at.Before(plausibleClock) {
		return
	}
	add := func(q string, v float64) {
		if err := d.hist.Add(j.name+"."+q, j.record, at, v); err != nil {
			d.log.Warn("daemon: not recorded in the history", "sensor", j.name, "quantity", q, "err", err)
		}
	}
	if err != nil {
		for _, q := range j.quantities {
			add(q, math.NaN())
		}
		return
	}
	for q, v := range rd.Values {
		add(q, v)
	}
}

// flushHistory writes the buffered history samples; why is logged.
func (d *runner) flushHistory(why string) {
	if d.hist == nil {
		return
	}
	if err := d.hist.Flush(); err != nil {
		d.log.Error("daemon: writing the sensor history failed; the samples stay buffered for the next try", "on", why, "err", err)
	}
}

// readDone acts on fresh readings: queue a report, or check an alert.
func (d *runner) readDone(r readResult) {
	if r.gen != d.gen || r.kind == "" {
		return
	}
	now := time.Now()
	switch r.kind {
	case "report":
		rep := d.cfg.Reports[r.index]
		src := fmt.Sprintf("report %d", r.index+1)
		data, expires := d.data(r.due, "", false), r.due.Add(rep.Expires)
		var err error
		if rep.Chart != nil {
			err = d.queueWithChart(src, "report", rep.Text, rep.To, data, expires, rep.Chart, r.due)
		} else {
			_, _, err = d.queue(src, "report", rep.Text, rep.To, data, expires)
		}
		if err != nil {
			d.log.Error("daemon: queue a report", "report", r.index+1, "err", err)
		}
	case "alert":
		al := d.cfg.Alerts[r.index]
		a := &d.alerts[r.index]
		if !al.When.Eval(d.st.readings()) {
			a.armed = true
			return
		}
		if !a.armed {
			return
		}
		if !a.lastFired.IsZero() && now.Sub(a.lastFired) < al.Cooldown {
			d.log.Info("daemon: alert condition true but in its cooldown", "alert", al.When.String(), "until", a.lastFired.Add(al.Cooldown))
			return
		}
		a.armed, a.lastFired = false, now
		src := fmt.Sprintf("alert %d", r.index+1)
		data := d.data(now, "", false)
		var err error
		if al.Chart != nil {
			err = d.queueWithChart(src, "alert", al.Text, al.To, data, time.Time{}, al.Chart, now)
		} else {
			_, _, err = d.queue(src, "alert", al.Text, al.To, data, time.Time{})
		}
		if err != nil {
			d.log.Error("daemon: queue an alert", "alert", al.When.String(), "err", err)
		}
	}
}

// data is what a template sees at time at.
func (d *runner) data(at time.Time, button string, long bool) config.TemplateData {
	return config.TemplateData{
		Time:    at.Local(),
		Host:    d.host,
		Button:  button,
		Long:    long,
		Sensors: d.cfg.SensorValues(d.st.readings()),
	}
}

// press queues the text of a press of a configured button. A button with
// a photo has its presses queued by its lane, once the photo is taken
// (pictures.go): press then returns no message.
func (d *runner) press(p hw.Press) (outbox.Message, bool, error) {
	b, ok := d.cfg.Button(p.Button)
	if !ok {
		return outbox.Message{}, false, nil
	}
	d.publishPress(p)
	if b.Photo != nil {
		d.pressLater(b, p, nil)
		return outbox.Message{}, true, nil
	}
	t := b.Text
	if p.Long && b.LongText != nil {
		t = b.LongText
	}
	kind := "press"
	if p.Long {
		kind = "long press"
	}
	d.log.Info("daemon: button pressed", "button", p.Button, "long", p.Long)
	m, _, err := d.queue("button "+p.Button, "press", t, b.To, d.data(p.At, p.Button, p.Long), time.Time{})
	if err != nil {
		return m, true, fmt.Errorf("%s of %s: %w", kind, p.Button, err)
	}
	return m, true, nil
}

// queue renders t and puts it in the outbox for the destinations to, as
// kind ("press", "report", "alert"). A destination whose limit the text
// exceeds gets it shortened, as its own text. data.Count is set to the
// number of times source has fired.
func (d *runner) queue(source, kind string, t *config.Template, to []string, data config.TemplateData, expires time.Time) (outbox.Message, string, error) {
	m, err := d.message(source, kind, t, to, data, expires)
	if err != nil {
		return outbox.Message{}, "", err
	}
	m, err = d.put(m, nil)
	return m, m.Text, err
}

// message renders t into a message for the destinations to, as queue
// does, in the main loop.
func (d *runner) message(source, kind string, t *config.Template, to []string, data config.TemplateData, expires time.Time) (outbox.Message, error) {
	d.fired[source]++
	data.Count = d.fired[source]
	text, err := t.Render(data)
	if err != nil {
		return outbox.Message{}, err
	}
	m := outbox.Message{Text: text, Source: source, Kind: kind, Expires: expires, To: to, Dest: map[string]outbox.Delivery{}}
	m.OnBudget = d.onBudget(source)
	for _, name := range to {
		rule, ok := d.textRuleFor(name)
		if !ok {
			continue
		}
		if n := rule.Length(text); n > rule.Max {
			short := rule.Truncate(text, rule.Max)
			d.log.Warn("daemon: message longer than a destination allows; shortened for it", "destination", name,
				"source", source, "length", n, "limit", rule.Max, "text", short)
			m.Dest[name] = outbox.Delivery{Text: short}
		}
	}
	return m, nil
}

// put queues m with pics in the outbox and wakes the delivery loops of
// its destinations. It may run off the main loop.
func (d *runner) put(m outbox.Message, pics []outbox.NewImage) (outbox.Message, error) {
	text := m.Text
	m, err := d.box.Put(m, pics)
	if err != nil {
		m.Text = text
		return m, err
	}
	d.queued(m, m.To)
	return m, nil
}

// controlCall carries a control request that needs the main loop.
type controlCall struct {
	req   ControlRequest
	reply chan ControlResponse
}

// handleControl answers a control request; it runs on the socket's
// goroutine.
func (d *runner) handleControl(ctx context.Context, controls chan<- controlCall, req ControlRequest) ControlResponse {
	switch req.Op {
	case "status":
		s := d.st.snapshot(time.Now(), d.box)
		s.ButtonErrors = d.currentRig().buttonErrors()
		s.History = d.historyState()
		s.Pictures = d.pictureStatus()
		s.MQTT = d.mqttStatus()
		if d.spend != nil {
			s.Spend = d.spend.status(time.Now())
		}
		d.addLimits(&s)
		d.accountStatus(&s)
		return ControlResponse{OK: true, Status: &s}
	case "spend":
		return d.spendControl(req, time.Now())
	case "history":
		return d.historyAnswer(req, time.Now())
	case "press", "reload":
		c := controlCall{req: req, reply: make(chan ControlResponse, 1)}
		select {
		case controls <- c:
		case <-ctx.Done():
			return ControlResponse{Error: "daemon: shutting down"}
		}
		return <-c.reply
	}
	return ControlResponse{Error: fmt.Sprintf("daemon: unknown request %q; use \"status\", \"press\", \"reload\", \"history\" or \"spend\"", req.Op)}
}

// control answers a control request in the main loop.
func (d *runner) control(ctx context.Context, presses chan<- hw.Press, req ControlRequest) ControlResponse {
	if req.Op == "reload" {
		if err := d.reload(ctx, presses); err != nil {
			// One line, even for a config with several problems.
			why := strings.ReplaceAll(strings.TrimPrefix(err.Error(), "daemon: "), "\n", "; ")
			return ControlResponse{Error: "reload refused, the running config stays: " + why}
		}
		return ControlResponse{OK: true, Text: fmt.Sprintf("reloaded %s: %s", d.cfg.Path, d.cfg.Summary())}
	}
	m, known, err := d.press(hw.Press{Button: req.Button, Long: req.Long, At: time.Now()})
	if !known {
		var names []string
		for _, b := range d.cfg.Buttons {
			names = append(names, b.Name)
		}
		return ControlResponse{Error: fmt.Sprintf("no button named %q", req.Button), Buttons: names}
	}
	if err != nil {
		return ControlResponse{Error: err.Error()}
	}
	return ControlResponse{OK: true, Queued: m.ID, Text: m.Text}
}

// reload reads the config again (SIGHUP, or `pitweet reload` over the
// control socket). A config that fails to load or whose hardware fails to
// open is refused: the running one is kept, and the error (also logged)
// says why.
func (d *runner) reload(ctx context.Context, presses chan<- hw.Press) error {
	d.notify(reloading())
	defer d.notify("READY=1")
	cfg, err := config.Load(d.cfg.Path)
	if err == nil && d.opts.Fake {
		cfg.Hardware.Mode = "fake"
	}
	if err == nil && cfg.Hardware.Mode != d.cfg.Hardware.Mode {
		err = fmt.Errorf("daemon: [hardware] mode changed from %q to %q; restart pitweet for that", d.cfg.Hardware.Mode, cfg.Hardware.Mode)
	}
	if err == nil && cfg.StateDir != d.cfg.StateDir {
		err = fmt.Errorf("daemon: state_dir changed; restart pitweet for that")
	}
	if err == nil && !slices.Equal(cfg.Destinations, d.cfg.Destinations) {
		err = fmt.Errorf("daemon: the destinations changed from %v to %v; restart pitweet for that", d.cfg.Destinations, cfg.Destinations)
	}
	var dests []destination
	var creds config.Credentials
	if err == nil {
		dests, creds, err = d.newDestinations(cfg)
	}
	var gw *gateway.Gateway
	if err == nil {
		if gw, err = d.newGateway(cfg, creds); err != nil {
			closeDestinations(dests)
		}
	}
	if err != nil {
		d.log.Error("daemon: reload refused; keeping the running config", "err", err)
		return err
	}
	d.rig.stop()
	r, err := openRig(ctx, d.board, cfg, presses, d.log)
	if err != nil {
		for _, dest := range dests {
			dest.Close()
		}
		d.log.Error("daemon: reload refused: the new config's hardware does not open; keeping the running config", "err", err)
		old, oerr := openRig(ctx, d.board, d.cfg, presses, d.log)
		if oerr != nil {
			d.log.Error("daemon: reopening the running config's hardware failed too", "err", oerr)
		}
		d.setRig(old)
		return fmt.Errorf("daemon: the new config's hardware does not open: %w", err)
	}
	d.setRig(r)
	for i, del := range d.dels {
		del.setDestination(dests[i])
	}
	go d.flushHistory("reload")
	d.apply(cfg, time.Now())
	d.reloadGateway(cfg, gw, creds.MQTTPassword)
	d.reloadSpending(cfg)
	d.hardwareOpen()
	for _, w := range cfg.Warnings {
		d.log.Warn("daemon: config: " + w)
	}
	d.log.Info("daemon: config reloaded", "config", cfg.Path, "rules", cfg.Summary())
	return nil
}

// logHost logs the GPIO chips periph.io found, and every driver that
// failed to load.
func (d *runner) logHost() {
	h, err := hw.RealHost()
	logHost(d.log, h, err)
}

func logHost(log *slog.Logger, h hw.Host, err error) {
	if err != nil {
		log.Error("daemon: periph.io", "err", err)
		return
	}
	for _, f := range h.Failed() {
		log.Error("daemon: a periph.io driver failed to load", "driver", f.Name, "err", f.Err)
	}
	var chips []string
	for _, c := range h.Chips {
		chips = append(chips, c.String())
	}
	log.Info("daemon: GPIO chips", "chips", strings.Join(chips, ", "))
}

// hwRetry is when to try opening the hardware again; nil (never) while it
// is open.
func (d *runner) hwRetry() <-chan time.Time {
	if d.hwTimer == nil {
		return nil
	}
	return d.hwTimer.C
}

// hardwareFailed records that the hardware did not open, logging the
// error when it is new, and sets the next attempt.
func (d *runner) hardwareFailed(err error) {
	if err.Error() != d.hwErr {
		d.hwErr = err.Error()
		d.log.Error("daemon: the hardware did not open; running without it and trying again with growing pauses", "err", err, "retry_in", d.hwPause)
	}
	d.st.setHardware(err, time.Now().Add(d.hwPause))
	if d.hwTimer == nil {
		d.hwTimer = time.NewTimer(d.hwPause)
	} else {
		d.hwTimer.Reset(d.hwPause)
	}
	d.hwPause = min(2*d.hwPause, maxHardwareRetry)
}

// hardwareOpen ends the attempts: the hardware is open.
func (d *runner) hardwareOpen() {
	if d.hwTimer == nil {
		return
	}
	d.hwTimer.Stop()
	d.hwTimer, d.hwErr = nil, ""
	d.st.setHardware(nil, time.Time{})
	d.log.Info("daemon: the hardware is open")
}

// retryHardware tries to open the running config's hardware again. When
// only a new process can (periph.io looks for GPIO chips once), it returns
// the error, and the daemon exits for systemd to start it again.
func (d *runner) retryHardware(ctx context.Context, presses chan<- hw.Press, results chan<- readResult) error {
	r, err := openRig(ctx, d.board, d.cfg, presses, d.log)
	switch {
	case err == nil:
		d.setRig(r)
		d.hardwareOpen()
		d.readSensorsAt(time.Now())
	case errors.Is(err, hw.ErrRestart):
		d.log.Error("daemon: the hardware is there now, but only a new process can use it; exiting so that systemd starts pitweet again", "err", err)
		return err
	default:
		d.hardwareFailed(err)
	}
	return nil
}

// shutdown stops the daemon: no new presses or attempts, the request in
// flight finishes or times out, then STOPPING=1.
func (d *runner) shutdown(stopHW, stopLoop, cancelSend context.CancelFunc, delivered <-chan struct{}) error {
	d.log.Info("daemon: stopping; letting the request in flight finish")
	stopHW()
	d.rig.stop()
	stopLoop()
	limit := time.NewTimer(sender.DefaultTimeout + shutdownGrace)
	defer limit.Stop()
	// The presses and rules whose pictures are being made are queued
	// (charts read the history: before it closes).
	d.finishPictures()
	if d.hist != nil {
		if err := d.hist.Close(); err != nil {
			d.log.Error("daemon: writing the sensor history at shutdown failed", "err", err)
		}
	}
	select {
	case <-delivered:
	case <-limit.C:
		d.log.Warn("daemon: the request in flight did not end in time; cancelling it (the message stays queued)")
		cancelSend()
		<-delivered
	}
	for _, del := range d.dels {
		del.destination().Close()
	}
	// After the delivery loops: a forward in flight needed the broker.
	d.stopGateway()
	d.freeMu.Lock()
	if d.freeTimer != nil {
		d.freeTimer.Stop()
	}
	d.freeMu.Unlock()
	d.notify("STOPPING=1")
	d.log.Info("daemon: stopped", "queued", d.box.Len())
	return nil
}

// pingWatchdog tells systemd the daemon is alive, unless a delivery loop
// has been stuck in one request for longer than any request may take.
func (d *runner) pingWatchdog() {
	for _, del := range d.dels {
		if stuck := del.stuckFor(time.Now()); stuck > sender.DefaultTimeout+shutdownGrace {
			d.log.Error("daemon: a request has been running too long; not pinging the watchdog", "destination", del.name, "for", stuck.Round(time.Second))
			return
		}
	}
	d.notify("WATCHDOG=1")
}

// idle is called by a delivery loop that has nothing left to post. Once
// the outbox has stayed empty for freeAfter, the memory a burst of
// requests used (TLS state, the parsed system roots) goes back to the
// kernel, so a small Pi sees the daemon at its idle size. Waiting a moment
// keeps a burst of presses from paying for it, and for the memory taken
// back, between each two.
func (d *runner) idle() {
	if d.box.Len() > 0 {
		return
	}
	d.freeMu.Lock()
	defer d.freeMu.Unlock()
	if d.freeTimer != nil {
		d.freeTimer.Reset(freeAfter)
		return
	}
	d.freeTimer = time.AfterFunc(freeAfter, func() {
		if d.box.Len() == 0 {
			debug.FreeOSMemory()
		}
	})
}

func (d *runner) markDirty() {
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

// sendStatus sends STATUS= when the summary changed.
func (d *runner) sendStatus() {
	s := d.st.summary(d.box.Len())
	if s == d.lastSt {
		return
	}
	d.lastSt = s
	d.notify("STATUS=" + s)
}

func (d *runner) ledSent() {
	if r := d.currentRig(); r != nil {
		r.blinkSent()
	}
}

// ledFailed records whether destination name's last outcome was a
// failure; the error LED is lit while any destination's was.
func (d *runner) ledFailed(name string, on bool) {
	d.ledMu.Lock()
	d.failedFor[name] = on
	any := false
	for _, f := range d.failedFor {
		any = any || f
	}
	d.ledMu.Unlock()
	if r := d.currentRig(); r != nil {
		r.showError(any)
	}
}

func (d *runner) currentRig() *rig {
	d.rigMu.Lock()
	defer d.rigMu.Unlock()
	return d.rig
}

func (d *runner) setRig(r *rig) {
	d.rigMu.Lock()
	d.rig = r
	d.rigMu.Unlock()
}
