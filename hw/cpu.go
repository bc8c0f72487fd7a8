package hw

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
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
	b, err := os.ReadFile(s.path)
	if err != nil {
		return Reading{}, &SensorError{Sensor: s.name, Type: "cpu", Err: err, Hint: "set path to the thermal zone file of this machine"}
	}
	text := strings.TrimSpace(string(b))
	milli, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return Reading{}, &SensorError{Sensor: s.name, Type: "cpu", Err: fmt.Errorf("%s holds %q, not millidegrees", s.path, text), Hint: "set path to a file such as " + DefaultCPUTempPath}
	}
	return Reading{Sensor: s.name, At: time.Now(), Values: map[string]float64{Temperature: float64(milli) / 1000}}, nil
}
