//go:build unix

package history

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Files planted in the history directory are skipped without being
// followed, opened blocking or read whole; a history directory that is a
// symbolic link is refused.
func TestPlantedFiles(t *testing.T) {
	state := t.TempDir()
	dir := filepath.Join(state, "history")
	clock := &fakeNow{t0}
	s := openStore(t, dir, clock)
	mustAdd(t, s, "room.Temperature", time.Minute, t0, 21)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A good segment elsewhere, reachable only through a link.
	elsewhere := filepath.Join(t.TempDir(), "history")
	o := openStore(t, elsewhere, clock)
	mustAdd(t, o, "secret.Temperature", time.Minute, t0, 99)
	o.Close()
	target := filepath.Join(elsewhere, segmentsIn(t, elsewhere)[0].name)
	planted := 0
	plant := func(string) string {
		planted++
		return filepath.Join(dir, segmentName(t0.Add(time.Duration(planted)*time.Second)))
	}
	if err := os.Symlink(target, plant("link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(plant("fifo12"), 0o600); err != nil {
		t.Fatal(err)
	}
	huge := plant("huge123")
	if f, err := os.Create(huge); err != nil {
		t.Fatal(err)
	} else {
		f.WriteString(segmentMagic)
		f.Truncate(3 << 30) // sparse: 3 GiB that take no space
		f.Close()
	}
	if err := os.WriteFile(plant("garbage12345"), []byte("pitweet-history 1\nnot a block at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plant("nohead1234"), []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(plant("directory123"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A hard link to a good segment elsewhere.
	if err := os.Link(target, plant("hardlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}

	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	done := make(chan struct{})
	var got []Series
	var err error
	go func() {
		defer close(done)
		got, err = Read(dir, t0.Add(-time.Hour), t0.Add(time.Hour), nil, log)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Read blocked (on the FIFO?)")
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "room.Temperature" || samplesString(got[0].Samples) != "10:00:00=21" {
		t.Errorf("read %+v; want only room.Temperature's sample", got)
	}
	for _, want := range []string{"is a symbolic link", "is a FIFO", "is 3221225472 bytes, larger than the 16777216 its format allows",
		"has 2 hard links", "damaged block", "not a history segment"} {
		if !strings.Contains(logBuf.String(), want) {
			t.Errorf("log does not say %q:\n%s", want, logBuf.String())
		}
	}
	if strings.Contains(logBuf.String(), "#!/bin/sh") {
		t.Errorf("log quotes a planted file:\n%s", logBuf.String())
	}
	// The store goes on writing next to them.
	clock.t = t0.Add(time.Hour)
	s = openStore(t, dir, clock)
	mustAdd(t, s, "room.Temperature", time.Minute, clock.t, 22)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ = Read(dir, t0.Add(-time.Hour), t0.Add(2*time.Hour), nil, nil)
	if len(got) != 1 || len(got[0].Samples) != 3 { // 21, gap, 22
		t.Errorf("after planting, read %+v", got)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("the link's target is gone: %v", err)
	}

	// The history directory itself a link: refused, with what to do.
	linked := filepath.Join(t.TempDir(), "history")
	if err := os.Symlink(elsewhere, linked); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(linked, Options{}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Open of a linked history directory: %v", err)
	}
	if _, err := Read(linked, t0, t0.Add(time.Hour), nil, nil); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("Read of a linked history directory: %v", err)
	}
	if _, err := Read(filepath.Join(state, "absent"), t0, t0.Add(time.Hour), nil, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing directory: %v, want ErrNotExist", err)
	}
}
