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

// Lock waits for an exclusive flock on the directory itself, for writers
// of one file that several processes append to; Unlock releases it. Like
// TryLock's, the lock goes with the process, even killed by SIGKILL.
func (d *Dir) Lock() error {
	for {
		err := syscall.Flock(int(d.self.Fd()), syscall.LOCK_EX)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("statedir: lock %s: %w", d.path, err)
		}
		return nil
	}
}

// Unlock releases the lock Lock took.
func (d *Dir) Unlock() error {
	if err := syscall.Flock(int(d.self.Fd()), syscall.LOCK_UN); err != nil {
		return fmt.Errorf("statedir: unlock %s: %w", d.path, err)
	}
	return nil
}

// Owner returns the uid and gid that own the directory.
func (d *Dir) Owner() (uid, gid int, err error) {
	fi, err := d.self.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("statedir: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("statedir: %s: no owner", d.path)
	}
	return int(st.Uid), int(st.Gid), nil
}
