package mosquittotest

import "syscall"

// childAttr makes the broker and its clients die with the test binary,
// even when it panics on a timeout.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
