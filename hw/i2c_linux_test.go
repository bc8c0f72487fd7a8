package hw

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// struct i2c_msg and struct i2c_rdwr_ioctl_data as Linux lays them out:
// three u16, two bytes of padding, a pointer; a pointer and a u32.
func TestI2CStructLayout(t *testing.T) {
	ptr := unsafe.Sizeof(uintptr(0))
	var m i2cMsg
	if unsafe.Offsetof(m.buf) != 8 || unsafe.Sizeof(m) != 8+ptr {
		t.Errorf("i2cMsg: buf at %d, size %d; want 8 and %d", unsafe.Offsetof(m.buf), unsafe.Sizeof(m), 8+ptr)
	}
	var r i2cRequest
	if unsafe.Offsetof(r.data.nmsgs) != ptr {
		t.Errorf("nmsgs at %d, want %d", unsafe.Offsetof(r.data.nmsgs), ptr)
	}
}

// A file that is not an I2C adapter is refused when opened; the ioctls
// reach the kernel and its answer comes back.
func TestI2CNotAnAdapter(t *testing.T) {
	_, err := openI2CPath(1, os.DevNull)
	if !errors.Is(err, syscall.ENOTTY) || !strings.Contains(err.Error(), "/dev/null is not an I2C adapter") {
		t.Errorf("opening /dev/null as a bus: %v, want ENOTTY", err)
	}
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := &i2cBus{n: 1, f: f}
	defer b.Close()
	r := make([]byte, 2)
	if err := b.Tx(0x76, []byte{0xD0}, r); !errors.Is(err, syscall.ENOTTY) || !strings.Contains(err.Error(), "I2C bus 1, address 0x76") {
		t.Errorf("Tx = %v, want ENOTTY for bus 1 address 0x76", err)
	}
	if err := b.Tx(0x80, nil, r); err == nil || !strings.Contains(err.Error(), "not a 7-bit address") {
		t.Errorf("Tx(0x80) = %v", err)
	}
	if err := b.Tx(0x76, nil, nil); err != nil {
		t.Errorf("an empty Tx = %v, want nothing done", err)
	}
}
