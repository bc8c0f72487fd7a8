package hw

import "testing"

func TestPinName(t *testing.T) {
	for in, want := range map[string]string{"GPIO17": "GPIO17", "gpio4": "GPIO4", "P1_11": "GPIO17", "p1_40": "GPIO21", "P1_27": "GPIO0", "GPIO0": "GPIO0"} {
		got, err := PinName(in)
		if err != nil || got != want {
			t.Errorf("PinName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"GPIO28", "GPIO", "GPIO017", "P1_0", "P1_41", "P1_1", "P1_39", "17", ""} {
		if got, err := PinName(in); err == nil {
			t.Errorf("PinName(%q) = %q, want an error", in, got)
		}
	}
}
