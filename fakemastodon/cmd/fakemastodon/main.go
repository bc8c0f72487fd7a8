// Command fakemastodon runs the local Mastodon emulator so that other
// processes (the demo, benchmarks, fault campaigns) can post to it:
//
//	fakemastodon -addr 127.0.0.1:0 -ca-out /tmp/fakemastodon-ca.pem -fault 503 -count 2
//
// It prints "fakemastodon listening on https://127.0.0.1:PORT", then one
// line per status made, and runs until SIGINT or SIGTERM. While it runs,
// GET /fakemastodon/statuses lists the statuses, GET /fakemastodon/media
// the uploads, GET /fakemastodon/requests every request, and POST
// /fakemastodon/fault (form or JSON: mode, path, count, reset, delay)
// changes the fault; these need no token.
package main

import (
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

	"pitweet/fakemastodon"
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
	fs := flag.NewFlagSet("fakemastodon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	caOut := fs.String("ca-out", "", "write the CA certificate (PEM) clients must trust to this `file`")
	token := fs.String("token", fakemastodon.DemoAccount.Token, "the account's access `token`")
	username := fs.String("username", fakemastodon.DemoAccount.Username, "the account's `name`")
	maxChars := fs.Int("max-characters", 500, "the instance's status length limit")
	asyncOver := fs.Int("async-over", 0, "process images over this many `bytes` asynchronously (202); 0: only animated GIFs")
	processing := fs.Duration("processing", 2*time.Second, "how long asynchronous media processing takes")
	documented := fs.Bool("documented-limits", false, "apply Mastodon's rate limits (300 requests/5 min, 30 uploads/30 min, 300 statuses/3 h) instead of benchmark-sized ones")
	mode := fs.String("fault", "", "fault `mode` to start with: "+strings.Join(fakemastodon.Modes, ", "))
	path := fs.String("path", "", "the request `path` the fault applies to (default /api/v1/statuses; * for every request)")
	count := fs.Int("count", 0, "how many requests the fault applies to (0: until changed)")
	reset := fs.Duration("reset", 0, "for -fault 429: how far ahead X-RateLimit-Reset points (default 15m)")
	delay := fs.Duration("delay", 0, "for -fault slow: how long to wait before answering")
	verbose := fs.Bool("v", false, "log every request to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("fakemastodon: unexpected argument %q; see fakemastodon -h", fs.Arg(0))
	}
	if *token == "" || *username == "" {
		return errors.New("fakemastodon: -token and -username must not be empty")
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	acct := fakemastodon.DemoAccount
	acct.Token, acct.Username = *token, *username
	srv := fakemastodon.New(acct)
	srv.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv.MaxCharacters, srv.AsyncOver, srv.ProcessingTime = *maxChars, *asyncOver, *processing
	if *documented {
		srv.APILimit, srv.MediaLimit, srv.StatusLimit = fakemastodon.DocumentedAPILimit, fakemastodon.DocumentedMediaLimit, fakemastodon.DocumentedStatusLimit
	}
	if err := srv.SetFault(fakemastodon.Fault{Mode: *mode, Path: *path, Count: *count, Reset: *reset, Delay: *delay}); err != nil {
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
	fmt.Fprintf(stdout, "fakemastodon listening on %s\n", srv.URL())
	if *mode != "" {
		fmt.Fprintf(stdout, "fakemastodon fault %s\n", srv.Fault())
	}

	for n := 1; ; n++ {
		sts, err := srv.WaitStatuses(ctx, n)
		if err != nil {
			fmt.Fprintf(stdout, "fakemastodon stopping after %d statuses\n", n-1)
			return nil
		}
		st := sts[n-1]
		fmt.Fprintf(stdout, "status %s @%s %s media=%d %s\n", st.ID, st.Account, st.Visibility, len(st.MediaIDs), strconv.Quote(st.Text))
	}
}
