// Command fakex runs the local X API emulator so that other processes (the
// demo, benchmarks, fault campaigns) can post to it:
//
//	fakex -addr 127.0.0.1:0 -ca-out /tmp/fakex-ca.pem -fault 429 -count 2
//
// It prints "fakex listening on https://127.0.0.1:PORT", then one line per
// accepted tweet, and runs until SIGINT or SIGTERM. It also runs X's PIN
// login for the app: `pitweet login` against it prints the authorize page,
// which shows the PIN at once (-fault wrong-pin, expired-token or read-only
// make the exchange fail as X does). While it runs,
// GET /fakex/tweets lists the accepted tweets, GET /fakex/requests every
// request, and POST /fakex/fault (form or JSON: mode, count, reset, delay,
// skew) changes the fault; these need no signature.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"pitweet/fakex"
	"pitweet/oauth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(2)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakex", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	caOut := fs.String("ca-out", "", "write the CA certificate (PEM) clients must trust to this `file`")
	credsFile := fs.String("creds", "", "credentials `file` (api_key=, api_secret=, access_token=, access_secret=); default: the built-in demo credentials")
	mode := fs.String("fault", "", "fault `mode` to start with: "+strings.Join(fakex.Modes, ", "))
	count := fs.Int("count", 0, "how many requests the fault applies to, posting ones (access-token ones for the login faults); 0: until changed")
	reset := fs.Duration("reset", 0, "for -fault 429: how far ahead x-rate-limit-reset points (default 15m)")
	delay := fs.Duration("delay", 0, "for -fault slow: how long to wait before answering")
	skew := fs.Duration("skew", 0, "for -fault skew: how far the server's clock is off (negative: behind)")
	daily := fs.Int("daily-limit", 0, "posts a user may make in 24 hours before 429 (x-user-limit-24hour-*); 0: the default, 100000")
	noDay := fs.Bool("no-day-headers", false, "leave out the x-user-limit-24hour-* and x-app-limit-24hour-* headers, as X's pay-per-use tier was seen to")
	verbose := fs.Bool("v", false, "log every request to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("fakex: unexpected argument %q; see fakex -h", fs.Arg(0))
	}

	creds := fakex.DemoCredentials
	if *credsFile != "" {
		var err error
		if creds, err = readCredentials(*credsFile); err != nil {
			return err
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	srv := fakex.New(creds)
	srv.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *daily > 0 {
		srv.DailyLimit = *daily
	}
	srv.NoDayHeaders = *noDay
	if err := srv.SetFault(fakex.Fault{Mode: *mode, Count: *count, Reset: *reset, Delay: *delay, Skew: *skew}); err != nil {
		return err
	}
	if err := srv.StartTLS(*addr); err != nil {
		return err
	}
	defer srv.Close()
	if *caOut != "" {
		if err := srv.WriteCA(*caOut); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "fakex listening on %s\n", srv.URL())
	if *mode != "" {
		fmt.Fprintf(stdout, "fakex fault %s\n", srv.Fault())
	}

	for n := 1; ; n++ {
		tweets, err := srv.WaitTweets(ctx, n)
		if err != nil {
			fmt.Fprintf(stdout, "fakex stopping after %d tweets\n", n-1)
			return nil
		}
		t := tweets[n-1]
		fmt.Fprintf(stdout, "tweet %s %s %s %s\n", t.ID, t.API, t.At.UTC().Format(time.RFC3339), strconv.Quote(t.Text))
	}
}

// readCredentials reads a credentials file of name=value lines: api_key,
// api_secret, access_token and access_secret. Blank lines and lines
// starting with # are skipped; values may be quoted.
func readCredentials(path string) (oauth.Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return oauth.Credentials{}, fmt.Errorf("fakex: credentials: %w", err)
	}
	defer f.Close()
	var c oauth.Credentials
	names := []string{"api_key", "api_secret", "access_token", "access_secret"}
	fields := map[string]*string{
		"api_key":       &c.ConsumerKey,
		"api_secret":    &c.ConsumerSecret,
		"access_token":  &c.Token,
		"access_secret": &c.TokenSecret,
	}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, value, ok := strings.Cut(text, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		field := fields[name]
		if !ok || field == nil {
			return oauth.Credentials{}, fmt.Errorf("fakex: %s:%d: want api_key=, api_secret=, access_token= or access_secret=, got %q", path, line, name)
		}
		if uq, err := strconv.Unquote(value); err == nil {
			value = uq
		}
		*field = value
	}
	if err := sc.Err(); err != nil {
		return oauth.Credentials{}, fmt.Errorf("fakex: credentials: %w", err)
	}
	for _, name := range names {
		if *fields[name] == "" {
			return oauth.Credentials{}, fmt.Errorf("fakex: %s has no %s; add a line %s=…", path, name, name)
		}
	}
	return c, nil
}
