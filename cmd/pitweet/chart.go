package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"pitweet/config"
	"strings"
	"time"

	"pitweet/chart"
	"pitweet/daemon"
	"pitweet/history"
)

// sensorFlags collects repeated --sensor values.
type sensorFlags []string

func (s *sensorFlags) String() string { return strings.Join(*s, ",") }

func (s *sensorFlags) Set(v string) error {
	if !history.ValidPattern(v) {
		return fmt.Errorf("%q is not a sensor name or NAME.QUANTITY (such as room or room.Temperature)", v)
	}
	*s = append(*s, v)
	return nil
}

// cmdChart draws the recorded history as a PNG line chart: from the
// running daemon, which also has the samples it has not written yet, or
// when none runs, from the state directory.
func cmdChart(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("chart", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration `file`; its state_dir is read when no daemon runs")
	since := fs.Duration("since", daemon.DefaultHistoryWindow, "draw the last `DURATION` (such as 90m, 24h, 168h)")
	var sensors sensorFlags
	fs.Var(&sensors, "sensor", "draw sensor `NAME` (each quantity it records) or NAME.QUANTITY; repeat for more (default: everything recorded)")
	out := fs.String("o", "", "write the PNG to `FILE` (- for standard output)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usageError("takes no arguments; name sensors with --sensor")
	case *out == "":
		return usageError("-o FILE.png is missing: where to write the chart")
	case *since < time.Minute || *since > history.Retention:
		return usageError("--since %v: want from 1m to %v (the history kept)", *since, history.Retention)
	}

	now := time.Now()
	from := now.Add(-*since)
	series, source, err := chartHistory(*cfgPath, sensors, from, now, stderr)
	if err != nil {
		return err
	}
	lines := daemon.ChartLines(series)
	opts := chart.Options{From: from, To: now}
	var png bytes.Buffer
	if err := chart.Render(&png, lines, opts); err != nil {
		return err
	}
	info := stdout
	if *out == "-" {
		if _, err := binaryOutput(stdout).Write(png.Bytes()); err != nil {
			return fmt.Errorf("write the chart: %w", err)
		}
		info = stderr
	} else if err := writeFileAtomic(*out, png.Bytes()); err != nil {
		return err
	}
	var names []string
	for _, s := range series {
		names = append(names, s.Name)
	}
	fmt.Fprintf(info, "%s: %s over the last %s, from %s; %dx%d, %d KB\n", *out, strings.Join(names, ", "), chart.SpanWords(*since), source,
		chart.DefaultWidth, chart.DefaultHeight, (png.Len()+1023)/1024)
	fmt.Fprintf(info, "alt text: %s\n", chart.Alt(lines, opts))
	return nil
}

// chartHistory asks the running daemon for the series, or when none
// listens reads them from the state directory of the config (the daemon's
// default, honouring $STATE_DIRECTORY, when the default config is absent).
// It says which it used.
func chartHistory(config string, sensors []string, from, to time.Time, stderr io.Writer) ([]history.Series, string, error) {
	socket := daemon.DefaultSocket()
	resp, err := daemon.Call(socket, daemon.ControlRequest{Op: "history", Series: sensors, From: from, To: to})
	switch {
	case err == nil && resp.OK:
		return resp.History, "the running daemon", nil
	case err == nil:
		return nil, "", errors.New(strings.TrimPrefix(resp.Error, "daemon: "))
	case !errors.Is(err, daemon.ErrNoDaemon):
		return nil, "", fmt.Errorf("%w; check that you may use the daemon's socket (members of group pitweet may)", err)
	}

	f := xFlags{config: config}
	cfg, err := f.loadConfig()
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(cfg.StateDir, daemon.HistoryDir)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	read := func(from, to time.Time, match func(string) bool) ([]history.Series, error) {
		return history.Read(dir, from, to, match, log)
	}
	series, err := daemon.QueryHistory(read, sensors, from, to, to)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, "", fmt.Errorf("no daemon is running (nothing listens on %s) and %s holds no history; start it (systemctl start pitweet) and let it record", socket, dir)
	case errors.Is(err, os.ErrPermission):
		return nil, "", fmt.Errorf("no daemon is running (nothing listens on %s) and %s is not readable by you; start the daemon (systemctl start pitweet), which answers members of group pitweet, or run this as root", socket, dir)
	case err != nil:
		return nil, "", errors.New(strings.TrimPrefix(err.Error(), "daemon: "))
	}
	return series, dir + " (no daemon is running)", nil
}

// writeFileAtomic writes data to path through a temporary file in the
// same directory, so a failed write never leaves half a PNG.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pitweet-chart-*")
	if err != nil {
		return fmt.Errorf("write the chart: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write the chart to %s: %w", path, err)
	}
	return nil
}
