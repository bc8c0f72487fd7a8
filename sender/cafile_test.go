package sender

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A ca_file that is not a bundle of reasonable size is refused without
// being read whole and without waiting.
func TestNewRefusesCAFileThatIsNotABundle(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, make([]byte, MaxCAFile+1), 0o644); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse.pem")
	if err := os.WriteFile(sparse, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, 3<<30); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"/dev/zero": "ca_file /dev/zero is not a regular file",
		dir:         "ca_file " + dir + " is not a regular file",
		big:         "ca_file " + big + " is 1048577 bytes, more than the 1048576",
		sparse:      "ca_file " + sparse + " is 3221225472 bytes, more than the 1048576",
	}
	fifo := filepath.Join(dir, "fifo.pem")
	if err := mkfifo(fifo); err == nil {
		cases[fifo] = "ca_file " + fifo + " is not a regular file"
	} else if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatal(err)
	}
	for path, want := range cases {
		done := make(chan error, 1)
		go func() {
			_, err := New(Config{CAFile: path}, testCreds)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.HasPrefix(err.Error(), "sender: "+want) {
				t.Errorf("ca_file %s: New = %v; want %q", path, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ca_file %s: New still waiting after 10s", path)
		}
	}
	// At the limit, a file is read: here it holds no certificate.
	limit := filepath.Join(dir, "limit.pem")
	if err := os.WriteFile(limit, make([]byte, MaxCAFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{CAFile: limit}, testCreds); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a ca_file of exactly %d bytes: New = %v; want it read, and refused for holding no certificate", MaxCAFile, err)
	}
}
