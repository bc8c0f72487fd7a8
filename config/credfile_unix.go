//go:build unix

package config

import (
	"os"
	"syscall"
)

// canWriteDir reports whether this process may create and rename entries
// in dir.
func canWriteDir(dir string) bool {
	const wx = 0o2 | 0o1 // W_OK | X_OK
	return syscall.Access(dir, wx) == nil
}

// syncDir fsyncs a directory, making the names renamed in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
