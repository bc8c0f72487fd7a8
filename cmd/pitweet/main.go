// Command pitweet turns button presses and sensor readings on a Raspberry Pi
// into posts on X. See pitweet(8) for the whole manual.

// A Pi's CPUs and cgroup limits do not change while it runs: the runtime
// need not look again every second, which would wake an idle daemon.
//
//go:debug updatemaxprocs=0
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"pitweet/daemon"
	"pitweet/sdlog"
)

// A command is one subcommand of pitweet. run gets the arguments after the
// subcommand's name and writes its normal output to stdout.
type command struct {
	name    string
	usage   string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// commands is the table of subcommands, in the order help lists them.
var commands = []command{
	{"run", "[--config F] [--fake]", "run the daemon", cmdRun},
	{"demo", "[--pictures DIR] [-v]", "fake board + local X API and Bluesky emulators + presses: the whole pipeline, a photo and a chart included, no account needed", cmdDemo},
	{"post", "[--config F] [--to x,mastodon,bluesky] [--image FILE [--alt TEXT]]... TEXT", "post now to each destination; one line per destination", cmdPost},
	{"tweet", "[--config F] [--api v2|v1.1] [--image FILE [--alt TEXT]]... TEXT", "post one tweet now and print its id (post --to x)", cmdTweet},
	{"explain", "[--config F] [--api v2|v1.1] [--nonce N] [--timestamp T] [--json] [--image FILE [--alt TEXT]]... [--boundary B] TEXT | --login | --to mastodon|bluesky [--image FILE [--alt TEXT]]... TEXT", "print the signature steps and the exact request bytes of a post, or of pitweet login's requests, or a Mastodon or Bluesky post's requests; send nothing", cmdExplain},
	{"chart", "[--config F] [--since DUR] [--sensor NAME[.QUANTITY]]... -o FILE.png", "draw the recorded sensor history as a PNG line chart", cmdChart},
	{"login", "[--config F]", "log in to X with the PIN shown in the browser; writes the account's access token into the credentials file", cmdLogin},
	{"sensors", "[--config F] [--fake] [--json]", "read every configured sensor once", cmdSensors},
	{"press", "[--socket S] NAME [--long]", "ask the running daemon to act as if button NAME was pressed", cmdPress},
	{"status", "[--socket S] [--json]", "outbox depth, last result, rate-limit state, sensors, uptime", cmdStatus},
	{"reload", "[--socket S]", "make the running daemon read its config again; fails if the new config is refused", cmdReload},
	{"check", "[--config F] [--online] [--fake]", "validate config, hardware and credentials; --online calls X's GET /2/users/me and logs in to Bluesky", cmdCheck},
	{"version", "", "print the version", cmdVersion},
}

// hiddenCommands run like commands but are not listed in help: they serve
// pitweet itself.
var hiddenCommands = []command{
	{"fake-camera", "[--frames FILE]", "write a test card as a JPEG to standard output: the simulated board's camera", cmdFakeCamera},
}

// errUsage marks a command-line mistake: pitweet exits with status 2.
var errUsage = errors.New("usage")

// usageError reports a command-line mistake; main prints it and exits 2.
func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

func main() {
	if os.Getenv("GOGC") == "" {
		// pitweet's heap is small and mostly short-lived (the parsed
		// system roots, one request): collecting at 25 % growth instead of
		// 100 % keeps the peak about a megabyte lower for a few hundred
		// microseconds of CPU, which suits a 512 MB Pi Zero.
		debug.SetGCPercent(25)
	}
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	out, errOut := newPrintableWriter(stdout), newPrintableWriter(stderr)
	defer out.Flush()
	defer errOut.Flush()
	return runCommand(args, out, errOut)
}

// runCommand runs the subcommand args name and returns the exit status.
func runCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		printHelp(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range append(commands[:len(commands):len(commands)], hiddenCommands...) {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(errorOutput(stderr), "pitweet %s: %v\nusage: pitweet %s %s\n", c.name, err, c.name, c.usage)
			return 2
		default:
			// One line, whatever a server put in the error.
			fmt.Fprintf(errorOutput(stderr), "pitweet %s: %s\n", c.name, daemon.Printable(err.Error()))
			return 1
		}
	}
	fmt.Fprintf(stderr, "pitweet: unknown command %q; run 'pitweet help' for the list\n", args[0])
	return 2
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "pitweet: post to X from a Raspberry Pi's buttons and sensors")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage:")
	for _, c := range commands {
		fmt.Fprintf(w, "  pitweet %s %s\n      %s\n", c.name, c.usage, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Exit status: 0 success, 1 failure (one line on stderr says what to do), 2 bad usage.")
	fmt.Fprintln(w, "See pitweet(8) for the configuration file and the systemd service.")
}

// toJournal reports whether w is stderr and stderr is systemd's journal
// (pitweet runs as a service, or as its ExecReload=).
func toJournal(w io.Writer) bool {
	if p, ok := w.(*printableWriter); ok {
		w = p.w // what pitweet writes to stderr goes through it
	}
	return w == io.Writer(os.Stderr) && sdlog.StderrIsJournal()
}

// errorOutput is where a command's failure goes: stderr, and when that is
// the journal, with the error priority on each line, so that
// `journalctl -p err` shows why the service did not start or reload.
func errorOutput(stderr io.Writer) io.Writer {
	if toJournal(stderr) {
		return sdlog.PrefixLines(stderr, sdlog.Err)
	}
	return stderr
}

// newFlags returns a FlagSet for subcommand name that reports errors instead
// of exiting, so main decides the exit status.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pitweet "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args with fs and turns a flag error into a usage error.
// Flags may come after positional arguments too ("tweet hello --api v1.1").
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
