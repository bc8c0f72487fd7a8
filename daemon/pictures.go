package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"pitweet/chart"
	"pitweet/config"
	"pitweet/hw"
	"pitweet/media"
	"pitweet/outbox"
)

// Pictures: a button's photo, and the chart of a report or alert, are
// made off the main loop, so a camera taking its time holds back no other
// button, report or control request.
//
// What a template sees is taken in the main loop when the press happens
// (or the rule fires): the text and the alt text are rendered there, and
// the message is handed to a lane, which takes the photo (or draws the
// chart) and queues the message with it in the outbox. Each button with a
// photo has a lane of its own, which queues its presses one after another
// in the order they came, and the charts share one. A press is
// acknowledged (its `pitweet press` answer) once it is in the outbox with
// its photo, fsync'd.
//
// A photo that cannot be taken, or a chart that cannot be drawn, never
// loses the post: the text is queued alone, with a note in the log, in
// status and in the press's answer.

// pictureGrace is how long shutdown waits for the photos and charts being
// made; then the photo commands still running are stopped, and what was
// left is queued without its picture. Together with the request in flight
// it stays within the unit's TimeoutStopSec=. A variable for tests.
var pictureGrace = 5 * time.Second

// chartsLane is the lane every report's and alert's chart is drawn in.
const chartsLane = "charts"

// pictures is the runner's lanes and what they did, for status.
type pictures struct {
	dir string // where photos are taken: the spool, so that Put renames them in

	ctx    context.Context // cancelled once pictureGrace has passed at shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup // the lanes' goroutines

	mu         sync.Mutex
	lanes      map[string]*lane // by key: "button doorbell", chartsLane
	status     PictureStatus
	configured bool // the running config has a photo or a chart
}

// PictureStatus is what the daemon's photos and charts came to since it
// started.
type PictureStatus struct {
	Photos int `json:"photos"` // photos queued with their press
	Charts int `json:"charts"` // charts queued with their report or alert
	// Failed counts the pictures that could not be made or stored; their
	// texts were queued alone.
	Failed      int             `json:"failed"`
	LastFailure *PictureFailure `json:"last_failure,omitempty"`
	Waiting     int             `json:"waiting"` // presses and rules whose picture is being made
}

// PictureFailure is the last picture that could not be made.
type PictureFailure struct {
	At     time.Time `json:"at"`
	Source string    `json:"source"` // "button doorbell", "report 1", …
	Error  string    `json:"error"`
}

// lane is a queue of messages whose pictures are made one after another.
type lane struct {
	jobs    []*pictureJob
	running bool // a goroutine is working through jobs
}

// pictureJob is a message waiting for its picture.
type pictureJob struct {
	m     outbox.Message // rendered when the press happened or the rule fired
	at    time.Time      // when that was
	photo *photoJob      // nil: no photo
	chart *chartJob      // nil: no chart
	// reply, when not nil, gets the press's answer once it is queued.
	reply chan<- ControlResponse
}

// photoJob is a photo to take for a press.
type photoJob struct {
	camera media.Camera
	alt    string
}

// chartJob is the chart of a report or alert, as decided in the main
// loop: what to draw, over which window, and the alt text ("": describe
// the chart).
type chartJob struct {
	names    []string
	from, to time.Time
	alt      string
}

// init readies the lanes; photos are taken into dir.
func (p *pictures) init(dir string) {
	p.dir = dir
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.lanes = map[string]*lane{}
}

// addPictureJob puts j at the end of lane key and starts the lane if it
// is idle. Only the main loop adds jobs.
func (d *runner) addPictureJob(key string, j *pictureJob) {
	p := &d.pics
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lanes[key]
	if l == nil {
		l = &lane{}
		p.lanes[key] = l
	}
	l.jobs = append(l.jobs, j)
	p.status.Waiting++
	if l.running {
		return
	}
	l.running = true
	p.wg.Go(func() { d.runLane(key, l) })
}

// runLane works through lane l's jobs, oldest first, until it is empty.
func (d *runner) runLane(key string, l *lane) {
	p := &d.pics
	for {
		p.mu.Lock()
		if len(l.jobs) == 0 {
			l.running = false
			delete(p.lanes, key)
			p.mu.Unlock()
			return
		}
		j := l.jobs[0]
		l.jobs[0] = nil
		l.jobs = l.jobs[1:]
		p.mu.Unlock()
		d.finishPictureJob(j)
		p.mu.Lock()
		p.status.Waiting--
		p.mu.Unlock()
	}
}

// finishPictures lets the photos and charts being made finish for up to
// pictureGrace, then stops the photo commands still running and waits
// for what is left to be queued without its picture. Nothing is added to
// the lanes once the main loop has stopped.
func (d *runner) finishPictures() {
	done := make(chan struct{})
	go func() {
		d.pics.wg.Wait()
		close(done)
	}()
	grace := time.NewTimer(pictureGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		d.log.Warn("daemon: stopping the photos still being taken; their presses are queued without them", "waited", pictureGrace)
		d.pics.cancel()
		<-done
	}
	d.pics.cancel()
}

// pictureStatus is the pictures' part of the status; nil when the config
// has no photo or chart and none was made.
func (d *runner) pictureStatus() *PictureStatus {
	d.pics.mu.Lock()
	s, configured := d.pics.status, d.pics.configured
	d.pics.mu.Unlock()
	if s == (PictureStatus{}) && !configured {
		return nil
	}
	if s.LastFailure != nil {
		f := *s.LastFailure
		s.LastFailure = &f
	}
	return &s
}

func hasPictures(cfg *config.Config) bool {
	for _, b := range cfg.Buttons {
		if b.Photo != nil {
			return true
		}
	}
	for _, r := range cfg.Reports {
		if r.Chart != nil {
			return true
		}
	}
	for _, a := range cfg.Alerts {
		if a.Chart != nil {
			return true
		}
	}
	return false
}

// controlLater takes a control request that the main loop does not answer
// at once: a press of a button with a photo, answered by its lane once
// queued. It reports whether it took c.
func (d *runner) controlLater(c controlCall) bool {
	if c.req.Op != "press" {
		return false
	}
	b, ok := d.cfg.Button(c.req.Button)
	if !ok || b.Photo == nil {
		return false
	}
	d.pressLater(b, hw.Press{Button: c.req.Button, Long: c.req.Long, At: time.Now()}, c.reply)
	return true
}

// pressLater queues a press of b, a button with a photo, in b's lane: a
// short press with its photo, a long press (which takes none) behind the
// presses before it. The text and the alt text are rendered now, with
// what the button's text sees at the press. reply, when not nil, gets the
// answer once the press is queued.
func (d *runner) pressLater(b config.ButtonConfig, p hw.Press, reply chan<- ControlResponse) {
	t := b.Text
	if p.Long && b.LongText != nil {
		t = b.LongText
	}
	d.log.Info("daemon: button pressed", "button", p.Button, "long", p.Long)
	data := d.data(p.At, p.Button, p.Long)
	m, err := d.message("button "+p.Button, "press", t, b.To, data, time.Time{})
	if err != nil {
		err = fmt.Errorf("%s of %s: %w", pressKind(p), p.Button, err)
		d.log.Error("daemon: queue a press", "button", p.Button, "err", err)
		if reply != nil {
			reply <- ControlResponse{Error: err.Error()}
		}
		return
	}
	data.Count = d.fired[m.Source]
	j := &pictureJob{m: m, at: p.At, reply: reply}
	if !p.Long {
		alt, err := b.Photo.Alt.Render(data)
		if err != nil {
			d.log.Warn("daemon: the photo's alt text did not render; the photo goes without one", "button", p.Button, "err", err)
			alt = ""
		}
		j.photo = &photoJob{camera: d.camera(b.Photo), alt: clipAlt(d.log, alt)}
	}
	d.addPictureJob("button "+b.Name, j)
}

func pressKind(p hw.Press) string {
	if p.Long {
		return "long press"
	}
	return "press"
}

// camera is the camera of a button's photo: its command, or with fake
// hardware the simulated camera (Options.FakeCamera) in its place, so
// that a photo is taken through the same path, a process whose output is
// probed, with the button's timeout and the outbox's size cap.
func (d *runner) camera(p *config.PhotoConfig) media.Camera {
	c := media.Camera{Command: p.Command, Timeout: p.Timeout, MaxBytes: outbox.MaxPictureSize}
	if d.cfg.Hardware.Fake() && d.opts.FakeCamera != nil {
		c.Command = d.opts.FakeCamera
	}
	return c
}

// clipAlt cuts an alt text to what X takes.
func clipAlt(log *slog.Logger, alt string) string {
	if n := len([]rune(alt)); n > chart.MaxAlt {
		log.Warn("daemon: alt text longer than X allows; shortened", "length", n, "limit", chart.MaxAlt)
		alt = string([]rune(alt)[:chart.MaxAlt])
	}
	return alt
}

// queueWithChart queues the text of a report or alert with its chart, in
// the charts' lane; data and at are what the text sees and when the rule
// fired.
func (d *runner) queueWithChart(source, kind string, t *config.Template, to []string, data config.TemplateData, expires time.Time, spec *config.ChartSpec, at time.Time) error {
	m, err := d.message(source, kind, t, to, data, expires)
	if err != nil {
		return err
	}
	data.Count = d.fired[source]
	j := &pictureJob{m: m, at: at}
	c, err := d.chartJob(spec, data, at)
	if err != nil {
		d.log.Warn("daemon: the chart's alt text did not render; the chart goes with one describing it", "source", source, "err", err)
	}
	j.chart = &c
	d.addPictureJob(chartsLane, j)
	return nil
}

// chartJob decides, in the main loop, what the chart of a rule posting at
// at draws: its series over the window before at, and its alt text (the
// rule's alt rendered with data; "" to describe the chart). An alt that
// fails to render is left to be described, and the error returned.
func (d *runner) chartJob(spec *config.ChartSpec, data config.TemplateData, at time.Time) (chartJob, error) {
	c := chartJob{names: d.cfg.ChartSeries(spec), from: at.Add(-spec.Window), to: at}
	if spec.Alt == nil {
		return c, nil
	}
	alt, err := spec.Alt.Render(data)
	if err != nil {
		return c, err
	}
	c.alt = clipAlt(d.log, alt)
	return c, nil
}

// finishPictureJob makes j's picture and queues j's message with it, or
// alone when the picture could not be made or stored, and answers the
// press.
func (d *runner) finishPictureJob(j *pictureJob) {
	var pics []outbox.NewImage
	var taken string // the photo's file, until the outbox has it
	var failed error // why the message goes without its picture
	switch {
	case j.photo != nil:
		photo, err := d.takePhoto(j)
		if err != nil {
			failed = err
			break
		}
		taken = photo.Path
		pics = []outbox.NewImage{{Path: photo.Path, Alt: j.photo.alt}}
	case j.chart != nil:
		pic, err := d.drawChart(*j.chart)
		if err != nil {
			failed = err
			break
		}
		pics = []outbox.NewImage{*pic}
	}
	m, err := d.put(j.m, pics)
	if err != nil && len(pics) > 0 && !errors.Is(err, outbox.ErrClosed) {
		if taken != "" {
			os.Remove(taken)
		}
		failed = fmt.Errorf("daemon: storing it: %w", err)
		m, err = d.put(j.m, nil)
	}
	if failed != nil {
		d.pictureFailed(j, failed)
	}
	if err != nil {
		d.log.Error("daemon: queue a message", "source", j.m.Source, "err", err)
		if j.reply != nil {
			j.reply <- ControlResponse{Error: fmt.Sprintf("%s: %v", j.m.Source, err)}
		}
		return
	}
	d.pics.mu.Lock()
	switch {
	case len(m.Images) == 0:
	case j.photo != nil:
		d.pics.status.Photos++
	default:
		d.pics.status.Charts++
	}
	d.pics.mu.Unlock()
	if j.reply == nil {
		return
	}
	resp := ControlResponse{OK: true, Queued: m.ID, Text: m.Text}
	switch {
	case len(m.Images) > 0:
		im := m.Images[0]
		resp.Photo = fmt.Sprintf("%dx%d %s, %d bytes, alt %q", im.Width, im.Height, strings.TrimPrefix(im.Type, "image/"), im.Size, im.Alt)
	case failed != nil:
		resp.PhotoError = failed.Error()
	}
	j.reply <- resp
}

// takePhoto takes the photo of a press into the spool. A press that has
// waited for the camera longer than its timeout (the camera busy with the
// presses before it) goes without: the moment has passed, and its answer
// would wait too long.
func (d *runner) takePhoto(j *pictureJob) (media.Photo, error) {
	c := j.photo.camera
	if waited := time.Since(j.at); waited > c.Timeout {
		return media.Photo{}, fmt.Errorf("daemon: not taken: the camera was busy with earlier presses for %v, longer than photo_timeout", waited.Round(time.Millisecond))
	}
	if d.pics.ctx.Err() != nil {
		return media.Photo{}, errors.New("daemon: not taken: pitweet was stopping")
	}
	photo, err := c.Capture(d.pics.ctx, d.pics.dir)
	if err != nil && d.pics.ctx.Err() != nil {
		return media.Photo{}, fmt.Errorf("daemon: stopped while it was taken: pitweet was stopping (%w)", err)
	}
	return photo, err
}

// drawChart draws the chart c describes from the history, samples not yet
// written included, with its alt text (c's, or a description of the
// chart). A series with no samples is drawn as an empty panel, so the
// chart is made whatever the sensors did.
func (d *runner) drawChart(c chartJob) (*outbox.NewImage, error) {
	if d.hist == nil {
		return nil, fmt.Errorf("daemon: sensor history is not recorded: %v", d.histErr)
	}
	return drawChart(d.hist.Query, c)
}

// pictureFailed notes a picture that could not be made: in the log and in
// status.
func (d *runner) pictureFailed(j *pictureJob, err error) {
	what := "photo"
	if j.photo == nil {
		what = "chart"
	}
	d.log.Warn("daemon: the "+what+" could not be made; its text is queued alone", "source", j.m.Source, "err", err)
	d.pics.mu.Lock()
	d.pics.status.Failed++
	d.pics.status.LastFailure = &PictureFailure{At: time.Now(), Source: j.m.Source, Error: err.Error()}
	d.pics.mu.Unlock()
	d.markDirty()
}

// applyPictures takes cfg's photos and charts for status, and says in the
// log where each button's photos come from: the simulated camera, or a
// command that is not found (the presses then go without a photo).
func (d *runner) applyPictures(cfg *config.Config) {
	d.pics.mu.Lock()
	d.pics.configured = hasPictures(cfg)
	d.pics.mu.Unlock()
	for _, b := range cfg.Buttons {
		if b.Photo == nil {
			continue
		}
		switch {
		case cfg.Hardware.Fake() && d.opts.FakeCamera != nil:
			d.log.Info("daemon: with fake hardware, photos come from the simulated camera", "button", b.Name, "command", strings.Join(d.opts.FakeCamera, " "))
		default:
			if _, err := exec.LookPath(b.Photo.Command[0]); err != nil {
				d.log.Warn("daemon: the photo command is not found; presses are posted without a photo until it is installed", "button", b.Name, "command", b.Photo.Command[0], "err", err)
			}
		}
	}
}
