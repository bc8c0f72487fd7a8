package media

import (
	"fmt"
	"os"
	"path/filepath"
)

// tmpPrefix starts the names of files being written, as in the outbox,
// whose Open removes such leftovers of an interrupted write.
const tmpPrefix = ".tmp-"

// createTemp creates a temporary file in dir, named for what it will hold.
func createTemp(dir, what string) (*os.File, error) {
	f, err := os.CreateTemp(dir, tmpPrefix+what+"-*")
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	return f, nil
}

// commit makes the temporary file f durable under the name dst: it
// fsyncs f, closes it, renames it and fsyncs the directory. On failure it
// removes f.
func commit(f *os.File, dst string) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err == nil {
		err = syncDir(filepath.Dir(dst))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("media: writing %s: %w", dst, err)
	}
	return nil
}

// discard closes and removes a temporary file that will not be used.
func discard(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
