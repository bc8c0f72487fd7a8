package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"time"
)

// A segment file is a header line followed by blocks, appended one per
// flush and never changed afterwards:
//
//	pitweet-history 1\n
//	block: length (uint32, little-endian) | CRC-32C of the payload (uint32) | payload
//
// A payload holds one or more series chunks:
//
//	uvarint  number of chunks
//	chunk:   uvarint name length | name ("room.Temperature")
//	         uvarint interval in milliseconds (how often the series is recorded)
//	         uvarint number of samples (at least 1)
//	         varint  time of the first sample, Unix milliseconds
//	         then per sample after the first: varint change of the time step
//	         (delta of delta, in milliseconds)
//	         and per sample: uvarint value; its lowest bit set marks a gap,
//	         otherwise the rest is the zigzag change from the previous value
//	         in hundredths of the unit
//
// A block cut short (power cut, kill -9 mid-write) or damaged fails its
// length or CRC check; the reader keeps every block before it and ignores
// the rest of that file. A writer never appends to a file it did not
// create, so nothing valid ever follows a damaged block.

const (
	segmentMagic = "pitweet-history 1\n"
	// maxBlock bounds a block's payload; the writer stays well below.
	maxBlock = 1 << 20
	// blockTarget is where the writer starts a new block.
	blockTarget = 256 << 10
	// maxName bounds a series name: a sensor name, a dot and a quantity.
	maxName = 128
	// maxChunks bounds the chunks of one block.
	maxChunks = 4096
	// scale is the resolution values are kept at: hundredths.
	scale = 100
	// maxValue bounds what a value may be: far beyond any sensor, and
	// small enough that a value read back (hundredths divided by 100)
	// scales back to the same hundredths, so rewriting changes nothing.
	maxValue = 1e12
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errDamaged marks a block that fails the format's checks.
var errDamaged = errors.New("history: damaged block")

// A chunk is the samples of one series that one block carries.
type chunk struct {
	name     string
	interval time.Duration
	samples  []Sample
}

// appendBlock appends a block carrying chunks to dst.
func appendBlock(dst []byte, chunks []chunk) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, 8)...)
	dst = binary.AppendUvarint(dst, uint64(len(chunks)))
	for _, c := range chunks {
		dst = appendChunk(dst, c)
	}
	payload := dst[start+8:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

func appendChunk(dst []byte, c chunk) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(c.name)))
	dst = append(dst, c.name...)
	dst = binary.AppendUvarint(dst, uint64(c.interval.Milliseconds()))
	dst = binary.AppendUvarint(dst, uint64(len(c.samples)))
	var prevT, prevStep, prevV int64
	for i, s := range c.samples {
		switch i {
		case 0:
			dst = binary.AppendVarint(dst, s.T)
		default:
			step := s.T - prevT
			dst = binary.AppendVarint(dst, step-prevStep)
			prevStep = step
		}
		prevT = s.T
		if math.IsNaN(s.V) {
			dst = binary.AppendUvarint(dst, 1)
			continue
		}
		v := int64(math.Round(s.V * scale))
		dst = binary.AppendUvarint(dst, zigzag(v-prevV)<<1)
		prevV = v
	}
	return dst
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// storable reports whether v can be kept (a gap always can).
func storable(v float64) bool {
	return math.IsNaN(v) || (!math.IsInf(v, 0) && math.Abs(v) <= maxValue)
}

// decodeBlock checks a payload and calls visit for each chunk, in order.
// The samples slice is reused between calls.
func decodeBlock(p []byte, visit func(chunk)) error {
	d := decoder{p: p}
	n := d.uvarint()
	if d.err != nil || n == 0 || n > maxChunks {
		return fmt.Errorf("%w: %d chunks", errDamaged, n)
	}
	var samples []Sample
	for range n {
		c, err := d.chunk(samples[:0])
		if err != nil {
			return err
		}
		samples = c.samples
		visit(c)
	}
	if len(d.p) != 0 {
		return fmt.Errorf("%w: %d bytes after the last chunk", errDamaged, len(d.p))
	}
	return nil
}

type decoder struct {
	p   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad number", errDamaged)
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad number", errDamaged)
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) chunk(samples []Sample) (chunk, error) {
	var c chunk
	nameLen := d.uvarint()
	if d.err != nil || nameLen == 0 || nameLen > maxName || nameLen > uint64(len(d.p)) {
		return c, fmt.Errorf("%w: bad series name", errDamaged)
	}
	c.name = string(d.p[:nameLen])
	d.p = d.p[nameLen:]
	if !ValidName(c.name) {
		return c, fmt.Errorf("%w: bad series name %q", errDamaged, c.name)
	}
	iv := d.uvarint()
	if iv == 0 || iv > uint64(maxInterval.Milliseconds()) {
		return c, fmt.Errorf("%w: series %s: bad interval %d ms", errDamaged, c.name, iv)
	}
	c.interval = time.Duration(iv) * time.Millisecond
	n := d.uvarint()
	// Every sample takes at least two bytes, which bounds what a damaged
	// count can make the reader allocate.
	if d.err != nil || n == 0 || n > uint64(len(d.p))/2 {
		return c, fmt.Errorf("%w: series %s: bad sample count", errDamaged, c.name)
	}
	var t, step, v int64
	for i := range n {
		if i == 0 {
			t = d.varint()
		} else {
			step += d.varint()
			t += step
		}
		u := d.uvarint()
		if d.err != nil {
			return c, d.err
		}
		if t < minTime || t > maxTime {
			return c, fmt.Errorf("%w: series %s: time %d out of range", errDamaged, c.name, t)
		}
		if u&1 == 1 {
			if u != 1 {
				return c, fmt.Errorf("%w: series %s: bad gap", errDamaged, c.name)
			}
			samples = append(samples, Sample{T: t, V: math.NaN()})
			continue
		}
		v += unzigzag(u >> 1)
		if v > maxValue*scale || v < -maxValue*scale {
			return c, fmt.Errorf("%w: series %s: value out of range", errDamaged, c.name)
		}
		samples = append(samples, Sample{T: t, V: float64(v) / scale})
	}
	c.samples = samples
	return c, nil
}

// Times a sample may carry: from 1970 to the year 9999, which keeps the
// arithmetic on them far from overflowing.
const (
	minTime = 0
	maxTime = 253402300799999
)

// segmentReader reads the blocks of one segment file.
type segmentReader struct {
	r   io.Reader
	buf []byte
}

// readSegment checks the header of a segment read from r and calls visit
// for every chunk of every good block. It stops at the first block that
// is cut short or damaged and returns why (nil when the file ends
// cleanly); the chunks before it have been visited.
func readSegment(r io.Reader, visit func(chunk)) (blocks int, err error) {
	var magic [len(segmentMagic)]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil || string(magic[:]) != segmentMagic {
		return 0, errNotSegment
	}
	sr := segmentReader{r: r}
	for {
		p, err := sr.next()
		if err == io.EOF {
			return blocks, nil
		}
		if err != nil {
			return blocks, err
		}
		if err := decodeBlock(p, visit); err != nil {
			return blocks, err
		}
		blocks++
	}
}

// errNotSegment is a file without the segment header.
var errNotSegment = errors.New("history: not a history segment")

// next returns the next block's payload, io.EOF at a clean end, or an
// error for a block cut short or damaged.
func (s *segmentReader) next() ([]byte, error) {
	var head [8]byte
	n, err := io.ReadFull(s.r, head[:])
	if n == 0 && err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: block header cut short", errDamaged)
	}
	size := binary.LittleEndian.Uint32(head[:4])
	if size == 0 || size > maxBlock {
		return nil, fmt.Errorf("%w: block length %d", errDamaged, size)
	}
	if cap(s.buf) < int(size) {
		s.buf = make([]byte, size)
	}
	p := s.buf[:size]
	if _, err := io.ReadFull(s.r, p); err != nil {
		return nil, fmt.Errorf("%w: block cut short", errDamaged)
	}
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(head[4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errDamaged)
	}
	return p, nil
}
