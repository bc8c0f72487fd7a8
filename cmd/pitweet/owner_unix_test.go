//go:build unix

package main

import (
	"os"
	"os/user"
	"strconv"
	"syscall"
	"testing"
)

// fileOwnerName is "user:group" of path, by name (this test runs where the
// names of its own user and group are known).
func fileOwnerName(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	u, err := user.LookupId(strconv.Itoa(int(sys.Uid)))
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(strconv.Itoa(int(sys.Gid)))
	if err != nil {
		t.Fatal(err)
	}
	return u.Username + ":" + g.Name
}
