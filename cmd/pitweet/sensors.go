package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"pitweet/config"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"pitweet/hw"
	"pitweet/hw/fakehw"
)

// sensorTimeout bounds one sensor's read; an scd4x needs about 5 s for
// its first measurement. A chip that never finishes fails at the deadline.
const sensorTimeout = 15 * time.Second

// cmdSensors reads every configured sensor once and prints the readings.
func cmdSensors(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sensors", stderr)
	cfgPath := fs.String("config", config.DefaultPath, "configuration `file`")
	fake := fs.Bool("fake", false, "use the simulated board, with an emulated chip for each configured sensor")
	asJSON := fs.Bool("json", false, "print one JSON object: {\"<sensor>\": {\"<Quantity>\": value} or {\"error\": \"...\"}}")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("takes no arguments")
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if len(cfg.Sensors) == 0 {
		return fmt.Errorf("%s configures no sensors; add a [[sensor]] table with name and type", cfg.Path)
	}
	board, err := openSensorBoard(cfg, *fake || cfg.Hardware.Fake())
	if err != nil {
		return err
	}
	defer board.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// All at once: an scd4x's first measurement takes 5 s, which the
	// others need not wait for. The bus takes one transfer at a time.
	results := make([]sensorResult, len(cfg.Sensors))
	var wg sync.WaitGroup
	for i, s := range cfg.Sensors {
		wg.Go(func() { results[i] = readSensor(ctx, board, s) })
	}
	wg.Wait()
	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
		}
	}
	if *asJSON {
		err = printSensorsJSON(stdout, results)
	} else {
		err = printSensorsTable(stdout, results)
	}
	if err != nil {
		return err
	}
	if failed > 0 {
		first := slices.IndexFunc(results, func(r sensorResult) bool { return r.err != nil })
		return fmt.Errorf("%d of %d sensors failed; first: %v", failed, len(results), results[first].err)
	}
	return nil
}

// openSensorBoard opens the Pi's hardware or, when fake, a simulated board
// carrying an emulated chip where each configured I2C sensor expects one.
func openSensorBoard(cfg *config.Config, fake bool) (hw.Board, error) {
	if !fake {
		b, err := hw.OpenReal()
		if err != nil {
			return nil, fmt.Errorf("%w; on a machine without I2C, try --fake", err)
		}
		return b, nil
	}
	b := fakehw.New(fakehw.Options{RealTime: true, NoChips: true, Daily: cfg.Hardware.Environment != "fixed"})
	for _, s := range cfg.Sensors {
		if s.Type == "cpu" {
			continue
		}
		if err := b.Attach(s.Type, s.Address); err != nil {
			b.Close()
			return nil, fmt.Errorf("simulated sensor %q: %w", s.Name, err)
		}
	}
	return b, nil
}

type sensorResult struct {
	cfg    config.SensorConfig
	values map[string]float64
	err    error
}

func readSensor(ctx context.Context, board hw.Board, s config.SensorConfig) sensorResult {
	res := sensorResult{cfg: s}
	sensor, err := hw.OpenSensor(board, hw.SensorConfig{Name: s.Name, Type: s.Type, Bus: s.Bus, Address: s.Address, Path: s.Path})
	if err != nil {
		res.err = err
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, sensorTimeout)
	defer cancel()
	r, err := sensor.Read(ctx)
	if err != nil {
		res.err = err
		return res
	}
	res.values = r.Values
	return res
}

// quantityOrder lists a reading's quantities: the type's usual order, then
// any others alphabetically.
func quantityOrder(r sensorResult) []string {
	var qs []string
	for _, q := range config.SensorQuantities[r.cfg.Type] {
		if _, ok := r.values[q]; ok {
			qs = append(qs, q)
		}
	}
	for _, q := range slices.Sorted(maps.Keys(r.values)) {
		if !slices.Contains(qs, q) {
			qs = append(qs, q)
		}
	}
	return qs
}

func printSensorsTable(w io.Writer, results []sensorResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SENSOR\tTYPE\tWHERE\tREADING")
	for _, r := range results {
		where := fmt.Sprintf("i2c-%s 0x%02x", r.cfg.Bus, r.cfg.Address)
		if r.cfg.Type == "cpu" {
			where = "soc"
			if r.cfg.Path != "" {
				where = r.cfg.Path
			}
		}
		var reading string
		if r.err != nil {
			reading = "error: " + strings.TrimPrefix(r.err.Error(), "hw: ")
		} else {
			var parts []string
			for _, q := range quantityOrder(r) {
				parts = append(parts, q+" "+config.Value{V: r.values[q], Unit: config.Quantities[q]}.String())
			}
			reading = strings.Join(parts, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.cfg.Name, r.cfg.Type, where, reading)
	}
	return tw.Flush()
}

func printSensorsJSON(w io.Writer, results []sensorResult) error {
	out := make(map[string]any, len(results))
	for _, r := range results {
		if r.err != nil {
			out[r.cfg.Name] = map[string]string{"error": r.err.Error()}
			continue
		}
		out[r.cfg.Name] = r.values
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
