package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"pitweet/config"
	"pitweet/textlen"
	"strings"

	"pitweet/oauth"
	"pitweet/sender"
)

// xFlags are the flags shared by the commands that talk to X.
type xFlags struct {
	config string
	api    string
}

func (f *xFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", config.DefaultPath, "configuration `file`")
	fs.StringVar(&f.api, "api", "", "X API version: v2 or v1.1 (default: the config's [x] api)")
}

// loadConfig reads the config file. When the user did not name one and the
// default is absent, the built-in defaults apply, so `pitweet tweet` works
// with nothing but the PITWEET_* environment variables.
func (f *xFlags) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(f.config)
	if err != nil && f.config == config.DefaultPath && errors.Is(statErr(f.config), os.ErrNotExist) {
		cfg, err = config.Parse(nil, "built-in defaults")
	}
	if err != nil {
		return nil, err
	}
	if f.api != "" {
		if f.api != "v2" && f.api != "v1.1" {
			return nil, usageError("--api %q: want v2 or v1.1", f.api)
		}
		cfg.X.API = f.api
	}
	return cfg, nil
}

func statErr(path string) error {
	_, err := os.Stat(path)
	return err
}

// parseText parses args with fs, joins the positional arguments into the
// tweet text, checks its length, and loads the config. missing is the usage
// message when there is no text.
func (f *xFlags) parseText(fs *flag.FlagSet, args []string, missing string) (string, *config.Config, error) {
	rest, err := parseFlags(fs, args)
	if err != nil {
		return "", nil, err
	}
	return f.textAndConfig(rest, missing)
}

// textAndConfig joins the positional arguments into the tweet text,
// checks its length, and loads the config.
func (f *xFlags) textAndConfig(rest []string, missing string) (string, *config.Config, error) {
	if len(rest) == 0 {
		return "", nil, usageError("%s", missing)
	}
	text := strings.Join(rest, " ")
	if err := checkLength(text); err != nil {
		return "", nil, err
	}
	cfg, err := f.loadConfig()
	if err != nil {
		return "", nil, err
	}
	return text, cfg, nil
}

// newClient makes the X client the config describes.
func newClient(cfg *config.Config, creds oauth.Credentials) (*sender.Client, error) {
	return sender.New(sender.Config{
		BaseURL:   cfg.X.BaseURL,
		API:       cfg.X.API,
		CAFile:    cfg.X.CAFile,
		UserAgent: userAgent(),
	}, creds)
}

// userAgent is what pitweet's commands send as User-Agent.
func userAgent() string { return "pitweet/" + version }

// checkLength refuses a text X would refuse, before anything is signed.
func checkLength(text string) error {
	if text == "" {
		return usageError("the tweet text is empty")
	}
	if n := textlen.X(text); n > textlen.MaxX {
		return fmt.Errorf("the text counts %d characters as X counts them (URLs 23, emoji and CJK 2); the limit is %d: shorten it by %d",
			n, textlen.MaxX, n-textlen.MaxX)
	}
	return nil
}
