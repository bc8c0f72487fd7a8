package history

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"slices"
	"testing"
	"time"
)

// FuzzSegment feeds arbitrary bytes to the segment reader: it must never
// panic or allocate beyond its bounds, and what it accepts must be valid
// and survive being written again unchanged.
func FuzzSegment(f *testing.F) {
	good := []byte(segmentMagic)
	good = appendBlock(good, []chunk{
		{name: "room.Temperature", interval: time.Minute, samples: []Sample{{T: 1764547200000, V: 21.5}, {T: 1764547260000, V: math.NaN()}, {T: 1764547320000, V: 21.45}}},
		{name: "air.CO2", interval: time.Second, samples: []Sample{{T: 1764547200000, V: 612}}},
	})
	good = appendBlock(good, []chunk{{name: "room.Temperature", interval: time.Minute, samples: []Sample{{T: 1764547380000, V: -4}}}})
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte(segmentMagic))
	f.Add([]byte{})
	f.Add(append([]byte(segmentMagic), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		var chunks []chunk
		_, _ = readSegment(bytes.NewReader(data), collect(t, &chunks))
		checkRewrite(t, chunks)
	})
}

// FuzzBlock feeds arbitrary payloads to the block decoder behind a valid
// length and checksum, where the segment reader's CRC would stop most
// random inputs.
func FuzzBlock(f *testing.F) {
	whole := appendBlock(nil, []chunk{
		{name: "room.Temperature", interval: time.Minute, samples: []Sample{{T: 1764547200000, V: 21.5}, {T: 1764547260000, V: math.NaN()}, {T: 1764547320000, V: 21.45}}},
		{name: "air.CO2", interval: time.Second, samples: []Sample{{T: 1764547200000, V: 612}}},
	})
	f.Add(whole[8:])
	f.Add([]byte{1, 1, 'a'})
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) == 0 || len(payload) > maxBlock {
			return
		}
		var head [8]byte
		binary.LittleEndian.PutUint32(head[:], uint32(len(payload)))
		binary.LittleEndian.PutUint32(head[4:], crc32.Checksum(payload, castagnoli))
		data := append(append([]byte(segmentMagic), head[:]...), payload...)
		var chunks []chunk
		_, _ = readSegment(bytes.NewReader(data), collect(t, &chunks))
		checkRewrite(t, chunks)
	})
}

// collect checks each chunk the reader accepts and keeps a copy.
func collect(t *testing.T, chunks *[]chunk) func(chunk) {
	return func(c chunk) {
		if !ValidName(c.name) || c.interval <= 0 || c.interval > maxInterval || len(c.samples) == 0 {
			t.Fatalf("accepted a bad chunk: %q every %v with %d samples", c.name, c.interval, len(c.samples))
		}
		for _, s := range c.samples {
			if s.T < minTime || s.T > maxTime || !storable(s.V) {
				t.Fatalf("accepted a bad sample %+v", s)
			}
		}
		c.samples = slices.Clone(c.samples)
		*chunks = append(*chunks, c)
	}
}

// checkRewrite writes accepted chunks again and reads them back unchanged.
func checkRewrite(t *testing.T, chunks []chunk) {
	if len(chunks) == 0 {
		return
	}
	again := appendBlock([]byte(segmentMagic), chunks)
	var back []chunk
	if _, err := readSegment(bytes.NewReader(again), func(c chunk) {
		c.samples = slices.Clone(c.samples)
		back = append(back, c)
	}); err != nil {
		t.Fatalf("what was read does not read back: %v", err)
	}
	if len(back) != len(chunks) {
		t.Fatalf("%d chunks read back, want %d", len(back), len(chunks))
	}
	for i := range chunks {
		a, b := chunks[i], back[i]
		if a.name != b.name || a.interval != b.interval || len(a.samples) != len(b.samples) {
			t.Fatalf("chunk %d: %q %v %d, read back %q %v %d", i, a.name, a.interval, len(a.samples), b.name, b.interval, len(b.samples))
		}
		for j := range a.samples {
			x, y := a.samples[j], b.samples[j]
			if x.T != y.T || x.Gap() != y.Gap() || (!x.Gap() && math.Abs(x.V-y.V) > 0.005) {
				t.Fatalf("chunk %d sample %d: %+v read back as %+v", i, j, x, y)
			}
		}
	}
}
