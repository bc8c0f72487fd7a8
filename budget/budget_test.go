package budget

import (
	"math"
	"testing"
	"time"
)

func TestAmountString(t *testing.T) {
	for _, tc := range []struct {
		a    Amount
		want string
	}{
		{0, "$0.00"},
		{15_000, "$0.015"},
		{200_000, "$0.20"},
		{5 * Dollar, "$5.00"},
		{144 * Dollar, "$144.00"},
		{1, "$0.000001"},
		{-10_000, "-$0.01"},
		{10*Dollar + 805_000, "$10.805"},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("Amount(%d).String() = %q, want %q", int64(tc.a), got, tc.want)
		}
	}
	if got := Amount(10*Dollar + 805_000).Cents(); got != "$10.81" {
		t.Errorf("Cents = %q, want $10.81", got)
	}
}

func TestFromUSD(t *testing.T) {
	for _, tc := range []struct {
		usd  float64
		want Amount
	}{{0.015, 15_000}, {0.2, 200_000}, {5, 5 * Dollar}, {0.01, 10_000}, {0.005, 5_000}, {0.1 + 0.2, 300_000}} {
		got, err := FromUSD(tc.usd)
		if err != nil || got != tc.want {
			t.Errorf("FromUSD(%v) = %d, %v; want %d", tc.usd, got, err, tc.want)
		}
	}
	for _, bad := range []float64{-0.01, math.NaN(), math.Inf(1), 2e6} {
		if _, err := FromUSD(bad); err == nil {
			t.Errorf("FromUSD(%v) took it", bad)
		}
	}
}

func TestForPost(t *testing.T) {
	p := Published
	for _, tc := range []struct {
		text  string
		alts  int
		total Amount
		first Item
	}{
		{"Kitchen 21.5 °C at 14:00", 0, 15_000, ItemPost},
		{"Kitchen 21.5 °C, chart at example.com/k", 0, 200_000, ItemPostURL},
		{"Doorbell https://pi.example.org/cam", 0, 200_000, ItemPostURL},
		{"Doorbell, with a photo", 1, 20_000, ItemPost},
		{"Four captioned photos", 4, 35_000, ItemPost}, // the spec's $0.035
		{"raspberrypi.local says hi", 0, 15_000, ItemPost},
	} {
		reqs := p.ForPost(tc.text, tc.alts)
		if Total(reqs) != tc.total || reqs[0].Item != tc.first || len(reqs) != 1+tc.alts {
			t.Errorf("ForPost(%q, %d) = %+v (total %s); want %s first %s", tc.text, tc.alts, reqs, Total(reqs), tc.total, tc.first)
		}
	}
}

func TestFits(t *testing.T) {
	s := Settings{Prices: Published, Budget: 5 * Dollar, Limited: true}
	if !s.Fits(4985_000, 15_000) || s.Fits(4990_000, 15_000) {
		t.Error("a post that lands exactly on the budget must fit, one over it must not")
	}
	if !(Settings{}).Fits(1000*Dollar, Dollar) {
		t.Error("without a budget everything fits")
	}
	if (Settings{Limited: true}).Fits(0, 1) {
		t.Error("a budget of 0 lets nothing through")
	}
}

func TestMonths(t *testing.T) {
	local := time.FixedZone("UTC+2", 2*3600)
	at := time.Date(2026, 10, 1, 1, 30, 0, 0, local) // 23:30 UTC on September 30
	if MonthOf(at) != "2026-09" {
		t.Errorf("MonthOf(%v) = %s, want 2026-09 (months are UTC)", at, MonthOf(at))
	}
	if n := NextMonth(at); !n.Equal(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("NextMonth = %v", n)
	}
	if NextMonth(time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)) != time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Error("NextMonth across the year")
	}
	if DaysIn(time.Date(2028, 2, 10, 0, 0, 0, 0, time.UTC)) != 29 {
		t.Error("DaysIn(February 2028) != 29")
	}
}

func TestQuota(t *testing.T) {
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	var q Quota
	if until, _ := q.Blocked(now); !until.IsZero() {
		t.Fatal("an empty quota blocks")
	}
	// The headers absent: unknown, never zero.
	q.Observe(Limits{Limit: -1, Remaining: -1, Limit24h: -1, Remaining24h: -1}, now)
	if until, _ := q.Blocked(now); !until.IsZero() {
		t.Fatal("absent headers block")
	}
	if low, _ := q.Low(now); low {
		t.Fatal("absent headers are low")
	}
	reset := now.Add(5 * time.Hour)
	q.Observe(Limits{Limit: 100, Remaining: 99, Reset: now.Add(10 * time.Minute), Limit24h: 17, Remaining24h: 4, Reset24h: reset}, now)
	if low, _ := q.Low(now); low {
		t.Error("4 of 17 left is not low (threshold 3)")
	}
	q.Observe(Limits{Limit: 100, Remaining: 98, Reset: now.Add(10 * time.Minute), Limit24h: 17, Remaining24h: 3, Reset24h: reset}, now)
	if low, until := q.Low(now); !low || !until.Equal(reset) {
		t.Errorf("3 of 17 left: low %v until %v, want low until %v", low, until, reset)
	}
	q.Observe(Limits{Limit: 100, Remaining: 97, Reset: now.Add(10 * time.Minute), Limit24h: 17, Remaining24h: 0, Reset24h: reset}, now)
	if until, why := q.Blocked(now); !until.Equal(reset) || why == "" {
		t.Errorf("0 left: blocked until %v (%q), want %v", until, why, reset)
	}
	if until, _ := q.Blocked(reset); !until.IsZero() {
		t.Error("still blocked at the reset")
	}
	// A reset a year away is bounded.
	q.Observe(Limits{Limit: -1, Remaining: -1, Limit24h: 17, Remaining24h: 0, Reset24h: now.AddDate(1, 0, 0)}, now)
	if until, _ := q.Blocked(now); until.Sub(now) > 25*time.Hour {
		t.Errorf("blocked until %v: more than a day", until)
	}
	// Used up with no reset: wait a while, not for ever, not at all.
	q.Observe(Limits{Limit: 100, Remaining: 0, Limit24h: -1, Remaining24h: -1}, now)
	if until, _ := q.Blocked(now); !until.Equal(now.Add(15 * time.Minute)) {
		t.Errorf("15-minute window used up without a reset: blocked until %v", until)
	}
	if LowThreshold(100) != 10 || LowThreshold(17) != 3 || LowThreshold(3000) != 300 {
		t.Error("LowThreshold")
	}
}
