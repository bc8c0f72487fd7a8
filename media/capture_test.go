package media

import (
	"bytes"
	"context"
	"errors"
	"image/color"
	"image/jpeg"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"pitweet/hw/fakehw"
)

// helperCamera is a Camera whose command is this test binary in helper
// mode.
func helperCamera(t *testing.T, mode string, args ...string) Camera {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Camera{Command: append([]string{exe, "media-helper", mode}, args...)}
}

func TestCapture(t *testing.T) {
	dir := t.TempDir()
	photo, err := helperCamera(t, "card").Capture(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := fakehw.TestCard(0, 0, 7, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	got, err := os.ReadFile(photo.Path)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("the photo file holds %d bytes (%v), want the %d the command wrote", len(got), err, len(want))
	}
	if photo.Info.Format != JPEG || photo.Info.Width != 1280 || photo.Info.Height != 720 || photo.Info.Size != int64(len(want)) {
		t.Errorf("Info = %v", photo.Info)
	}
	if names := dirNames(t, dir); len(names) != 1 || !strings.HasPrefix(names[0], ".tmp-photo-") {
		t.Errorf("the directory holds %q, want one .tmp-photo-* file", names)
	}
}

// Every way a photo command fails says what failed in one line and leaves
// nothing behind.
func TestCaptureFails(t *testing.T) {
	for _, tt := range []struct {
		name   string
		camera Camera
		want   string
	}{
		{"not found", Camera{Command: []string{"pitweet-test-no-such-camera", "-o", "-"}},
			`media: photo command "pitweet-test-no-such-camera" not found: install it, or give its full path in the button's photo setting`},
		{"no command", Camera{}, "media: no photo command"},
		{"exit status", helperCamera(t, "fail"),
			`failed (exit status 3); it said "ERROR: *** no cameras available ***"`},
		{"timeout", func() Camera { c := helperCamera(t, "hang"); c.Timeout = 300 * time.Millisecond; return c }(),
			`timed out after 300ms and was killed; it said "waiting for the camera"`},
		{"too big", func() Camera { c := helperCamera(t, "flood"); c.MaxBytes = 1 << 20; return c }(),
			"wrote more than 1048576 bytes and was stopped"},
		{"nothing", helperCamera(t, "nothing"), `wrote nothing to its standard output; tell it to write the picture there (rpicam-still: "-o -")`},
		{"text", helperCamera(t, "text"), `wrote 29 bytes that are not a JPEG or PNG picture (it starts with "hello, t")`},
		{"gif", helperCamera(t, "gif"), "that are not a JPEG or PNG picture (it is a GIF)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := tt.camera.Capture(context.Background(), dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "media: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("Capture = %v\nwant one line with %s", err, tt.want)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Errorf("left %q behind", names)
			}
		})
	}
}

func TestCaptureCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := helperCamera(t, "hang")
	done := make(chan error, 1)
	dir := t.TempDir()
	go func() {
		_, err := c.Capture(ctx, dir)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Capture = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Capture did not return after its context was cancelled")
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("left %q behind", names)
	}
}

func TestTailWriter(t *testing.T) {
	w := &tailWriter{max: 16}
	for _, s := range []string{"first line\n", "second ", "line that is long\n", "\n", "last one\n\n"} {
		w.Write([]byte(s))
	}
	if len(w.buf) > 16 || w.lastLine() != "last one" {
		t.Errorf("kept %q (%d bytes), last line %q", w.buf, len(w.buf), w.lastLine())
	}
	w.Write(bytes.Repeat([]byte("x"), 100))
	if !slices.Equal(w.buf, bytes.Repeat([]byte("x"), 16)) {
		t.Errorf("kept %q", w.buf)
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// The simulated board's camera: each photo a 1280×720 JPEG test card, the
// next frame, with the bars where they belong.
func TestFakeCamera(t *testing.T) {
	cam := &fakehw.Camera{Clock: fixedClock(fakehw.Epoch)}
	first, err := cam.Photo()
	if err != nil {
		t.Fatal(err)
	}
	second, _ := cam.Photo()
	if cam.Frames() != 2 || bytes.Equal(first, second) {
		t.Errorf("%d frames; the two photos are the same: %v", cam.Frames(), bytes.Equal(first, second))
	}
	info, err := ProbeReaderAt(bytes.NewReader(first), int64(len(first)))
	if err != nil || info.Format != JPEG || info.Width != 1280 || info.Height != 720 {
		t.Fatalf("Probe = %v, %v", info, err)
	}
	m, err := jpeg.Decode(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	bars := []color.RGBA{ // 75 % white, yellow, cyan, green, magenta, red, blue
		{191, 191, 191, 255}, {191, 191, 0, 255}, {0, 191, 191, 255}, {0, 191, 0, 255},
		{191, 0, 191, 255}, {191, 0, 0, 255}, {0, 0, 191, 255},
	}
	for i, want := range bars {
		x := (2*i + 1) * 1280 / (2 * len(bars))
		r, g, b, _ := m.At(x, 200).RGBA()
		if absDiff(r>>8, uint32(want.R)) > 8 || absDiff(g>>8, uint32(want.G)) > 8 || absDiff(b>>8, uint32(want.B)) > 8 {
			t.Errorf("bar %d at x=%d is %d,%d,%d, want %v", i, x, r>>8, g>>8, b>>8, want)
		}
	}
	if _, err := fakehw.TestCard(10, 10, 1, fakehw.Epoch); err == nil {
		t.Error("TestCard made a 10×10 card")
	}
}
