package main

import (
	"fmt"
	"io"
	"time"

	"pitweet/daemon"
)

// printAccounts prints a line for each destination that logs in to an
// account (Bluesky): its session, where it posts, and the rate limit its
// last answer stated.
func printAccounts(w io.Writer, s *daemon.Status, at func(time.Time) string) {
	header := false
	for _, d := range s.Destinations {
		a := d.Account
		if a == nil {
			continue
		}
		if !header {
			fmt.Fprintln(w, "accounts:")
			header = true
		}
		line := fmt.Sprintf("  %-9s %s", d.Name+":", daemon.Printable(a.Session))
		if a.LoggedIn && a.Server != "" {
			line += "; posts to " + daemon.Printable(a.Server)
		}
		if rl := a.RateLimit; rl != nil {
			line += "; rate limit"
			if rl.Remaining >= 0 && rl.Limit >= 0 {
				line += fmt.Sprintf(" %d of %d left", rl.Remaining, rl.Limit)
			}
			if !rl.Reset.IsZero() {
				line += ", renewed " + at(rl.Reset)
			}
			if rl.Policy != "" {
				line += " (" + daemon.Printable(rl.Policy) + ")"
			}
		}
		fmt.Fprintln(w, line)
	}
}
