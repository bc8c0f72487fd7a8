package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"pitweet/daemon"
	"pitweet/fakex"
)

// drainResult is one drain of n queued messages.
type drainResult struct {
	perTweet time.Duration // between the first and the last accepted tweet, per tweet
	total    time.Duration // from the first to the last accepted tweet
	fsyncs   int           // -1 when not counted
}

// The drain queues its messages while X answers 429 with a reset a few
// seconds ahead, as after an outage: the daemon waits for the reset, then
// delivers the whole queue.
const drainHold = 3 * time.Second

// drainRuns is how many times each side drains, alternating.
const drainRuns = 3

// measureDrain queues o.drainN presses while the emulator rate-limits, then
// times the daemon delivering them; a second run under strace counts the
// fsyncs.
func measureDrain(o *options, rep *report, log *slog.Logger) error {
	// Each side runs drainRuns times, alternating; the medians are compared.
	var ours, theirs []time.Duration
	var res drainResult
	tweepyErr := error(nil)
	for range drainRuns {
		r, err := drainOnce(o, nil)
		if err != nil {
			return err
		}
		res = r
		ours = append(ours, r.perTweet)
		if tweepyErr == nil {
			tw, err := tweepyLoop(o, o.drainN)
			if err != nil {
				tweepyErr = err
			} else {
				theirs = append(theirs, tw)
			}
		}
	}
	perTweet := median(ours)
	rep.add("drain", row{measure: fmt.Sprintf("pitweet daemon, %d queued tweets", o.drainN),
		value: fmt.Sprintf("%s per tweet (median of %d runs; the last took %s from the first to the last tweet)", ms(perTweet), drainRuns, ms(res.total)),
		note: fmt.Sprintf("The %d messages are queued by presses on the control socket while the emulator answers 429 with a reset %s ahead; per tweet is the time between the first and the last tweet the emulator accepted, over %d.",
			o.drainN, drainHold, o.drainN-1)})
	if _, err := exec.LookPath("strace"); o.countSync && err == nil {
		sres, err := drainOnce(o, []string{"strace", "-f", "-c", "-e", "trace=fsync,fdatasync"})
		if err != nil {
			return err
		}
		rep.add("drain", row{measure: "outbox fsyncs (strace -f -c)",
			value: fmt.Sprintf("%d for %d messages: %.1f per message", sres.fsyncs, o.drainN, float64(sres.fsyncs)/float64(o.drainN)),
			note:  "fsync and fdatasync calls by the daemon over the whole run (startup, queueing, the 429 attempt, delivery), counted in a second run under strace."})
	} else {
		rep.skip("drain: fsyncs", "strace is not installed (apt-get install strace); by the outbox's design a message costs 2 fsyncs to queue (file, directory), 2 per recorded attempt and 1 to remove")
	}
	if tweepyErr != nil {
		rep.skip("drain: tweepy", tweepyErr.Error())
		return nil
	}
	tw := median(theirs)
	rep.add("drain", row{measure: fmt.Sprintf("tweepy, %d tweets in one process", o.drainN), value: fmt.Sprintf("%s per tweet (median of %d runs)", ms(tw), len(theirs)),
		note: "tweepy posts in a loop in one Python process, timed inside the process; requests' session keeps one TLS connection open for all 100, and so does pitweet's daemon (keep-alive while it drains), which also removes each delivered message from the outbox with an fsync of the directory."})
	rep.add("drain", goal("drain per tweet vs tweepy in-process", fmt.Sprintf("%s vs %s (%.2f×)", ms(perTweet), ms(tw), float64(perTweet)/float64(tw)),
		"≤ 1.0×", perTweet <= tw, ""))
	return nil
}

func drainOnce(o *options, wrap []string) (drainResult, error) {
	r, err := newBenchRig()
	if err != nil {
		return drainResult{}, err
	}
	defer r.close()
	cfg, _, err := r.writeConfig("drain", `[[button]]
name = "drain"
pin = "GPIO17"
text = "drain {{.Time.UnixNano}}"
`)
	if err != nil {
		return drainResult{}, err
	}
	var straceOut string
	if wrap != nil {
		straceOut = filepath.Join(r.dir, "strace.txt")
		wrap = append(wrap, "-o", straceOut, "--")
	}
	if err := r.x.SetFault(fakex.Fault{Mode: fakex.Mode429, Count: 1, Reset: drainHold}); err != nil {
		return drainResult{}, err
	}
	d, err := startDaemon(o.pitweet, cfg, wrap)
	if err != nil {
		return drainResult{}, err
	}
	defer d.stop()
	for i := 0; i < o.drainN; i++ {
		resp, err := daemon.Call(d.socket, daemon.ControlRequest{Op: "press", Button: "drain"})
		if err != nil {
			return drainResult{}, err
		}
		if !resp.OK {
			return drainResult{}, fmt.Errorf("pitbench: press refused: %s", resp.Error)
		}
	}
	if n := len(r.x.Tweets()); n > 0 {
		return drainResult{}, fmt.Errorf("pitbench: the emulator accepted %d tweets while it was rate-limiting", n)
	}
	tweets, err := r.waitTweets(o.drainN, drainHold+60*time.Second)
	if err != nil {
		return drainResult{}, err
	}
	first, last := tweets[0].At, tweets[len(tweets)-1].At
	res := drainResult{perTweet: last.Sub(first) / time.Duration(len(tweets)-1), total: last.Sub(first), fsyncs: -1}
	if wrap == nil {
		return res, nil
	}
	if err := d.stop(); err != nil {
		return drainResult{}, fmt.Errorf("pitbench: the daemon under strace: %v", err)
	}
	res.fsyncs, err = straceCount(straceOut)
	return res, err
}

// straceCount adds up the fsync and fdatasync calls in a strace -c summary.
func straceCount(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pitbench: strace summary: %w", err)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		name := f[len(f)-1]
		if name != "fsync" && name != "fdatasync" {
			continue
		}
		// % time, seconds, usecs/call, calls, [errors,] syscall
		c, err := strconv.Atoi(f[3])
		if err != nil {
			return 0, fmt.Errorf("pitbench: strace summary line %q", sc.Text())
		}
		n += c
	}
	return n, nil
}

// tweepyLoop posts n tweets with tweepy in one Python process and returns
// the time per tweet it measured.
func tweepyLoop(o *options, n int) (time.Duration, error) {
	if err := exec.Command("/usr/bin/python3", "-c", "import tweepy").Run(); err != nil {
		return 0, errors.New("python3-tweepy is not installed (apt-get install python3-tweepy)")
	}
	r, err := newBenchRig()
	if err != nil {
		return 0, err
	}
	defer r.close()
	cmd := exec.Command("/usr/bin/python3", "python/tweet.py", r.x.URL(), fmt.Sprintf("tweepy loop %d", time.Now().UnixNano()), strconv.Itoa(n))
	cmd.Env = append(append(os.Environ(), r.keyEnv()...), "REQUESTS_CA_BUNDLE="+r.ca)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("tweepy loop failed: %v\n%s", err, stderr.String())
	}
	sec, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		return 0, fmt.Errorf("tweepy loop printed %q", out)
	}
	if got := len(r.x.Tweets()); got != n {
		return 0, fmt.Errorf("tweepy loop: the emulator has %d of %d tweets", got, n)
	}
	return time.Duration(sec * float64(time.Second)), nil
}
