package hw

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSensor reads the SoC temperature that Linux publishes in millidegrees
// Celsius.
type cpuSensor struct {
	name, path string
}

func (s *cpuSensor) Name() string { return s.name }
func (s *cpuSensor) Type() string { return "cpu" }

func (s *cpuSensor) Read(ctx context.Context) (Reading, error) {
	if err := ctx.Err(); err != nil {
		return Reading{}, err
	}
	milli, err := readMillidegrees(s.path)
	if err != nil {
		return Reading{}, &SensorError{Sensor: s.name, Type: "cpu", Err: err, Hint: "set path to the thermal zone file of this machine, such as " + DefaultCPUTempPath}
	}
	return Reading{Sensor: s.name, At: time.Now(), Values: map[string]float64{Temperature: float64(milli) / 1000}}, nil
}

// maxTempFile bounds a read of a temperature file: the kernel writes a
// decimal number of millidegrees and a newline.
const maxTempFile = 16

// readMillidegrees reads a temperature file. It reads a regular file only
// (sysfs attributes are), at most maxTempFile bytes of it, and never puts
// what it read in an error: a mistaken path may name a file of secrets.
func readMillidegrees(path string) (int64, error) {
	// Non-blocking, so that a FIFO cannot hold the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file but a %s, so not a temperature", path, fileKind(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTempFile+1))
	if err != nil {
		return 0, err
	}
	milli, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if len(b) > maxTempFile || err != nil {
		return 0, fmt.Errorf("%s does not hold a temperature in millidegrees", path)
	}
	return milli, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeDir != 0:
		return "directory"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "block device"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// CheckCPUTempPath refuses a cpu sensor path that is not a temperature file
// the kernel publishes. What the file holds is shown in logs and status, so
// the path may name nothing else: not a file of secrets, not a device. It
// must be one of
//
//	/sys/class/thermal/thermal_zone<N>/temp
//	/sys/devices/virtual/thermal/thermal_zone<N>/temp
//	/sys/class/hwmon/hwmon<N>/temp<M>_input
//	/sys/devices/<device>/hwmon/hwmon<N>/temp<M>_input
//
// written without "." or ".." elements.
func CheckCPUTempPath(path string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path || !thermalPath(strings.Split(path[1:], "/")) {
		return fmt.Errorf("hw: %s is not a temperature file of the kernel; use one such as %s or /sys/class/hwmon/hwmon0/temp1_input, or leave path out for the board's own", path, DefaultCPUTempPath)
	}
	return nil
}

func thermalPath(p []string) bool {
	zone := func(s string) bool { return numbered(s, "thermal_zone", "") }
	hwmon := func(s string) bool { return numbered(s, "hwmon", "") }
	input := func(s string) bool { return numbered(s, "temp", "_input") }
	n := len(p)
	switch {
	case n == 5 && p[0] == "sys" && p[1] == "class" && p[2] == "thermal":
		return zone(p[3]) && p[4] == "temp"
	case n == 6 && p[0] == "sys" && p[1] == "devices" && p[2] == "virtual" && p[3] == "thermal":
		return zone(p[4]) && p[5] == "temp"
	case n == 5 && p[0] == "sys" && p[1] == "class" && p[2] == "hwmon":
		return hwmon(p[3]) && input(p[4])
	case n >= 6 && p[0] == "sys" && p[1] == "devices":
		return p[n-3] == "hwmon" && hwmon(p[n-2]) && input(p[n-1])
	}
	return false
}

// numbered reports whether s is prefix, a decimal number, then suffix.
func numbered(s, prefix, suffix string) bool {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return false
	}
	if digits, ok = strings.CutSuffix(digits, suffix); !ok || digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
