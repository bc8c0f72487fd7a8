package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"pitweet/daemon"
	"pitweet/sender"
)

// cmdTweet posts one tweet now and prints its id: pitweet post --to x,
// printing the id alone.
func cmdTweet(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tweet", stderr)
	var xf xFlags
	xf.register(fs)
	var imf imageFlags
	imf.register(fs)
	timeout := fs.Duration("timeout", sender.DefaultTimeout, "give up on X after this long")
	text, cfg, err := xf.parseText(fs, args, `say what to post: pitweet tweet "hello from my Pi"`)
	if err != nil {
		return err
	}
	if err := imf.check(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, imf.timeout(fs, *timeout))
	defer cancel()
	results, err := daemon.PostNow(ctx, cfg, text, daemon.PostOptions{
		To:        []string{"x"},
		UserAgent: userAgent(),
		Notice:    func(_, msg string) { fmt.Fprintf(stderr, "pitweet tweet: %s\n", msg) },
		Images:    imf.images,
	})
	if err != nil {
		return err
	}
	if err := results[0].Err; err != nil {
		return err
	}
	if results[0].Note != "" {
		fmt.Fprintf(stderr, "pitweet tweet: %s\n", results[0].Note)
	}
	fmt.Fprintln(stdout, results[0].Ref)
	return nil
}
