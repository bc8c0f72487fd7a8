package sender

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// MaxCAFile bounds the ca_file bundle. Every public root CA together is
// about 200 KiB of PEM.
const MaxCAFile = 1 << 20

// ReadCAFile reads the PEM bundle named by ca_file. It must be a regular
// file of at most MaxCAFile bytes, read through that limit: a mistaken path
// (a device such as /dev/zero, a FIFO, a huge file) neither exhausts memory
// nor holds up the start.
func ReadCAFile(path string) ([]byte, error) {
	// Non-blocking, so that a FIFO cannot hold the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("sender: ca_file: %w; set ca_file in [x] to a PEM bundle, or remove it", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sender: read ca_file: %w", err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("sender: ca_file %s is not a regular file; set ca_file in [x] to a PEM bundle, or remove it", path)
	case fi.Size() > MaxCAFile:
		return nil, fmt.Errorf("sender: ca_file %s is %d bytes, more than the %d a PEM bundle needs; set ca_file in [x] to the bundle of the CAs to trust", path, fi.Size(), MaxCAFile)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxCAFile+1))
	if err != nil {
		return nil, fmt.Errorf("sender: read ca_file: %w", err)
	}
	if len(data) > MaxCAFile {
		return nil, fmt.Errorf("sender: ca_file %s is more than %d bytes, more than a PEM bundle needs; set ca_file in [x] to the bundle of the CAs to trust", path, MaxCAFile)
	}
	return data, nil
}
