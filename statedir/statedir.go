// Package statedir opens what pitweet keeps in its state directory without
// trusting what it finds there. Whoever can write the directory (the
// daemon's own account, or root running `sudo pitweet run` on it) may have
// left a symbolic link, a hard link to a file elsewhere, a FIFO, a device,
// or a sparse file of gigabytes under a name the daemon reads. A Dir looks
// every name up inside the directory it was opened on (an open directory
// handle, through os.Root: a parent renamed or replaced later does not
// redirect it, and nothing resolves outside it), follows no link for the
// files and sub-directories it opens, and reads a file only once it has
// checked, on the open file itself, that it is a regular file with one name
// and at most the size its format allows. What fails is refused with an
// *UnsafeError, before a byte of it is read.
//
// The directory itself is opened by its path, links included: an
// administrator may make /var/lib/pitweet a link (systemd's DynamicUser=
// does), and its parents are not the daemon's to write.
package statedir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ErrUnsafe is what every *UnsafeError is: errors.Is(err, ErrUnsafe).
var ErrUnsafe = errors.New("statedir: refused an entry that cannot be trusted")

// ErrLocked is returned by TryLock when another open description holds
// the directory's lock.
var ErrLocked = errors.New("statedir: locked by another process")

// An UnsafeError says why an entry was refused without being read or
// followed: it is a link, not a regular file (or not a directory), has
// other hard links, or is larger than its format allows.
type UnsafeError struct {
	Name    string // as given, relative to the Dir
	Problem string // "is a symbolic link", "is 3221225472 bytes, larger than …"
}

func (e *UnsafeError) Error() string {
	return "statedir: " + e.Name + " " + e.Problem + "; it was not read"
}

// Is makes errors.Is(err, ErrUnsafe) hold.
func (e *UnsafeError) Is(target error) bool { return target == ErrUnsafe }

// Dir is one directory of the state directory, open.
type Dir struct {
	path string
	root *os.Root
	self *os.File // the directory itself: fsync and flock
}

// Open opens the directory at path. Links in path itself are followed.
func Open(path string) (*Dir, error) {
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("statedir: open %s: %w", path, err)
	}
	return newDir(path, root)
}

func newDir(path string, root *os.Root) (*Dir, error) {
	self, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("statedir: open %s: %w", path, err)
	}
	return &Dir{path: path, root: root, self: self}, nil
}

// Path returns the directory's path, for messages.
func (d *Dir) Path() string { return d.path }

// Join returns the path of name in d, for messages.
func (d *Dir) Join(name string) string { return d.path + string(os.PathSeparator) + name }

// Close closes the directory, releasing its lock.
func (d *Dir) Close() error {
	return errors.Join(d.self.Close(), d.root.Close())
}

// Sub opens the sub-directory name. Anything but a real directory under
// that name (a link to one included) is an *UnsafeError; a directory that
// cannot be read is an error wrapping fs.ErrPermission.
func (d *Dir) Sub(name string) (*Dir, error) {
	fi, err := d.root.Lstat(name)
	if err != nil {
		return nil, fmt.Errorf("statedir: %w", err)
	}
	if !fi.IsDir() {
		return nil, &UnsafeError{Name: name, Problem: "is " + kind(fi.Mode()) + ", not a directory"}
	}
	root, err := d.root.OpenRoot(name)
	if err != nil {
		return nil, fmt.Errorf("statedir: %w", err)
	}
	sub, err := newDir(d.Join(name), root)
	if err != nil {
		return nil, err
	}
	st, err := sub.self.Stat()
	if err == nil && !os.SameFile(fi, st) {
		err = &UnsafeError{Name: name, Problem: "was replaced while it was opened"}
	}
	if err != nil {
		sub.Close()
		return nil, err
	}
	return sub, nil
}

// Mkdir makes the sub-directory name with mode perm (before the umask).
func (d *Dir) Mkdir(name string, perm fs.FileMode) error {
	if err := d.root.Mkdir(name, perm); err != nil {
		return fmt.Errorf("statedir: %w", err)
	}
	return nil
}

// Lstat describes name without following it.
func (d *Dir) Lstat(name string) (fs.FileInfo, error) {
	return d.root.Lstat(name)
}

// Entries lists the directory, sorted by name. Nothing is followed or
// opened: each entry's type is what the directory itself says.
func (d *Dir) Entries() ([]fs.DirEntry, error) {
	f, err := d.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("statedir: list %s: %w", d.path, err)
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("statedir: list %s: %w", d.path, err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// OpenFile opens name for reading once it has checked that name is a
// regular file (not a link, FIFO, device, socket or directory), has no
// other hard link, and is at most max bytes; it checks again on the open
// file, so a swap between the two looks is refused too. A FIFO swapped in
// is opened without blocking and refused. The caller reads at most max
// bytes (ReadFile does).
func (d *Dir) OpenFile(name string, max int64) (*os.File, fs.FileInfo, error) {
	fi, err := d.root.Lstat(name)
	if err != nil {
		return nil, nil, fmt.Errorf("statedir: %w", err)
	}
	if err := check(name, fi, max); err != nil {
		return nil, nil, err
	}
	f, err := d.root.OpenFile(name, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("statedir: %w", err)
	}
	st, err := f.Stat()
	switch {
	case err != nil:
		err = fmt.Errorf("statedir: %w", err)
	case !os.SameFile(fi, st):
		err = &UnsafeError{Name: name, Problem: "was replaced while it was opened"}
	default:
		err = check(name, st, max)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// check refuses what a file of the state directory must not be.
func check(name string, fi fs.FileInfo, max int64) error {
	switch {
	case !fi.Mode().IsRegular():
		return &UnsafeError{Name: name, Problem: "is " + kind(fi.Mode())}
	case fi.Size() > max:
		return &UnsafeError{Name: name, Problem: fmt.Sprintf("is %d bytes, larger than the %d its format allows", fi.Size(), max)}
	}
	if n := links(fi); n > 1 {
		return &UnsafeError{Name: name, Problem: fmt.Sprintf("has %d hard links; its other names may be files elsewhere", n)}
	}
	return nil
}

// kind names what a non-regular entry is.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsRegular():
		return "a regular file"
	}
	return "not a regular file"
}

// OpenAppend opens name, an existing file, for appending, after the checks
// of OpenFile (a regular file with one name, at most max bytes), made on
// the open file too. A link under name is refused, never written through.
func (d *Dir) OpenAppend(name string, max int64) (*os.File, fs.FileInfo, error) {
	fi, err := d.root.Lstat(name)
	if err != nil {
		return nil, nil, fmt.Errorf("statedir: %w", err)
	}
	if err := check(name, fi, max); err != nil {
		return nil, nil, err
	}
	f, err := d.root.OpenFile(name, os.O_RDWR|os.O_APPEND|oNonblock, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("statedir: %w", err)
	}
	st, err := f.Stat()
	switch {
	case err != nil:
		err = fmt.Errorf("statedir: %w", err)
	case !os.SameFile(fi, st):
		err = &UnsafeError{Name: name, Problem: "was replaced while it was opened"}
	default:
		err = check(name, st, max)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// ReadFile reads name whole, after the checks of OpenFile, and never more
// than max bytes (a file that grows past max while it is read is refused).
func (d *Dir) ReadFile(name string, max int64) ([]byte, error) {
	f, fi, err := d.OpenFile(name, max)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, 0, fi.Size())
	buf := make([]byte, min(max+1, 32<<10))
	r := io.LimitReader(f, max+1)
	for {
		n, err := r.Read(buf)
		data = append(data, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("statedir: read %s: %w", d.Join(name), err)
		}
	}
	if int64(len(data)) > max {
		return nil, &UnsafeError{Name: name, Problem: fmt.Sprintf("grew past the %d bytes its format allows while it was read", max)}
	}
	return data, nil
}

// TempPrefix begins the name of every temporary file CreateTemp makes;
// a file of that name left in the directory is the leftover of a write that
// was cut short.
const TempPrefix = ".tmp-"

// CreateTemp creates a new file TempPrefix+pattern+random in d, for
// writing, with mode perm (before the umask), and returns it and its name.
// It never opens an existing name.
func (d *Dir) CreateTemp(pattern string, perm fs.FileMode) (*os.File, string, error) {
	for range 100 {
		name := TempPrefix + pattern + strconv.FormatUint(rand.Uint64(), 36)
		f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("statedir: %w", err)
		}
		return f, name, nil
	}
	return nil, "", fmt.Errorf("statedir: no free temporary name in %s", d.path)
}

// Create creates the new file name for writing, with mode perm (before
// the umask). It never opens an existing name, a link included.
func (d *Dir) Create(name string, perm fs.FileMode) (*os.File, error) {
	f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, fmt.Errorf("statedir: %w", err)
	}
	return f, nil
}

// Rename renames oldname to newname; both may name entries of
// sub-directories ("dead/x.msg"). A link is renamed, never followed.
func (d *Dir) Rename(oldname, newname string) error {
	if err := d.root.Rename(oldname, newname); err != nil {
		return fmt.Errorf("statedir: %w", err)
	}
	return nil
}

// Remove removes name (a link itself, not its target).
func (d *Dir) Remove(name string) error {
	if err := d.root.Remove(name); err != nil {
		return fmt.Errorf("statedir: %w", err)
	}
	return nil
}

// RemoveAll removes name and, when it is a directory, everything in it.
// No link is followed: a link is removed, never what it points to. A name
// that does not exist is no error.
func (d *Dir) RemoveAll(name string) error {
	if err := d.root.RemoveAll(name); err != nil {
		return fmt.Errorf("statedir: %w", err)
	}
	return nil
}

// Sync fsyncs the directory, making the names created, renamed or removed
// in it durable.
func (d *Dir) Sync() error {
	if err := d.self.Sync(); err != nil {
		return fmt.Errorf("statedir: fsync %s: %w", d.path, err)
	}
	return nil
}

// WriteFile replaces name with data, whole or not at all: it writes a
// temporary file, fsyncs it, renames it over name and fsyncs the
// directory. A link under name is replaced, never written through.
func (d *Dir) WriteFile(name string, data []byte, perm fs.FileMode) error {
	f, tmp, err := d.CreateTemp(name+"-", perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.Rename(tmp, name)
	}
	if err != nil {
		d.root.Remove(tmp)
		return fmt.Errorf("statedir: write %s: %w", d.Join(name), err)
	}
	return d.Sync()
}

// Chown gives the directory itself to uid and gid.
func (d *Dir) Chown(uid, gid int) error {
	if err := d.self.Chown(uid, gid); err != nil {
		return fmt.Errorf("statedir: chown %s: %w", d.path, err)
	}
	return nil
}
