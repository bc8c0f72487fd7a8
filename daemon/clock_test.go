package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pitweet/statedir"
)

// clockRig is a delivery rig whose clock offset is kept in a state
// directory, as the daemon keeps it.
func clockRig(t *testing.T, dir string, logs *bytes.Buffer, answers ...error) *deliveryRig {
	t.Helper()
	r := newDeliveryRig(t, answers...)
	sd, err := statedir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	r.d.log = slog.New(slog.NewTextHandler(logs, nil))
	r.d.clock = &clockStore{dir: sd, log: r.d.log}
	return r
}

func TestClockOffsetKeptAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	r := clockRig(t, dir, &logs, nil)
	r.x.date = func() time.Time { return r.now.Add(time.Hour) }
	r.put(t, "before the restart", time.Time{})
	r.d.deliverOnce(context.Background())
	learned := r.d.clockOffset()
	if learned < time.Hour || learned > time.Hour+time.Second {
		t.Fatalf("offset %v, want 1h to the second", learned)
	}
	fi, err := os.Lstat(filepath.Join(dir, clockFileName))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("clock file: %v, %v; want a regular file of mode 0600", fi, err)
	}

	// The next run signs its first request with the kept offset.
	next := clockRig(t, dir, &logs)
	next.d.restoreOffset()
	if next.x.offset != learned || next.d.clockOffset() != learned {
		t.Fatalf("restored offset: client %v, deliverer %v; want %v", next.x.offset, next.d.clockOffset(), learned)
	}
	if st := next.d.st.snapshot(next.now, next.box); time.Duration(st.Clock.Offset) != learned {
		t.Fatalf("status offset %v after the restart, want %v", st.Clock.Offset, learned)
	}
}

func TestClockFileReadDefensively(t *testing.T) {
	good := encodeClock(90*time.Second, t0)
	elsewhere := filepath.Join(t.TempDir(), "offset")
	if err := os.WriteFile(elsewhere, good, 0o600); err != nil {
		t.Fatal(err)
	}
	plant := map[string]func(path string) error{
		"garbage":  func(p string) error { return os.WriteFile(p, []byte("api_key=not-for-the-log\n"), 0o600) },
		"trailing": func(p string) error { return os.WriteFile(p, append(bytes.Clone(good), "{}"...), 0o600) },
		"unknown field": func(p string) error {
			return os.WriteFile(p, []byte(`{"offset":"1s","measured":"2025-06-01T12:00:00Z","x":1}`), 0o600)
		},
		"a year off": func(p string) error {
			return os.WriteFile(p, encodeClock(365*24*time.Hour, t0), 0o600)
		},
		"no time":     func(p string) error { return os.WriteFile(p, []byte(`{"offset":"1s"}`), 0o600) },
		"a link":      func(p string) error { return os.Symlink(elsewhere, p) },
		"a FIFO":      mkfifo,
		"a directory": func(p string) error { return os.Mkdir(p, 0o700) },
		"3 GiB": func(p string) error {
			f, err := os.Create(p)
			if err != nil {
				return err
			}
			return errors.Join(f.Truncate(3<<30), f.Close())
		},
	}
	for name, do := range plant {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := do(filepath.Join(dir, clockFileName)); errors.Is(err, errors.ErrUnsupported) {
				t.Skip(err)
			} else if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			r := clockRig(t, dir, &logs, nil)
			done := make(chan struct{})
			go func() { r.d.restoreOffset(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("restoreOffset did not return within 20s")
			}
			if r.d.clockOffset() != 0 || r.x.offsets != 0 {
				t.Fatalf("offset %v taken from a planted file", r.d.clockOffset())
			}
			if !strings.Contains(logs.String(), "ignoring the kept clock offset") || strings.Contains(logs.String(), "not-for-the-log") {
				t.Fatalf("log:\n%s\nwant one line saying the file is ignored, quoting nothing of it", logs.String())
			}
			// The next measurement replaces what was planted (a
			// directory excepted: it is not the daemon's to remove).
			r.x.date = func() time.Time { return r.now.Add(time.Minute) }
			r.put(t, "hello", time.Time{})
			r.d.deliverOnce(context.Background())
			if data, _ := os.ReadFile(elsewhere); !bytes.Equal(data, good) {
				t.Fatalf("the link's target was written: %q", data)
			}
			if name == "a directory" {
				return
			}
			if fi, err := os.Lstat(filepath.Join(dir, clockFileName)); err != nil || !fi.Mode().IsRegular() || fi.Size() > maxClockFile {
				t.Fatalf("after a measurement the clock file is %v, %v; want a small regular file", fi, err)
			}
		})
	}
}

func TestClockFileRoundTrip(t *testing.T) {
	for _, off := range []time.Duration{0, 1500 * time.Millisecond, -4*time.Minute - 10*time.Second, maxStoredOffset, -maxStoredOffset} {
		s, err := decodeClock(encodeClock(off, t0))
		if err != nil || time.Duration(s.Offset) != off || !s.Measured.Equal(t0) {
			t.Errorf("round trip of %v = %+v, %v", off, s, err)
		}
	}
}

func FuzzDecodeClock(f *testing.F) {
	f.Add(encodeClock(90*time.Second, t0))
	f.Add(encodeClock(-maxStoredOffset, t0))
	f.Add([]byte(`{"offset":"25h","measured":"2025-06-01T12:00:00Z"}`))
	f.Add([]byte(`{"offset":"1s","measured":"1970-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"offset":"1s"}{}`))
	f.Add([]byte(`{"offset":"9223372036854775807ns","measured":"2025-06-01T12:00:00Z"}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeClock(data)
		if err != nil {
			return
		}
		off := time.Duration(s.Offset)
		if off > maxStoredOffset || off < -maxStoredOffset || s.Measured.Before(plausibleClock) {
			t.Fatalf("decodeClock accepted %+v", s)
		}
		again, err := decodeClock(encodeClock(off, s.Measured))
		if err != nil || time.Duration(again.Offset) != off || !again.Measured.Equal(s.Measured.UTC().Round(0)) {
			t.Fatalf("round trip of %+v = %+v, %v", s, again, err)
		}
	})
}
