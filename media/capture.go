package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Camera defaults.
const (
	DefaultCaptureTimeout  = 30 * time.Second
	DefaultCaptureMaxBytes = 32 << 20
)

// stderrTail is how much of a photo command's standard error is kept for
// the error message.
const stderrTail = 4 << 10

// Camera takes photos by running a command that writes a JPEG or PNG to
// its standard output, such as
//
//	rpicam-still -n -t 1 -o -
//
// The command runs without a shell, in a process group of its own that is
// killed as a whole when it takes too long or writes too much.
type Camera struct {
	Command  []string      // program and arguments
	Timeout  time.Duration // 0: DefaultCaptureTimeout
	MaxBytes int64         // the largest photo accepted; 0: DefaultCaptureMaxBytes
}

// Photo is a picture Capture took.
type Photo struct {
	Path string // a temporary file in the directory given to Capture
	Info Info
}

// Capture runs the command and writes what it prints to a temporary file
// in dir (named .tmp-photo-*, fsynced; the caller renames it into place or
// removes it). The output must be a JPEG or a PNG. Errors say what failed:
// the command was not found, timed out, exited with an error (with the last
// line it wrote to standard error), wrote nothing, too much, or not a
// picture.
func (c Camera) Capture(ctx context.Context, dir string) (Photo, error) {
	if len(c.Command) == 0 || c.Command[0] == "" {
		return Photo{}, errors.New("media: no photo command")
	}
	name := c.Command[0]
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCaptureTimeout
	}
	maxBytes := c.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultCaptureMaxBytes
	}

	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, name, c.Command[1:]...)
	ownProcessGroup(cmd)
	// A child the command left behind may hold standard error open: do
	// not wait for it longer than this once the command has exited.
	cmd.WaitDelay = 2 * time.Second
	stderr := &tailWriter{max: stderrTail}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Photo{}, fmt.Errorf("media: photo command %q: %w", name, err)
	}
	f, err := createTemp(dir, "photo")
	if err != nil {
		return Photo{}, err
	}
	if err := cmd.Start(); err != nil {
		discard(f)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return Photo{}, fmt.Errorf("media: photo command %q not found: install it, or give its full path in the button's photo setting", name)
		}
		return Photo{}, fmt.Errorf("media: photo command %q cannot be started: %w", name, err)
	}
	// Killing the group ends the command; closing our end of the pipe
	// also ends the copy if something outside the group still holds the
	// other end.
	stop := context.AfterFunc(runCtx, func() { stdout.Close() })
	defer stop()

	n, copyErr := io.Copy(f, io.LimitReader(stdout, maxBytes+1))
	tooBig := n > maxBytes
	if tooBig {
		cancel()
	}
	waitErr := cmd.Wait()
	if errors.Is(waitErr, exec.ErrWaitDelay) {
		waitErr = nil // it exited well; a child of it still holds standard error
	}

	fail := func(format string, args ...any) (Photo, error) {
		discard(f)
		msg := fmt.Sprintf("media: photo command %q ", name) + fmt.Sprintf(format, args...)
		if line := stderr.lastLine(); line != "" {
			msg += fmt.Sprintf("; it said %q", line)
		}
		return Photo{}, errors.New(msg)
	}
	switch {
	case ctx.Err() != nil:
		discard(f)
		return Photo{}, fmt.Errorf("media: photo command %q stopped: %w", name, ctx.Err())
	case tooBig:
		return fail("wrote more than %d bytes and was stopped; is it writing a video or a raw image?", maxBytes)
	case runCtx.Err() != nil:
		return fail("timed out after %s and was killed", timeout)
	case waitErr != nil:
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			return fail("failed (%s)", ee)
		}
		return fail("failed: %v", waitErr)
	case copyErr != nil:
		return fail("could not be read: %v", copyErr)
	case n == 0:
		return fail(`wrote nothing to its standard output; tell it to write the picture there (rpicam-still: "-o -")`)
	}
	info, err := ProbeReaderAt(f, n)
	if err == nil && info.Format != JPEG && info.Format != PNG {
		err = fmt.Errorf("it is a %s", info.Format)
	}
	if err != nil {
		var ni *notImageError
		if errors.As(err, &ni) {
			err = errors.New(ni.reason)
		}
		return fail("wrote %d bytes that are not a JPEG or PNG picture (%v)", n, err)
	}
	if err := f.Sync(); err != nil {
		return fail("wrote a photo that could not be saved: %v", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return Photo{}, fmt.Errorf("media: saving the photo: %w", err)
	}
	return Photo{Path: f.Name(), Info: info}, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if len(t.buf)+len(p) > t.max {
		keep := t.max - len(p)
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-keep:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// lastLine returns the last line that is not blank, at most 300 bytes of
// it.
func (t *tailWriter) lastLine() string {
	b := bytes.TrimRight(t.buf, " \t\r\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
