//go:build !linux

package main

// socketAccess cannot say who owns the control socket off Linux.
func socketAccess(socket string) (owner, group string, ok bool) { return "", "", false }
