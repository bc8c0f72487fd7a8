// Package outbox is the durable spool of messages waiting to be posted.
//
// Each message is one file in the spool directory. A file is written to a
// temporary name in the same directory, fsynced, renamed into place, and
// then the directory is fsynced, so a message that Put acknowledged is on
// disk whole even if the power goes a moment later, and a file under a
// message's name is never half written. Delivered messages are deleted,
// again with a directory fsync. Messages that will never be posted move to
// the dead/ folder with the reason, and are kept.
//
// Open recovers the spool after a crash: it removes the leftovers of
// interrupted writes, moves any file that fails its checksum to corrupt/
// (logged, never silently dropped, never fatal) and loads every queued
// message in the order it was made.
package outbox

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Message is one post waiting in the outbox.
type Message struct {
	ID        string    // set by Put; ids sort in the order messages were queued
	Text      string    // the text to post
	Source    string    // what made it, e.g. "button doorbell", "report", "alert"
	Created   time.Time // when it was queued
	Expires   time.Time // after this it is not worth posting; zero: never
	Attempts  int       // how many times a send was started (see Attempt)
	LastError string    // why the last attempt failed
	NotBefore time.Time // do not try again before this; zero: any time
}

// Expired reports whether m should be dropped instead of posted at now.
func (m Message) Expired(now time.Time) bool {
	return !m.Expires.IsZero() && !now.Before(m.Expires)
}

// Dead is a message that was given up on, kept in the dead/ folder.
type Dead struct {
	Message
	Reason string    // why it was given up
	At     time.Time // when
}

// Sub-directories of the spool, and the names Open recognises.
const (
	deadDir    = "dead"
	corruptDir = "corrupt"
	lockName   = ".lock"
	tmpPrefix  = ".tmp-"
	msgSuffix  = ".msg"
)

var (
	// ErrNotFound is returned for an id that is not pending.
	ErrNotFound = errors.New("outbox: no such pending message")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("outbox: closed")
)

// Outbox is a spool directory opened by one process. It is safe for
// concurrent use by several goroutines.
type Outbox struct {
	dir string
	log *slog.Logger
	now func() time.Time // seam for tests

	mu      sync.Mutex
	pending []Message // sorted by ID
	lastID  int64     // highest id made or seen; the next is larger
	dirF    *os.File  // the spool directory, kept open for fsync
	deadF   *os.File  // dead/
	unlock  func() error
	closed  bool
	syncs   atomic.Int64 // fsync calls made, for the benchmark
}

// Open opens the spool in dir, creating it (mode 0700) if needed, and
// recovers it: temporary files of interrupted writes are removed, files that
// fail their checks are moved to dir/corrupt, and the queued messages are
// loaded oldest first. Only one process may have a spool open; a second
// Open of the same dir fails until the first calls Close or exits.
func Open(dir string, log *slog.Logger) (*Outbox, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{dir: dir, log: log, now: time.Now}
	if err := o.makeDirs(); err != nil {
		return nil, err
	}
	unlock, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, err
	}
	o.unlock = unlock
	if err := o.openDirs(); err != nil {
		o.Close()
		return nil, err
	}
	if err := o.recover(); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// makeDirs creates the spool and its sub-directories, fsyncing each parent
// whose entries changed.
func (o *Outbox) makeDirs() error {
	for _, d := range []string{o.dir, filepath.Join(o.dir, deadDir), filepath.Join(o.dir, corruptDir)} {
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("outbox: create spool directory: %w; check the state directory exists and is writable", err)
		}
		if err := o.syncPath(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func (o *Outbox) openDirs() error {
	var err error
	if o.dirF, err = os.Open(o.dir); err != nil {
		return fmt.Errorf("outbox: open spool directory: %w", err)
	}
	if o.deadF, err = os.Open(filepath.Join(o.dir, deadDir)); err != nil {
		return fmt.Errorf("outbox: open dead-letter directory: %w", err)
	}
	return nil
}

// recover brings the spool to a clean state after whatever stopped the last
// process, and loads the queue.
func (o *Outbox) recover() error {
	removed, err := o.removeTemps(o.dir, o.dirF)
	if err != nil {
		return err
	}
	deadRemoved, err := o.removeTemps(filepath.Join(o.dir, deadDir), o.deadF)
	if err != nil {
		return err
	}
	dead, quarantined, err := o.loadDir(filepath.Join(o.dir, deadDir), o.deadF)
	if err != nil {
		return err
	}
	pending, q, err := o.loadDir(o.dir, o.dirF)
	if err != nil {
		return err
	}
	quarantined += q
	deadIDs := make(map[string]bool, len(dead))
	for _, r := range dead {
		deadIDs[r.ID] = true
		o.seeID(r.ID)
	}
	// A crash inside Dead can leave a message both queued and dead: the dead
	// copy is written first, so it wins.
	finishedDead := 0
	for _, r := range pending {
		o.seeID(r.ID)
		if deadIDs[r.ID] {
			if err := os.Remove(filepath.Join(o.dir, r.ID+msgSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("outbox: finish moving %s to dead letters: %w", r.ID, err)
			}
			finishedDead++
			continue
		}
		o.pending = append(o.pending, r.message())
	}
	if finishedDead > 0 {
		if err := o.sync(o.dirF); err != nil {
			return err
		}
	}
	if err := o.seeCorruptIDs(); err != nil {
		return err
	}
	o.log.Info("outbox: recovered",
		"dir", o.dir, "pending", len(o.pending), "dead", len(dead),
		"removed_temp", removed+deadRemoved, "quarantined", quarantined, "finished_dead", finishedDead)
	return nil
}

// removeTemps deletes the temporary files that interrupted writes left.
func (o *Outbox) removeTemps(dir string, df *os.File) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("outbox: read %s: %w", dir, err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return n, fmt.Errorf("outbox: remove leftover %s: %w", e.Name(), err)
		}
		o.log.Info("outbox: removed leftover of an interrupted write", "file", filepath.Join(dir, e.Name()))
		n++
	}
	if n > 0 {
		return n, o.sync(df)
	}
	return n, nil
}

// loadDir reads every message file in dir in id order. Files that fail
// their checks are moved to corrupt/ and counted.
func (o *Outbox) loadDir(dir string, df *os.File) ([]record, int, error) {
	entries, err := os.ReadDir(dir) // sorted by name, so by id
	if err != nil {
		return nil, 0, fmt.Errorf("outbox: read %s: %w", dir, err)
	}
	var recs []record
	quarantined := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == lockName {
			continue
		}
		id, ok := strings.CutSuffix(name, msgSuffix)
		if !ok || !validID(id) {
			o.log.Warn("outbox: ignoring a file that is not a message; remove it", "file", filepath.Join(dir, name))
			continue
		}
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, 0, fmt.Errorf("outbox: read %s: %w", path, err)
		}
		r, err := decode(data)
		if err == nil && r.ID != id {
			err = corrupt("file %s holds message %s", name, r.ID)
		}
		if err != nil {
			if qerr := o.quarantine(dir, name, err); qerr != nil {
				return nil, 0, qerr
			}
			quarantined++
			continue
		}
		recs = append(recs, r)
	}
	if quarantined > 0 {
		if err := o.sync(df); err != nil {
			return nil, 0, err
		}
	}
	return recs, quarantined, nil
}

// quarantine moves a damaged file to corrupt/ and says so in the log.
func (o *Outbox) quarantine(dir, name string, why error) error {
	cdir := filepath.Join(o.dir, corruptDir)
	dst := filepath.Join(cdir, name)
	for i := 2; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = filepath.Join(cdir, fmt.Sprintf("%s.%d", name, i))
	}
	if err := os.Rename(filepath.Join(dir, name), dst); err != nil {
		return fmt.Errorf("outbox: move damaged %s to %s: %w", name, cdir, err)
	}
	if err := o.syncPath(cdir); err != nil {
		return err
	}
	o.log.Error("outbox: moved a damaged message file aside; its message will not be sent",
		"file", filepath.Join(dir, name), "to", dst, "err", why)
	return nil
}

// seeCorruptIDs keeps new ids clear of the names of quarantined files.
func (o *Outbox) seeCorruptIDs() error {
	entries, err := os.ReadDir(filepath.Join(o.dir, corruptDir))
	if err != nil {
		return fmt.Errorf("outbox: read %s: %w", corruptDir, err)
	}
	for _, e := range entries {
		id, _, _ := strings.Cut(e.Name(), ".")
		o.seeID(id)
	}
	return nil
}

func (o *Outbox) seeID(id string) {
	if n, ok := parseID(id); ok && n > o.lastID {
		o.lastID = n
	}
}

// newID returns an id larger than every id made or seen before, close to
// the current time in nanoseconds. A Pi may boot with its clock in 1970 and
// find messages queued last year; the new ones still sort after them.
func (o *Outbox) newID(now time.Time) string {
	n := max(now.UnixNano(), o.lastID+1)
	o.lastID = n
	return formatID(n)
}

// Put queues m and returns it with its ID (and Created, if it was zero)
// set. When Put returns without error the message is on disk: it survives
// a crash or power cut from then on.
func (o *Outbox) Put(m Message) (Message, error) {
	if strings.TrimSpace(m.Text) == "" {
		return Message{}, errors.New("outbox: refusing to queue a message with no text")
	}
	if m.Attempts < 0 {
		return Message{}, fmt.Errorf("outbox: message has %d attempts", m.Attempts)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return Message{}, ErrClosed
	}
	now := o.now()
	m.ID = o.newID(now)
	if m.Created.IsZero() {
		m.Created = now
	}
	m = normalise(m)
	if err := o.writeFile(o.dir, o.dirF, recordOf(m)); err != nil {
		return Message{}, err
	}
	o.pending = append(o.pending, m)
	return m, nil
}

// Next returns the oldest pending message; ok is false when the outbox is
// empty. Messages are posted in order, so the caller waits for the
// message's NotBefore rather than skipping to a later one.
func (o *Outbox) Next() (m Message, ok bool, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return Message{}, false, ErrClosed
	}
	if len(o.pending) == 0 {
		return Message{}, false, nil
	}
	return o.pending[0], true, nil
}

// Pending returns a copy of every pending message, oldest first.
func (o *Outbox) Pending() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.pending)
}

// Len returns the number of pending messages.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

// Done removes a delivered message. When it returns without error the
// removal is on disk.
func (o *Outbox) Done(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, err := o.find(id)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(o.dir, id+msgSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: remove delivered message %s: %w", id, err)
	}
	// The file is gone from the directory now, whether or not the fsync
	// below succeeds, so it is gone from the queue too.
	o.pending = slices.Delete(o.pending, i, i+1)
	return o.sync(o.dirF)
}

// Attempt records an attempt to send message id: Attempts goes up by one
// and, when errText is not empty, LastError becomes errText. It is on disk
// when Attempt returns, so a later "duplicate" answer from X can be known
// to mean an earlier attempt reached it. (pitweet's daemon records an
// attempt once it has failed, and treats every message it finds queued at
// start as possibly sent.)
func (o *Outbox) Attempt(id string, errText string) (Message, error) {
	return o.update(id, func(m *Message) {
		m.Attempts++
		if errText != "" {
			m.LastError = errText
		}
	})
}

// RetryAt records why the last attempt failed and that the message should
// not be tried again before at. It is on disk when RetryAt returns, so a
// rate-limit wait outlives a restart.
func (o *Outbox) RetryAt(id string, at time.Time, errText string) (Message, error) {
	return o.update(id, func(m *Message) {
		m.NotBefore = at
		if errText != "" {
			m.LastError = errText
		}
	})
}

// update rewrites message id after change, by the same write-and-rename as
// Put, so the file always holds either the old or the new message.
func (o *Outbox) update(id string, change func(*Message)) (Message, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, err := o.find(id)
	if err != nil {
		return Message{}, err
	}
	m := o.pending[i]
	change(&m)
	m = normalise(m)
	if err := o.writeFile(o.dir, o.dirF, recordOf(m)); err != nil {
		return Message{}, err
	}
	o.pending[i] = m
	return m, nil
}

// Dead moves message id to the dead-letter folder with reason; it is kept
// there and listed by DeadLetters. Use it for expired messages and for
// those X refused for good.
func (o *Outbox) Dead(id, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, err := o.find(id)
	if err != nil {
		return err
	}
	r := recordOf(o.pending[i])
	r.DeadReason = reason
	r.DeadAt = o.now().Round(0)
	// The dead copy is made durable before the queued one goes; Open
	// finishes the move if a crash falls between the two.
	if err := o.writeFile(filepath.Join(o.dir, deadDir), o.deadF, r); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(o.dir, id+msgSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: remove dead message %s from the queue: %w", id, err)
	}
	o.pending = slices.Delete(o.pending, i, i+1)
	o.log.Warn("outbox: message moved to dead letters", "id", id, "source", r.Source, "reason", reason)
	return o.sync(o.dirF)
}

// DeadLetters lists the messages in the dead-letter folder, oldest first.
// A dead letter that no longer reads back is logged and left out.
func (o *Outbox) DeadLetters() ([]Dead, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	dir := filepath.Join(o.dir, deadDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: read dead letters: %w", err)
	}
	var out []Dead
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), msgSuffix)
		if !ok || !validID(id) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("outbox: read dead letter %s: %w", id, err)
		}
		r, err := decode(data)
		if err != nil {
			o.log.Error("outbox: skipping a damaged dead letter", "file", filepath.Join(dir, e.Name()), "err", err)
			continue
		}
		out = append(out, Dead{Message: r.message(), Reason: r.DeadReason, At: r.DeadAt})
	}
	return out, nil
}

// Close releases the spool so another process may open it. Later calls on
// o return ErrClosed.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	var errs []error
	for _, f := range []*os.File{o.dirF, o.deadF} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	if o.unlock != nil {
		errs = append(errs, o.unlock())
	}
	return errors.Join(errs...)
}

// find returns the index of pending message id. The caller holds o.mu.
func (o *Outbox) find(id string) (int, error) {
	if o.closed {
		return 0, ErrClosed
	}
	i, ok := slices.BinarySearchFunc(o.pending, id, func(m Message, id string) int {
		return strings.Compare(m.ID, id)
	})
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return i, nil
}

// normalise drops the monotonic clock readings, which a file cannot hold,
// so a message compares the same before and after a restart.
func normalise(m Message) Message {
	m.Created = m.Created.Round(0)
	m.Expires = m.Expires.Round(0)
	m.NotBefore = m.NotBefore.Round(0)
	return m
}

// writeFile stores r as dir/<id>.msg: write a temporary file in dir, fsync
// it, rename it over the final name, fsync dir. A crash at any point leaves
// either the old file or the new one under the final name, never a part.
func (o *Outbox) writeFile(dir string, df *os.File, r record) error {
	data, err := encode(r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+r.ID+"-*")
	if err != nil {
		return fmt.Errorf("outbox: create message file: %w; check the state directory is writable and not full", err)
	}
	tmp := f.Name()
	fail := func(step string, err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("outbox: %s message %s: %w; check the state directory is writable and not full", step, r.ID, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail("write", err)
	}
	o.syncs.Add(1)
	if err := f.Sync(); err != nil {
		return fail("fsync", err)
	}
	if err := f.Close(); err != nil {
		return fail("close", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, r.ID+msgSuffix)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("outbox: rename message %s into place: %w", r.ID, err)
	}
	return o.sync(df)
}

// sync fsyncs an open directory, making the names created, renamed or
// removed in it durable.
func (o *Outbox) sync(df *os.File) error {
	o.syncs.Add(1)
	if err := df.Sync(); err != nil {
		return fmt.Errorf("outbox: fsync %s: %w", df.Name(), err)
	}
	return nil
}

// syncPath fsyncs the directory at path.
func (o *Outbox) syncPath(path string) error {
	df, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("outbox: open %s to fsync it: %w", path, err)
	}
	defer df.Close()
	return o.sync(df)
}
