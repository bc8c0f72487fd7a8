package fakehw

import (
	"os"
	"syscall"
)

// errBusy is what the kernel answers a request for a line that is held.
var errBusy = syscall.EBUSY

// openLine stands for the file descriptor a line request returns: a real
// one, so that the numbers go where the kernel's would.
func openLine() (int, error) {
	return syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
}

func closeLine(fd int) { _ = syscall.Close(fd) }

// closeFD0 closes file descriptor 0, as gpioioctl's GPIOChip.Close does.
func closeFD0() { _ = syscall.Close(0) }
