package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"pitweet/daemon"
)

func cmdPress(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("press", stderr)
	socket := fs.String("socket", daemon.DefaultSocket(), "the daemon's control `socket`")
	long := fs.Bool("long", false, "act as a long press")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("name one button")
	}
	resp, err := callDaemon(*socket, daemon.ControlRequest{Op: "press", Button: rest[0], Long: *long})
	if errors.Is(err, daemon.ErrNoAnswer) {
		// The daemon may have queued the press and died before answering:
		// pressing again could post twice.
		return fmt.Errorf("the press was sent but no answer came (%v); whether it was queued is unknown: "+
			"see `pitweet status` (queue, last posted) before pressing again, so that it is not posted twice", err)
	}
	if err != nil {
		return err
	}
	if !resp.OK {
		if len(resp.Buttons) > 0 {
			return fmt.Errorf("%s; the buttons are: %s", resp.Error, strings.Join(resp.Buttons, ", "))
		}
		return fmt.Errorf("%s", resp.Error)
	}
	fmt.Fprintf(stdout, "queued %s: %s\n", resp.Queued, resp.Text)
	switch {
	case resp.Photo != "":
		fmt.Fprintf(stdout, "with a photo: %s\n", resp.Photo)
	case resp.PhotoError != "":
		fmt.Fprintf(stdout, "without a photo, which could not be taken: %s\n", trimPackage(resp.PhotoError))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
