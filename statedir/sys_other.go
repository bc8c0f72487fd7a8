//go:build !unix

package statedir

import "io/fs"

const oNonblock = 0

func links(fs.FileInfo) uint64 { return 1 }

// TryLock does nothing where flock is missing; the directory is then not
// protected against a second process.
func (d *Dir) TryLock() error { return nil }

// Lock does nothing where flock is missing.
func (d *Dir) Lock() error { return nil }

// Unlock does nothing where flock is missing.
func (d *Dir) Unlock() error { return nil }

// Owner is unknown where files have no uid: it returns -1, -1.
func (d *Dir) Owner() (uid, gid int, err error) { return -1, -1, nil }
