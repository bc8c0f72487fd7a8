package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/user"
	"strings"
	"time"

	"pitweet/daemon"
)

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	socket := fs.String("socket", daemon.DefaultSocket(), "the daemon's control `socket`")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("takes no arguments")
	}
	resp, err := callDaemon(*socket, daemon.ControlRequest{Op: "status"})
	if err != nil {
		return err
	}
	if !resp.OK || resp.Status == nil {
		return fmt.Errorf("the daemon refused: %s", resp.Error)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(resp.Status)
	}
	printStatus(stdout, resp.Status)
	return nil
}

// callDaemon sends req over the control socket, turning "nobody listens"
// and "permission denied" into the one line the user needs.
func callDaemon(socket string, req daemon.ControlRequest) (*daemon.ControlResponse, error) {
	resp, err := daemon.Call(socket, req)
	switch {
	case errors.Is(err, daemon.ErrNoDaemon):
		return nil, fmt.Errorf("no daemon is listening on %s (is pitweet running? systemctl status pitweet)", socket)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("permission denied on %s; %s", socket, accessHint(socket))
	}
	return resp, err
}

// accessHint says how to be let in to the control socket: as root, as the
// daemon's user, or as a member of its group (the socket is 0660 and its
// directory 0750).
func accessHint(socket string) string {
	owner, group, ok := socketAccess(socket)
	switch {
	case !ok:
		return "run pitweet as root (sudo), or join the daemon's group"
	case owner == "root" && group == "root":
		return "the daemon runs as root: run pitweet as root too (sudo)"
	}
	me := "$USER"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	return fmt.Sprintf("run pitweet as root (sudo) or as user %s, or join group %s: sudo adduser %s %s, then log in again",
		owner, group, me, group)
}

func printStatus(w io.Writer, s *daemon.Status) {
	at := func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }
	// What X or a sensor said, and the texts, stay on their line.
	line := daemon.Printable
	fmt.Fprintf(w, "pitweet: running for %s (pid %d, %s hardware)\n", time.Duration(s.Uptime), s.PID, s.Hardware)
	if s.HardwareError != "" {
		fmt.Fprintf(w, "hardware:     NOT OPEN, trying again at %s: %s\n", at(s.HardwareRetry), line(s.HardwareError))
	}
	delivery := s.Delivery
	if !s.NextAttempt.IsZero() {
		delivery += " until " + at(s.NextAttempt)
	}
	fmt.Fprintf(w, "queue:        %d waiting; %s\n", s.Queue, delivery)
	if !s.RateLimited.IsZero() {
		fmt.Fprintf(w, "rate limit:   waiting until %s\n", at(s.RateLimited))
	} else {
		fmt.Fprintf(w, "rate limit:   none\n")
	}
	printSpend(w, s.Spend, at)
	clock := "ok"
	if !s.Clock.Plausible {
		clock = "NOT SET (waiting for NTP before posting)"
	}
	if s.Clock.Offset != 0 {
		clock += fmt.Sprintf(", X's clock is %s ahead of ours", time.Duration(s.Clock.Offset).Round(time.Second))
	}
	fmt.Fprintf(w, "clock:        %s, %s\n", at(s.Clock.Now), clock)
	if s.LastSuccess != nil {
		fmt.Fprintf(w, "last posted:  %s %s from %s\n", at(s.LastSuccess.At), line(postedAs(s.LastSuccess)), s.LastSuccess.Source)
	} else {
		fmt.Fprintf(w, "last posted:  nothing yet\n")
	}
	if s.LastError != nil {
		fmt.Fprintf(w, "last error:   %s %s%s: %s\n", at(s.LastError.At), s.LastError.Source, onDestination(s, s.LastError.Destination), line(s.LastError.Error))
	}
	if len(s.Destinations) == 1 && s.Destinations[0].Limits != "" {
		fmt.Fprintf(w, "limits:       %s\n", line(s.Destinations[0].Limits))
	}
	if len(s.Destinations) > 1 {
		fmt.Fprintf(w, "destinations:\n")
		for _, d := range s.Destinations {
			printDestination(w, d, at)
		}
	}
	printAccounts(w, s, at)
	fmt.Fprintf(w, "dead letters: %d\n", s.DeadLetters)
	for _, d := range s.RecentDead {
		var posted []string
		for _, o := range d.Outcomes {
			if o.Posted {
				posted = append(posted, o.Destination)
			}
		}
		also := ""
		if len(posted) > 0 {
			also = "; posted on " + strings.Join(posted, ", ")
		}
		fmt.Fprintf(w, "  %s %s %q: %s%s\n", at(d.At), d.Source, clipText(d.Text, 40), line(d.Reason), also)
	}
	if len(s.Buttons) > 0 {
		fmt.Fprintf(w, "buttons:      %s\n", strings.Join(s.Buttons, ", "))
	}
	for _, b := range s.ButtonErrors {
		fmt.Fprintf(w, "  %s FAILING: %s\n", b.Name, line(strings.TrimPrefix(b.Error, "hw: ")))
	}
	if len(s.Sensors) == 0 {
		fmt.Fprintf(w, "sensors:      none\n")
	} else {
		fmt.Fprintf(w, "sensors:\n")
	}
	for _, ss := range s.Sensors {
		text := "  " + ss.Name + " (" + ss.Type + "):"
		if ss.At.IsZero() {
			text += " no reading yet"
		} else {
			for _, q := range sortedKeys(ss.Values) {
				text += fmt.Sprintf(" %s=%g", q, ss.Values[q])
			}
			text += fmt.Sprintf(" (%s ago)", s.Clock.Now.Sub(ss.At).Round(time.Second))
		}
		if ss.Error != "" {
			text += "; FAILED, last read: " + line(strings.TrimPrefix(ss.Error, "hw: "))
		}
		fmt.Fprintln(w, text)
	}
	if m := s.MQTT; m != nil {
		fmt.Fprintln(w, mqttLine(m, at))
	}
	if h := s.History; h != nil {
		if strings.HasPrefix(h.Error, "not recorded") {
			fmt.Fprintf(w, "history:      %s\n", h.Error)
		} else {
			line := fmt.Sprintf("history:      %d quantities recorded in %s, %s on disk, %d samples to write", h.Recording, h.Dir, kib(h.Bytes), h.Pending)
			if h.Error != "" {
				line += "; last write failed: " + h.Error
			}
			fmt.Fprintln(w, line)
		}
	}
	if p := s.Pictures; p != nil {
		text := fmt.Sprintf("pictures:     %s, %s queued with their posts", howMany(p.Photos, "photo"), howMany(p.Charts, "chart"))
		if p.Waiting > 0 {
			text += fmt.Sprintf("; %d being made", p.Waiting)
		}
		if p.Failed > 0 {
			text += fmt.Sprintf("; %s failed (the texts posted without)", howMany(p.Failed, "picture"))
		}
		fmt.Fprintln(w, text)
		if f := p.LastFailure; f != nil {
			fmt.Fprintf(w, "  last failed %s %s: %s\n", at(f.At), f.Source, line(trimPackage(f.Error)))
		}
	}
}

// howMany is "1 photo", "2 photos".
func howMany(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// trimPackage drops the package name an error starts with.
func trimPackage(msg string) string {
	for _, pkg := range []string{"daemon: ", "media: ", "outbox: "} {
		msg = strings.TrimPrefix(msg, pkg)
	}
	return msg
}

// mqttLine says how pitweet stands on the broker: connected or not, where
// it publishes, whether it takes commands or forwards, and what waits.
func mqttLine(m *daemon.MQTTStatus, at func(time.Time) string) string {
	var b strings.Builder
	if m.Connected {
		fmt.Fprintf(&b, "mqtt:         connected to %s as %s", m.Broker, m.ClientID)
	} else {
		fmt.Fprintf(&b, "mqtt:         NOT CONNECTED to %s as %s", m.Broker, m.ClientID)
	}
	if !m.Since.IsZero() {
		b.WriteString(" since " + at(m.Since))
	}
	if !m.Connected && m.LastError != "" {
		b.WriteString(": " + daemon.Printable(strings.TrimPrefix(m.LastError, "gateway: ")))
	}
	b.WriteString("; publishing on " + m.TopicPrefix)
	if m.Commands {
		b.WriteString(", commands on " + m.TopicPrefix + "/post")
	}
	if m.Forward != "" {
		b.WriteString(", forwarding to " + m.Forward + "/post")
	}
	if m.Queued > 0 || m.Dropped > 0 {
		fmt.Fprintf(&b, "; %d presses and results waiting for the broker", m.Queued)
		if m.Dropped > 0 {
			fmt.Fprintf(&b, ", %d dropped while it was away", m.Dropped)
		}
	}
	return b.String()
}

// kib prints a size in KiB, or MiB from 10 MiB.
func kib(n int64) string {
	if n >= 10<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (n+1023)/1024)
}

// postedAs says what a destination posted: "tweet 1234" on X, "mastodon
// https://…" elsewhere.
func postedAs(p *daemon.Success) string {
	ref := p.Ref
	if ref == "" {
		ref = "(already posted by an earlier attempt)"
	}
	if p.Destination == "x" || p.Destination == "" {
		return "tweet " + ref
	}
	return p.Destination + " " + ref
}

// onDestination is " on NAME" when the daemon posts to several
// destinations.
func onDestination(s *daemon.Status, name string) string {
	if len(s.Destinations) > 1 && name != "" {
		return " on " + name
	}
	return ""
}

// printDestination prints the one line of a destination: its queue, what
// its delivery does, and its last result.
func printDestination(w io.Writer, d daemon.DestinationStatus, at func(time.Time) string) {
	line := fmt.Sprintf("  %-9s %d waiting; %s", d.Name+":", d.Queue, d.Delivery)
	if !d.NextAttempt.IsZero() {
		line += " until " + at(d.NextAttempt)
	}
	if !d.RateLimited.IsZero() {
		line += "; rate limited until " + at(d.RateLimited)
	}
	if d.LastSuccess != nil {
		line += "; last posted " + at(d.LastSuccess.At)
		if d.LastSuccess.Ref != "" {
			line += " (" + daemon.Printable(d.LastSuccess.Ref) + ")"
		}
	}
	if d.LastError != nil && (d.LastSuccess == nil || d.LastError.At.After(d.LastSuccess.At)) {
		line += "; last error " + at(d.LastError.At) + ": " + daemon.Printable(d.LastError.Error)
	}
	if d.Limits != "" {
		line += "; limits: " + daemon.Printable(d.Limits)
	}
	fmt.Fprintln(w, line)
}

func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
