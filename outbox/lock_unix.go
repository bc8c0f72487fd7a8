//go:build unix

package outbox

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on path, so two processes never share a
// spool (two daemons would post every message twice). The kernel drops the
// lock when the process dies, even by SIGKILL.
func lockDir(path string) (unlock func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("outbox: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("outbox: %s is locked by another process; stop the other pitweet (systemctl stop pitweet) or use another state directory", path)
		}
		return nil, fmt.Errorf("outbox: lock %s: %w", path, err)
	}
	return f.Close, nil
}
