package media

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func BenchmarkProbe(b *testing.B) {
	src := cameraJPEG(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Probe(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFit12MP fits the 4056×3040 camera JPEG (about 6 MB) to X (5 MB)
// and to Bluesky (1,000,000 bytes).
func BenchmarkFit12MP(b *testing.B) {
	src := cameraJPEG(b)
	for _, lim := range []Limits{XLimits(), BlueskyLimits()} {
		b.Run(lim.Name, func(b *testing.B) {
			dst := filepath.Join(b.TempDir(), "out")
			var res Result
			for b.Loop() {
				var err error
				res, err = Fit(context.Background(), src, dst, lim)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(res.Info.Size), "out-bytes")
			b.ReportMetric(float64(res.Info.Width), "out-width")
			b.Logf("%s: %s", lim.Name, res.Note)
		})
	}
}

// BenchmarkMultipart5MB streams the body of an upload of a 5 MB file.
func BenchmarkMultipart5MB(b *testing.B) {
	p := filepath.Join(b.TempDir(), "photo.jpg")
	if err := os.WriteFile(p, bytes.Repeat([]byte{0xa5}, 5_000_000), 0o644); err != nil {
		b.Fatal(err)
	}
	m, err := NewMultipart([]Field{{"media_category", "tweet_image"}},
		[]FilePart{{Name: "media", Filename: "photo.jpg", ContentType: "image/jpeg", Path: p, Size: 5_000_000}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(m.ContentLength())
	b.ReportAllocs()
	for b.Loop() {
		n, err := m.WriteTo(io.Discard)
		if err != nil || n != m.ContentLength() {
			b.Fatalf("wrote %d bytes (%v), want %d", n, err, m.ContentLength())
		}
	}
}

// fitHelper runs in a process of its own for the memory benchmark: it
// fits args[0] to args[1] for "X" or "Bluesky" and prints what it made
// and the Go runtime's view of memory.
func fitHelper(args []string) int {
	lim := XLimits()
	if args[2] == "Bluesky" {
		lim = BlueskyLimits()
	}
	res, err := Fit(context.Background(), args[0], args[1], lim)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("%s; heap obtained from the OS %d MiB, all %d MiB\n", res.Note, ms.HeapSys>>20, ms.Sys>>20)
	printPeakRSS()
	return 0
}

// printPeakRSS prints the line of /proc/self/status with the peak RSS of
// this process (VmHWM), where there is one.
func printPeakRSS() {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			fmt.Println(line)
		}
	}
}
