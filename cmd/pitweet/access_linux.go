//go:build linux

package main

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// socketAccess names the user and group that own the control socket, or
// its directory when the socket cannot be reached: those the daemon lets
// in. ok is false when neither can be looked at.
func socketAccess(socket string) (owner, group string, ok bool) {
	fi, err := os.Stat(socket)
	if err != nil {
		fi, err = os.Stat(filepath.Dir(socket))
	}
	if err != nil {
		return "", "", false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", "", false
	}
	owner = strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	group = strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return owner, group, true
}
