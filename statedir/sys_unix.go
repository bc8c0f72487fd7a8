//go:build unix

package statedir

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// oNonblock keeps an open of a FIFO from waiting for a writer.
const oNonblock = syscall.O_NONBLOCK

// links returns how many names the file has.
func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// TryLock takes an exclusive flock on the directory itself, so two
// processes never share it. The kernel drops the lock when d is closed or
// the process dies, even by SIGKILL. There is no lock file to plant a link
// as, or for root to leave unreadable.
func (d *Dir) TryLock() error {
	if err := syscall.Flock(int(d.self.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%w: %s", ErrLocked, d.path)
		}
		return fmt.Errorf("statedir: lock %s: %w", d.path, err)
	}
	return nil
}
