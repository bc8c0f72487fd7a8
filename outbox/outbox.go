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
//
// Nothing found in the spool is trusted (see package statedir): a link,
// FIFO, device, hard-linked or oversized file under a message's name is
// moved to corrupt/ unread, a link or non-directory in place of dead/ or
// corrupt/ is moved aside unfollowed, and a file or directory the process
// may not read (one left by root) is skipped or moved aside with a log line
// that says how to get it back. The spool itself is locked with flock on
// the directory, so there is no lock file to plant.
//
// Names that begin with a dot are not messages: the outbox removes its own
// leftovers (.tmp-*) and leaves the rest alone, so other parts of pitweet
// may keep small files of their own beside the queue.
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

	"pitweet/statedir"
)

// Message is one post waiting in the outbox.
type Message struct {
	ID        string    // set by Put; ids sort in the order messages were queued
	Text      string    // the text to post
	Source    string    // what made it, e.g. "button doorbell", "report", "alert"
	Created   time.Time // when it was queued
	Expires   time.Time // after this it is not worth posting; zero: never
	Attempts  int       // how many times a send of Text was started (see Attempt)
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
	tmpPrefix  = statedir.TempPrefix
	msgSuffix  = ".msg"
)

// maxFile bounds a message file: the header and the largest body. A file
// under a message's name that is larger is not read.
const maxFile = int64(maxHeader + maxBody)

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

	mu           sync.Mutex
	pending      []Message // sorted by ID
	lastID       int64     // highest id made or seen; the next is larger
	spool        *statedir.Dir
	dead         *statedir.Dir   // dead/
	corrupt      *statedir.Dir   // corrupt/
	unreadLogged map[string]bool // unreadable dead letters already logged
	closed       bool
	syncs        atomic.Int64 // fsync calls made, for the benchmark
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
	o := &Outbox{dir: dir, log: log, now: time.Now, unreadLogged: map[string]bool{}}
	if err := o.openSpool(); err != nil {
		o.Close()
		return nil, err
	}
	if err := o.recover(); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// openSpool creates the spool if it is missing, opens and locks it, and
// opens (making them if needed) its sub-directories.
func (o *Outbox) openSpool() error {
	if _, err := os.Stat(o.dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(o.dir, 0o700); err != nil {
			return fmt.Errorf("outbox: create spool directory: %w; check the state directory exists and is writable", err)
		}
		if err := syncPath(filepath.Dir(o.dir)); err != nil {
			return err
		}
	}
	var err error
	if o.spool, err = statedir.Open(o.dir); err != nil {
		return fmt.Errorf("outbox: open spool directory: %w", err)
	}
	if err := o.spool.TryLock(); err != nil {
		if errors.Is(err, statedir.ErrLocked) {
			return fmt.Errorf("outbox: %s is locked by another process; stop the other pitweet (systemctl stop pitweet) or use another state directory", o.dir)
		}
		return fmt.Errorf("outbox: %w", err)
	}
	if o.corrupt, err = o.subDir(corruptDir); err != nil {
		return err
	}
	o.dead, err = o.subDir(deadDir)
	return err
}

// subDir opens the spool's sub-directory name, making it if it is missing.
// Whatever stands in its way (a link, a file, a directory this process may
// not read) is moved aside, not followed or removed, and logged.
func (o *Outbox) subDir(name string) (*statedir.Dir, error) {
	for try := 0; ; try++ {
		fi, err := o.spool.Lstat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := o.spool.Mkdir(name, 0o700); err != nil {
				return nil, fmt.Errorf("outbox: create %s: %w; check the state directory is writable", o.spool.Join(name), err)
			}
			if err := o.sync(o.spool); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, fmt.Errorf("outbox: %w", err)
		}
		d, err := o.spool.Sub(name)
		if err == nil {
			return d, nil
		}
		denied := errors.Is(err, fs.ErrPermission)
		if try > 0 || !denied && !errors.Is(err, statedir.ErrUnsafe) {
			return nil, fmt.Errorf("outbox: open %s: %w", o.spool.Join(name), err)
		}
		aside := fmt.Sprintf("%s.moved-%d", name, o.now().UnixNano())
		if err := o.spool.Rename(name, aside); err != nil {
			return nil, fmt.Errorf("outbox: move %s aside: %w; remove it", o.spool.Join(name), err)
		}
		if err := o.sync(o.spool); err != nil {
			return nil, err
		}
		if denied {
			o.log.Error("outbox: cannot read a spool directory (it was probably made by root, with sudo pitweet run); moved it aside with what it holds and made a new one; to keep its files, chown them to this user and move them back",
				"dir", o.spool.Join(name), "to", o.spool.Join(aside), "uid", os.Geteuid())
		} else {
			o.log.Error("outbox: a spool directory was "+kindOf(fi)+"; moved it aside unfollowed and made a new one; look at it and remove it",
				"dir", o.spool.Join(name), "to", o.spool.Join(aside), "err", err)
		}
	}
}

// kindOf names a directory entry that should have been a directory.
func kindOf(fi fs.FileInfo) string {
	switch m := fi.Mode(); {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a file"
	case m.IsDir():
		return "a directory that changed while it was opened"
	}
	return "not a directory"
}

// recover brings the spool to a clean state after whatever stopped the last
// process, and loads the queue.
func (o *Outbox) recover() error {
	removed := o.removeTemps(o.spool, "")
	removed += o.removeTemps(o.dead, deadDir+"/")
	dead, quarantined, _, err := o.loadDir(o.dead, deadDir+"/")
	if err != nil {
		return err
	}
	pending, q, unreadable, err := o.loadDir(o.spool, "")
	if err != nil {
		return err
	}
	quarantined += q
	for _, id := range unreadable {
		o.seeID(id)
	}
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
			if err := o.spool.Remove(r.ID + msgSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("outbox: finish moving %s to dead letters: %w", r.ID, err)
			}
			finishedDead++
			continue
		}
		o.pending = append(o.pending, r.message())
	}
	if finishedDead > 0 {
		if err := o.sync(o.spool); err != nil {
			return err
		}
	}
	if err := o.seeCorruptIDs(); err != nil {
		return err
	}
	o.log.Info("outbox: recovered",
		"dir", o.dir, "pending", len(o.pending), "dead", len(dead), "unreadable", len(unreadable),
		"removed_temp", removed, "quarantined", quarantined, "finished_dead", finishedDead)
	return nil
}

// removeTemps deletes the temporary files that interrupted writes left in
// d (prefix is d's path in the spool, for messages). One that cannot be
// removed is logged and left.
func (o *Outbox) removeTemps(d *statedir.Dir, prefix string) int {
	entries, err := d.Entries()
	if err != nil {
		o.log.Error("outbox: cannot list a spool directory to clean it", "err", err)
		return 0
	}
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if err := d.Remove(e.Name()); err != nil {
			o.log.Error("outbox: cannot remove the leftover of an interrupted write; remove it", "file", d.Join(e.Name()), "err", err)
			continue
		}
		o.log.Info("outbox: removed leftover of an interrupted write", "file", d.Join(e.Name()))
		n++
	}
	if n > 0 {
		if err := o.sync(d); err != nil {
			o.log.Error("outbox: fsync after removing leftovers", "err", err)
		}
	}
	return n
}

// loadDir reads every message file in d (prefix is d's path in the spool)
// in id order. Files that fail their checks are moved to corrupt/ unread or
// after a failed decode, and counted; files this process may not read are
// skipped with a log line, and their ids returned.
func (o *Outbox) loadDir(d *statedir.Dir, prefix string) (recs []record, quarantined int, unreadable []string, err error) {
	entries, err := d.Entries()
	if err != nil {
		return nil, 0, nil, fmt.Errorf("outbox: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		id, ok := strings.CutSuffix(name, msgSuffix)
		if !ok || !validID(id) {
			if !e.IsDir() {
				o.log.Warn("outbox: ignoring a file that is not a message; remove it", "file", d.Join(name))
			}
			continue
		}
		r, err := o.read(d, name)
		switch {
		case err == nil:
			recs = append(recs, r)
		case errors.Is(err, statedir.ErrUnsafe), errors.Is(err, errCorrupt):
			if err := o.quarantine(prefix, name, err); err != nil {
				return nil, 0, nil, err
			}
			quarantined++
		case errors.Is(err, fs.ErrNotExist):
			// Gone since the listing: nothing to load.
		default:
			o.unreadable(d, name, err)
			unreadable = append(unreadable, id)
		}
	}
	if quarantined > 0 {
		if err := o.sync(d); err != nil {
			return nil, 0, nil, err
		}
	}
	return recs, quarantined, unreadable, nil
}

// read reads and decodes the message file name in d.
func (o *Outbox) read(d *statedir.Dir, name string) (record, error) {
	data, err := d.ReadFile(name, maxFile)
	if err != nil {
		return record{}, err
	}
	r, err := decode(data)
	if err == nil && r.ID+msgSuffix != name {
		err = corrupt("file %s holds message %s", name, r.ID)
	}
	return r, err
}

// unreadable logs a message file this process may not read. It stays
// where it is: once its owner or mode is fixed, the next start loads it.
func (o *Outbox) unreadable(d *statedir.Dir, name string, err error) {
	o.log.Error("outbox: cannot read a message file; it stays where it is, unsent (was pitweet run as another user, with sudo?); chown it to this user and restart pitweet",
		"file", d.Join(name), "uid", os.Geteuid(), "err", err)
}

// quarantine moves the damaged or untrusted file prefix+name to corrupt/,
// without following it, and says so in the log. The caller fsyncs the
// directory it was in.
func (o *Outbox) quarantine(prefix, name string, why error) error {
	entries, err := o.corrupt.Entries()
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	taken := make(map[string]bool, len(entries))
	for _, e := range entries {
		taken[e.Name()] = true
	}
	dst := name
	for i := 2; taken[dst]; i++ {
		dst = fmt.Sprintf("%s.%d", name, i)
	}
	if err := o.spool.Rename(prefix+name, corruptDir+"/"+dst); err != nil {
		return fmt.Errorf("outbox: move damaged %s to %s: %w", name, o.corrupt.Path(), err)
	}
	if err := o.sync(o.corrupt); err != nil {
		return err
	}
	msg := "outbox: moved a damaged message file aside; its message will not be sent"
	if errors.Is(why, statedir.ErrUnsafe) {
		msg = "outbox: moved a file that cannot be a message aside, unread and unfollowed; remove it"
	}
	o.log.Error(msg, "file", o.spool.Join(prefix+name), "to", o.corrupt.Join(dst), "err", why)
	return nil
}

// seeCorruptIDs keeps new ids clear of the names of quarantined files.
func (o *Outbox) seeCorruptIDs() error {
	entries, err := o.corrupt.Entries()
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
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
	if err := o.writeFile(o.spool, recordOf(m)); err != nil {
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
	if err := o.spool.Remove(id + msgSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: remove delivered message %s: %w", id, err)
	}
	// The file is gone from the directory now, whether or not the fsync
	// below succeeds, so it is gone from the queue too.
	o.pending = slices.Delete(o.pending, i, i+1)
	return o.sync(o.spool)
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

// Rewrite replaces the text of message id with text, which has never been
// sent: Attempts goes back to zero. It is on disk when Rewrite returns, so
// a send of the new text that is cut short is retried with the same text.
// (pitweet's daemon rewrites a message X refused as a duplicate of an
// earlier post on its first attempt, adding a number to it.)
func (o *Outbox) Rewrite(id, text string) (Message, error) {
	if strings.TrimSpace(text) == "" {
		return Message{}, errors.New("outbox: refusing to rewrite a message with no text")
	}
	return o.update(id, func(m *Message) {
		m.Text = text
		m.Attempts = 0
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
	if err := o.writeFile(o.spool, recordOf(m)); err != nil {
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
	if err := o.writeFile(o.dead, r); err != nil {
		return err
	}
	if err := o.spool.Remove(id + msgSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: remove dead message %s from the queue: %w", id, err)
	}
	o.pending = slices.Delete(o.pending, i, i+1)
	o.log.Warn("outbox: message moved to dead letters", "id", id, "source", r.Source, "reason", reason)
	return o.sync(o.spool)
}

// DeadLetters lists the messages in the dead-letter folder, oldest first.
// A dead letter that no longer reads back is moved to corrupt/ (logged);
// one this process may not read is logged once and left out.
func (o *Outbox) DeadLetters() ([]Dead, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, ErrClosed
	}
	entries, err := o.dead.Entries()
	if err != nil {
		return nil, fmt.Errorf("outbox: read dead letters: %w", err)
	}
	var out []Dead
	quarantined := 0
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), msgSuffix)
		if !ok || !validID(id) {
			continue
		}
		r, err := o.read(o.dead, e.Name())
		switch {
		case err == nil:
			out = append(out, Dead{Message: r.message(), Reason: r.DeadReason, At: r.DeadAt})
		case errors.Is(err, statedir.ErrUnsafe), errors.Is(err, errCorrupt):
			if err := o.quarantine(deadDir+"/", e.Name(), err); err != nil {
				return nil, err
			}
			quarantined++
		case errors.Is(err, fs.ErrNotExist):
		default:
			if !o.unreadLogged[e.Name()] {
				o.unreadLogged[e.Name()] = true
				o.unreadable(o.dead, e.Name(), err)
			}
		}
	}
	if quarantined > 0 {
		if err := o.sync(o.dead); err != nil {
			return nil, err
		}
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
	// The spool last: closing it releases the lock.
	for _, d := range []*statedir.Dir{o.dead, o.corrupt, o.spool} {
		if d != nil {
			errs = append(errs, d.Close())
		}
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

// writeFile stores r as <id>.msg in d: write a temporary file in d, fsync
// it, rename it over the final name, fsync d. A crash at any point leaves
// either the old file or the new one under the final name, never a part.
func (o *Outbox) writeFile(d *statedir.Dir, r record) error {
	data, err := encode(r)
	if err != nil {
		return err
	}
	f, tmp, err := d.CreateTemp(r.ID+"-", 0o600)
	if err != nil {
		return fmt.Errorf("outbox: create message file: %w; check the state directory is writable and not full", err)
	}
	fail := func(step string, err error) error {
		f.Close()
		d.Remove(tmp)
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
	if err := d.Rename(tmp, r.ID+msgSuffix); err != nil {
		d.Remove(tmp)
		return fmt.Errorf("outbox: rename message %s into place: %w", r.ID, err)
	}
	return o.sync(d)
}

// sync fsyncs a directory of the spool, making the names created, renamed
// or removed in it durable.
func (o *Outbox) sync(d *statedir.Dir) error {
	o.syncs.Add(1)
	if err := d.Sync(); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// syncPath fsyncs the directory at path: the parent of a spool just made.
func syncPath(path string) error {
	df, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("outbox: open %s to fsync it: %w", path, err)
	}
	defer df.Close()
	if err := df.Sync(); err != nil {
		return fmt.Errorf("outbox: fsync %s: %w", path, err)
	}
	return nil
}
