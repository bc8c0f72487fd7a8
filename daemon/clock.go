package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"pitweet/statedir"
)

// The clock offset (X's clock minus ours) is measured from the Date header
// of every answer X sends, and kept in the state directory between runs so
// that the first post after a restart is signed with it.
//
// Date has a resolution of one second and is written somewhere between the
// moment the request left and the moment the answer arrived, so one answer
// only bounds the offset: it lies in
//
//	[Date - received, Date + 1s - sent]
//
// The offset in use is kept while it lies within those bounds widened by
// clockSlack, and replaced by their midpoint otherwise. On a fast link the
// bounds are a little over a second wide, so the offset moves only when X
// disagrees with it by about two seconds or more: answers do not make it
// jitter by the Date header's rounding, and an error that matters (a 429's
// reset is on X's clock) is corrected by the very answer that shows it.
const clockSlack = time.Second

// clockFileName is the offset's file in the state directory; the outbox
// leaves names that begin with a dot alone.
const clockFileName = ".clock-offset"

// maxClockFile bounds the file: one small JSON object.
const maxClockFile = 256

// maxStoredOffset is the largest offset the file may hold. A clock a day
// off is not kept at all (no NTP); pitweet then learns the offset again
// from the first answer rather than trusting an old file.
const maxStoredOffset = 24 * time.Hour

// storedClock is the file's content.
type storedClock struct {
	Offset   Duration  `json:"offset"`   // X's clock minus ours, "4m10.5s"
	Measured time.Time `json:"measured"` // when, on our clock
}

// estimateOffset returns the offset an answer with date implies, for a
// request sent at sent and answered at received (both on our clock), and
// whether cur is consistent with it.
func estimateOffset(date, sent, received time.Time, cur time.Duration) (est time.Duration, agrees bool) {
	lo := date.Sub(received)
	hi := date.Add(time.Second).Sub(sent)
	return lo + (hi-lo)/2, cur >= lo-clockSlack && cur <= hi+clockSlack
}

// encodeClock returns the file's bytes for offset measured at at.
func encodeClock(offset time.Duration, at time.Time) []byte {
	b, _ := json.Marshal(storedClock{Offset: Duration(offset), Measured: at.UTC().Round(0)})
	return append(b, '\n')
}

// decodeClock reads the file's bytes. Anything but one object with a sane
// offset and a plausible time is an error that quotes nothing of the file.
func decodeClock(data []byte) (storedClock, error) {
	var s storedClock
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return storedClock{}, errors.New("it is not a clock offset record")
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return storedClock{}, errors.New("it has bytes after the record")
	}
	if d := time.Duration(s.Offset); d > maxStoredOffset || d < -maxStoredOffset {
		return storedClock{}, fmt.Errorf("its offset is more than %v", maxStoredOffset)
	}
	if s.Measured.Before(plausibleClock) {
		return storedClock{}, errors.New("its measurement time is missing or implausible")
	}
	return s, nil
}

// clockStore keeps the offset in the state directory.
type clockStore struct {
	dir *statedir.Dir
	log *slog.Logger
}

// load returns the offset kept by an earlier run; ok is false when there
// is none or it cannot be trusted (logged; never fatal: the offset is then
// learned from the first answer).
func (c *clockStore) load() (s storedClock, ok bool) {
	data, err := c.dir.ReadFile(clockFileName, maxClockFile)
	if errors.Is(err, fs.ErrNotExist) {
		return storedClock{}, false
	}
	if err == nil {
		s, err = decodeClock(data)
	}
	if err != nil {
		c.log.Warn("daemon: ignoring the kept clock offset; it is measured again from X's next answer",
			"file", c.dir.Join(clockFileName), "err", err)
		return storedClock{}, false
	}
	return s, true
}

// save keeps offset, measured at at. A failure is logged: the offset in
// memory is still right.
func (c *clockStore) save(offset time.Duration, at time.Time) {
	if offset > maxStoredOffset || offset < -maxStoredOffset {
		return
	}
	if err := c.dir.WriteFile(clockFileName, encodeClock(offset, at), 0o600); err != nil {
		c.log.Warn("daemon: could not keep the clock offset for the next run", "err", err)
	}
}
