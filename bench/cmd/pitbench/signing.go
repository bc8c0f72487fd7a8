package main

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
)

// measureSigning runs the signing benchmarks (bench/signing) six times
// and compares the medians.
func measureSigning(o *options, rep *report, log *slog.Logger) error {
	cmd := exec.Command("go", "test", "./signing/", "-run", "^$", "-bench", ".", "-benchmem", "-count", "6")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pitbench: go test -bench ./signing: %v\n%s", err, out.String())
	}
	ns := map[string][]float64{}
	allocs := map[string][]float64{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				ns[name] = append(ns[name], v)
			case "allocs/op":
				allocs[name] = append(allocs[name], v)
			}
		}
	}
	for _, c := range []struct{ bench, label string }{
		{"BenchmarkSignFixed", "fixed nonce"},
		{"BenchmarkSignOwnNonce", "own random nonce and clock"},
	} {
		p, d := c.bench+"/impl=pitweet", c.bench+"/impl=dghubble"
		if len(ns[p]) == 0 || len(ns[d]) == 0 {
			return fmt.Errorf("pitbench: no results for %s in:\n%s", c.bench, out.String())
		}
		pn, dn := median(ns[p]), median(ns[d])
		rep.add("signing", row{measure: "pitweet oauth, " + c.label, value: fmt.Sprintf("%.0f ns/op, %.0f allocs/op", pn, median(allocs[p]))})
		rep.add("signing", row{measure: "dghubble/oauth1 v0.7.3, " + c.label, value: fmt.Sprintf("%.0f ns/op, %.0f allocs/op", dn, median(allocs[d]))})
		rep.add("signing", goal("signing speed vs dghubble ("+c.label+")", fmt.Sprintf("%.2f×", dn/pn), "≥ 1.0×", dn/pn >= 1.0,
			"Medians of 6 runs of `go test -bench -benchmem` (bench/signing). dghubble reads the clock itself (no public seam) and signs only through its http.RoundTripper, which clones the request; both headers verify and match for the same nonce and timestamp (TestSameSignature)."))
	}
	return nil
}
