//go:build unix

package history

import (
	"errors"
	"syscall"
)

// Flags for opening files in the history directory: never through a
// symbolic link, and never blocking on a FIFO planted under a segment's
// name.
const (
	oNoFollow  = syscall.O_NOFOLLOW
	oDirectory = syscall.O_DIRECTORY
	oNonblock  = syscall.O_NONBLOCK
)

// isLinkErr reports whether an open failed because the path is a symbolic
// link (or, opening a directory, not a directory).
func isLinkErr(err error) bool {
	return errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR)
}
