package outbox

import (
	"fmt"
	"testing"
)

// BenchmarkPutDone queues and delivers one message per op and reports the
// fsyncs it made: two for Put (the file, then the directory), one for Done
// (the directory).
func BenchmarkPutDone(b *testing.B) {
	o, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	start := o.syncs.Load()
	ops := 0
	for b.Loop() {
		m, err := o.Put(Message{Text: "Ding dong at 12:00", Source: "button doorbell"})
		if err != nil {
			b.Fatal(err)
		}
		if err := o.Done(m.ID); err != nil {
			b.Fatal(err)
		}
		ops++
	}
	b.ReportMetric(float64(o.syncs.Load()-start)/float64(ops), "fsyncs/op")
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
		if _, err := o.Put(Message{Text: fmt.Sprintf("reading %d: 21.5 °C", i)}); err != nil {
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
