package budget

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"pitweet/statedir"
)

// Dir is the ledger's folder in the state directory.
const Dir = "spend"

// keepMonths is how many months of files are kept; older ones are removed
// when a ledger is opened.
const keepMonths = 24

// Month is what the ledger holds for one month.
type Month struct {
	Name  string // "2026-09"
	Spent Amount // charges kept (not released)
	// Requests counts the charges kept, by item.
	Requests map[Item]int
	// Damaged counts lines of the month's file that could not be read;
	// what they recorded is not in Spent.
	Damaged int
	// Depleted is when X last answered that the account's credits are
	// depleted, unless a request succeeded after it; zero otherwise.
	Depleted time.Time
}

// Posts is how many posts were charged, with a link or without.
func (m Month) Posts() int { return m.Requests[ItemPost] + m.Requests[ItemPostURL] }

// Charge is one charge recorded by Charge: what Release needs to release it.
type Charge struct {
	Month string   `json:"month"`
	IDs   []string `json:"ids"` // one per request, 16 hex digits
	Total Amount   `json:"total"`
	at    int64
	reqs  []Request // what each id is, in order; nil in a Charge read from JSON
}

// Filter returns the part of c whose requests keep says to keep; keep is
// given each request's position in c and what it is (a zero Request when
// c was read from JSON, which does not carry them: the Total of such a
// part is then 0, and only its IDs count).
func (c Charge) Filter(keep func(i int, r Request) bool) Charge {
	out := Charge{Month: c.Month, at: c.at}
	for i, id := range c.IDs {
		var r Request
		if i < len(c.reqs) {
			r = c.reqs[i]
		}
		if keep(i, r) {
			out.IDs = append(out.IDs, id)
			out.Total += r.Price
			if c.reqs != nil {
				out.reqs = append(out.reqs, r)
			}
		}
	}
	return out
}

// Options tune Open.
type Options struct {
	Log *slog.Logger // nil discards
	// Now is the clock for pruning old months; nil means time.Now.
	Now func() time.Time
}

// A Ledger is the month's spend in the state directory's spend/ folder. It
// is safe for concurrent use, and several processes may append to the same
// ledger: each write is made under an flock of the folder, after reading
// what the others appended.
type Ledger struct {
	dir *statedir.Dir
	log *slog.Logger

	mu     sync.Mutex
	months map[string]*monthState // months read so far
}

// monthState is one month's file as far as it has been read.
type monthState struct {
	sum     Month
	end     int64               // bytes read
	charges map[uint64]charge   // every charge, by id
	byRef   map[string][]uint64 // the charges kept, by reference, in order
}

func newMonthState(month string) *monthState {
	return &monthState{sum: Month{Name: month, Requests: map[Item]int{}}, charges: map[uint64]charge{}, byRef: map[string][]uint64{}}
}

type charge struct {
	item     Item
	price    Amount
	at       int64 // Unix milliseconds: the charges made together share it
	ref      string
	released bool
}

// ErrFull is returned by Charge when the month's file has reached MaxFile.
var ErrFull = errors.New("budget: this month's spend record is full")

// Open opens the ledger under stateDir, creating its folder (mode 0700)
// if needed, and removes the files of months older than two years. A
// folder made by root is given to the state directory's owner, so that the
// daemon's user can write in it.
func Open(stateDir string, opts Options) (*Ledger, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	state, err := statedir.Open(stateDir)
	if err != nil {
		return nil, fmt.Errorf("budget: %w", err)
	}
	defer state.Close()
	created := false
	if err := state.Mkdir(Dir, 0o700); err == nil {
		created = true
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("budget: make %s: %w", state.Join(Dir), err)
	}
	dir, err := state.Sub(Dir)
	if err != nil {
		return nil, fmt.Errorf("budget: the spend record: %w", err)
	}
	if created {
		err := giveToOwner(state, dir.Chown)
		if err == nil {
			err = state.Sync()
		}
		if err != nil {
			dir.Close()
			return nil, fmt.Errorf("budget: %w", err)
		}
	}
	l := &Ledger{dir: dir, log: opts.Log, months: map[string]*monthState{}}
	l.prune(opts.Now())
	return l, nil
}

// Close closes the ledger.
func (l *Ledger) Close() error { return l.dir.Close() }

// Path is the ledger's folder, for messages.
func (l *Ledger) Path() string { return l.dir.Path() }

// prune removes the files of months older than keepMonths, and the
// temporary files of creations cut short.
func (l *Ledger) prune(now time.Time) {
	entries, err := l.dir.Entries()
	if err != nil {
		l.log.Warn("budget: list the spend record", "err", err)
		return
	}
	oldest := MonthOf(time.Date(now.UTC().Year(), now.UTC().Month()-keepMonths, 1, 0, 0, 0, 0, time.UTC))
	for _, e := range entries {
		name := e.Name()
		old := validMonth(name) && name < oldest
		if !old && !strings.HasPrefix(name, statedir.TempPrefix) {
			continue
		}
		if err := l.dir.Remove(name); err != nil {
			l.log.Warn("budget: remove an old file of the spend record", "file", l.dir.Join(name), "err", err)
		}
	}
}

// Month returns what the ledger holds for the month of now, after reading
// what was appended since it last looked (by this process or another).
func (l *Ledger) Month(now time.Time) (Month, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms, err := l.refresh(MonthOf(now))
	if err != nil {
		return Month{Name: MonthOf(now), Requests: map[Item]int{}}, err
	}
	return ms.copy(), nil
}

func (ms *monthState) copy() Month {
	m := ms.sum
	m.Requests = make(map[Item]int, len(ms.sum.Requests))
	for k, v := range ms.sum.Requests {
		m.Requests[k] = v
	}
	return m
}

// state returns month's state, made empty if new. l.mu is held.
func (l *Ledger) state(month string) *monthState {
	ms := l.months[month]
	if ms == nil {
		ms = newMonthState(month)
		l.months[month] = ms
		// Only the months in use are kept in memory.
		for name := range l.months {
			if name < month && len(l.months) > 2 {
				delete(l.months, name)
			}
		}
	}
	return ms
}

// refresh reads what month's file gained since it was last read. A file
// that does not exist yet is an empty month. l.mu is held.
func (l *Ledger) refresh(month string) (*monthState, error) {
	ms := l.state(month)
	f, fi, err := l.dir.OpenFile(month, MaxFile)
	if errors.Is(err, fs.ErrNotExist) {
		return ms, nil
	}
	if err != nil {
		return ms, fmt.Errorf("budget: read the spend record of %s: %w", month, err)
	}
	defer f.Close()
	return ms, l.readFrom(ms, f, fi.Size())
}

// readFrom reads f (size bytes) from where ms ends. l.mu is held.
func (l *Ledger) readFrom(ms *monthState, f *os.File, size int64) error {
	if size < ms.end {
		return fmt.Errorf("budget: the spend record %s shrank from %d to %d bytes; something other than pitweet changed it", l.dir.Join(ms.sum.Name), ms.end, size)
	}
	if size == ms.end {
		return nil
	}
	data := make([]byte, size-ms.end)
	if _, err := f.ReadAt(data, ms.end); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("budget: read %s: %w", l.dir.Join(ms.sum.Name), err)
	}
	var recs []record
	var damaged, end int
	var err error
	if ms.end == 0 {
		recs, damaged, end, err = parseFile(data, ms.sum.Name)
	} else {
		recs, damaged, end = parseLines(data)
	}
	if err != nil {
		return fmt.Errorf("budget: %s: %w", l.dir.Join(ms.sum.Name), err)
	}
	ms.end += int64(end)
	ms.sum.Damaged += damaged
	if damaged > 0 {
		l.log.Warn("budget: damaged lines in the spend record were skipped; what they recorded is not counted", "file", l.dir.Join(ms.sum.Name), "lines", damaged)
	}
	for _, r := range recs {
		ms.apply(r)
	}
	return nil
}

// apply adds one record to the month.
func (ms *monthState) apply(r record) {
	switch r.kind {
	case recCharge:
		if _, dup := ms.charges[r.id]; dup {
			return
		}
		ms.charges[r.id] = charge{item: r.item, price: r.price, at: r.at, ref: r.ref}
		ms.sum.Spent += r.price
		ms.sum.Requests[r.item]++
		ms.byRef[r.ref] = append(ms.byRef[r.ref], r.id)
	case recRelease:
		c, ok := ms.charges[r.id]
		if !ok || c.released {
			return
		}
		c.released = true
		ms.charges[r.id] = c
		ms.sum.Spent -= c.price
		ms.sum.Requests[c.item]--
		kept := slices.DeleteFunc(ms.byRef[c.ref], func(id uint64) bool { return id == r.id })
		if len(kept) == 0 {
			delete(ms.byRef, c.ref)
		} else {
			ms.byRef[c.ref] = kept
		}
	case recDepleted:
		ms.sum.Depleted = time.UnixMilli(r.at).UTC()
	case recCredited:
		ms.sum.Depleted = time.Time{}
	}
}

// Charge records reqs as spent in the month of now, for ref (an outbox id,
// "check", "post"), on disk (fsync'd) before it returns: call it before
// the requests are sent. It returns the charge, for Release.
func (l *Ledger) Charge(now time.Time, ref string, reqs []Request) (Charge, error) {
	month := MonthOf(now)
	c := Charge{Month: month}
	var recs []record
	for _, r := range reqs {
		id := rand.Uint64()
		recs = append(recs, record{kind: recCharge, id: id, at: now.UnixMilli(), item: r.Item, price: r.Price, ref: Ref(ref)})
		c.IDs = append(c.IDs, string(appendID(nil, id)))
		c.reqs = append(c.reqs, r)
		c.Total += r.Price
	}
	if len(recs) == 0 {
		return c, nil
	}
	return c, l.write(month, recs)
}

// Release records that the requests of c were not billed: X refused them.
func (l *Ledger) Release(now time.Time, c Charge) error {
	if len(c.IDs) == 0 {
		return nil
	}
	if !validMonth(c.Month) {
		return fmt.Errorf("budget: release: %q is not a month", c.Month)
	}
	var recs []record
	for _, s := range c.IDs {
		r, err := parseRecordID(s)
		if err != nil {
			return err
		}
		recs = append(recs, record{kind: recRelease, id: r, at: now.UnixMilli()})
	}
	return l.write(c.Month, recs)
}

func parseRecordID(s string) (uint64, error) {
	if len(s) != 16 || !lowerHex([]byte(s)) {
		return 0, fmt.Errorf("budget: %q is not a charge id", s)
	}
	var id uint64
	for _, c := range []byte(s) {
		d := uint64(c - '0')
		if c >= 'a' {
			d = uint64(c-'a') + 10
		}
		id = id<<4 | d
	}
	return id, nil
}

// Kept returns the charges made for ref in the month of now and not
// released, oldest first, each as Charge made them (the requests of one
// call together). A delivery loop settles with it the attempts of a
// message made by a run that was killed before it learned their outcome.
func (l *Ledger) Kept(now time.Time, ref string) ([]Charge, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	month := MonthOf(now)
	ms, err := l.refresh(month)
	if err != nil {
		return nil, err
	}
	var out []Charge
	for _, id := range ms.byRef[Ref(ref)] {
		c := ms.charges[id]
		if n := len(out); n > 0 && out[n-1].at == c.at {
			out[n-1].IDs = append(out[n-1].IDs, string(appendID(nil, id)))
			out[n-1].reqs = append(out[n-1].reqs, Request{c.item, c.price})
			out[n-1].Total += c.price
			continue
		}
		out = append(out, Charge{Month: month, IDs: []string{string(appendID(nil, id))}, Total: c.price, at: c.at,
			reqs: []Request{{c.item, c.price}}})
	}
	return out, nil
}

// SetDepleted records that X answered at now that the account's credits
// are depleted.
func (l *Ledger) SetDepleted(now time.Time) error {
	return l.write(MonthOf(now), []record{{kind: recDepleted, at: now.UnixMilli()}})
}

// SetCredited records that a request succeeded at now after X said the
// credits were depleted.
func (l *Ledger) SetCredited(now time.Time) error {
	return l.write(MonthOf(now), []record{{kind: recCredited, at: now.UnixMilli()}})
}

// Released reports whether every request of c is released.
func (l *Ledger) Released(c Charge) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ms := l.months[c.Month]
	if ms == nil {
		return false
	}
	for _, s := range c.IDs {
		id, err := parseRecordID(s)
		if err != nil || !ms.charges[id].released {
			return false
		}
	}
	return true
}

// write appends recs to month's file, creating it if needed, under the
// folder's flock, after reading what others appended; it fsyncs before it
// returns.
func (l *Ledger) write(month string, recs []record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.dir.Lock(); err != nil {
		return fmt.Errorf("budget: %w", err)
	}
	defer l.dir.Unlock()
	if err := l.create(month); err != nil {
		return err
	}
	f, fi, err := l.dir.OpenAppend(month, MaxFile)
	if err != nil {
		return fmt.Errorf("budget: the spend record of %s: %w", month, err)
	}
	defer f.Close()
	ms := l.state(month)
	if err := l.readFrom(ms, f, fi.Size()); err != nil {
		return err
	}
	var line []byte
	if fi.Size() > ms.end {
		// A line cut short by a writer that died: end it, so that it
		// reads as one damaged line and what follows stays readable.
		line = append(line, '\n')
	}
	for _, r := range recs {
		line = appendRecord(line, r)
	}
	if fi.Size()+int64(len(line)) > MaxFile {
		return fmt.Errorf("%w (%s, %d bytes)", ErrFull, l.dir.Join(month), fi.Size())
	}
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("budget: write %s: %w", l.dir.Join(month), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("budget: fsync %s: %w", l.dir.Join(month), err)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("budget: %w", err)
	}
	return l.readFrom(ms, f, st.Size())
}

// create makes month's file with its header, whole or not at all, if it
// does not exist. The folder's flock is held.
func (l *Ledger) create(month string) error {
	if _, err := l.dir.Lstat(month); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or OpenAppend says what is wrong
	}
	f, tmp, err := l.dir.CreateTemp(month+"-", 0o600)
	if err != nil {
		return fmt.Errorf("budget: %w", err)
	}
	_, err = f.WriteString(header(month))
	if err == nil {
		err = giveToOwner(l.dir, f.Chown)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.dir.Rename(tmp, month)
	}
	if err == nil {
		err = l.dir.Sync()
	}
	if err != nil {
		l.dir.Remove(tmp)
		return fmt.Errorf("budget: create the spend record of %s: %w", month, err)
	}
	return nil
}

// giveToOwner calls chown with the owner of dir when this process is root
// and dir is someone else's: what root makes there stays usable by the
// daemon's user.
func giveToOwner(dir *statedir.Dir, chown func(uid, gid int) error) error {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := dir.Owner()
	if err != nil || uid <= 0 {
		return err
	}
	return chown(uid, gid)
}

// Months lists the months the ledger has files for, oldest first.
func (l *Ledger) Months() ([]string, error) {
	entries, err := l.dir.Entries()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if validMonth(e.Name()) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}
