package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"pitweet/config"
	"syscall"

	"pitweet/daemon"
	"pitweet/sdlog"
)

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "the configuration `file`")
	fake := fs.Bool("fake", false, "run on the simulated board whatever [hardware] mode says")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("takes no arguments")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	return daemon.Run(ctx, daemon.Options{
		ConfigPath: *cfgPath,
		Fake:       *fake,
		UserAgent:  "pitweet/" + version,
		Version:    version,
		Reload:     reload,
		FakeCamera: fakeCamera(""),
		Log:        slog.New(sdlog.NewHandler(stderr, toJournal(stderr), nil)),
	})
}
