//go:build linux

package daemon

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"pitweet/fakex"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pitweet/config"
	"pitweet/hw/fakehw"
	"pitweet/media"
	"pitweet/outbox"
)

// testCard writes a test card JPEG into dir and returns its path and
// bytes.
func testCard(t testing.TB, dir string) (string, []byte) {
	t.Helper()
	card, err := fakehw.TestCard(0, 0, 1, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "card.jpg")
	if err := os.WriteFile(path, card, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, card
}

// shutter is a camera the test releases: photo = ["cat", FIFO] waits
// until the test writes a picture into the FIFO, one photo per write.
type shutter struct {
	t    *testing.T
	fifo string
}

func newShutter(t *testing.T) *shutter {
	t.Helper()
	s := &shutter{t: t, fifo: filepath.Join(t.TempDir(), "shutter")}
	if err := syscall.Mkfifo(s.fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// release lets the photo being taken finish with data: it waits for the
// command to open the FIFO, writes data and closes it.
func (s *shutter) release(data []byte) {
	s.t.Helper()
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(s.fifo, os.O_WRONLY, 0)
		if err != nil {
			done <- err
			return
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			s.t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		s.t.Fatal("no photo command opened the shutter within 15s")
	}
}

// pressAsync asks the daemon for a press and returns where its answer
// comes.
func pressAsync(socket, button string, long bool) <-chan *ControlResponse {
	out := make(chan *ControlResponse, 1)
	go func() {
		resp, err := Call(socket, ControlRequest{Op: "press", Button: button, Long: long})
		if err != nil {
			resp = &ControlResponse{Error: "call: " + err.Error()}
		}
		out <- resp
	}()
	return out
}

func answer(t *testing.T, ch <-chan *ControlResponse, what string) *ControlResponse {
	t.Helper()
	select {
	case resp := <-ch:
		return resp
	case <-time.After(15 * time.Second):
		t.Fatalf("no answer to %s within 15s", what)
		return nil
	}
}

// waitPictures polls the status until its pictures satisfy ok.
func waitPictures(t *testing.T, socket, what string, ok func(*PictureStatus) bool) *PictureStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := Call(socket, ControlRequest{Op: "status"})
		if err != nil {
			t.Fatal(err)
		}
		if p := resp.Status.Pictures; p != nil && ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pictures %s: not after 15s; status %+v", what, resp.Status.Pictures)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// stored is a message found in a stopped daemon's outbox, queued or dead,
// with the directory of its pictures.
type stored struct {
	outbox.Message
	pics string
}

// storedMessages opens the outbox in dir (the daemon stopped) and returns
// every queued and dead message by id.
func storedMessages(t *testing.T, dir string) map[string]stored {
	t.Helper()
	box, err := outbox.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	out := map[string]stored{}
	for _, m := range box.Pending() {
		out[m.ID] = stored{m, filepath.Join(dir, m.ID+".d")}
	}
	dead, err := box.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dead {
		out[d.ID] = stored{d.Message, filepath.Join(dir, "dead", d.ID+".d")}
	}
	return out
}

// picture reads picture i of m and checks it is what m's record says.
func (m stored) picture(t *testing.T, i int) []byte {
	t.Helper()
	if len(m.Images) <= i {
		t.Fatalf("message %s %q has %d pictures, want picture %d", m.ID, m.Text, len(m.Images), i+1)
	}
	im := m.Images[i]
	data, err := os.ReadFile(filepath.Join(m.pics, im.Name))
	if err != nil {
		t.Fatal(err)
	}
	info, err := media.ProbeReaderAt(bytes.NewReader(data), int64(len(data)))
	if err != nil || int64(len(data)) != im.Size || info.Format.MIMEType() != im.Type || info.Width != im.Width || info.Height != im.Height {
		t.Fatalf("picture %s of %s: %d bytes probed as %+v (%v); the record says %+v", im.Name, m.ID, len(data), info, err, im)
	}
	return data
}

// syncBuffer is a log every goroutine may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logTo has the daemon log to the test and to buf.
func logTo(t *testing.T, buf *syncBuffer) func(*Options) {
	return func(o *Options) {
		o.Log = slog.New(slog.NewTextHandler(io.MultiWriter(buf, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

func (d *liveDaemon) stateDir() string { return filepath.Join(filepath.Dir(d.config), "state") }

// A press of a button with a photo is answered once its photo is in the
// outbox with its text; while the camera takes its time, the daemon's
// other buttons and its control socket carry on; the presses of one
// button are queued in the order they came, the board's and the control
// socket's alike; a long press takes no photo and waits its turn.
func TestDaemonPhotoPress(t *testing.T) {
	cam := newShutter(t)
	_, card := testCard(t, t.TempDir())
	d := startDaemonWith(t, "real", fmt.Sprintf(`
[[button]]
name = "doorbell"
pin = "GPIO17"
text = "Ding {{.Count}}"
long_press = "400ms"
long_text = "Long ding {{.Count}}"
photo = ["cat", %q]
alt = 'Doorstep after ring {{.Count}} of {{.Button}}'

[[button]]
name = "mailbox"
pin = "GPIO22"
text = "Mail {{.Count}}"
`, cam.fifo), nil, nil)

	first := pressAsync(d.socket, "doorbell", false)
	waitPictures(t, d.socket, "waiting for the first press", func(p *PictureStatus) bool { return p.Waiting == 1 })
	second := pressAsync(d.socket, "doorbell", false)
	waitPictures(t, d.socket, "waiting for the second press", func(p *PictureStatus) bool { return p.Waiting == 2 })
	if err := d.board.Press("GPIO17"); err != nil { // the third, on the board
		t.Fatal(err)
	}
	waitPictures(t, d.socket, "waiting for the board's press", func(p *PictureStatus) bool { return p.Waiting == 3 })
	long := pressAsync(d.socket, "doorbell", true)
	waitPictures(t, d.socket, "waiting for the long press", func(p *PictureStatus) bool { return p.Waiting == 4 })

	// The camera has not answered: another button posts meanwhile.
	mail := answer(t, pressAsync(d.socket, "mailbox", false), "the mailbox press")
	if !mail.OK || mail.Text != "Mail 1" || mail.Photo != "" {
		t.Fatalf("mailbox press while the camera is busy: %+v", mail)
	}
	if tw := waitTweets(t, d.x, 1); tw[0].Text != "Mail 1" {
		t.Fatalf("tweet %q, want Mail 1", tw[0].Text)
	}
	select {
	case resp := <-first:
		t.Fatalf("the first press was answered before its photo was taken: %+v", resp)
	default:
	}

	var answers []*ControlResponse
	for i, ch := range []<-chan *ControlResponse{first, second} {
		cam.release(card)
		resp := answer(t, ch, fmt.Sprintf("press %d", i+1))
		if want := fmt.Sprintf("Ding %d", i+1); !resp.OK || resp.Text != want || resp.PhotoError != "" ||
			resp.Photo != fmt.Sprintf("1280x720 jpeg, %d bytes, alt \"Doorstep after ring %d of doorbell\"", len(card), i+1) {
			t.Fatalf("press %d answered %+v; want %q with its photo", i+1, resp, want)
		}
		answers = append(answers, resp)
	}
	cam.release(card) // the board's press
	lng := answer(t, long, "the long press")
	if !lng.OK || lng.Text != "Long ding 4" || lng.Photo != "" || lng.PhotoError != "" {
		t.Fatalf("long press answered %+v; want its text, no photo", lng)
	}
	p := waitPictures(t, d.socket, "all queued", func(p *PictureStatus) bool { return p.Waiting == 0 })
	if p.Photos != 3 || p.Failed != 0 {
		t.Errorf("status pictures %+v; want 3 photos, none failed", p)
	}

	// Every press is posted, the photos with their alt texts, each once.
	tweets := map[string]fakex.Tweet{}
	for _, tw := range waitTweets(t, d.x, 5) {
		if _, dup := tweets[tw.Text]; dup {
			t.Errorf("%q posted twice", tw.Text)
		}
		tweets[tw.Text] = tw
	}
	d.stop(t)
	for i, text := range []string{"Ding 1", "Ding 2", "Ding 3"} {
		media := tweets[text].Media
		if len(media) != 1 || !bytes.Equal(media[0].Data, card) {
			t.Errorf("%q posted with %d pictures, want its photo", text, len(media))
			continue
		}
		if want := fmt.Sprintf("Doorstep after ring %d of doorbell", i+1); media[0].Alt != want {
			t.Errorf("%q's alt text %q, want %q", text, media[0].Alt, want)
		}
	}
	for _, text := range []string{"Mail 1", "Long ding 4"} {
		if tw, ok := tweets[text]; !ok || len(tw.Media) != 0 {
			t.Errorf("%q: posted %v, with %d pictures; want it posted alone", text, ok, len(tw.Media))
		}
	}
	if msgs := storedMessages(t, d.stateDir()); len(msgs) != 0 {
		t.Errorf("%d messages left in the outbox or its dead letters: %+v", len(msgs), msgs)
	}
	var ids []string
	for _, a := range answers {
		ids = append(ids, a.Queued)
	}
	if ids = append(ids, lng.Queued); !slices.IsSorted(ids) {
		t.Errorf("ids %q: not in the order pressed", ids)
	}
}

// A photo that cannot be taken (the command fails, writes text, or times
// out) never costs the post: the text is queued and posted alone, the
// press's answer says why, and so do the log and the status.
func TestDaemonPhotoFails(t *testing.T) {
	var log syncBuffer
	d := startDaemonWith(t, "real", `
[[button]]
name = "broken"
pin = "GPIO17"
text = "Broken camera"
photo = ["false"]

[[button]]
name = "chatty"
pin = "GPIO22"
text = "Chatty camera"
photo = ["echo", "no picture here"]

[[button]]
name = "slow"
pin = "GPIO23"
text = "Slow camera"
photo = ["sleep", "30"]
photo_timeout = "1s"

[[button]]
name = "missing"
pin = "GPIO24"
text = "Missing camera"
photo = ["pitweet-test-no-such-camera", "-o", "-"]
`, nil, logTo(t, &log))
	if !strings.Contains(log.String(), `msg="daemon: the photo command is not found; presses are posted without a photo until it is installed" button=missing`) {
		t.Errorf("no warning at start of the missing photo command:\n%s", log.String())
	}
	for _, tt := range []struct{ button, text, why string }{
		{"broken", "Broken camera", `media: photo command "false" failed (exit status 1)`},
		{"chatty", "Chatty camera", `media: photo command "echo" wrote 16 bytes that are not a JPEG or PNG picture`},
		{"slow", "Slow camera", `media: photo command "sleep" timed out after 1s and was killed`},
		{"missing", "Missing camera", `media: photo command "pitweet-test-no-such-camera" not found`},
	} {
		resp := answer(t, pressAsync(d.socket, tt.button, false), tt.button)
		if !resp.OK || resp.Text != tt.text || resp.Photo != "" || !strings.HasPrefix(resp.PhotoError, tt.why) {
			t.Errorf("press %s answered %+v; want %q queued without a photo because %s", tt.button, resp, tt.text, tt.why)
		}
	}
	tweets := waitTweets(t, d.x, 4)
	for i, want := range []string{"Broken camera", "Chatty camera", "Slow camera", "Missing camera"} {
		if tweets[i].Text != want {
			t.Errorf("tweet %d %q, want %q", i+1, tweets[i].Text, want)
		}
	}
	p := waitPictures(t, d.socket, "failed", func(p *PictureStatus) bool { return p.Failed == 4 })
	if p.Photos != 0 || p.LastFailure == nil || p.LastFailure.Source != "button missing" || !strings.Contains(p.LastFailure.Error, "not found") {
		t.Errorf("status pictures %+v", p)
	}
	if n := strings.Count(log.String(), `msg="daemon: the photo could not be made; its text is queued alone"`); n != 4 {
		t.Errorf("%d log lines about a photo not made, want 4:\n%s", n, log.String())
	}
}

// A press still waiting for its photo when pitweet stops is queued: with
// its photo if the camera answers within the grace, else without.
func TestDaemonPhotoAtShutdown(t *testing.T) {
	old := pictureGrace
	pictureGrace = 300 * time.Millisecond
	t.Cleanup(func() { pictureGrace = old })
	cam := newShutter(t)
	d := startDaemonWith(t, "real", fmt.Sprintf(`
[[button]]
name = "doorbell"
pin = "GPIO17"
text = "Ding {{.Count}}"
photo = ["cat", %q]
`, cam.fifo), nil, nil)
	if err := d.board.Press("GPIO17"); err != nil {
		t.Fatal(err)
	}
	waitPictures(t, d.socket, "waiting for the press", func(p *PictureStatus) bool { return p.Waiting == 1 })
	d.stop(t) // the camera never answers

	msgs := storedMessages(t, d.stateDir())
	if len(msgs) != 1 {
		t.Fatalf("outbox holds %+v, want the press", msgs)
	}
	for _, m := range msgs {
		if m.Text != "Ding 1" || len(m.Images) != 0 {
			t.Errorf("queued %q with %d pictures; want the text alone", m.Text, len(m.Images))
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(d.stateDir(), ".tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("left %q in the spool", leftovers)
	}
}

// A press that waited for the camera longer than its timeout goes without
// its photo, and the camera is not run for it.
func TestTakePhotoAfterLongWait(t *testing.T) {
	d := &runner{log: testLog(t)}
	d.pics.init(t.TempDir())
	ran := filepath.Join(t.TempDir(), "ran")
	j := &pictureJob{at: time.Now().Add(-3 * time.Second), photo: &photoJob{camera: media.Camera{Command: []string{"touch", ran}, Timeout: 2 * time.Second}}}
	_, err := d.takePhoto(j)
	if err == nil || !strings.Contains(err.Error(), "daemon: not taken: the camera was busy with earlier presses for 3") || !strings.Contains(err.Error(), "longer than photo_timeout") {
		t.Errorf("takePhoto = %v", err)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the camera ran")
	}
}

// A report's and an alert's charts are queued with their posts: a PNG
// drawn from the history, with the rule's alt text or one describing it.
func TestDaemonQueuesCharts(t *testing.T) {
	var log syncBuffer
	d := startDaemonWith(t, "fake", `
[[sensor]]
name = "room"
type = "bme280"
address = 0x76
history = "1s"

[[report]]
every = "2s"
text = "Room at {{.Sensors.room.Temperature}}"
chart = "1h"
alt = 'The room over the hour, {{.Sensors.room.Temperature}} now'

[[alert]]
when = "room.Temperature > 0"
text = "Warm"
chart = "1h"
`, nil, logTo(t, &log))
	waitPictures(t, d.socket, "charts queued", func(p *PictureStatus) bool { return p.Charts >= 2 })
	// The charts are posted with their texts.
	var report, alert *fakex.Tweet
	for n := 1; report == nil || alert == nil; n++ {
		tw := waitTweets(t, d.x, n)[n-1]
		switch {
		case strings.HasPrefix(tw.Text, "Room at") && report == nil:
			report = &tw
		case tw.Text == "Warm" && alert == nil:
			alert = &tw
		}
	}
	d.stop(t)
	if strings.Contains(log.String(), "not attached") {
		t.Errorf("the log says charts are not attached:\n%s", log.String())
	}
	for _, tw := range []*fakex.Tweet{report, alert} {
		if len(tw.Media) != 1 {
			t.Errorf("%q posted with %d pictures, want its chart", tw.Text, len(tw.Media))
			continue
		}
		img, err := png.Decode(bytes.NewReader(tw.Media[0].Data))
		if err != nil || img.Bounds().Dx() != 1200 || img.Bounds().Dy() != 675 {
			t.Errorf("%q's chart: %v %v", tw.Text, err, img.Bounds())
		}
	}
	if len(report.Media) == 1 && report.Media[0].Alt != "The room over the hour, 21.5 °C now" {
		t.Errorf("report's alt %q", report.Media[0].Alt)
	}
	if len(alert.Media) == 1 && !strings.HasPrefix(alert.Media[0].Alt, "Line chart of room temperature over the last") {
		t.Errorf("alert's alt %q, want a description of the chart", alert.Media[0].Alt)
	}
}

// With fake hardware the simulated camera (Options.FakeCamera) runs in
// place of the configured command, through the same capture.
func TestDaemonFakeCamera(t *testing.T) {
	path, card := testCard(t, t.TempDir())
	d := startDaemonWith(t, "fake", `
[[button]]
name = "doorbell"
pin = "GPIO17"
text = "Ding {{.Count}}"
photo = ["rpicam-still", "-n", "-t", "1", "-o", "-"]
`, nil, func(o *Options) { o.FakeCamera = []string{"cat", path} })
	resp := answer(t, pressAsync(d.socket, "doorbell", false), "the press")
	if !resp.OK || !strings.HasPrefix(resp.Photo, fmt.Sprintf("1280x720 jpeg, %d bytes", len(card))) {
		t.Fatalf("press answered %+v; want the simulated camera's photo", resp)
	}
	tw := waitTweets(t, d.x, 1)[0]
	d.stop(t)
	if len(tw.Media) != 1 || !bytes.Equal(tw.Media[0].Data, card) {
		t.Fatalf("posted with %d pictures; want the simulated camera's photo", len(tw.Media))
	}
	if _, err := jpeg.Decode(bytes.NewReader(tw.Media[0].Data)); err != nil {
		t.Errorf("the photo does not decode: %v", err)
	}
}

// The chart job renders the rule's alt with what its text saw; without
// one the chart describes itself.
func TestChartJobAlt(t *testing.T) {
	cfg, err := config.Parse([]byte(`
[hardware]
mode = "fake"
[[sensor]]
name = "room"
type = "aht20"
[[report]]
every = "1h"
text = "{{.Sensors.room.Temperature}}"
chart = "3h"
alt = '{{printf "%01100d" 0}}'
`), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	d := &runner{cfg: cfg, log: testLog(t)}
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	c, err := d.chartJob(cfg.Reports[0].Chart, cfg.SampleData(""), at)
	if err != nil || len([]rune(c.alt)) != 1000 || !c.from.Equal(at.Add(-3*time.Hour)) || !c.to.Equal(at) ||
		strings.Join(c.names, ",") != "room.Temperature,room.Humidity" {
		t.Errorf("chart job %+v, %v; want the last 3h of room, its alt cut to 1000 characters", c, err)
	}
}

// BenchmarkPhotoPress queues presses with a photo as a button's lane
// does, one at a time, with a camera that writes a stored test card
// (cat): the capture into the spool, the probe, the photo moved into the
// outbox and the message written, every step fsync'd. No delivery runs,
// so the fsyncs are the press's alone. Count them with strace, over 100
// and 200 presses (the difference over 100 is one press's):
//
//	go test -c -o /tmp/daemon.test ./daemon
//	strace -f -c -e trace=fsync,fdatasync /tmp/daemon.test -test.run '^$' -test.bench PhotoPress -test.benchtime 100x
//	strace -f -c -e trace=fsync,fdatasync /tmp/daemon.test -test.run '^$' -test.bench PhotoPress -test.benchtime 200x
func BenchmarkPhotoPress(b *testing.B) {
	dir := b.TempDir()
	card, _ := testCard(b, dir)
	spool := filepath.Join(dir, "state")
	box, err := outbox.Open(spool, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()
	d := &runner{box: box, log: discardLog(), dirty: make(chan struct{}, 1)}
	d.pics.init(spool)
	cam := media.Camera{Command: []string{"cat", card}, Timeout: 10 * time.Second, MaxBytes: outbox.MaxPictureSize}
	for i := 0; b.Loop(); i++ {
		reply := make(chan ControlResponse, 1)
		d.finishPictureJob(&pictureJob{
			m:     outbox.Message{Text: fmt.Sprintf("press %d", i), Source: "button bench", Kind: "press", To: []string{"x"}},
			at:    time.Now(),
			photo: &photoJob{camera: cam, alt: "a test card"},
			reply: reply,
		})
		if resp := <-reply; !resp.OK || resp.Photo == "" {
			b.Fatalf("press %d: %+v", i, resp)
		}
	}
}

// A photo X refuses (a PNG whose header reads well but whose data does not
// decode) makes the message a dead letter with X's reason after one
// attempt: never a loop of uploads.
func TestDaemonXRefusesPicture(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.png")
	if err := os.WriteFile(broken, append(b.Bytes()[:40:40], bytes.Repeat([]byte{0x55}, 300)...), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemonWith(t, "fake", `
[[button]]
name = "doorbell"
pin = "GPIO17"
text = "Ding {{.Count}}"
photo = ["rpicam-still", "-n", "-t", "1", "-o", "-"]
`, nil, func(o *Options) { o.FakeCamera = []string{"cat", broken} })
	resp := answer(t, pressAsync(d.socket, "doorbell", false), "the press")
	if !resp.OK || resp.Photo == "" {
		t.Fatalf("press answered %+v; want it queued with its photo", resp)
	}
	st := waitStatus(t, d.socket, "the dead letter", func(s *Status) bool { return s.DeadLetters == 1 })
	dl := st.RecentDead[0]
	if dl.Text != "Ding 1" || !strings.Contains(dl.Reason, "X answered 400") || !strings.Contains(dl.Reason, "does not decode") {
		t.Errorf("dead letter %+v; want Ding 1 refused with X's reason", dl)
	}
	d.stop(t)
	uploads := 0
	for _, r := range d.x.Requests() {
		if r.Path == "/2/media/upload" {
			uploads++
		}
	}
	if uploads != 1 || len(d.x.Tweets()) != 0 {
		t.Errorf("%d uploads and %d tweets; want one refused upload and no post", uploads, len(d.x.Tweets()))
	}
}
