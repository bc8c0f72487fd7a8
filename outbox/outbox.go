// Package outbox is the durable spool of messages waiting to be posted.
//
// A message goes to one or more destinations ("x", "mastodon", "bluesky",
// "forward"), each delivered on its own and in order: the message records,
// per destination, the attempts that may have reached the service, the
// wait before the next one, and how it ended (posted, with the remote id,
// or refused, with the reason). A destination that is down holds back only
// its own deliveries. When every destination has posted the message, it is
// removed; when any refused it, it moves to the dead/ folder with every
// destination's outcome, and is kept.
//
// Each message is one file in the spool directory, and its pictures (up to
// MaxImages) are files in the directory <id>.d beside it. A file is
// written to a temporary name, fsynced, renamed into place, and then the
// directory is fsynced, so a message that Put acknowledged is on disk whole,
// pictures included, even if the power goes a moment later, and a file
// under a message's name is never half written. Every change of a
// delivery is written the same way before the call returns.
//
// Open recovers the spool after a crash: it removes the leftovers of
// interrupted writes and the pictures of messages that were never queued,
// moves any message file that fails its checksum, or whose pictures are
// missing or damaged, to corrupt/ with its pictures (logged, never
// silently dropped, never fatal) and loads every queued message in the
// order it was made.
//
// Nothing found in the spool is trusted (see package statedir): a link,
// FIFO, device, hard-linked or oversized file under a message's or a
// picture's name is moved to corrupt/ unread, a link or non-directory in
// place of dead/, done/ or corrupt/ is moved aside unfollowed, and a file
// or directory the process may not read (one left by root) is skipped or
// moved aside with a log line that says how to get it back. The spool
// itself is locked with flock on the directory, so there is no lock file
// to plant.
//
// Names that begin with a dot are not messages: the outbox removes its own
// leftovers (.tmp-*) and leaves the rest alone, so other parts of pitweet
// may keep small files of their own beside the queue.
package outbox

import (
	"encoding/json"
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
	"sync/atomic"
	"time"
	"unicode/utf8"

	"pitweet/statedir"
)

// Message is one post waiting in the outbox.
type Message struct {
	ID      string    // set by Put; ids sort in the order messages were queued
	Text    string    // the text to post
	Source  string    // what made it, e.g. "button doorbell", "report 1", "alert 2"
	Kind    string    // "press", "report", "alert", "command"
	Key     string    // an outside id that recognises a repeat (an MQTT command's); "" for none
	Created time.Time // when it was queued
	Expires time.Time // after this it is not worth posting; zero: never
	// To lists the destinations, in order: "x", "mastodon", "bluesky",
	// "forward".
	To []string
	// Dest holds each destination's delivery, one per name in To.
	Dest   map[string]Delivery
	Images []Image // pictures posted with the text, in order
	// OnBudget is what to do when posting the message to X would take
	// the month over its budget: "hold" (or "") keeps it queued, "drop"
	// gives it up there.
	OnBudget string
}

// Delivery is where the delivery of a message to one destination stands.
type Delivery struct {
	// Attempts counts the attempts that may have reached the service
	// (their answers lost), so a later "duplicate" can be known to mean
	// the service has the post.
	Attempts  int
	LastError string    // why the last attempt failed
	NotBefore time.Time // do not try again before this; zero: any time
	Done      bool      // posted
	Ref       string    // the remote id or URL once posted; may be empty
	Refused   string    // why this destination gave up; not empty: finished without posting
	At        time.Time // when it finished
	// Text, when not empty, is what this destination posts instead of
	// the message's Text: X refuses a text it has, and such a message is
	// posted there numbered, " (2)", while the others post it as it is.
	Text string
}

// Finished reports whether the destination is done with the message,
// posted or refused.
func (d Delivery) Finished() bool { return d.Done || d.Refused != "" }

// Image is a picture stored with a message.
type Image struct {
	Name   string // the file's name in the message's picture directory: "1.jpg"
	Type   string // image/jpeg, image/png, image/gif or image/webp
	Alt    string // alt text; "" for none
	Width  int    // pixels
	Height int    // pixels
	Size   int64  // bytes
}

// NewImage is a picture for Put: a file to move into the outbox (a
// capture's temporary file on the same file system is renamed, not
// copied) or the picture's bytes.
type NewImage struct {
	Path string
	Data []byte
	Alt  string
}

// Needs reports whether dest still has to deliver m: it is one of m's
// destinations and has neither posted nor refused it.
func (m Message) Needs(dest string) bool {
	d, ok := m.Dest[dest]
	return ok && slices.Contains(m.To, dest) && !d.Finished()
}

// TextFor is the text dest posts: the message's, or the destination's own.
func (m Message) TextFor(dest string) string {
	if t := m.Dest[dest].Text; t != "" {
		return t
	}
	return m.Text
}

// Finished reports whether every destination is done with m.
func (m Message) Finished() bool {
	for _, name := range m.To {
		if !m.Dest[name].Finished() {
			return false
		}
	}
	return true
}

// Expired reports whether m should be dropped instead of posted at now.
func (m Message) Expired(now time.Time) bool {
	return !m.Expires.IsZero() && !now.Before(m.Expires)
}

// clone returns a copy of m that shares no slice or map with it.
func (m Message) clone() Message {
	m.To = slices.Clone(m.To)
	m.Images = slices.Clone(m.Images)
	dest := make(map[string]Delivery, len(m.Dest))
	for k, v := range m.Dest {
		dest[k] = v
	}
	m.Dest = dest
	return m
}

// Dead is a message that was given up on, kept in the dead/ folder with
// every destination's outcome in Dest.
type Dead struct {
	Message
	Reason string    // why: the refusal, or "bluesky: …; mastodon: …" for several destinations
	At     time.Time // when the last destination finished
}

// Limits on a message's pictures.
const (
	MaxImages = 4
	// MaxPictureSize bounds one picture (X takes an animated GIF of up
	// to 15 MB). A larger file under a picture's name is not read.
	MaxPictureSize = 16 << 20
)

// Sub-directories of the spool, and the names Open recognises.
const (
	deadDir    = "dead"
	corruptDir = "corrupt"
	doneDir    = "done"
	tmpPrefix  = statedir.TempPrefix
	msgSuffix  = ".msg"
	picSuffix  = ".d"
)

// maxFile bounds a message file: the header and the largest body. A file
// under a message's name that is larger is not read.
const maxFile = int64(maxHeader + maxBody)

// keyMemory is how long a posted message with a Key is remembered in
// done/, so that a repeat of the key is known; maxDoneKeys bounds how many.
const (
	keyMemory   = 7 * 24 * time.Hour
	maxDoneKeys = 10000
)

var (
	// ErrNotFound is returned for an id that is not pending, or a
	// destination the message is not for or has finished.
	ErrNotFound = errors.New("outbox: no such pending message")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("outbox: closed")
	// ErrRepeat is returned by Put for a message whose Key an earlier
	// message has (queued, posted in the last week, or dead); the Message
	// returned carries the earlier message's ID.
	ErrRepeat = errors.New("outbox: a message with this key was queued before")
	// ErrInvalid is wrapped by Put's error for a message that can never
	// be queued as it is (no text, too large, a picture that is not one),
	// as opposed to a state directory that failed: a caller taking
	// messages from outside refuses the first and retries the second.
	ErrInvalid = errors.New("outbox: the message cannot be queued as it is")
)

// invalidError is an error of a message that can never be queued; it
// reads as its cause and matches ErrInvalid.
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{e.err, ErrInvalid} }

// Outbox is a spool directory opened by one process. It is safe for
// concurrent use by several goroutines: each destination's delivery may
// run on its own, and a write for one message never waits for the fsync
// of another's.
type Outbox struct {
	dir string
	log *slog.Logger
	now func() time.Time // seam for tests

	// ops is held for reading by every operation and whole by Close, so
	// nothing is written to a closed directory.
	ops    sync.RWMutex
	closed bool

	// locks serialises the changes of one message (a hash of its id
	// picks the lock): each is read, changed and written whole.
	locks [32]sync.Mutex

	mu           sync.Mutex
	pending      []Message         // sorted by ID
	lastID       int64             // highest id made or seen; the next is larger
	keys         map[string]string // Key → id, of pending, dead and recently posted messages
	unreadLogged map[string]bool   // unreadable dead letters already logged

	spool   *statedir.Dir
	dead    *statedir.Dir // dead/
	corrupt *statedir.Dir // corrupt/
	done    *statedir.Dir // done/
	syncs   atomic.Int64  // fsync calls made, for the benchmark
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
	o := &Outbox{dir: dir, log: log, now: time.Now, unreadLogged: map[string]bool{}, keys: map[string]string{}}
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
	if o.done, err = o.subDir(doneDir); err != nil {
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
	removed := o.removeTemps(o.spool)
	removed += o.removeTemps(o.dead)
	removed += o.removeTemps(o.done)
	dead, quarantined, _, deadPics, err := o.loadDir(o.dead, deadDir+"/")
	if err != nil {
		return err
	}
	done, q, _, _, err := o.loadDir(o.done, doneDir+"/")
	if err != nil {
		return err
	}
	quarantined += q
	pending, q, unreadable, pics, err := o.loadDir(o.spool, "")
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
		if r.Key != "" {
			o.keys[r.Key] = r.ID
		}
	}
	doneIDs := make(map[string]bool, len(done))
	for _, r := range done {
		doneIDs[r.ID] = true
		o.seeID(r.ID)
		if r.Key != "" {
			o.keys[r.Key] = r.ID
		}
	}
	// A crash inside a move to dead letters can leave a message both
	// queued and dead: the dead copy is written first, so it wins.
	finished := 0
	var queued []Message
	for _, r := range pending {
		o.seeID(r.ID)
		if deadIDs[r.ID] || doneIDs[r.ID] {
			if err := o.spool.Remove(r.ID + msgSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("outbox: finish moving %s out of the queue: %w", r.ID, err)
			}
			finished++
			continue
		}
		queued = append(queued, r.message())
	}
	if finished > 0 {
		if err := o.sync(o.spool); err != nil {
			return err
		}
	}
	queued, q, err = o.checkPictures(queued, unreadable, deadIDs, pics, deadPics)
	if err != nil {
		return err
	}
	quarantined += q
	for _, m := range queued {
		if m.Finished() {
			// Never written so by the outbox; finish it as Refuse or
			// Delivered would have.
			if err := o.finish(m); err != nil {
				return err
			}
			continue
		}
		o.pending = append(o.pending, m)
		if m.Key != "" {
			o.keys[m.Key] = m.ID
		}
	}
	if err := o.seeCorruptIDs(); err != nil {
		return err
	}
	pruned := o.pruneDone(done)
	o.log.Info("outbox: recovered",
		"dir", o.dir, "pending", len(o.pending), "dead", len(dead), "unreadable", len(unreadable),
		"removed_temp", removed, "quarantined", quarantined, "finished", finished, "keys_forgotten", pruned)
	return nil
}

// pruneDone forgets the posted messages in done/ older than keyMemory, and
// the oldest beyond maxDoneKeys. While the clock is implausible (a Pi that
// booted in 1970) nothing is forgotten.
func (o *Outbox) pruneDone(done []record) int {
	now := o.now()
	if now.Year() < 2024 {
		return 0
	}
	n := 0
	for i, r := range done {
		ns, _ := parseID(r.ID)
		if now.Sub(time.Unix(0, ns)) < keyMemory && len(done)-i <= maxDoneKeys {
			continue
		}
		if err := o.done.Remove(r.ID + msgSuffix); err != nil {
			o.log.Warn("outbox: cannot forget a posted message's key", "file", o.done.Join(r.ID+msgSuffix), "err", err)
			continue
		}
		if r.Key != "" && o.keys[r.Key] == r.ID {
			delete(o.keys, r.Key)
		}
		n++
	}
	if n > 0 {
		if err := o.sync(o.done); err != nil {
			o.log.Warn("outbox: fsync after forgetting keys", "err", err)
		}
	}
	return n
}

// removeTemps deletes the temporary files and directories that interrupted
// writes left in d. One that cannot be removed is logged and left.
func (o *Outbox) removeTemps(d *statedir.Dir) int {
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
		if err := d.RemoveAll(e.Name()); err != nil {
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
// skipped with a log line, and their ids returned. It also returns the ids
// of the picture directories (<id>.d) it saw, but those it moved to
// corrupt/ with their message.
func (o *Outbox) loadDir(d *statedir.Dir, prefix string) (recs []record, quarantined int, unreadable []string, pics map[string]bool, err error) {
	entries, err := d.Entries()
	if err != nil {
		return nil, 0, nil, nil, fmt.Errorf("outbox: %w", err)
	}
	pics = map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if id, ok := strings.CutSuffix(name, picSuffix); ok && validID(id) {
			pics[id] = true
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
			if err := o.quarantine(prefix, id, err); err != nil {
				return nil, 0, nil, nil, err
			}
			delete(pics, id)
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
			return nil, 0, nil, nil, err
		}
	}
	return recs, quarantined, unreadable, pics, nil
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

// quarantine moves the damaged or untrusted message file prefix+id.msg,
// and its picture directory if it has one, to corrupt/, without following
// either, and says so in the log. The caller fsyncs the directory they
// were in.
func (o *Outbox) quarantine(prefix, id string, why error) error {
	entries, err := o.corrupt.Entries()
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	taken := make(map[string]bool, len(entries))
	for _, e := range entries {
		taken[e.Name()] = true
	}
	move := func(name string) (string, error) {
		dst := name
		for i := 2; taken[dst]; i++ {
			dst = fmt.Sprintf("%s.%d", name, i)
		}
		if err := o.spool.Rename(prefix+name, corruptDir+"/"+dst); err != nil {
			return "", err
		}
		taken[dst] = true
		return dst, nil
	}
	dst, err := move(id + msgSuffix)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: move damaged %s to %s: %w", id+msgSuffix, o.corrupt.Path(), err)
	}
	pics, perr := move(id + picSuffix)
	if perr != nil && !errors.Is(perr, fs.ErrNotExist) {
		return fmt.Errorf("outbox: move the pictures of damaged %s to %s: %w", id+msgSuffix, o.corrupt.Path(), perr)
	}
	if err := o.sync(o.corrupt); err != nil {
		return err
	}
	msg := "outbox: moved a damaged message file aside; its message will not be sent"
	if errors.Is(why, statedir.ErrUnsafe) {
		msg = "outbox: moved a file that cannot be a message aside, unread and unfollowed; remove it"
	}
	if errors.Is(why, errPictures) {
		msg = "outbox: moved a message aside with its pictures: they are missing or damaged, and it is never posted without them"
	}
	args := []any{"file", o.spool.Join(prefix + id + msgSuffix), "to", o.corrupt.Join(dst), "err", why}
	if pics != "" {
		args = append(args, "pictures", o.corrupt.Join(pics))
	}
	o.log.Error(msg, args...)
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

// Put queues m with pics and returns it with its ID (and Created, if it
// was zero) set, a fresh delivery for each destination in m.To (keeping
// only a destination's own Text, for one whose limit the message's text
// exceeds), and the pictures in m.Images. Each picture is checked (by package media) to be a JPEG, PNG, GIF or WebP
// of at most MaxPictureSize bytes; a NewImage with a Path is moved into
// the outbox (its file is gone once Put succeeds). When Put returns
// without error the message and its pictures are on disk: they survive a
// crash or power cut from then on.
//
// A message with a Key that an earlier message has (queued, dead, or
// posted in the last week) is not queued again: Put returns ErrRepeat and
// the earlier message's ID (empty while the earlier Put is under way).
func (o *Outbox) Put(m Message, pics []NewImage) (Message, error) {
	if err := checkNew(&m, pics); err != nil {
		return Message{}, invalidError{err}
	}
	o.ops.RLock()
	defer o.ops.RUnlock()
	if o.closed {
		return Message{}, ErrClosed
	}
	o.mu.Lock()
	if m.Key != "" {
		if id, ok := o.keys[m.Key]; ok {
			o.mu.Unlock()
			if id == "" {
				return Message{}, fmt.Errorf("%w (it is being queued now)", ErrRepeat)
			}
			m.ID = id
			return m, fmt.Errorf("%w (message %s)", ErrRepeat, id)
		}
		o.keys[m.Key] = "" // taken while it is written
	}
	now := o.now()
	m.ID = o.newID(now)
	o.mu.Unlock()
	if m.Created.IsZero() {
		m.Created = now
	}
	m = normalise(m)
	m, err := o.put(m, pics)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		if m.Key != "" {
			delete(o.keys, m.Key)
		}
		return Message{}, err
	}
	if m.Key != "" {
		o.keys[m.Key] = m.ID
	}
	i, _ := slices.BinarySearchFunc(o.pending, m.ID, byID)
	o.pending = slices.Insert(o.pending, i, m)
	return m.clone(), nil
}

// checkNew checks a message for Put and gives it a fresh delivery per
// destination.
func checkNew(m *Message, pics []NewImage) error {
	if strings.TrimSpace(m.Text) == "" {
		return errors.New("outbox: refusing to queue a message with no text")
	}
	if len(m.To) == 0 {
		return errors.New("outbox: refusing to queue a message with no destination")
	}
	if len(pics) > MaxImages {
		return fmt.Errorf("outbox: a message may carry %d pictures, not %d", MaxImages, len(pics))
	}
	m.To = slices.Clone(m.To)
	given := m.Dest
	m.Dest = make(map[string]Delivery, len(m.To))
	for _, name := range m.To {
		m.Dest[name] = Delivery{Text: given[name].Text}
	}
	m.Images = nil
	for i, p := range pics {
		if (p.Path == "") == (p.Data == nil) {
			return fmt.Errorf("outbox: picture %d needs either a file or its bytes", i+1)
		}
		// Placeholders as large as a picture's record can be, for the
		// size check below.
		m.Images = append(m.Images, Image{Name: pictureName(i, imageTypes["image/webp"]), Type: "image/webp", Alt: p.Alt,
			Width: 1 << 30, Height: 1 << 30, Size: MaxPictureSize})
	}
	r := recordOf(*m)
	r.ID = formatID(0)
	if err := r.validate(); err != nil {
		return err
	}
	tooLarge := fmt.Errorf("outbox: the message is too large to queue with its deliveries (%d bytes of text); shorten it", len(m.Text))
	body, err := encode(r)
	if err != nil {
		return tooLarge
	}
	// Every delivery may yet record an error, a refusal, a remote id and
	// a numbered text of its own: the file must have room for all of them.
	size := len(body)
	for _, name := range m.To {
		size += worstDelivery() + escapedLen(longer(m.Text, m.Dest[name].Text)) + len(" (1000000)")
	}
	if size > maxHeader+maxBody {
		return tooLarge
	}
	m.Images = nil
	return nil
}

// worstDelivery bounds how much a delivery record can add to a message
// file as it is filled in, its own text aside. It is worked out when first
// needed, not at start: a one-shot command that never queues pays nothing.
var worstDelivery = sync.OnceValue(func() int {
	worst := strings.Repeat("\x00", maxNote) // the longest escape of every byte
	longest := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(23*3600+59*60)))
	b, _ := json.Marshal(delivery{Attempts: math.MaxInt, LastError: worst, NotBefore: longest, Done: true,
		Ref: worst, Refused: worst, At: longest})
	return len(b) + len(`,"text":""`) + len(`,"":`) + 2*maxDestName
})

// escapedLen is the length of s in JSON, without its quotes.
func escapedLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b) - 2
}

func longer(a, b string) string {
	if len(b) > len(a) {
		return b
	}
	return a
}

// put writes a new message: its pictures, then its file.
func (o *Outbox) put(m Message, pics []NewImage) (Message, error) {
	var moved func()
	if len(pics) > 0 {
		var err error
		if m.Images, moved, err = o.writePictures(m.ID, pics); err != nil {
			return m, err
		}
	}
	if err := o.writeFile(o.spool, recordOf(m)); err != nil {
		if len(pics) > 0 {
			o.spool.RemoveAll(m.ID + picSuffix)
		}
		return m, err
	}
	if moved != nil {
		moved()
	}
	return m, nil
}

func byID(m Message, id string) int { return strings.Compare(m.ID, id) }

// NextFor returns the oldest pending message that dest still has to
// deliver; ok is false when there is none. Each destination posts in
// order, so the caller waits for the delivery's NotBefore rather than
// skipping to a later message.
func (o *Outbox) NextFor(dest string) (m Message, ok bool, err error) {
	o.ops.RLock()
	defer o.ops.RUnlock()
	if o.closed {
		return Message{}, false, ErrClosed
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range o.pending {
		if m.Needs(dest) {
			return m.clone(), true, nil
		}
	}
	return Message{}, false, nil
}

// NextMatching returns, of the pending messages dest still has to
// deliver, the one with the lowest rank, the oldest among equals; rank
// returns a negative rank for a message to pass over. ok is false when
// none is left. rank is called under the outbox's lock, once per message
// in the order they were queued: it must not call the Outbox. (pitweet's
// daemon ranks X's messages by kind, and passes over those held for the
// budget.)
func (o *Outbox) NextMatching(dest string, rank func(Message) int) (m Message, ok bool, err error) {
	o.ops.RLock()
	defer o.ops.RUnlock()
	if o.closed {
		return Message{}, false, ErrClosed
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	best, bestRank := -1, 0
	for i, m := range o.pending {
		if !m.Needs(dest) {
			continue
		}
		if r := rank(m); r >= 0 && (best < 0 || r < bestRank) {
			best, bestRank = i, r
		}
	}
	if best < 0 {
		return Message{}, false, nil
	}
	return o.pending[best].clone(), true, nil
}

// Pending returns a copy of every pending message, oldest first.
func (o *Outbox) Pending() []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Message, len(o.pending))
	for i, m := range o.pending {
		out[i] = m.clone()
	}
	return out
}

// Len returns the number of pending messages.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

// LenFor returns the number of pending messages dest still has to deliver.
func (o *Outbox) LenFor(dest string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, m := range o.pending {
		if m.Needs(dest) {
			n++
		}
	}
	return n
}

// Delivered records that dest posted message id, as ref (the remote id or
// URL; may be empty when a retry found the service had it already). When
// it was the last destination the message is finished: removed, with its
// pictures, or moved to dead letters if another destination refused it.
// It is on disk when Delivered returns.
func (o *Outbox) Delivered(id, dest, ref string) error {
	_, err := o.updateDest(id, dest, func(d *Delivery, now time.Time) {
		d.Done, d.Ref, d.At, d.NotBefore = true, clip(ref), now, time.Time{}
	})
	return err
}

// Attempt records an attempt to send message id to dest: its Attempts
// goes up by one and, when errText is not empty, LastError becomes
// errText. It is on disk when Attempt returns, so a later "duplicate"
// answer can be known to mean an earlier attempt reached the service.
// (pitweet's daemon records an attempt once it has failed, and treats
// every message it finds queued at start as possibly sent.)
func (o *Outbox) Attempt(id, dest, errText string) (Message, error) {
	return o.updateDest(id, dest, func(d *Delivery, _ time.Time) {
		d.Attempts++
		if errText != "" {
			d.LastError = clip(errText)
		}
	})
}

// RetryAt records why the last attempt to send id to dest failed and that
// it should not be tried again before at. It is on disk when RetryAt
// returns, so a rate-limit wait outlives a restart.
func (o *Outbox) RetryAt(id, dest string, at time.Time, errText string) (Message, error) {
	return o.updateDest(id, dest, func(d *Delivery, _ time.Time) {
		d.NotBefore = at.Round(0)
		if errText != "" {
			d.LastError = clip(errText)
		}
	})
}

// Rewrite gives dest a text of its own for message id, one it has never
// sent: its Attempts go back to zero. The other destinations keep the
// message's text. It is on disk when Rewrite returns, so a send of the new
// text that is cut short is retried with the same text. (pitweet's daemon
// rewrites a message X refused as a duplicate of an earlier post on its
// first attempt, adding a number to it.)
func (o *Outbox) Rewrite(id, dest, text string) (Message, error) {
	if strings.TrimSpace(text) == "" {
		return Message{}, errors.New("outbox: refusing to rewrite a message with no text")
	}
	return o.updateDest(id, dest, func(d *Delivery, _ time.Time) {
		d.Text = text
		d.Attempts = 0
	})
}

// Refuse records that dest gave up on message id for reason (a refusal by
// the service, an expiry): it will not be posted there. When it was the
// last destination the message moves to dead letters. It is on disk when
// Refuse returns.
func (o *Outbox) Refuse(id, dest, reason string) error {
	if reason == "" {
		reason = "refused"
	}
	_, err := o.updateDest(id, dest, func(d *Delivery, now time.Time) {
		d.Refused, d.At = clip(reason), now
	})
	return err
}

// Expire gives up message id on every destination that has not finished
// it, as "expired" at now; it moves to dead letters with what each
// destination did.
func (o *Outbox) Expire(id string, now time.Time) error {
	_, err := o.update(id, func(m *Message) error {
		for _, name := range m.To {
			if d := m.Dest[name]; !d.Finished() {
				d.Refused, d.At = "expired", now.Round(0)
				m.Dest[name] = d
			}
		}
		return nil
	})
	return err
}

// updateDest changes dest's delivery of message id, which dest must not
// have finished.
func (o *Outbox) updateDest(id, dest string, change func(d *Delivery, now time.Time)) (Message, error) {
	return o.update(id, func(m *Message) error {
		if !m.Needs(dest) {
			if _, ok := m.Dest[dest]; !ok {
				return fmt.Errorf("%w: message %s is not for %q", ErrNotFound, id, dest)
			}
			return fmt.Errorf("%w: message %s is finished on %s", ErrNotFound, id, dest)
		}
		d := m.Dest[dest]
		change(&d, o.now().Round(0))
		m.Dest[dest] = d
		return nil
	})
}

// update rewrites message id after change, by the same write-and-rename as
// Put, so the file always holds either the old or the new message; a
// message change finishes is removed or moved to dead letters instead.
func (o *Outbox) update(id string, change func(*Message) error) (Message, error) {
	o.ops.RLock()
	defer o.ops.RUnlock()
	if o.closed {
		return Message{}, ErrClosed
	}
	l := o.lockFor(id)
	l.Lock()
	defer l.Unlock()
	o.mu.Lock()
	i, err := o.find(id)
	var m Message
	if err == nil {
		m = o.pending[i].clone()
	}
	o.mu.Unlock()
	if err != nil {
		return Message{}, err
	}
	if err := change(&m); err != nil {
		return Message{}, err
	}
	m = normalise(m)
	if m.Finished() {
		return m, o.finish(m)
	}
	if err := o.writeFile(o.spool, recordOf(m)); err != nil {
		return Message{}, err
	}
	o.mu.Lock()
	if i, err := o.find(id); err == nil {
		o.pending[i] = m
	}
	o.mu.Unlock()
	return m.clone(), nil
}

// lockFor returns the lock that serialises the changes of message id.
func (o *Outbox) lockFor(id string) *sync.Mutex {
	h := uint32(2166136261)
	for i := range len(id) {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return &o.locks[h%uint32(len(o.locks))]
}

// finish takes the finished message m out of the queue: removed with its
// pictures when every destination posted it (kept in done/ for a week when
// it has a Key), moved to dead letters with them when any refused it.
// The caller holds m's lock.
func (o *Outbox) finish(m Message) error {
	id := m.ID
	refused := slices.ContainsFunc(m.To, func(name string) bool { return m.Dest[name].Refused != "" })
	if refused {
		// The dead copy is made durable before the queued one goes; Open
		// finishes the move if a crash falls between the two.
		if err := o.writeFile(o.dead, recordOf(m)); err != nil {
			return err
		}
		if len(m.Images) > 0 {
			if err := o.spool.Rename(id+picSuffix, deadDir+"/"+id+picSuffix); err != nil {
				o.log.Error("outbox: could not move a dead letter's pictures beside it; the next start does", "id", id, "err", err)
			} else if err := o.sync(o.dead); err != nil {
				return err
			}
		}
	}
	var err error
	if !refused && m.Key != "" {
		err = o.spool.Rename(id+msgSuffix, doneDir+"/"+id+msgSuffix)
		if err == nil {
			err = o.sync(o.done)
		}
	} else {
		err = o.spool.Remove(id + msgSuffix)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: remove finished message %s from the queue: %w", id, err)
	}
	// The file is gone from the queue now, whether or not the fsync below
	// succeeds, so it is gone from memory too.
	o.mu.Lock()
	if i, err := o.find(id); err == nil {
		o.pending = slices.Delete(o.pending, i, i+1)
	}
	if m.Key != "" {
		o.keys[m.Key] = id
	}
	o.mu.Unlock()
	err = o.sync(o.spool)
	if refused {
		o.log.Warn("outbox: message moved to dead letters", "id", id, "source", m.Source, "reason", deadReason(m))
	} else if len(m.Images) > 0 {
		if rerr := o.spool.RemoveAll(id + picSuffix); rerr != nil {
			o.log.Warn("outbox: could not remove a posted message's pictures; the next start does", "id", id, "err", rerr)
		}
	}
	return err
}

// deadReason says why a finished message was given up: the refusal of its
// one destination, or of each that refused it.
func deadReason(m Message) string {
	if len(m.To) == 1 {
		return m.Dest[m.To[0]].Refused
	}
	var parts []string
	for _, name := range m.To {
		if r := m.Dest[name].Refused; r != "" {
			parts = append(parts, name+": "+r)
		}
	}
	return strings.Join(parts, "; ")
}

// deadAt is when the last destination finished m.
func deadAt(m Message) time.Time {
	var at time.Time
	for _, d := range m.Dest {
		if d.At.After(at) {
			at = d.At
		}
	}
	return at
}

// DeadLetters lists the messages in the dead-letter folder, oldest first,
// with what each destination did. A dead letter that no longer reads back
// is moved to corrupt/ (logged); one this process may not read is logged
// once and left out.
func (o *Outbox) DeadLetters() ([]Dead, error) {
	o.ops.RLock()
	defer o.ops.RUnlock()
	if o.closed {
		return nil, ErrClosed
	}
	o.mu.Lock()
	defer o.mu.Unlock()
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
			m := r.message()
			out = append(out, Dead{Message: m, Reason: deadReason(m), At: deadAt(m)})
		case errors.Is(err, statedir.ErrUnsafe), errors.Is(err, errCorrupt):
			if err := o.quarantine(deadDir+"/", id, err); err != nil {
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

// Close releases the spool so another process may open it. It waits for
// the writes under way; later calls on o return ErrClosed.
func (o *Outbox) Close() error {
	o.ops.Lock()
	defer o.ops.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	var errs []error
	// The spool last: closing it releases the lock.
	for _, d := range []*statedir.Dir{o.dead, o.done, o.corrupt, o.spool} {
		if d != nil {
			errs = append(errs, d.Close())
		}
	}
	return errors.Join(errs...)
}

// find returns the index of pending message id. The caller holds o.mu.
func (o *Outbox) find(id string) (int, error) {
	i, ok := slices.BinarySearchFunc(o.pending, id, byID)
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
	for name, d := range m.Dest {
		d.NotBefore = d.NotBefore.Round(0)
		d.At = d.At.Round(0)
		m.Dest[name] = d
	}
	return m
}

// clip cuts what a service said to what a delivery keeps of it.
func clip(s string) string {
	if len(s) <= maxNote {
		return s
	}
	cut := maxNote - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
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
