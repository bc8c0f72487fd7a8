package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"pitweet/fakex"
	"pitweet/oauth"
)

// A tool posts one tweet in a fresh process.
type tool struct {
	name string
	argv func(text string) ([]string, error)
	env  []string
}

type sample struct {
	wall time.Duration
	cpu  time.Duration // user + system, the process and its children
	rss  int64         // peak, KiB
}

// measureOneShot posts one tweet per fresh process with each tool, in
// alternating order, under /usr/bin/time -v.
func measureOneShot(o *options, rep *report, log *slog.Logger) error {
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		return errors.New("pitbench: /usr/bin/time is missing: apt-get install time")
	}
	r, err := newBenchRig()
	if err != nil {
		return err
	}
	defer r.close()
	cfg, _, err := r.writeConfig("oneshot", "")
	if err != nil {
		return err
	}
	// The same, with the emulator's CA among the system's roots instead of
	// in ca_file: SSL_CERT_FILE names the system bundle plus the CA, as
	// for a server whose CA the system trusts (api.x.com).
	cfgSys, _, err := r.writeConfigCA("oneshot-sys", "", "")
	if err != nil {
		return err
	}
	bundle, err := systemBundlePlus(r)
	if err != nil {
		return err
	}
	var wrap []string
	if o.wrap != "" {
		wrap = strings.Fields(o.wrap)
	}
	pitweet := func(name, bin, cfg string, env ...string) tool {
		return tool{name: name, env: env, argv: func(text string) ([]string, error) {
			return append(append(append([]string{}, wrap...), bin), "tweet", "--config", cfg, text), nil
		}}
	}
	tools := []tool{
		pitweet(toolPitweet, o.pitweet, cfg),
		pitweet(toolPitweetSys, o.pitweet, cfgSys, "SSL_CERT_FILE="+bundle),
		// No system roots at all, only the emulator's CA, as curl is given
		// in "curl, emulator CA only": what trusting the system costs.
		pitweet(toolPitweetCA, o.pitweet, cfgSys, "SSL_CERT_FILE="+r.ca, "SSL_CERT_DIR="+filepath.Join(r.dir, "no-such-dir")),
	}
	if o.baseline != "" {
		tools = append(tools,
			pitweet(toolPitweet+" (baseline)", o.baseline, cfg),
			pitweet(toolPitweetSys+" (baseline)", o.baseline, cfgSys, "SSL_CERT_FILE="+bundle))
	}
	if len(wrap) > 0 {
		rep.skip("oneshot", fmt.Sprintf("pitweet runs under %q: the peers, which run natively, are left out", o.wrap))
	} else {
		tools = append(tools, peers(r, rep, bundle)...)
	}
	samples := map[string][]sample{}
	seq := 0
	// One warm-up run each, then o.runs measured rounds, each round
	// starting with a different tool.
	for round := -1; round < o.runs; round++ {
		for i := range tools {
			t := tools[(i+max(round, 0))%len(tools)]
			seq++
			text := fmt.Sprintf("bench one tweet %d by %s at %d", seq, t.name, time.Now().UnixNano())
			s, err := timeOne(r, t, text)
			if err != nil {
				return err
			}
			if round >= 0 {
				samples[t.name] = append(samples[t.name], s)
			}
		}
	}
	med := map[string]sample{}
	for _, t := range tools {
		var w, c, m []float64
		for _, s := range samples[t.name] {
			w = append(w, float64(s.wall))
			c = append(c, float64(s.cpu))
			m = append(m, float64(s.rss))
		}
		med[t.name] = sample{wall: time.Duration(median(w)), cpu: time.Duration(median(c)), rss: int64(median(m))}
	}
	curl, haveCurl := med[toolCurl]
	note := fmt.Sprintf("Medians of %d alternating runs after one warm-up each; wall time around /usr/bin/time -v, CPU time (user + system) from its wait status, peak RSS from its report. %q trusts the system roots plus the emulator's CA as ca_file; %q has no ca_file and SSL_CERT_FILE naming the system bundle plus the emulator's CA (a server whose CA the system trusts, as api.x.com's; /etc/ssl/certs is read too, as always); %q trusts the emulator's CA alone (SSL_CERT_FILE naming it, SSL_CERT_DIR a directory that does not exist). curl sends a request pre-signed with pitweet's oauth package (the floor: TLS and HTTP only): %q is given the same roots as pitweet (the system bundle plus the emulator's CA in one --cacert file), %q just the one certificate. tweepy runs on Debian's python3; its requests are sent to the emulator's address with Host: api.twitter.com kept (as curl --resolve). twitter-api-v2 is pointed at the emulator with its setPrefix.",
		o.runs, toolPitweet, toolPitweetSys, toolPitweetCA, toolCurl, toolCurlCA)
	if len(wrap) > 0 {
		note += fmt.Sprintf(" pitweet ran under %q, so its peak RSS is the emulator's.", o.wrap)
	}
	if o.baseline != "" {
		note += fmt.Sprintf(" (baseline) is %s, run alternately with %s.", o.baseline, o.pitweet)
	}
	for _, t := range tools {
		s := med[t.name]
		v := fmt.Sprintf("%s wall, %s CPU, %s peak RSS", ms(s.wall), ms(s.cpu), mib(s.rss))
		if haveCurl && t.name != toolCurl {
			v += fmt.Sprintf(" (%.2f× / %.2f× / %.2f× curl)", float64(s.wall)/float64(curl.wall), float64(s.cpu)/float64(curl.cpu), float64(s.rss)/float64(curl.rss))
		}
		rep.add("oneshot", row{measure: t.name, value: v, note: note})
	}
	if o.baseline != "" {
		for _, name := range []string{toolPitweet, toolPitweetSys} {
			b, p := med[name+" (baseline)"], med[name]
			rep.add("oneshot", row{measure: name + ", baseline / this build",
				value: fmt.Sprintf("%s / %s wall (%.2f× faster), %s / %s CPU", ms(b.wall), ms(p.wall), float64(b.wall)/float64(p.wall), ms(b.cpu), ms(p.cpu)), note: note})
		}
	}
	if haveCurl {
		p := med[toolPitweet]
		wr := float64(p.wall) / float64(curl.wall)
		rr := float64(p.rss) / float64(curl.rss)
		rep.add("oneshot", goal("pitweet tweet wall vs curl", fmt.Sprintf("%.2f×", wr), "≤ 1.3×", wr <= 1.3, ""))
		rep.add("oneshot", goal("pitweet tweet peak RSS vs curl", fmt.Sprintf("%.2f×", rr), "≤ 1.0×", rr <= 1.0, ""))
	}
	if ca, ok := med[toolCurlCA]; ok {
		p := med[toolPitweetSys]
		wr := float64(p.wall) / float64(ca.wall)
		rep.add("oneshot", goal("pitweet tweet (SSL_CERT_FILE: system bundle + CA) wall vs curl with the emulator's CA only",
			fmt.Sprintf("%.2f× (CPU %.2f×)", wr, float64(p.cpu)/float64(ca.cpu)), "≤ 1.2×", wr <= 1.2, ""))
	}
	return nil
}

// Names of the one-shot's tools.
const (
	toolPitweet    = "pitweet tweet"
	toolPitweetSys = "pitweet tweet, SSL_CERT_FILE = system bundle + CA"
	toolPitweetCA  = "pitweet tweet, emulator CA only"
	toolCurl       = "curl"
	toolCurlCA     = "curl, emulator CA only"
)

// peers returns the other tools that can post from a fresh process here,
// and reports those that cannot run as skipped. bundle is the system's
// roots plus the emulator's CA in one file.
func peers(r *benchRig, rep *report, bundle string) []tool {
	var tools []tool
	if _, err := exec.LookPath("curl"); err == nil {
		tools = append(tools,
			tool{name: toolCurl, argv: func(text string) ([]string, error) { return curlArgv(r, bundle, text) }},
			tool{name: toolCurlCA, argv: func(text string) ([]string, error) { return curlArgv(r, r.ca, text) }})
	} else {
		rep.skip("oneshot", "curl is not installed (apt-get install curl); ratios to curl are missing")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import tweepy").Run(); err == nil {
		tools = append(tools, tool{name: "tweepy", env: append(r.keyEnv(), "REQUESTS_CA_BUNDLE="+r.ca),
			argv: func(text string) ([]string, error) {
				return []string{"/usr/bin/python3", "python/tweet.py", r.x.URL(), text}, nil
			}})
	} else {
		rep.skip("oneshot: tweepy", "python3-tweepy is not installed (apt-get install python3-tweepy)")
	}
	if _, err := exec.LookPath("node"); err == nil && exists("node/node_modules/twitter-api-v2") {
		tools = append(tools, tool{name: "twitter-api-v2 (node)", env: append(r.keyEnv(), "NODE_EXTRA_CA_CERTS="+r.ca),
			argv: func(text string) ([]string, error) {
				return []string{"node", "node/tweet.js", r.x.URL(), text}, nil
			}})
	} else {
		rep.skip("oneshot: twitter-api-v2", "node or bench/node/node_modules is missing (apt-get install nodejs npm; cd bench/node && npm ci)")
	}
	return tools
}

// curlArgv signs a POST /2/tweets for text with a fresh nonce and returns
// the curl command that sends it.
func curlArgv(r *benchRig, cacert, text string) ([]string, error) {
	url := r.x.URL() + "/2/tweets"
	s := &oauth.Signer{Credentials: fakex.DemoCredentials}
	b, err := s.Sign(oauth.Request{Method: "POST", URL: url})
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return nil, err
	}
	return []string{"curl", "-sS", "--fail-with-body", "--cacert", cacert, "-H", "Authorization: " + b.Header,
		"-H", "Content-Type: application/json", "--data-binary", string(body), url}, nil
}

// systemBundlePlus writes the system's CA bundle followed by the
// emulator's CA to one file and returns its path; without a system bundle
// it returns the emulator's CA alone.
func systemBundlePlus(r *benchRig) (string, error) {
	sys, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		return r.ca, nil
	}
	ca, err := os.ReadFile(r.ca)
	if err != nil {
		return "", fmt.Errorf("pitbench: %w", err)
	}
	path := filepath.Join(r.dir, "bundle.pem")
	if err := os.WriteFile(path, append(append(sys, '\n'), ca...), 0o644); err != nil {
		return "", fmt.Errorf("pitbench: %w", err)
	}
	return path, nil
}

// timeOne runs t once under /usr/bin/time -v and checks that the emulator
// accepted text.
func timeOne(r *benchRig, t tool, text string) (sample, error) {
	argv, err := t.argv(text)
	if err != nil {
		return sample{}, err
	}
	tf := filepath.Join(r.dir, "time.txt")
	cmd := exec.Command("/usr/bin/time", append([]string{"-v", "-o", tf}, argv...)...)
	cmd.Env = append(os.Environ(), t.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("pitbench: %s failed: %v\n%s", t.name, err, out.String())
	}
	found := false
	for _, tw := range r.x.Tweets() {
		if tw.Text == text {
			found = true
		}
	}
	if !found {
		return sample{}, fmt.Errorf("pitbench: %s exited 0 but the emulator has no tweet %q; it said:\n%s", t.name, text, out.String())
	}
	tb, err := os.ReadFile(tf)
	if err != nil {
		return sample{}, fmt.Errorf("pitbench: %w", err)
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime() // includes the children time waited for
	var rss int64 = -1
	for _, line := range strings.Split(string(tb), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Maximum resident set size (kbytes):"); ok {
			rss, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if rss < 0 {
		return sample{}, fmt.Errorf("pitbench: no peak RSS in /usr/bin/time's output:\n%s", tb)
	}
	return sample{wall: wall, cpu: cpu, rss: rss}, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
