package outbox

import (
	"fmt"
	"testing"
)

// BenchmarkPutDeliver queues one message per op for 1, 2 or 3
// destinations, delivers it to each, and reports the fsyncs it made: two
// for Put (the file, then the directory), two for each delivery but the
// last (a rewrite), one for the last (the directory, after the removal):
// 2n+1 for n destinations.
func BenchmarkPutDeliver(b *testing.B) {
	for n := 1; n <= 3; n++ {
		b.Run(fmt.Sprintf("dests=%d", n), func(b *testing.B) {
			to := []string{"x", "mastodon", "bluesky"}[:n]
			o, err := Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			start := o.syncs.Load()
			ops := 0
			for b.Loop() {
				m, err := o.Put(Message{Text: "Ding dong at 12:00", Source: "button doorbell", To: to}, nil)
				if err != nil {
					b.Fatal(err)
				}
				for _, dest := range to {
					if err := o.Delivered(m.ID, dest, "1"); err != nil {
						b.Fatal(err)
					}
				}
				ops++
			}
			b.ReportMetric(float64(o.syncs.Load()-start)/float64(ops), "fsyncs/op")
		})
	}
}

// BenchmarkOpen measures recovery of a spool holding 1000 messages, as after
// a long time offline.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	o, err := Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := o.Put(Message{Text: fmt.Sprintf("reading %d: 21.5 °C", i), To: toX}, nil); err != nil {
			b.Fatal(err)
		}
	}
	o.Close()
	for b.Loop() {
		o, err := Open(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		if o.Len() != 1000 {
			b.Fatalf("Len = %d", o.Len())
		}
		o.Close()
	}
}
