package hw_test

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"pitweet/hw"
)

// isDevNull reports whether fd is open on /dev/null.
func isDevNull(fd int) bool {
	var st, null syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil || syscall.Stat(os.DevNull, &null) != nil {
		return false
	}
	return st.Mode&syscall.S_IFMT == syscall.S_IFCHR && st.Rdev == null.Rdev
}

// runChild runs the test named name in a process of its own, with
// PITWEET_FD0_CHILD set, and returns its output.
func runChild(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), "PITWEET_FD0_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatalf("%s did not run:\n%s", name, out)
	}
	return string(out)
}

// LoadDrivers holds descriptor 0 open on /dev/null around the drivers'
// loading: after a load that closes it, as periph's gpioioctl does when it
// drops the Pi 5's duplicate chip, and before one that would otherwise give
// descriptor 0 to the first chip it opens.
func TestLoadDriversHoldsFD0(t *testing.T) { runChild(t, "TestLoadDriversHoldsFD0Child") }

func TestLoadDriversHoldsFD0Child(t *testing.T) {
	if os.Getenv("PITWEET_FD0_CHILD") == "" {
		t.Skip("runs in a process of its own (TestLoadDriversHoldsFD0)")
	}
	// After: the load closes descriptor 0.
	err := hw.LoadDrivers(func() error { return syscall.Close(0) })
	if err != nil || !isDevNull(0) {
		t.Fatalf("after a load that closed fd 0: %v; fd 0 on /dev/null: %v", err, isDevNull(0))
	}
	fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY, 0)
	if err != nil || fd == 0 {
		t.Fatalf("the next open got fd %d, %v; want one other than 0", fd, err)
	}
	syscall.Close(fd)

	// Before: descriptor 0 is closed when the load starts.
	syscall.Close(0)
	err = hw.LoadDrivers(func() error {
		fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY, 0) // the first chip
		if err != nil {
			return err
		}
		if fd == 0 {
			t.Error("the load got fd 0 for its first file")
		}
		return nil
	})
	if err != nil || !isDevNull(0) {
		t.Fatalf("%v; fd 0 on /dev/null: %v", err, isDevNull(0))
	}
}
