package hw

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// i2cBus is an I²C bus opened through Linux's i2c-dev interface,
// /dev/i2c-N, as periph.io's sysfs-i2c driver opens it: one I2C_RDWR ioctl
// per transaction, a write message and a read message with a repeated
// start between them (linux/i2c-dev.h, linux/i2c.h). It implements
// i2c.BusCloser.
type i2cBus struct {
	n  int
	mu sync.Mutex // one transaction at a time
	f  *os.File
}

// i2c-dev ioctls and message flags.
const (
	i2cFuncs = 0x0705 // I2C_FUNCS: what the adapter can do
	i2cRDWR  = 0x0707 // I2C_RDWR: combined transfers
	i2cMRead = 0x0001 // I2C_M_RD
	// i2cFuncI2C is I2C_FUNC_I2C: the adapter does plain I2C transfers,
	// which I2C_RDWR needs (an SMBus-only adapter does not).
	i2cFuncI2C = 0x00000001
)

// i2cMsg is struct i2c_msg; Go lays it out as C does on 32- and 64-bit
// Linux (the pointer after two bytes of padding).
type i2cMsg struct {
	addr, flags, length uint16
	buf                 uintptr
}

// i2cRequest is one I2C_RDWR call. Everything the kernel reads or writes
// through the pointers lives in this one heap object, which the garbage
// collector does not move.
type i2cRequest struct {
	data struct { // struct i2c_rdwr_ioctl_data
		msgs  uintptr
		nmsgs uint32
	}
	msgs [2]i2cMsg
	buf  []byte
}

func openI2C(n int) (*i2cBus, error) { return openI2CPath(n, fmt.Sprintf("/dev/i2c-%d", n)) }

func openI2CPath(n int, path string) (*i2cBus, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	b := &i2cBus{n: n, f: f}
	var funcs uint // unsigned long
	if err := b.ioctl(i2cFuncs, unsafe.Pointer(&funcs)); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is not an I2C adapter: %w", f.Name(), err)
	}
	if funcs&i2cFuncI2C == 0 {
		f.Close()
		return nil, fmt.Errorf("%s does only SMBus transfers, not the plain I2C transfers the sensors' drivers use", f.Name())
	}
	return b, nil
}

func (b *i2cBus) ioctl(req uintptr, arg unsafe.Pointer) error {
	rc, err := b.f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// String implements i2c.Bus.
func (b *i2cBus) String() string { return fmt.Sprintf("I2C%d", b.n) }

// Tx implements i2c.Bus: it writes w then reads len(r) bytes from the
// device at addr, in one transfer.
func (b *i2cBus) Tx(addr uint16, w, r []byte) error {
	if addr >= 0x80 {
		return fmt.Errorf("hw: I2C address %#x is not a 7-bit address", addr)
	}
	if len(w) == 0 && len(r) == 0 {
		return nil
	}
	if len(w) > 0xFFFF || len(r) > 0xFFFF {
		return errors.New("hw: I2C message longer than 65535 bytes")
	}
	req := &i2cRequest{buf: make([]byte, len(w)+len(r))}
	copy(req.buf, w)
	n := 0
	if len(w) > 0 {
		req.msgs[n] = i2cMsg{addr: addr, length: uint16(len(w)), buf: uintptr(unsafe.Pointer(&req.buf[0]))}
		n++
	}
	if len(r) > 0 {
		req.msgs[n] = i2cMsg{addr: addr, flags: i2cMRead, length: uint16(len(r)), buf: uintptr(unsafe.Pointer(&req.buf[len(w)]))}
		n++
	}
	req.data.msgs = uintptr(unsafe.Pointer(&req.msgs[0]))
	req.data.nmsgs = uint32(n)
	b.mu.Lock()
	err := b.ioctl(i2cRDWR, unsafe.Pointer(&req.data))
	b.mu.Unlock()
	runtime.KeepAlive(req)
	if err != nil {
		return fmt.Errorf("hw: I2C bus %d, address %#02x: %w", b.n, addr, err)
	}
	copy(r, req.buf[len(w):])
	return nil
}

// SetSpeed implements i2c.Bus. Linux sets the speed from the device tree
// (dtparam=i2c_arm_baudrate in config.txt), not at run time.
func (b *i2cBus) SetSpeed(physic.Frequency) error {
	return errors.New("hw: the I2C speed is set in /boot/firmware/config.txt (dtparam=i2c_arm_baudrate=...)")
}

// Close implements i2c.BusCloser.
func (b *i2cBus) Close() error { return b.f.Close() }

var _ i2c.BusCloser = (*i2cBus)(nil)

// holdFD0 makes sure file descriptor 0 is open: when it is closed, it is
// opened on /dev/null (open returns the lowest free descriptor).
func holdFD0() error {
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, 0, syscall.F_GETFD, 0); errno != syscall.EBADF {
		return nil
	}
	fd, err := syscall.Open(os.DevNull, syscall.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("hw: opening %s as file descriptor 0: %w", os.DevNull, err)
	}
	if fd != 0 {
		// Something else took descriptor 0 meanwhile: it is open.
		syscall.Close(fd)
	}
	return nil
}
