//go:build unix

package outbox

// Files planted in the spool by someone who can write the state directory
// (the daemon's own account, or a careless `sudo pitweet run`): links,
// FIFOs, giant files, hard links, unreadable files and directories. Open
// must follow none of them, read none of them (nor log what they hold),
// move what cannot be a message to corrupt/, and start anyway.

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// secretLine is the first line of a file the daemon must never read.
const secretLine = "api_key=not-for-the-log"

// plantSecret writes a file outside the spool that stands for /etc/shadow
// or the credentials, and returns its path.
func plantSecret(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(p, []byte(secretLine+"\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// spoolWith opens a new spool, queues texts and closes it; it returns the
// spool's directory and the messages.
func spoolWith(t *testing.T, texts ...string) (string, []Message) {
	t.Helper()
	dir := t.TempDir()
	o := open(t, dir, nil)
	var ms []Message
	for _, s := range texts {
		ms = append(ms, put(t, o, s))
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, ms
}

// plantedID is an id after every message a test queues.
func plantedID() string { return formatID(time.Now().Add(time.Hour).UnixNano()) }

// openWithin opens dir, failing the test if Open does not return within
// 20 seconds (a FIFO would block a plain read for ever).
func openWithin(t *testing.T, dir string, logs *logBuffer) *Outbox {
	t.Helper()
	type result struct {
		o   *Outbox
		err error
	}
	done := make(chan result, 1)
	go func() {
		o, err := Open(dir, slog.New(slog.NewTextHandler(logs, nil)))
		done <- result{o, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Open: %v", r.err)
		}
		t.Cleanup(func() { r.o.Close() })
		return r.o
	case <-time.After(20 * time.Second):
		t.Fatalf("Open did not return within 20s; log so far:\n%s", logs)
		return nil
	}
}

// inCorrupt reports what corrupt/ holds under name (or name.N), without
// following it.
func inCorrupt(t *testing.T, dir, name string) fs.FileInfo {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, corruptDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == name || strings.HasPrefix(e.Name(), name+".") {
			fi, err := os.Lstat(filepath.Join(dir, corruptDir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			return fi
		}
	}
	t.Fatalf("%s is not in corrupt/ (it holds %d entries)", name, len(entries))
	return nil
}

func assertNoSecret(t *testing.T, logs *logBuffer) {
	t.Helper()
	if strings.Contains(logs.String(), "not-for-the-log") {
		t.Fatalf("the log quotes the planted file's content:\n%s", logs)
	}
}

func TestPlantedLinkNotFollowed(t *testing.T) {
	t.Run("to a secret", func(t *testing.T) {
		secret := plantSecret(t)
		dir, ms := spoolWith(t, "a", "b")
		name := plantedID() + msgSuffix
		if err := os.Symlink(secret, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		logs := &logBuffer{}
		o := openWithin(t, dir, logs)
		assertNoSecret(t, logs)
		if got := texts(o.Pending()); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("pending %q, want [a b]", got)
		}
		if fi := inCorrupt(t, dir, name); fi.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("corrupt/ holds a %v, want the link itself", fi.Mode())
		}
		if data, err := os.ReadFile(secret); err != nil || !strings.HasPrefix(string(data), secretLine) {
			t.Fatalf("the link's target changed: %q, %v", data, err)
		}
		if !strings.Contains(logs.String(), "symbolic link") {
			t.Fatalf("the log does not say the file was a link:\n%s", logs)
		}
		if m := put(t, o, "c"); m.ID <= ms[1].ID {
			t.Fatalf("new id %s not after %s", m.ID, ms[1].ID)
		}
	})
	t.Run("to a message elsewhere", func(t *testing.T) {
		// A whole, valid message file outside the spool under the
		// planted link's id: following the link would post it.
		other, _ := spoolWith(t)
		id := plantedID()
		r := record{ID: id, Text: "planted post", Created: time.Now().Round(0), To: []string{"x"}, Dest: map[string]delivery{"x": {}}}
		data, err := encode(r)
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(other, id+msgSuffix)
		if err := os.WriteFile(target, data, 0o600); err != nil {
			t.Fatal(err)
		}
		dir, _ := spoolWith(t, "a")
		if err := os.Symlink(target, filepath.Join(dir, id+msgSuffix)); err != nil {
			t.Fatal(err)
		}
		o := openWithin(t, dir, &logBuffer{})
		if got := texts(o.Pending()); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("pending %q, want [a]: a linked message was loaded", got)
		}
	})
}

func TestPlantedFIFONotOpenedForReading(t *testing.T) {
	dir, _ := spoolWith(t, "a")
	name := plantedID() + msgSuffix
	if err := syscall.Mkfifo(filepath.Join(dir, name), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	logs := &logBuffer{}
	o := openWithin(t, dir, logs)
	if got := texts(o.Pending()); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("pending %q, want [a]", got)
	}
	if fi := inCorrupt(t, dir, name); fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("corrupt/ holds a %v, want the FIFO", fi.Mode())
	}
}

// giant is the size of the planted sparse file: it takes no disk space,
// and a daemon that read it whole would need 3 GiB of memory.
const giant = 3 << 30

func TestGiantFileNotRead(t *testing.T) {
	dir, _ := spoolWith(t, "a")
	name := plantedID() + msgSuffix
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("pitweet-outbox v1 99999 00000000\n"); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Truncate(giant), f.Close()); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	logs := &logBuffer{}
	o := openWithin(t, dir, logs)
	runtime.ReadMemStats(&after)
	if got := texts(o.Pending()); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("pending %q, want [a]", got)
	}
	// Allocation is counted, not timed: Open may allocate for its own
	// bookkeeping, never for the file.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("Open allocated %d MiB with a %d GiB file in the spool", alloc>>20, giant>>30)
	}
	if fi := inCorrupt(t, dir, name); fi.Size() != giant {
		t.Fatalf("corrupt/ holds %d bytes, want the planted %d", fi.Size(), giant)
	}
	if !strings.Contains(logs.String(), "larger than") {
		t.Fatalf("the log does not say the file is too large:\n%s", logs)
	}
}

func TestPlantedHardLinkNotRead(t *testing.T) {
	dir, _ := spoolWith(t, "a")
	// The secret must be on the spool's file system for a hard link.
	secret := filepath.Join(filepath.Dir(dir), "hardlinked-secret")
	if err := os.WriteFile(secret, []byte(secretLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(secret) })
	name := plantedID() + msgSuffix
	if err := os.Link(secret, filepath.Join(dir, name)); err != nil {
		t.Skipf("link: %v", err)
	}
	logs := &logBuffer{}
	o := openWithin(t, dir, logs)
	assertNoSecret(t, logs)
	if got := texts(o.Pending()); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("pending %q, want [a]", got)
	}
	inCorrupt(t, dir, name)
	if data, err := os.ReadFile(secret); err != nil || string(data) != secretLine+"\n" {
		t.Fatalf("the hard link's other name changed: %q, %v", data, err)
	}
}

func TestPlantedLockLinkNotFollowed(t *testing.T) {
	dir, ms := spoolWith(t, "a")
	outside := filepath.Join(t.TempDir(), "created-by-pitweet")
	lock := filepath.Join(dir, ".lock")
	os.Remove(lock)
	if err := os.Symlink(outside, lock); err != nil {
		t.Fatal(err)
	}
	o := openWithin(t, dir, &logBuffer{})
	if _, err := os.Lstat(outside); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open created the .lock link's target %s (%v)", outside, err)
	}
	if got := o.Pending(); len(got) != 1 || got[0].ID != ms[0].ID {
		t.Fatalf("pending %q, want [a]", texts(got))
	}
	// The spool is still locked against a second opener.
	if o2, err := Open(dir, nil); err == nil {
		o2.Close()
		t.Fatal("a second Open succeeded while the first holds the spool")
	}
}

func TestPlantedDirectoryLinksNotFollowed(t *testing.T) {
	for _, sub := range []string{deadDir, corruptDir} {
		t.Run(sub, func(t *testing.T) {
			dir, ms := spoolWith(t, "to be refused", "damaged")
			outside := t.TempDir()
			if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(dir, sub)); err != nil {
				t.Fatal(err)
			}
			// A damaged message, so Open has something to quarantine.
			if err := os.WriteFile(filepath.Join(dir, ms[1].ID+msgSuffix), []byte("garbage\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			logs := &logBuffer{}
			o := openWithin(t, dir, logs)
			if err := o.Refuse(ms[0].ID, "x", "refused"); err != nil {
				t.Fatalf("Dead: %v", err)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Fatalf("the %s link's target got %d files: %v", sub, len(entries), entries[0].Name())
			}
			dead, err := o.DeadLetters()
			if err != nil || len(dead) != 1 || dead[0].ID != ms[0].ID {
				t.Fatalf("DeadLetters = %v, %v; want the refused message", dead, err)
			}
			if fi, err := os.Lstat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
				t.Fatalf("%s/ is not a directory after Open: %v, %v", sub, fi, err)
			}
			if _, err := os.Stat(filepath.Join(dir, corruptDir, ms[1].ID+msgSuffix)); err != nil {
				t.Fatalf("the damaged message is not in the real corrupt/: %v", err)
			}
			if !strings.Contains(logs.String(), "symbolic link") {
				t.Fatalf("the log does not mention the link:\n%s", logs)
			}
		})
	}
}

func TestDeadLettersRefusePlantedFiles(t *testing.T) {
	secret := plantSecret(t)
	dir, ms := spoolWith(t, "refused")
	logs := &logBuffer{}
	o := openWithin(t, dir, logs)
	if err := o.Refuse(ms[0].ID, "x", "refused"); err != nil {
		t.Fatal(err)
	}
	link := plantedID() + msgSuffix
	if err := os.Symlink(secret, filepath.Join(dir, deadDir, link)); err != nil {
		t.Fatal(err)
	}
	dead, err := o.DeadLetters()
	if err != nil || len(dead) != 1 || dead[0].ID != ms[0].ID {
		t.Fatalf("DeadLetters = %+v, %v; want the one real dead letter", dead, err)
	}
	assertNoSecret(t, logs)
	if fi := inCorrupt(t, dir, link); fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("corrupt/ holds a %v, want the link", fi.Mode())
	}
}

// Files a process of another user left in the spool, as `sudo pitweet run`
// does: the daemon cannot read them. The test plays the daemon in a child
// process: as root it drops to nobody; otherwise mode 0 keeps the owner out.

const unreadableDirEnv = "PITWEET_OUTBOX_UNREADABLE_DIR"

// unreadableResult is what the child reports.
type unreadableResult struct {
	Err     string
	Pending []string
	Dead    []string
	NewID   string
	Log     string
}

// TestUnreadableChild is the child side of the unreadable-file tests.
func TestUnreadableChild(t *testing.T) {
	dir := os.Getenv(unreadableDirEnv)
	if dir == "" {
		t.Skip("runs only as a child of the unreadable-file tests")
	}
	logs := &logBuffer{}
	var res unreadableResult
	o, err := Open(dir, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		res.Err = err.Error()
	} else {
		res.Pending = texts(o.Pending())
		dead, err := o.DeadLetters()
		if err != nil {
			res.Err = err.Error()
		}
		for _, d := range dead {
			res.Dead = append(res.Dead, d.Text)
		}
		m, err := o.Put(Message{Text: "after", To: toX}, nil)
		if err != nil {
			res.Err = err.Error()
		}
		res.NewID = m.ID
		o.Close()
	}
	res.Log = logs.String()
	json.NewEncoder(os.Stdout).Encode(res)
}

// unprivileged makes dir and the named entries in it unreadable to the
// child and runs the child on dir.
func openUnprivileged(t *testing.T, dir string, unreadable ...string) unreadableResult {
	t.Helper()
	exe := os.Args[0]
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// The child runs as nobody: the spool is nobody's, the planted
		// entries root's with mode 0600/0700, and the test binary and
		// the path to the spool must be reachable.
		const nobody = 65534
		cred = &syscall.Credential{Uid: nobody, Gid: nobody}
		bin := t.TempDir()
		if err := os.Chmod(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		exe = filepath.Join(bin, "outbox.test")
		if err := os.WriteFile(exe, data, 0o755); err != nil {
			t.Fatal(err)
		}
		for p := filepath.Dir(dir); p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if slices.Contains(unreadable, rel) {
				if d.IsDir() {
					return errors.Join(os.Chmod(p, 0o700), fs.SkipDir)
				}
				return os.Chmod(p, 0o600)
			}
			return os.Lchown(p, nobody, nobody)
		})
		if err != nil && !errors.Is(err, fs.SkipDir) {
			t.Fatal(err)
		}
	} else {
		for _, name := range unreadable {
			p := filepath.Join(dir, name)
			if err := os.Chmod(p, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(p, 0o700) })
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestUnreadableChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), unreadableDirEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s%s", err, out, stderr.String())
	}
	var res unreadableResult
	start := strings.Index(string(out), "{")
	if start < 0 {
		t.Fatalf("child said nothing readable:\n%s", out)
	}
	if err := json.NewDecoder(strings.NewReader(string(out[start:]))).Decode(&res); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	return res
}

func TestUnreadableMessageSkipped(t *testing.T) {
	dir, ms := spoolWith(t, "a", "written by root", "c")
	res := openUnprivileged(t, dir, ms[1].ID+msgSuffix)
	if res.Err != "" {
		t.Fatalf("the daemon could not start or run: %s\nlog:\n%s", res.Err, res.Log)
	}
	if !slices.Equal(res.Pending, []string{"a", "c"}) {
		t.Fatalf("pending %q, want [a c]", res.Pending)
	}
	if res.NewID <= ms[2].ID {
		t.Fatalf("new id %s not after the unreadable message's %s", res.NewID, ms[2].ID)
	}
	if !strings.Contains(res.Log, ms[1].ID) || !strings.Contains(res.Log, "cannot read") {
		t.Fatalf("no log line about the unreadable message:\n%s", res.Log)
	}
	// Nothing was lost: once readable, the message is queued again.
	if err := os.Chmod(filepath.Join(dir, ms[1].ID+msgSuffix), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(filepath.Join(dir, ms[1].ID+msgSuffix), os.Getuid(), os.Getgid()); err != nil {
			t.Fatal(err)
		}
	}
	o := open(t, dir, nil)
	if got := texts(o.Pending()); !slices.Equal(got, []string{"a", "written by root", "c", "after"}) {
		t.Fatalf("pending after the fix %q, want all four", got)
	}
}

func TestUnreadableDirectoriesMovedAside(t *testing.T) {
	dir, ms := spoolWith(t, "refused", "queued")
	o := open(t, dir, nil)
	if err := o.Refuse(ms[0].ID, "x", "refused"); err != nil {
		t.Fatal(err)
	}
	o.Close()
	res := openUnprivileged(t, dir, deadDir, corruptDir)
	if res.Err != "" {
		t.Fatalf("the daemon could not start or run: %s\nlog:\n%s", res.Err, res.Log)
	}
	if !slices.Equal(res.Pending, []string{"queued"}) || len(res.Dead) != 0 {
		t.Fatalf("pending %q, dead %q; want [queued] and none readable", res.Pending, res.Dead)
	}
	if !strings.Contains(res.Log, "cannot read") {
		t.Fatalf("no log line about the unreadable directories:\n%s", res.Log)
	}
	// The old dead letters are kept where the log says.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), deadDir+".") && strings.Contains(res.Log, e.Name()) {
			if err := os.Chmod(filepath.Join(dir, e.Name()), 0o700); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(filepath.Join(dir, e.Name(), ms[0].ID+msgSuffix))
			found = err == nil
		}
	}
	if !found {
		t.Fatalf("the old dead letter is not kept in a directory the log names; spool holds %v\nlog:\n%s", entries, res.Log)
	}
}
