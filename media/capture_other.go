//go:build !linux

package media

import "os/exec"

// ownProcessGroup leaves cmd as it is: off Linux, cancelling its context
// kills the command alone (exec.CommandContext's default).
func ownProcessGroup(cmd *exec.Cmd) {}
