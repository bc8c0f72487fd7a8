package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"pitweet/config"
	"slices"
	"strings"
	"time"

	"pitweet/daemon"
	"pitweet/fakex"
	"pitweet/hw/fakehw"
	"pitweet/sender"
)

// demoConfig is the daemon's config in the demo: two buttons on the
// simulated board, a BME280 and the CPU temperature, and a report every
// two seconds (schedules that short are only allowed with fake hardware).
const demoConfig = `# pitweet demo: simulated board, local X API and Bluesky emulators.
state_dir = %q

[x]
base_url = %q
ca_file = %q
credentials = %q

[hardware]
mode = "fake"

[[button]]
name = "doorbell"
pin = "GPIO17"
text = "Ding dong #{{.Count}} at {{.Time.Format \"15:04:05\"}}"
photo = ["rpicam-still", "-n", "-t", "1", "-o", "-"]
alt = 'The doorstep when the doorbell rang (press {{.Count}})'
long_press = "600ms"
long_text = "Someone is leaning on the doorbell (press {{.Count}}); it is {{.Sensors.room.Temperature}} inside"

[[button]]
name = "mailbox"
pin = "GPIO22"
text = "Post #{{.Count}} has arrived at {{.Host}} ({{.Time.Format \"15:04:05\"}})"

[[sensor]]
name = "room"
type = "bme280"
address = 0x76
history = "1s"

[[sensor]]
name = "cpu"
type = "cpu"

[[report]]
every = "2s"
text = "Room report {{.Count}} at {{.Time.Format \"15:04:05\"}}: {{.Sensors.room.Temperature}}, {{.Sensors.room.Humidity}}, {{.Sensors.room.Pressure}}; CPU {{.Sensors.cpu.Temperature}}"
chart = "1h"
`

// demoLogin logs in as pitweet login does, with fakex approving in place
// of the account's owner, and writes the access token into creds.
func demoLogin(ctx context.Context, stdout io.Writer, x *fakex.Server, ca, creds string) error {
	file, err := config.OpenCredentialsFile(creds)
	if err != nil {
		return err
	}
	key, secret, _, err := file.AppKeys()
	if err != nil {
		return err
	}
	login, err := sender.NewLogin(sender.Config{BaseURL: x.URL(), CAFile: ca, Proxy: "none", UserAgent: "pitweet/" + version}, key, secret)
	if err != nil {
		return err
	}
	defer login.Close()
	rt, err := login.RequestToken(ctx)
	if err != nil {
		return fmt.Errorf("demo login: %w", err)
	}
	fmt.Fprintf(stdout, "pitweet login: request token from POST /oauth/request_token (oauth_callback=\"oob\" signed); authorize at\n    %s\n", login.AuthorizeURL(rt))
	pin, err := x.Authorize(rt.Token)
	if err != nil {
		return fmt.Errorf("demo login: %w", err)
	}
	fmt.Fprintf(stdout, "fakex approves at once, as the account's owner would in the browser, and shows PIN %s\n", pin)
	at, err := login.AccessToken(ctx, rt, pin)
	if err != nil {
		return fmt.Errorf("demo login: %w", err)
	}
	if err := file.Update([]config.KeyValue{{Key: "access_token", Value: at.Token}, {Key: "access_secret", Value: at.Secret}}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pitweet login: POST /oauth/access_token with oauth_verifier=%s signed: logged in as @%s; the access token is in %s\n", pin, at.ScreenName, file.Path)
	return nil
}

// savePicture writes picture i of tweet id into dir and returns its path.
func savePicture(dir, id string, i int, p fakex.Picture) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	ext := ".jpg"
	switch p.Type {
	case "image/png":
		ext = ".png"
	case "image/gif":
		ext = ".gif"
	case "image/webp":
		ext = ".webp"
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%d%s", id, i+1, ext))
	if err := os.WriteFile(path, p.Data, 0o644); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return path, nil
}

func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	verbose := fs.Bool("v", false, "show the daemon's log")
	save := fs.String("pictures", "", "write each picture posted into `DIR` (created if need be)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("takes no arguments")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	dir, err := os.MkdirTemp("", "pitweet-demo-")
	if err != nil {
		return fmt.Errorf("make a temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	x := fakex.New(fakex.DemoCredentials)
	if err := x.StartTLS("127.0.0.1:0"); err != nil {
		return err
	}
	defer x.Close()
	ca := filepath.Join(dir, "fakex-ca.pem")
	creds := filepath.Join(dir, "credentials")
	cfgPath := filepath.Join(dir, "pitweet.toml")
	if err := x.WriteCA(ca); err != nil {
		return err
	}
	// Only the app's keys: the access token comes from a login.
	app := fakex.DemoCredentials
	if err := os.WriteFile(creds, fmt.Appendf(nil, "api_key=%s\napi_secret=%s\n", app.ConsumerKey, app.ConsumerSecret), 0o600); err != nil {
		return fmt.Errorf("write demo credentials: %w", err)
	}
	masto, err := startDemoMastodon(dir)
	if err != nil {
		return err
	}
	defer masto.Close()
	if err := masto.addToken(creds); err != nil {
		return fmt.Errorf("write demo credentials: %w", err)
	}
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, demoConfig+masto.config(), filepath.Join(dir, "state"), x.URL(), ca, creds), 0o644); err != nil {
		return fmt.Errorf("write demo config: %w", err)
	}
	bsky, section, bskyCreds, err := startDemoBluesky(dir)
	if err != nil {
		return err
	}
	defer bsky.Close()
	if err := errors.Join(appendToFile(cfgPath, section), appendToFile(creds, bskyCreds)); err != nil {
		return fmt.Errorf("write the demo's Bluesky account: %w", err)
	}
	fmt.Fprintf(stdout, "fakex (local X API emulator) listening on %s\n", x.URL())
	fmt.Fprintf(stdout, "fakemastodon (local Mastodon emulator) listening on %s\n", masto.srv.URL())
	fmt.Fprintf(stdout, "fakebsky (local Bluesky PDS emulator) listening on %s\n", bsky.URL())
	if err := demoLogin(context.Background(), stdout, x, ca, creds); err != nil {
		return err
	}

	board := fakehw.New(fakehw.Options{RealTime: true, Daily: true})
	defer board.Close()
	socket := filepath.Join(dir, "control.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	stopped := make(chan error, 1)
	go func() {
		stopped <- daemon.Run(ctx, daemon.Options{
			ConfigPath: cfgPath, Board: board, Socket: socket, Log: log,
			UserAgent: "pitweet/" + version, Version: version, Ready: func() { close(ready) }, FakeCamera: fakeCamera(socket),
		})
	}()
	select {
	case <-ready:
	case err := <-stopped:
		return fmt.Errorf("the daemon did not start: %w", err)
	}
	fmt.Fprintf(stdout, "pitweet daemon running on a simulated board (config %s)\n", cfgPath)

	presses := []struct {
		pin, what string
		hold      time.Duration
	}{
		{"GPIO17", "press doorbell (GPIO17)", fakehw.ShortPress},
		{"GPIO22", "press mailbox (GPIO22)", fakehw.ShortPress},
		{"GPIO17", "hold doorbell (GPIO17) for 1s", time.Second},
	}
	for _, p := range presses {
		fmt.Fprintf(stdout, "%s\n", p.what)
		if err := board.Hold(p.pin, p.hold); err != nil {
			return err
		}
	}

	// Every press (the short ones with a photo, which may come after a
	// report) and at least one report with its chart.
	wait, done := context.WithTimeout(ctx, 20*time.Second)
	defer done()
	charts, pressed := 0, 0
	var texts []string
	for n := 1; pressed < len(presses) || charts == 0; n++ {
		tweets, err := x.WaitTweets(wait, n)
		if err != nil {
			return fmt.Errorf("%w; run 'pitweet demo -v' to see the daemon's log", err)
		}
		t := tweets[n-1]
		texts = append(texts, t.Text)
		if !strings.HasPrefix(t.Text, demoReportPrefix) {
			pressed++
		}
		fmt.Fprintf(stdout, "fakex accepted tweet %s: %s — signature verified\n", t.ID, t.Text)
		for i, p := range t.Media {
			how := "uploaded in one request"
			if p.Chunked {
				how = "uploaded in chunks"
			}
			fmt.Fprintf(stdout, "    with a picture: %s %dx%d, %d bytes, %s, alt text %q\n", p.Type, p.Width, p.Height, p.Size, how, p.Alt)
			if *save != "" {
				path, err := savePicture(*save, t.ID, i, p)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "    saved as %s\n", path)
			}
			if p.Type == "image/png" {
				charts++
			}
		}
	}
	if err := masto.wait(wait, stdout, texts); err != nil {
		return err
	}
	if err := printDemoBluesky(wait, stdout, bsky, texts); err != nil {
		return err
	}

	resp, err := daemon.Call(socket, daemon.ControlRequest{Op: "status"})
	if err != nil {
		return err
	}
	if resp.Status == nil {
		return errors.New("the daemon sent no status: " + resp.Error)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "$ pitweet status --socket %s\n", socket)
	printStatus(stdout, resp.Status)

	cancel()
	if err := <-stopped; err != nil {
		return err
	}
	fmt.Fprint(stdout, demoMQTT)
	return nil
}

// demoMQTT says how to see the same daemon on an MQTT broker: the demo
// starts none, as an embedded broker would be a heavy dependency.
const demoMQTT = `
On an MQTT broker (Home Assistant, Node-RED): the demo starts none. With Debian's mosquitto
and mosquitto-clients installed, add to a config
    [mqtt]
    broker = "mqtt://localhost:1883"
    commands = true
run it with pitweet run --fake --config FILE, and watch with
    mosquitto_sub -v -t 'pitweet/#' -t 'homeassistant/#'
Post through the broker with
    mosquitto_pub -q 1 -t pitweet/HOST/post -m '{"id": "try-1", "text": "hello"}'
(HOST: this machine's short host name). See pitweet(8), MQTT, and
/usr/share/doc/pitweet/mqtt.md.gz.
`

// demoReportPrefix begins the demo's report text (demoConfig): what else
// the demo posts is a press.
const demoReportPrefix = "Room report"

// waitSame waits until a destination has posted every one of texts (what
// X posted) and returns the indexes of its posts that carry them, in its
// order. posts waits for at least n posts and returns their texts.
func waitSame(ctx context.Context, texts []string, posts func(ctx context.Context, n int) ([]string, error)) ([]int, error) {
	for n := len(texts); ; {
		got, err := posts(ctx, n)
		if err != nil {
			return nil, err
		}
		var idx []int
		missing := false
		for _, t := range texts {
			i := slices.Index(got, t)
			if i < 0 {
				missing = true
				break
			}
			idx = append(idx, i)
		}
		if !missing {
			slices.Sort(idx)
			return idx, nil
		}
		n = len(got) + 1
	}
}
