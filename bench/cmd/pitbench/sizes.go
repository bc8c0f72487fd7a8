package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// measureSizes builds the release binary for each architecture the .deb
// ships and reports its size, and the size of each .deb found.
func measureSizes(o *options, rep *report, log *slog.Logger) error {
	dir, err := os.MkdirTemp("", "pitbench-sizes-")
	if err != nil {
		return fmt.Errorf("pitbench: %w", err)
	}
	defer os.RemoveAll(dir)
	for _, a := range []struct{ deb, goarch, goarm string }{
		{"armhf", "arm", "6"}, {"arm64", "arm64", ""}, {"amd64", "amd64", ""},
	} {
		out := filepath.Join(dir, a.deb)
		// The flags of make dist, so the sizes are the packaged binaries'.
		cmd := exec.Command("go", "build", "-trimpath", "-gcflags=all=-l", "-gcflags=runtime=", "-gcflags=crypto/...=",
			"-ldflags", "-s -w", "-o", out, "./cmd/pitweet")
		cmd.Dir = o.module
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+a.goarch, "GOARM="+a.goarm)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pitbench: build for %s: %v\n%s", a.deb, err, b)
		}
		fi, err := os.Stat(out)
		if err != nil {
			return fmt.Errorf("pitbench: %w", err)
		}
		label := "linux/" + a.goarch
		if a.goarm != "" {
			label += " GOARM=" + a.goarm
		}
		rep.add("sizes", row{measure: "binary " + label, value: mib(fi.Size() / 1024),
			note: "go build -trimpath -gcflags=all=-l -gcflags=runtime= -gcflags=crypto/...= -ldflags '-s -w', CGO_ENABLED=0, as make dist builds them."})
	}
	debs, _ := filepath.Glob(filepath.Join(o.debs, "pitweet_*.deb"))
	sort.Strings(debs)
	if len(debs) == 0 {
		rep.skip("sizes: .deb", "no "+filepath.Join(o.debs, "pitweet_*.deb")+" (make deb builds them)")
	}
	for _, d := range debs {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pitbench: %w", err)
		}
		rep.add("sizes", row{measure: filepath.Base(d), value: mib(fi.Size() / 1024)})
	}
	return nil
}
