// Package history keeps the readings of every sensor quantity on disk, so
// that charts can show the last day or month.
//
// A Store buffers samples in memory and writes them in batches (the daemon
// flushes every FlushEvery, on reload and at shutdown), each batch as one
// block appended to a segment file and fsync'd: an SD card sees six small
// appends an hour instead of one per reading. Segment files are
// append-only; every block carries its length and a CRC-32C, so a block
// cut short by a power cut or a kill -9 is detected and ignored while every
// block before it stays readable, and nothing already written is ever
// rewritten in place. Each Store writes its own segments (a new one per
// process and per UTC day), so a damaged tail is never followed by good
// data.
//
// What is lost: a kill -9 loses the samples still buffered (at most one
// flush window), nothing that was written; a power cut loses at most the
// same, plus whatever the kernel had not yet put on disk of the last
// batch.
//
// The store is bounded: segments older than the retention (31 days) are
// deleted, and so are the oldest when all of them together pass MaxBytes.
// At one sample a minute, ten quantities take about 75 KiB a day, 2.3 MiB
// for the 31 days.
//
// The history directory and its files are opened through package
// statedir: no symbolic link is followed, and a file is read only once it
// is known to be a regular file with one name and of a segment's size at
// most; anything else there is skipped with a log line.
package history

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"pitweet/statedir"
)

// Sample is one reading of one quantity.
type Sample struct {
	T int64   // Unix time in milliseconds
	V float64 // the value, to 0.01; NaN marks a gap: no reading there
}

// Time returns the sample's time.
func (s Sample) Time() time.Time { return time.UnixMilli(s.T) }

// Gap reports whether the sample marks a gap.
func (s Sample) Gap() bool { return math.IsNaN(s.V) }

// Series is the samples of one quantity, oldest first. Gaps are explicit:
// a sample with V NaN stands where the sensor could not be read or where
// nothing was recorded for longer than the interval allows (the daemon was
// stopped, say).
type Series struct {
	Name     string        // sensor.Quantity, "room.Temperature"
	Interval time.Duration // how often it is recorded (the latest setting)
	Samples  []Sample
}

// Limits and defaults.
const (
	// FlushEvery is how often the daemon writes the buffered samples:
	// six writes an hour, and the most a power cut can lose.
	FlushEvery = 10 * time.Minute
	// Retention is how long samples are kept.
	Retention = 31 * 24 * time.Hour
	// MaxBytes bounds all segments together; the oldest go first.
	MaxBytes = 32 << 20
	// maxSegment is the largest file the reader accepts as a segment; the
	// writer starts a new one at half of it.
	maxSegment = 16 << 20
	// maxPending bounds the buffered samples of one series, should writes
	// keep failing; the oldest are dropped first.
	maxPending = 10000
	// maxInterval is the longest recording interval.
	maxInterval = 24 * time.Hour
)

// Options tune a Store.
type Options struct {
	Log *slog.Logger // nil discards
	// Now is the clock for retention and segment names; nil means
	// time.Now.
	Now func() time.Time
	// Retention and MaxBytes override the package's bounds when not 0.
	Retention time.Duration
	MaxBytes  int64
}

// Store is the history of one state directory, open for writing by one
// process. It is safe for concurrent use.
type Store struct {
	dir       *statedir.Dir
	log       *slog.Logger
	now       func() time.Time
	retention time.Duration
	maxBytes  int64

	// flushMu is held while a batch is written and while the disk is
	// read for a query, so a query sees each sample exactly once.
	flushMu sync.Mutex
	seg     *os.File // the segment being appended to; nil: start one
	shut    bool     // Close was called: dir is closed
	segName string
	segDay  string // its UTC day, YYYYMMDD
	segSize int64
	lastErr error
	warned  map[string]bool // files already logged as skipped

	mu      sync.Mutex // guards pending and closed
	pending map[string]*pendingSeries
	dropped int
	closed  bool
}

type pendingSeries struct {
	interval time.Duration
	samples  []Sample
}

// Open opens the history in dir, the directory "history" of a state
// directory (creating it, mode 0700, when the state directory has none),
// removes what interrupted writes left and what has aged out, and returns
// a Store that writes there. dir must be a directory, not a symbolic link.
func Open(dir string, opts Options) (*Store, error) {
	d, err := openDir(dir, true)
	if err != nil {
		return nil, err
	}
	s := &Store{
		dir: d, log: opts.Log, now: opts.Now,
		retention: opts.Retention, maxBytes: opts.MaxBytes,
		warned: map[string]bool{}, pending: map[string]*pendingSeries{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.retention <= 0 {
		s.retention = Retention
	}
	if s.maxBytes <= 0 {
		s.maxBytes = MaxBytes
	}
	s.removeTemps()
	s.prune()
	return s, nil
}

// openDir opens the history directory at path inside its state directory,
// making it first when create is set. A link or anything else that is not
// a directory under that name is refused.
func openDir(path string, create bool) (*statedir.Dir, error) {
	state, err := statedir.Open(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer state.Close()
	name := filepath.Base(path)
	if create {
		if err := state.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("history: %w; check the state directory exists and is writable", err)
		}
	}
	d, err := state.Sub(name)
	switch {
	case errors.Is(err, statedir.ErrUnsafe):
		return nil, fmt.Errorf("history: %w; remove it (pitweet makes a directory there)", err)
	case err != nil:
		return nil, fmt.Errorf("history: %w", err)
	}
	return d, nil
}

// Add buffers one sample of series name, recorded every interval. A NaN v
// records a gap: the sensor could not be read. A value that cannot be
// stored (infinite, or beyond ±1e12) is recorded as a gap. Samples added
// after Close are dropped.
func (s *Store) Add(name string, interval time.Duration, at time.Time, v float64) error {
	if !ValidName(name) {
		return fmt.Errorf("history: %q is not a series name (sensor.Quantity)", name)
	}
	if interval <= 0 || interval > maxInterval {
		return fmt.Errorf("history: series %s: interval %v out of range", name, interval)
	}
	ms := at.UnixMilli()
	if ms < minTime || ms > maxTime {
		return fmt.Errorf("history: series %s: time %v out of range", name, at)
	}
	if !storable(v) {
		v = math.NaN()
	}
	v = math.Round(v*scale) / scale // as it will read back from disk
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	p := s.pending[name]
	if p == nil {
		p = &pendingSeries{}
		s.pending[name] = p
	}
	p.interval = interval
	if len(p.samples) >= maxPending {
		p.samples = slices.Delete(p.samples, 0, len(p.samples)-maxPending+1)
		s.dropped++
	}
	p.samples = append(p.samples, Sample{T: ms, V: v})
	return nil
}

// Pending is the number of samples waiting to be written.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.pending {
		n += len(p.samples)
	}
	return n
}

// Flush writes the buffered samples as one block (more when there are
// many) at the end of the current segment and fsyncs it. On an error the
// samples stay buffered for the next Flush, which starts a new segment.
func (s *Store) Flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.shut {
		return nil // nothing is buffered after Close
	}
	return s.flushLocked()
}

func (s *Store) flushLocked() error {
	s.mu.Lock()
	batch := s.takePending()
	dropped := s.dropped
	s.dropped = 0
	s.mu.Unlock()
	if dropped > 0 {
		s.log.Warn("history: writes kept failing; dropped the oldest buffered samples", "dropped", dropped)
	}
	if len(batch) == 0 {
		return nil
	}
	blocks := packBlocks(batch)
	for i, b := range blocks {
		if err := s.append(b.data); err != nil {
			// This block and those after it go back to the buffer; the
			// blocks before it are written.
			var rest []chunk
			for _, b := range blocks[i:] {
				rest = append(rest, b.chunks...)
			}
			s.mu.Lock()
			s.putBack(rest)
			s.mu.Unlock()
			s.lastErr = err
			return err
		}
	}
	if err := s.seg.Sync(); err != nil {
		// The data may or may not reach the disk; it is not written twice.
		s.closeSegment()
		s.lastErr = fmt.Errorf("history: fsync %s: %w", s.segName, err)
		return s.lastErr
	}
	s.lastErr = nil
	return nil
}

// takePending empties the buffer into chunks, in name order. s.mu is held.
func (s *Store) takePending() []chunk {
	var out []chunk
	for _, name := range sortedKeys(s.pending) {
		p := s.pending[name]
		if len(p.samples) > 0 {
			out = append(out, chunk{name: name, interval: p.interval, samples: p.samples})
		}
		delete(s.pending, name)
	}
	return out
}

// putBack returns unwritten chunks to the front of the buffer. s.mu is
// held.
func (s *Store) putBack(chunks []chunk) {
	for _, c := range chunks {
		p := s.pending[c.name]
		if p == nil {
			p = &pendingSeries{interval: c.interval}
			s.pending[c.name] = p
		}
		p.samples = append(slices.Clip(c.samples), p.samples...)
		if n := len(p.samples) - maxPending; n > 0 {
			p.samples = slices.Delete(p.samples, 0, n)
			s.dropped += n
		}
	}
}

type block struct {
	data   []byte
	chunks []chunk
}

// packBlocks encodes chunks into blocks of about blockTarget bytes.
func packBlocks(chunks []chunk) []block {
	var out []block
	var cur []chunk
	size := 0
	for _, c := range chunks {
		n := len(c.name) + 16 + 12*len(c.samples) // a generous estimate
		if len(cur) > 0 && (size+n > blockTarget || len(cur) == maxChunks) {
			out = append(out, block{data: appendBlock(nil, cur), chunks: cur})
			cur, size = nil, 0
		}
		cur = append(cur, c)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, block{data: appendBlock(nil, cur), chunks: cur})
	}
	return out
}

// append writes one block to the current segment, starting a new segment
// when there is none, the UTC day changed, or it is big enough.
func (s *Store) append(data []byte) error {
	now := s.now().UTC()
	day := now.Format("20060102")
	if s.seg != nil && (day != s.segDay || s.segSize+int64(len(data)) > maxSegment/2) {
		s.closeSegment()
	}
	if s.seg == nil {
		if err := s.newSegment(now); err != nil {
			return err
		}
	}
	n, err := s.seg.Write(data)
	s.segSize += int64(n)
	if err != nil {
		// Part of the block may be in the file: that file ends here.
		s.closeSegment()
		return fmt.Errorf("history: write %s: %w", s.segName, err)
	}
	return nil
}

// newSegment creates a segment file named after now: its header is
// written to a new temporary file, which is renamed to a name no segment
// has and the directory fsync'd. Then it prunes old segments.
func (s *Store) newSegment(now time.Time) error {
	f, tmp, err := s.dir.CreateTemp("segment-", 0o600)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	fail := func(err error) error {
		f.Close()
		s.dir.Remove(tmp)
		return fmt.Errorf("history: new segment in %s: %w", s.dir.Path(), err)
	}
	if _, err := f.WriteString(segmentMagic); err != nil {
		return fail(err)
	}
	name := ""
	for i := range 1000 {
		name = segmentName(now.Add(time.Duration(i) * time.Microsecond))
		if _, err := s.dir.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err := s.dir.Rename(tmp, name); err != nil {
		return fail(err)
	}
	if err := s.dir.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("history: %w", err)
	}
	s.seg, s.segName, s.segDay, s.segSize = f, name, now.Format("20060102"), int64(len(segmentMagic))
	s.prune()
	return nil
}

// removeTemps removes the temporary files of segments whose creation was
// cut short: they hold a header at most.
func (s *Store) removeTemps() {
	entries, err := s.dir.Entries()
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), statedir.TempPrefix) {
			if err := s.dir.Remove(e.Name()); err != nil {
				s.log.Warn("history: could not remove the leftover of an interrupted write", "file", s.dir.Join(e.Name()), "err", err)
			}
		}
	}
}

func (s *Store) closeSegment() {
	if s.seg != nil {
		s.seg.Close()
		s.seg = nil
	}
}

// LastError is the error of the last Flush, nil if it succeeded.
func (s *Store) LastError() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.lastErr
}

// Close writes what is buffered and closes the store. Later Adds are
// dropped; a second Close does nothing.
func (s *Store) Close() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.shut {
		return nil
	}
	err := s.flushLocked()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.closeSegment()
	s.shut = true
	return errors.Join(err, s.dir.Close())
}

// errClosed is what Query returns after Close.
var errClosed = errors.New("history: the store is closed")

// Query returns the series selected by match (nil: all) with their samples
// from from to to: those written and those still buffered.
func (s *Store) Query(from, to time.Time, match func(name string) bool) ([]Series, error) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.shut {
		return nil, errClosed
	}
	q := newQuery(from, to, match)
	q.readDir(s.dir, s.log, s.warned)
	s.mu.Lock()
	for _, name := range sortedKeys(s.pending) {
		p := s.pending[name]
		q.add(chunk{name: name, interval: p.interval, samples: p.samples})
	}
	s.mu.Unlock()
	return q.result(), nil
}

// Usage is what the history holds on disk.
type Usage struct {
	Segments int
	Bytes    int64
	Oldest   time.Time // when the oldest segment was started; zero: none
}

// Usage returns what the segments in the store's directory take.
func (s *Store) Usage() Usage {
	var u Usage
	for _, seg := range listSegments(s.dir) {
		if !seg.ours {
			continue
		}
		u.Segments++
		u.Bytes += seg.size
		if u.Oldest.IsZero() {
			u.Oldest = seg.start
		}
	}
	return u
}

// prune deletes segments that have aged out, then the oldest while all of
// them together take more than maxBytes. The segment being written is
// kept. Files named as segments that cannot be ours (links, giant files)
// count for nothing and go only when their name ages out.
func (s *Store) prune() {
	segs := listSegments(s.dir)
	cutoff := s.now().Add(-s.retention)
	var total int64
	for _, seg := range segs {
		if seg.ours {
			total += seg.size
		}
	}
	removed := 0
	for _, seg := range segs {
		if seg.name == s.segName {
			continue
		}
		// A segment holds samples up to the end of its UTC day, plus the
		// flush window after it.
		end := seg.start.UTC().Truncate(24 * time.Hour).Add(24*time.Hour + FlushEvery)
		if !end.Before(cutoff) && (total <= s.maxBytes || !seg.ours) {
			continue
		}
		if err := s.dir.Remove(seg.name); err != nil {
			s.log.Warn("history: could not delete an old segment", "file", s.dir.Join(seg.name), "err", err)
			continue
		}
		if seg.ours {
			total -= seg.size
		}
		removed++
	}
	if removed > 0 {
		s.log.Info("history: deleted old segments", "dir", s.dir.Path(), "removed", removed, "bytes_left", total)
	}
}
