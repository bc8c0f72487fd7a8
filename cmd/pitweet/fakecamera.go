package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"pitweet/daemon"
	"pitweet/hw/fakehw"
)

// fakeCameraEnv makes the simulated camera misbehave, as a real one can,
// for tests: "fail" (exits 1 saying no camera is there), "hang" (never
// writes; the photo timeout kills it), "text" (writes a line of text, not
// a picture) or "delay=DURATION" (takes that long, then writes the card).
const fakeCameraEnv = "PITWEET_FAKE_CAMERA"

// framesFile is the simulated camera's frame counter in the runtime
// directory: one byte appended per photo.
const framesFile = "fake-camera.frames"

// cmdFakeCamera is the simulated board's camera: it writes the next frame
// of a test card (hw/fakehw.TestCard: colour bars, a grey ramp, the frame
// number and the time) to standard output as a JPEG. With fake hardware
// the daemon runs it in place of each button's photo command, so a photo
// goes through what a real camera's does: a process, its timeout, the
// size cap and the probe of its output. Not listed in help.
func cmdFakeCamera(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fake-camera", stderr)
	frames := fs.String("frames", "", "count the frames in this `file` (one byte appended per photo); none: every photo is frame 1")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("takes no arguments")
	}
	switch mode := os.Getenv(fakeCameraEnv); {
	case mode == "fail":
		return errors.New("ERROR: *** no cameras available ***")
	case mode == "hang":
		fmt.Fprintln(stderr, "waiting for the camera")
		select {}
	case mode == "text":
		_, err := fmt.Fprintln(stdout, "hello, this is not a picture")
		return err
	case strings.HasPrefix(mode, "delay="):
		d, err := time.ParseDuration(strings.TrimPrefix(mode, "delay="))
		if err != nil {
			return fmt.Errorf("%s=%s: %w", fakeCameraEnv, mode, err)
		}
		time.Sleep(d) // the camera taking its time
	case mode != "":
		return fmt.Errorf("%s=%q is not known; use fail, hang, text or delay=DURATION", fakeCameraEnv, mode)
	}
	frame := 1
	if *frames != "" {
		if frame, err = nextFrame(*frames); err != nil {
			return err
		}
	}
	card, err := fakehw.TestCard(0, 0, frame, time.Now())
	if err != nil {
		return err
	}
	if p, ok := stdout.(*printableWriter); ok {
		stdout = p.w // the picture's bytes, not escaped as text is
	}
	_, err = stdout.Write(card)
	return err
}

// nextFrame appends a byte to the frame counter at path and returns the
// file's length after it: the kernel appends each write whole at the end,
// so two cameras at once never get the same frame.
func nextFrame(path string) (int, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("frame counter: %w", err)
	}
	defer f.Close()
	if _, err := f.Write([]byte{'.'}); err != nil {
		return 0, fmt.Errorf("frame counter: %w", err)
	}
	end, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, fmt.Errorf("frame counter: %w", err)
	}
	return int(end), nil
}

// fakeCamera is the command the daemon runs, with fake hardware, in place
// of each photo command: this pitweet's fake-camera, counting frames in
// the runtime directory of socket. nil when the running binary cannot be
// found: the configured commands run.
func fakeCamera(socket string) []string {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	if socket == "" {
		socket = daemon.DefaultSocket()
	}
	return []string{exe, "fake-camera", "--frames", filepath.Join(filepath.Dir(socket), framesFile)}
}
