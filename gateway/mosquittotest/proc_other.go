//go:build !linux

package mosquittotest

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }
