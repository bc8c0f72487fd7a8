package media

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup runs cmd in a new process group, and makes cancelling
// its context kill the whole group: a shell script's children, or a
// camera helper's, go with it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
