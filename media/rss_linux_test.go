package media

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkFitPeakRSS runs Fit of the 12-megapixel camera JPEG in a fresh
// process (this test binary as a helper) and reports the process's peak
// RSS as the kernel counts it (VmHWM in /proc/self/status, read by the
// process at the end; getrusage's ru_maxrss would include this process's
// RSS from before the exec). "idle" is the same process doing nothing:
// what the Go runtime and the test binary cost.
func BenchmarkFitPeakRSS(b *testing.B) {
	src := cameraJPEG(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	for _, dest := range []string{"idle", "X", "Bluesky"} {
		b.Run(dest, func(b *testing.B) {
			dst := filepath.Join(b.TempDir(), "out")
			var peak int64
			var note string
			for b.Loop() {
				args := []string{"media-helper", "fit", src, dst, dest}
				if dest == "idle" {
					args = []string{"media-helper", "idle"}
				}
				out, err := exec.Command(exe, args...).CombinedOutput()
				if err != nil {
					b.Fatalf("%v: %s", err, out)
				}
				said, hwm, _ := strings.Cut(strings.TrimSpace(string(out)), "VmHWM:")
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(hwm), "kB")), 10, 64)
				if err != nil {
					b.Fatalf("no VmHWM in %q", out)
				}
				peak = max(peak, kb)
				note = strings.TrimSpace(said)
			}
			b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
			if note != "" {
				b.Log(note)
			}
		})
	}
}
