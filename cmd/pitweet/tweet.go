package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"pitweet/sender"
)

// cmdTweet posts one tweet now and prints its id.
func cmdTweet(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tweet", stderr)
	var xf xFlags
	xf.register(fs)
	timeout := fs.Duration("timeout", sender.DefaultTimeout, "give up on X after this long")
	text, cfg, err := xf.parseText(fs, args, `say what to post: pitweet tweet "hello from my Pi"`)
	if err != nil {
		return err
	}
	creds, _, err := cfg.X.LoadCredentials()
	if err != nil {
		return err
	}
	client, err := newClient(cfg, creds)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	t, err := postOnce(ctx, client, text, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t.ID)
	return nil
}

// postOnce posts text. When X refuses the timestamp, it corrects the clock
// offset from X's Date header and tries once more, as the daemon does.
func postOnce(ctx context.Context, client *sender.Client, text string, stderr io.Writer) (*sender.Tweet, error) {
	t, err := client.Post(ctx, text)
	var apiErr *sender.APIError
	if errors.As(err, &apiErr) && apiErr.Kind == sender.KindClockSkew && !apiErr.Meta.Date.IsZero() {
		offset := time.Until(apiErr.Meta.Date).Round(time.Second)
		fmt.Fprintf(stderr, "pitweet tweet: X says our clock is off; its Date header is %s away from ours: retrying once with that correction (fix the clock: timedatectl)\n", offset)
		client.SetClockOffset(offset)
		t, err = client.Post(ctx, text)
	}
	if errors.Is(err, sender.ErrTransient) && !errors.As(err, &apiErr) {
		return nil, fmt.Errorf("%w; X may or may not have the tweet: posting the same text again is safe, X refuses an exact duplicate", err)
	}
	return t, err
}
