package daemon

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"pitweet/outbox"
)

// TestStatusJSONLeavesOutZeroTimes: a time that does not apply is left
// out of status --json, not shown as 0001-01-01T00:00:00Z, and reads back
// as the zero time.
func TestStatusJSONLeavesOutZeroTimes(t *testing.T) {
	box, err := outbox.Open(t.TempDir(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	now := time.Now()
	st := &state{pid: 1, started: now, hardware: "fake"}
	st.addDestination("x")
	st.setDelivery("x", "idle", time.Time{})
	st.sensorRead("room", "bme280", time.Time{}, nil, errors.New("hw: bme280: no answer"))
	st.sensorRead("cpu", "cpu", now, map[string]float64{"Temperature": 40}, nil)

	b, err := json.Marshal(st.snapshot(now, box))
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	if strings.Contains(out, "0001-01-01") || strings.Contains(out, "next_attempt") || strings.Contains(out, "rate_limited_until") {
		t.Fatalf("status with nothing pending shows zero times: %s", out)
	}
	var back Status
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.NextAttempt.IsZero() || !back.RateLimited.IsZero() || len(back.Sensors) != 2 ||
		back.Sensors[0].Name != "cpu" || back.Sensors[0].At.IsZero() || back.Sensors[1].Name != "room" || !back.Sensors[1].At.IsZero() {
		t.Fatalf("status read back as %+v", back)
	}

	// A retry that is pending and a rate limit are shown.
	st.setDelivery("x", "backing off", now.Add(time.Minute))
	st.setRateLimit("x", now.Add(time.Hour))
	b, _ = json.Marshal(st.snapshot(now, box))
	if out := string(b); !strings.Contains(out, `"next_attempt":"`) || !strings.Contains(out, `"rate_limited_until":"`) {
		t.Fatalf("status with a retry and a rate limit pending: %s", out)
	}
}
