package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"pitweet/config"
	"syscall"
	"time"

	"pitweet/daemon"
	"pitweet/sender"
)

// cmdCheck validates the config and the credentials and, with --online,
// asks X who the keys post as. It prints one line per check; the first
// failure and its fix are the error.
func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration `file`")
	online := fs.Bool("online", false, "also call GET /2/users/me with the keys")
	fake := fs.Bool("fake", false, "check the hardware on the simulated board whatever [hardware] mode says")
	timeout := fs.Duration("timeout", sender.DefaultTimeout, "give up on X after this long (with --online)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("takes no arguments")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	rep := config.Check(ctx, *cfgPath, config.CheckOptions{Online: *online, Fake: *fake, UserAgent: "pitweet/" + version, Now: time.Now,
		Hardware: func(cfg *config.Config) []config.CheckResult { return daemon.CheckHardware(cfg, "") },
		Spend:    daemon.CheckSpend("")})
	for _, r := range rep.Results {
		// One line each, whatever X put in an answer (an account's name).
		fmt.Fprintln(stdout, daemon.Printable(r.String()))
	}
	f := rep.Failed()
	if f == nil {
		return nil
	}
	return errors.New(f.Message())
}
