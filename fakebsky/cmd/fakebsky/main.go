// Command fakebsky runs the local Bluesky PDS emulator so that other
// processes (the demo, benchmarks, fault campaigns) can post to it:
//
//	fakebsky -addr 127.0.0.1:0 -ca-out /tmp/fakebsky-ca.pem -access-lifetime 30s -duplicate 400
//
// It prints "fakebsky listening on https://127.0.0.1:PORT", then one line
// per post stored, and runs until SIGINT or SIGTERM. While it runs, GET
// /fakebsky/posts lists the posts, GET /fakebsky/records every record,
// GET /fakebsky/blobs the uploads, GET /fakebsky/requests every request,
// and POST /fakebsky/fault (form or JSON: mode, path, count, reset, delay)
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

	"pitweet/fakebsky"
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
	fs := flag.NewFlagSet("fakebsky", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	caOut := fs.String("ca-out", "", "write the CA certificate (PEM) clients must trust to this `file`")
	handle := fs.String("handle", fakebsky.DemoAccount.Handle, "the account's `handle`")
	password := fs.String("app-password", fakebsky.DemoAccount.AppPassword, "the account's app `password`")
	accessLifetime := fs.Duration("access-lifetime", 0, "how long an access token is good for (default 2h, as the PDS)")
	grace := fs.Duration("refresh-grace", 0, "keep a used refresh token working this long, as the PDS does (2h); 0: single-use")
	duplicate := fs.Int("duplicate", 500, "the status for a second record at the same rkey: 500 (the PDS today), 400 or 409 (RecordAlreadyExists)")
	imageLimit := fs.Int("image-limit", fakebsky.DocumentedImageLimit, "the largest image blob a post may embed, in `bytes`")
	noDIDDoc := fs.Bool("no-did-doc", false, "leave the didDoc out of session answers")
	documented := fs.Bool("documented-limits", false, "apply the PDS's rate limits (5000 write points/hour, 30 logins/5 min, 1000 uploads/day) instead of benchmark-sized ones")
	mode := fs.String("fault", "", "fault `mode` to start with: "+strings.Join(fakebsky.Modes, ", "))
	path := fs.String("path", "", "the request `path` the fault applies to (default /xrpc/com.atproto.repo.createRecord; * for every request)")
	count := fs.Int("count", 0, "how many requests the fault applies to (0: until changed)")
	reset := fs.Duration("reset", 0, "for -fault 429: how far ahead RateLimit-Reset points (default 15m)")
	delay := fs.Duration("delay", 0, "for -fault slow: how long to wait before answering")
	verbose := fs.Bool("v", false, "log every request to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("fakebsky: unexpected argument %q; see fakebsky -h", fs.Arg(0))
	}
	if *handle == "" || *password == "" {
		return errors.New("fakebsky: -handle and -app-password must not be empty")
	}
	if *duplicate != 500 && *duplicate != 400 && *duplicate != 409 {
		return fmt.Errorf("fakebsky: -duplicate %d: use 500, 400 or 409", *duplicate)
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	acct := fakebsky.DemoAccount
	acct.Handle, acct.AppPassword = *handle, *password
	srv := fakebsky.New(acct)
	srv.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *accessLifetime > 0 {
		srv.AccessLifetime = *accessLifetime
	}
	srv.RefreshGrace, srv.DuplicateStatus, srv.ImageLimit, srv.OmitDIDDoc = *grace, *duplicate, *imageLimit, *noDIDDoc
	if *documented {
		srv.WriteLimit, srv.SessionLimit, srv.UploadsPerDay = fakebsky.DocumentedWriteLimit, fakebsky.DocumentedSessionLimit, fakebsky.DocumentedUploadLimit
	}
	if err := srv.SetFault(fakebsky.Fault{Mode: *mode, Path: *path, Count: *count, Reset: *reset, Delay: *delay}); err != nil {
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
	fmt.Fprintf(stdout, "fakebsky listening on %s\n", srv.URL())
	if *mode != "" {
		fmt.Fprintf(stdout, "fakebsky fault %s\n", srv.Fault())
	}

	for n := 1; ; n++ {
		posts, err := srv.WaitPosts(ctx, n)
		if err != nil {
			fmt.Fprintf(stdout, "fakebsky stopping after %d posts\n", n-1)
			return nil
		}
		p := posts[n-1]
		fmt.Fprintf(stdout, "post %s images=%d %s\n", p.URI, len(p.Images), strconv.Quote(p.Text))
	}
}
