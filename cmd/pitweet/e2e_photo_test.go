package main

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"pitweet/daemon"
	"pitweet/media"
	"pitweet/outbox"
)

// porchButton is a button with a photo; each press's text is its own.
const porchButton = `
[[button]]
name = "porch"
pin = "GPIO23"
text = "Someone at the porch at {{.Time.Format \"15:04:05.000000\"}}"
photo = ["rpicam-still", "-n", "-t", "1", "-o", "-"]
photo_timeout = "1s"
`

// With fake hardware the photo comes from the simulated camera, through a
// process of its own; a capture that fails (the command exits 1, hangs
// past photo_timeout, or writes text) posts the text alone, and the press's
// answer, the log and the status say why.
func TestE2EPhotoCapture(t *testing.T) {
	t.Parallel()
	e := newE2E(t, "127.0.0.1:0", porchButton)
	e.start()
	out, errOut, code := e.pitweet("press", "porch")
	if code != 0 || !strings.Contains(out, "\nwith a photo: 1280x720 jpeg, ") || !strings.Contains(out, `alt "Photo taken when the porch button was pressed, at `) {
		t.Fatalf("press: exit %d\n%s%s", code, out, errOut)
	}
	frames, err := os.ReadFile(filepath.Join(filepath.Dir(e.socket), "fake-camera.frames"))
	if err != nil || len(frames) != 1 {
		t.Errorf("frame counter %q (%v), want one frame", frames, err)
	}
	if !strings.Contains(e.log.String(), "daemon: with fake hardware, photos come from the simulated camera") {
		t.Errorf("the log does not say where photos come from")
	}
	// Posted with its photo and alt text.
	tw := e.waitTweets(1)[0]
	if len(tw.Media) != 1 || tw.Media[0].Type != "image/jpeg" || tw.Media[0].Width != 1280 || tw.Media[0].Height != 720 ||
		!strings.HasPrefix(tw.Media[0].Alt, "Photo taken when the porch button was pressed, at ") {
		t.Errorf("the press was posted with %+v; want its photo and alt text", tw.Media)
	}
	if err := e.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	posted := 1
	for _, tt := range []struct{ mode, why string }{
		{"fail", `without a photo, which could not be taken: photo command "` + e.bin + `" failed (exit status 1); it said "pitweet fake-camera: ERROR: *** no cameras available ***"`},
		{"hang", `without a photo, which could not be taken: photo command "` + e.bin + `" timed out after 1s and was killed; it said "waiting for the camera"`},
		{"text", `without a photo, which could not be taken: photo command "` + e.bin + `" wrote 29 bytes that are not a JPEG or PNG picture (it starts with "hello, t")`},
	} {
		e.env = []string{fakeCameraEnv + "=" + tt.mode}
		e.start()
		out, errOut, code := e.pitweet("press", "porch")
		text, _, _ := strings.Cut(strings.TrimPrefix(out, "queued "), "\n")
		_, text, _ = strings.Cut(text, ": ")
		if code != 0 || !strings.Contains(out, "\n"+tt.why+"\n") {
			t.Fatalf("%s: press: exit %d\n%s%s\nwant: %s", tt.mode, code, out, errOut, tt.why)
		}
		posted++
		if tw := e.waitTweets(posted); tw[posted-1].Text != text {
			t.Errorf("%s: tweet %q, want the press's text %q", tt.mode, tw[posted-1].Text, text)
		}
		status, _, _ := e.pitweet("status")
		if !strings.Contains(status, "pictures:     0 photos, 0 charts queued with their posts; 1 picture failed (the texts posted without)\n  last failed ") ||
			!strings.Contains(status, " button porch: photo command ") {
			t.Errorf("%s: status does not show the failure:\n%s", tt.mode, status)
		}
		if err := e.signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(e.log.String(), `msg="daemon: the photo could not be made; its text is queued alone" source="button porch"`); n != 3 {
		t.Errorf("%d log notes of a photo not taken, want 3", n)
	}
}

// Photos survive kill -9 as texts do: with the destination down, the
// button is pressed a few times at once and the daemon is killed at a
// random moment, while photos are being taken, stored, or after; then it
// starts again. Every press that was acknowledged is in the outbox with
// its photo whole; no message lacks its photo, nothing is half written,
// nothing is quarantined, and what the kills left behind is cleaned up.
func TestE2EPhotosSurviveKill(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := newE2E(t, addr, strings.Replace(porchButton, `photo_timeout = "1s"`, `photo_timeout = "10s"`, 1))
	e.x.Close()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d", seed)

	acked := map[string]string{} // id → text
	unanswered := 0
	const trials = 12
	for range trials {
		// A camera of its own speed each time.
		e.env = []string{fmt.Sprintf("%s=delay=%dms", fakeCameraEnv, rng.IntN(300))}
		e.start()
		presses := 1 + rng.IntN(4)
		answers := make(chan *daemon.ControlResponse, presses)
		for range presses {
			go func() {
				resp, err := daemon.Call(e.socket, daemon.ControlRequest{Op: "press", Button: "porch"})
				if err != nil {
					resp = nil
				}
				answers <- resp
			}()
		}
		// Not a wait for an event: it picks the moment of the kill.
		time.Sleep(time.Duration(rng.IntN(1200)) * time.Millisecond)
		if err := e.signal(syscall.SIGKILL); err == nil {
			t.Fatal("pitweet exited cleanly after SIGKILL")
		}
		for range presses {
			resp := <-answers
			switch {
			case resp == nil:
				unanswered++
			case !resp.OK || resp.Photo == "":
				t.Fatalf("a press was answered %+v; want queued with its photo", resp)
			default:
				acked[resp.Queued] = resp.Text
			}
		}
	}
	e.env = nil
	e.start() // cleans up after the last kill
	if err := e.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	log := e.log.String()
	t.Logf("%d trials: %d presses acknowledged, %d not answered before the kill; leftovers cleaned at start: %d photos or temporary files, %d picture directories of messages never written",
		trials, len(acked), unanswered, strings.Count(log, "outbox: removed leftover of an interrupted write"),
		strings.Count(log, "outbox: removed the pictures of a message that is not queued"))
	if len(acked) == 0 {
		t.Fatal("no press was acknowledged before its kill")
	}

	state := filepath.Join(e.dir, "state")
	for _, sub := range []string{".", "dead", "done"} {
		entries, err := os.ReadDir(filepath.Join(state, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range entries {
			name := en.Name()
			switch id, isPics := strings.CutSuffix(name, ".d"); {
			case strings.HasPrefix(name, "."):
				t.Errorf("%s/%s left behind", sub, name)
			case isPics:
				if _, err := os.Stat(filepath.Join(state, sub, id+".msg")); err != nil {
					t.Errorf("%s/%s has no message: %v", sub, name, err)
				}
			}
		}
	}
	if corrupt, _ := os.ReadDir(filepath.Join(state, "corrupt")); len(corrupt) != 0 {
		t.Errorf("corrupt/ holds %d files: something was stored damaged", len(corrupt))
	}

	box, err := outbox.Open(state, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	found := map[string]outbox.Message{}
	dirs := map[string]string{}
	for _, m := range box.Pending() {
		found[m.ID], dirs[m.ID] = m, filepath.Join(state, m.ID+".d")
	}
	dead, err := box.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dead {
		found[d.ID], dirs[d.ID] = d.Message, filepath.Join(state, "dead", d.ID+".d")
	}
	for id, text := range acked {
		m, ok := found[id]
		if !ok || m.Text != text {
			t.Errorf("acknowledged press %s %q is not in the outbox (found %+v)", id, text, m)
		}
	}
	for id, m := range found {
		if len(m.Images) != 1 {
			t.Errorf("message %s %q carries %d pictures, want its photo", id, m.Text, len(m.Images))
			continue
		}
		im := m.Images[0]
		data, err := os.ReadFile(filepath.Join(dirs[id], im.Name))
		if err != nil {
			t.Errorf("message %s: %v", id, err)
			continue
		}
		info, err := media.ProbeReaderAt(bytes.NewReader(data), int64(len(data)))
		if err != nil || info.Format != media.JPEG || info.Width != 1280 || info.Height != 720 || int64(len(data)) != im.Size {
			t.Errorf("message %s's photo: %d bytes, %+v, %v; record %+v", id, len(data), info, err, im)
		}
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			t.Errorf("message %s's photo does not decode whole: %v", id, err)
		}
	}
}

// BenchmarkPhotoPressAck measures, one press at a time, how long a press
// of a button with a photo takes to be answered on the control socket:
// the simulated camera run as a process (pitweet fake-camera: start, draw
// and encode a 1280x720 test card), its output probed, the photo and the
// message stored and fsync'd. It reports the median and the 99th
// percentile. Run it with:
// go test -run '^$' -bench PhotoPressAck -benchtime 100x ./cmd/pitweet
func BenchmarkPhotoPressAck(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := newE2E(b, addr, porchButton)
	e.x.Close() // the posts wait: only the presses are timed
	e.start()
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		resp, err := daemon.Call(e.socket, daemon.ControlRequest{Op: "press", Button: "porch"})
		if err != nil || !resp.OK || resp.Photo == "" {
			b.Fatalf("press: %v %+v", err, resp)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
