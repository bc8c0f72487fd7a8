package fakehw

import (
	"context"
	"sync"
	"time"
)

// Epoch is the virtual time a new Board starts at.
var Epoch = time.Date(2025, time.June, 1, 12, 0, 0, 0, time.UTC)

// Clock is the board's time source. In virtual mode it moves only when a pin
// waits for a scheduled edge, when something sleeps on it, or by Advance.
// It implements hw.Clock.
type Clock struct {
	real bool

	mu  sync.Mutex
	now time.Time
}

// Now returns the current time.
func (c *Clock) Now() time.Time {
	if c.real {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves virtual time forward by d. It does nothing in real-time mode.
func (c *Clock) Advance(d time.Duration) {
	c.advanceTo(c.Now().Add(d))
}

// advanceTo moves virtual time to t unless it is already later.
func (c *Clock) advanceTo(t time.Time) {
	if c.real {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// Sleep waits for d: in virtual mode it moves the clock by d and returns at
// once. It returns ctx.Err() if ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !c.real {
		c.Advance(d)
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
