// Command pitbench measures pitweet against the tools makers use today and
// writes the table to bench/results.md. bench/run builds what it needs
// and calls it; run it from the bench directory:
//
//	go run ./cmd/pitbench -pitweet bin/pitweet -out results.md
//
// Each measure that cannot run (a peer not installed, no .deb built) is
// reported as skipped with the reason, and the rest still run.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	pitweet   string        // the pitweet binary to measure
	runs      int           // fresh-process runs per tool
	drainN    int           // messages in the drain
	presses   int           // presses for the latency measure
	idle      time.Duration // how long the daemon idles
	only      string        // comma-separated measures to run; "" all
	out       string        // markdown file to write
	module    string        // the pitweet module's directory, for builds
	debs      string        // directory holding built .deb files
	countSync bool          // count fsyncs with strace
	baseline  string        // another pitweet binary measured beside it in the one-shot; "" none
	wrap      string        // command the one-shot runs pitweet under, e.g. "qemu-arm-static -cpu arm1176"
}

func run(args []string) error {
	fs := flag.NewFlagSet("pitbench", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.pitweet, "pitweet", "bin/pitweet", "the pitweet `binary` to measure")
	fs.IntVar(&o.runs, "runs", 7, "fresh-process runs per tool (median reported)")
	fs.IntVar(&o.drainN, "drain", 100, "messages queued for the drain")
	fs.IntVar(&o.presses, "presses", 200, "presses for the press-to-request latency")
	fs.DurationVar(&o.idle, "idle", idleDefault(), "how long the daemon idles (env BENCH_IDLE_SECONDS)")
	fs.StringVar(&o.only, "only", "", "comma-separated measures to run (signing,oneshot,upload,drain,idle,mqtt,latency,chart,sizes); default all")
	fs.StringVar(&o.out, "out", "results.md", "write the markdown table to this `file`")
	fs.StringVar(&o.module, "module", "..", "the pitweet module's `directory`")
	fs.StringVar(&o.debs, "debs", "../dist", "`directory` with pitweet_*.deb files, if built")
	fs.BoolVar(&o.countSync, "strace", true, "count the drain's fsyncs with strace when it is installed")
	fs.StringVar(&o.baseline, "baseline", "", "another pitweet `binary` (an earlier build) to measure beside it in the one-shot")
	fs.StringVar(&o.wrap, "wrap", "", "run pitweet under this `command` in the one-shot (e.g. \"qemu-arm-static -cpu arm1176\" for an armhf build); the peers are then skipped")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	rep := &report{started: time.Now()}
	rep.machine = machineInfo()
	measures := []struct {
		name string
		run  func(*options, *report, *slog.Logger) error
	}{
		{"signing", measureSigning},
		{"oneshot", measureOneShot},
		{"upload", measureUpload},
		{"drain", measureDrain},
		{"idle", measureIdle},
		{"mqtt", measureMQTT},
		{"latency", measureLatency},
		{"chart", measureChart},
		{"sizes", measureSizes},
	}
	for _, m := range measures {
		if o.only != "" && !strings.Contains(","+o.only+",", ","+m.name+",") {
			continue
		}
		log.Info("pitbench: measuring", "measure", m.name)
		if err := m.run(&o, rep, log); err != nil {
			rep.skip(m.name, err.Error())
			log.Error("pitbench: measure failed", "measure", m.name, "err", err)
		}
	}
	rep.took = time.Since(rep.started)
	md := rep.markdown()
	fmt.Print(md)
	if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
		return fmt.Errorf("pitbench: write %s: %w", o.out, err)
	}
	return nil
}

func idleDefault() time.Duration {
	if s := os.Getenv("BENCH_IDLE_SECONDS"); s != "" {
		if n, err := strconv.ParseFloat(s, 64); err == nil && n > 0 {
			return time.Duration(n * float64(time.Second))
		}
	}
	return 60 * time.Second
}
