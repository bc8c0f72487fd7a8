//go:build unix

package config

import (
	"io/fs"
	"syscall"
)

// fileIDs returns the owner and group ids of a file.
func fileIDs(st fs.FileInfo) (uid, gid uint32, ok bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return s.Uid, s.Gid, true
}
