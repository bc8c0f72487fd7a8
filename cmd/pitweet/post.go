package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"pitweet/config"
	"slices"
	"strings"
	"syscall"

	"pitweet/daemon"
	"pitweet/sender"
)

// cmdPost posts now to each configured destination (or those --to names),
// all at once, and prints one line per destination: "x: posted ID", or
// "mastodon: failed: WHY". It fails when any destination failed.
func cmdPost(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("post", stderr)
	var xf xFlags
	fs.StringVar(&xf.config, "config", config.DefaultPath, "configuration `file`")
	to := fs.String("to", "", "destinations to post to, separated by commas: x, mastodon, bluesky (default: every configured one)")
	timeout := fs.Duration("timeout", sender.DefaultTimeout, "give up on a destination after this long")
	var imf imageFlags
	imf.register(fs)
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := imf.check(); err != nil {
		return err
	}
	if len(rest) == 0 {
		return usageError(`say what to post: pitweet post "hello from my Pi"`)
	}
	text := strings.Join(rest, " ")
	if strings.TrimSpace(text) == "" {
		return usageError("the text is empty")
	}
	cfg, err := xf.loadConfig()
	if err != nil {
		return err
	}
	var names []string
	if *to != "" {
		for _, name := range strings.Split(*to, ",") {
			name = strings.TrimSpace(name)
			if !slices.Contains(config.DestinationNames(), name) && !slices.Contains(cfg.Destinations, name) {
				return usageError("--to %q: %q is not a destination; name x, mastodon or bluesky, separated by commas", *to, name)
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, imf.timeout(fs, *timeout))
	defer cancel()
	results, err := daemon.PostNow(ctx, cfg, text, daemon.PostOptions{
		To:        names,
		UserAgent: userAgent(),
		Notice:    func(dest, msg string) { fmt.Fprintf(stderr, "pitweet post: %s: %s\n", dest, msg) },
		Images:    imf.images,
	})
	if errors.Is(err, daemon.ErrNotConfigured) {
		return errors.New(strings.TrimPrefix(err.Error(), daemon.ErrNotConfigured.Error()+": "))
	}
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, r.Destination)
			fmt.Fprintf(stdout, "%s: failed: %s\n", r.Destination, strings.TrimPrefix(r.Err.Error(), "sender: "))
			continue
		}
		if r.Destination == "forward" {
			fmt.Fprintf(stdout, "forward: the broker has it for the poster, as command %s\n", r.Ref)
			continue
		}
		if r.Note != "" {
			fmt.Fprintf(stdout, "%s: posted %s; %s\n", r.Destination, r.Ref, r.Note)
			continue
		}
		fmt.Fprintf(stdout, "%s: posted %s\n", r.Destination, r.Ref)
	}
	switch {
	case len(failed) == 1 && len(results) == 1:
		return results[0].Err
	case len(failed) == 1:
		return fmt.Errorf("not posted on %s; its line above says why", failed[0])
	case len(failed) > 1:
		return fmt.Errorf("not posted on %s; their lines above say why", strings.Join(failed, " and "))
	}
	return nil
}
