package outbox

import (
	"slices"
	"testing"
)

// NextMatching takes the lowest rank first and, among equals, the oldest;
// a negative rank passes a message over; the order of the queue and the
// other destinations are untouched.
func TestNextMatching(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	for _, m := range []Message{
		{Text: "report 1", Kind: "report", To: []string{"x"}},
		{Text: "press 1", Kind: "press", To: []string{"x", "mastodon"}, OnBudget: "drop"},
		{Text: "report 2", Kind: "report", To: []string{"x"}},
		{Text: "alert 1", Kind: "alert", To: []string{"x"}},
		{Text: "press 2", Kind: "press", To: []string{"mastodon"}},
		{Text: "alert 2", Kind: "alert", To: []string{"x"}},
	} {
		if _, err := o.Put(m, nil); err != nil {
			t.Fatal(err)
		}
	}
	rank := map[string]int{"alert": 1, "press": 2, "report": 3}
	held := map[string]bool{}
	byRank := func(m Message) int {
		if held[m.Text] {
			return -1
		}
		return rank[m.Kind]
	}
	var order []string
	for {
		m, ok, err := o.NextMatching("x", byRank)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		order = append(order, m.Text)
		if m.Text == "report 1" {
			// Held: passed over from now on, as an over-budget report is.
			held[m.Text] = true
			continue
		}
		if err := o.Delivered(m.ID, "x", "1"); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"alert 1", "alert 2", "press 1", "report 1", "report 2"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %q, want %q", order, want)
	}
	// NextFor is unchanged: oldest first, held or not.
	if m, ok, _ := o.NextFor("x"); !ok || m.Text != "report 1" {
		t.Fatalf("NextFor(x) = %q", m.Text)
	}
	if m, ok, _ := o.NextFor("mastodon"); !ok || m.Text != "press 1" {
		t.Fatalf("NextFor(mastodon) = %q", m.Text)
	}
	// OnBudget survives a restart.
	o.Close()
	o = open(t, dir, nil)
	for _, m := range o.Pending() {
		if want := map[string]string{"press 1": "drop"}[m.Text]; m.OnBudget != want {
			t.Errorf("%q: OnBudget %q after a restart, want %q", m.Text, m.OnBudget, want)
		}
	}
	if _, err := o.Put(Message{Text: "x", To: []string{"x"}, OnBudget: "sometimes"}, nil); err == nil {
		t.Error("Put took on_budget \"sometimes\"")
	}
}
