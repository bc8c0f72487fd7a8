package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"pitweet/config"
	"strings"
	"syscall"
	"time"
	"unicode"

	"pitweet/daemon"
	"pitweet/sender"
)

// cmdLogin runs X's PIN-based OAuth 1.0a flow for the app whose keys are
// in the credentials file (or PITWEET_API_KEY and PITWEET_API_SECRET): it
// gets a request token, shows the page where the user authorizes the app,
// reads the PIN X then shows from standard input, exchanges it for the
// account's access token, and writes that into the credentials file.
func cmdLogin(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("login", stderr)
	xf := xFlags{}
	fs.StringVar(&xf.config, "config", config.DefaultPath, "configuration `file`")
	timeout := fs.Duration("timeout", sender.DefaultTimeout, "give up on each request to X after this long")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("takes no arguments; the PIN is read from standard input")
	}
	cfg, err := xf.loadConfig()
	if err != nil {
		return err
	}
	// Before X is asked anything: can the keys be written, and are the
	// app's keys there?
	file, err := config.OpenCredentialsFile(cfg.X.Credentials)
	if err != nil {
		return err
	}
	key, secret, _, err := file.AppKeys()
	if err != nil {
		return err
	}
	login, err := sender.NewLogin(sender.Config{
		BaseURL:   cfg.X.BaseURL,
		CAFile:    cfg.X.CAFile,
		Timeout:   *timeout,
		UserAgent: "pitweet/" + version,
	}, key, secret)
	if err != nil {
		return err
	}
	defer login.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rt, err := withClockRetry(login, stderr, func() (*sender.RequestToken, error) { return login.RequestToken(ctx) })
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Open this page in a browser, sign in to X as the account pitweet should post as, and authorize the app:\n\n    %s\n\n", login.AuthorizeURL(rt))
	pin, err := readPIN(ctx, os.Stdin, stdout)
	if err != nil {
		return err
	}
	at, err := withClockRetry(login, stderr, func() (*sender.AccessToken, error) { return login.AccessToken(ctx, rt, pin) })
	if err != nil {
		return err
	}

	// The file gets the access token and, when the environment gave the
	// app's keys and the file has others, those too: the four keys belong
	// together.
	keys := []config.KeyValue{{Key: "access_token", Value: at.Token}, {Key: "access_secret", Value: at.Secret}}
	if file.Get("api_key") != key {
		keys = append(keys, config.KeyValue{Key: "api_key", Value: key})
	}
	if file.Get("api_secret") != secret {
		keys = append(keys, config.KeyValue{Key: "api_secret", Value: secret})
	}
	if err := file.Update(keys); err != nil {
		return fmt.Errorf("%w; X gave the access token, but it was not saved: run pitweet login again once that is fixed", err)
	}
	next := "pitweet tweet uses them now, and the service from its next start (sudo systemctl restart pitweet)"
	if daemonRunning() {
		next = "the running daemon still has the old ones: restart it to use them: sudo systemctl restart pitweet"
	}
	fmt.Fprintf(stdout, "Logged in as @%s; the keys are in %s; %s\n", at.ScreenName, file.Path, next)
	return nil
}

// withClockRetry runs step; when X refuses its timestamp and its Date
// header says by how much the clock is off, it corrects the signing clock
// by that and runs step once more, as tweet does.
func withClockRetry[T any](login *sender.Login, stderr io.Writer, step func() (T, error)) (T, error) {
	v, err := step()
	var apiErr *sender.APIError
	if errors.As(err, &apiErr) && apiErr.Kind == sender.KindClockSkew && !apiErr.Meta.Date.IsZero() {
		offset := time.Until(apiErr.Meta.Date).Round(time.Second)
		fmt.Fprintf(stderr, "pitweet login: X says our clock is off; its Date header is %s away from ours: retrying once with that correction (fix the clock: timedatectl)\n", offset)
		login.SetClockOffset(offset)
		v, err = step()
	}
	return v, err
}

// maxPINTries is how often a terminal is asked again for a PIN that is
// not one; a pipe gets one chance.
const maxPINTries = 3

// readPIN prompts for the PIN and reads it from in: a line of digits,
// spaces anywhere and the line end ignored. From a terminal, a line that
// is not a PIN is asked again. The read ends early when ctx does
// (Ctrl-C).
func readPIN(ctx context.Context, in *os.File, stdout io.Writer) (string, error) {
	terminal := isTerminal(in)
	lines := make(chan pinLine)
	go readLines(in, lines)
	for try := 1; ; try++ {
		fmt.Fprint(stdout, "Then type the PIN X shows: ")
		var l pinLine
		select {
		case l = <-lines:
		case <-ctx.Done():
			fmt.Fprintln(stdout)
			return "", errors.New("interrupted before the PIN was typed; nothing was written")
		}
		if !terminal {
			fmt.Fprintln(stdout) // the PIN was not echoed: end the prompt's line
		}
		pin := strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, l.text)
		switch {
		case l.err != nil && l.err != io.EOF:
			return "", fmt.Errorf("read the PIN: %w", l.err)
		case l.tooLong:
			return "", errors.New("the PIN is the 7-digit number X shows, not a long line; run pitweet login again")
		case pin == "" && l.err == io.EOF:
			if terminal {
				fmt.Fprintln(stdout) // after Ctrl-D
			}
			return "", errors.New("no PIN on standard input; run pitweet login again and type the PIN X shows once you authorize the app")
		case isPIN(pin):
			return pin, nil
		case !terminal || try == maxPINTries || l.err == io.EOF:
			return "", errors.New("that is not a PIN: X shows a number of about 7 digits once you authorize the app; run pitweet login again and type it")
		}
		fmt.Fprintln(stdout, "That is not a PIN: X shows a number of about 7 digits once you authorize the app.")
	}
}

// isPIN reports whether s is a plausible PIN: digits only, and not too
// many of them.
func isPIN(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// maxPINLine bounds a line read for the PIN.
const maxPINLine = 256

type pinLine struct {
	text    string
	tooLong bool
	err     error // io.EOF: the input ended (text may hold its last line)
}

// readLines sends in's lines on out until the input ends or fails. It
// is left blocked in a read when the command ends without needing more.
func readLines(in io.Reader, out chan<- pinLine) {
	br := bufio.NewReaderSize(in, maxPINLine)
	for {
		line, err := br.ReadSlice('\n')
		l := pinLine{text: string(line), err: err}
		if errors.Is(err, bufio.ErrBufferFull) {
			l = pinLine{tooLong: true}
		}
		out <- l
		if err != nil {
			return
		}
	}
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// daemonRunning reports whether a daemon answers on the default control
// socket.
func daemonRunning() bool {
	c, err := net.DialTimeout("unix", daemon.DefaultSocket(), time.Second)
	if err != nil {
		return errors.Is(err, syscall.EACCES)
	}
	c.Close()
	return true
}
