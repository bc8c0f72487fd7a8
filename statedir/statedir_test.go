//go:build unix

package statedir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func openDir(t *testing.T, path string) *Dir {
	t.Helper()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestReadFileRefusesWhatIsNotAPlainFile(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("api_key=secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "plain"), []byte("hello"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "inside"), []byte("inside"), 0o600))
	must(os.Symlink(outside, filepath.Join(dir, "absolute-link")))
	must(os.Symlink("inside", filepath.Join(dir, "relative-link")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	must(os.Mkdir(filepath.Join(dir, "subdir"), 0o700))
	f, err := os.Create(filepath.Join(dir, "sparse"))
	must(err)
	must(f.Truncate(3 << 30))
	must(f.Close())
	must(os.WriteFile(filepath.Join(dir, "six"), []byte("123456"), 0o600))
	hard := filepath.Join(filepath.Dir(dir), "hard-"+filepath.Base(dir))
	must(os.WriteFile(hard, []byte("x"), 0o600))
	t.Cleanup(func() { os.Remove(hard) })
	must(os.Link(hard, filepath.Join(dir, "hardlink")))

	d := openDir(t, dir)
	if data, err := d.ReadFile("plain", 5); err != nil || string(data) != "hello" {
		t.Fatalf("ReadFile(plain) = %q, %v", data, err)
	}
	for name, problem := range map[string]string{
		"absolute-link": "is a symbolic link",
		"relative-link": "is a symbolic link",
		"fifo":          "is a FIFO",
		"subdir":        "is a directory",
		"sparse":        "is 3221225472 bytes, larger than the 5",
		"six":           "is 6 bytes, larger than the 5",
		"hardlink":      "has 2 hard links",
	} {
		done := make(chan error, 1)
		go func() { _, err := d.ReadFile(name, 5); done <- err }()
		select {
		case err := <-done:
			var ue *UnsafeError
			if !errors.As(err, &ue) || !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), problem) {
				t.Errorf("ReadFile(%s) = %v; want an UnsafeError that it %s", name, err, problem)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("ReadFile(%s) did not return within 20s", name)
		}
	}
	if _, err := d.ReadFile("missing", 5); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestSubRefusesLinksAndFiles(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(dir, "rel")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, dir)
	sub, err := d.Sub("real")
	if err != nil {
		t.Fatalf("Sub(real): %v", err)
	}
	sub.Close()
	for _, name := range []string{"abs", "rel", "file"} {
		if s, err := d.Sub(name); !errors.Is(err, ErrUnsafe) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Sub(%s) = %v, want ErrUnsafe", name, err)
		}
	}
}

func TestWriteFileReplacesALinkWithoutWritingThroughIt(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("untouched"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "state")); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, dir)
	if err := d.WriteFile("state", []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(target); string(data) != "untouched" {
		t.Fatalf("the link's target now holds %q", data)
	}
	fi, err := os.Lstat(filepath.Join(dir, "state"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("state is %v, %v; want a regular file", fi, err)
	}
	if data, err := d.ReadFile("state", 10); err != nil || string(data) != "new" {
		t.Fatalf("ReadFile(state) = %q, %v", data, err)
	}
	entries, err := d.Entries()
	if err != nil || len(entries) != 1 {
		t.Fatalf("Entries = %v, %v; want only state (no temporary file left)", entries, err)
	}
}

func TestTryLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	a := openDir(t, dir)
	if err := a.TryLock(); err != nil {
		t.Fatal(err)
	}
	b := openDir(t, dir)
	if err := b.TryLock(); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock = %v, want ErrLocked", err)
	}
	a.Close()
	if err := b.TryLock(); err != nil {
		t.Fatalf("TryLock after the holder closed: %v", err)
	}
}

// A Dir keeps working on the directory it opened when that directory is
// renamed and a link put in its place.
func TestRenamedDirectoryDoesNotRedirect(t *testing.T) {
	parent := t.TempDir()
	path := filepath.Join(parent, "state")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, path)
	elsewhere := t.TempDir()
	if err := os.Rename(path, filepath.Join(parent, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, path); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile("clock", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Fatalf("the write went through the replacement link: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(parent, "moved", "clock")); err != nil {
		t.Fatalf("the write did not land in the opened directory: %v", err)
	}
}
