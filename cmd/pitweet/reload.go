package main

import (
	"fmt"
	"io"

	"pitweet/daemon"
)

// cmdReload asks the running daemon to read its config again and waits for
// the outcome, so that a config with an error fails the command (and
// `systemctl reload pitweet`, whose ExecReload= it is) instead of only
// the log saying so.
func cmdReload(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reload", stderr)
	socket := fs.String("socket", daemon.DefaultSocket(), "the daemon's control `socket`")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("takes no arguments")
	}
	resp, err := callDaemon(*socket, daemon.ControlRequest{Op: "reload"})
	if err != nil {
		return err
	}
	if !resp.OK {
		return fmt.Errorf("%s", resp.Error)
	}
	fmt.Fprintln(stdout, resp.Text)
	return nil
}
