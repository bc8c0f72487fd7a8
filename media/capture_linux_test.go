package media

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A photo command that started a child of its own (as a shell script or a
// camera helper does) is killed with its child when it times out: the
// child holds the write end of a FIFO, whose read end sees EOF when the
// child is gone.
func TestCaptureTimeoutKillsTheGroup(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "alive")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	c := helperCamera(t, "hang-child", fifo)
	c.Timeout = 500 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := c.Capture(context.Background(), t.TempDir())
		done <- err
	}()

	// Opening the read end waits for the child to open the write end.
	alive, err := os.Open(fifo)
	if err != nil {
		t.Fatal(err)
	}
	defer alive.Close()
	gone := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, alive) // EOF when no writer is left
		gone <- err
	}()

	deadline := time.After(20 * time.Second)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "timed out after 500ms and was killed") {
			t.Errorf("Capture = %v", err)
		}
	case <-deadline:
		t.Fatal("Capture did not return after its timeout")
	}
	select {
	case err := <-gone:
		if err != nil {
			t.Fatal(err)
		}
	case <-deadline:
		t.Fatal("the photo command's child outlived the timeout")
	}
}
