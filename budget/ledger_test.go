package budget

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pitweet/statedir"
)

var sep1 = time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)

func openLedger(t *testing.T, state string) *Ledger {
	t.Helper()
	l, err := Open(state, Options{Now: func() time.Time { return sep1 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func month(t *testing.T, l *Ledger, at time.Time) Month {
	t.Helper()
	m, err := l.Month(at)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []record{
		{kind: recCharge, id: 0x5f0e3c1a9b7d2e44, at: 1788134400123, item: ItemPost, price: 15000, ref: "m:0000000000001a2b"},
		{kind: recCharge, id: 1, at: 0, item: ItemMediaMetadata, price: 0, ref: "check"},
		{kind: recRelease, id: 0xffffffffffffffff, at: 1788134400456},
		{kind: recDepleted, at: 1788134400789},
		{kind: recCredited, at: 1},
	} {
		line := appendRecord(nil, r)
		if len(line) > maxLine+1 || line[len(line)-1] != '\n' {
			t.Fatalf("line %q", line)
		}
		got, err := parseRecord(line[:len(line)-1])
		if err != nil || got != r {
			t.Errorf("%q read back as %+v, %v; want %+v", line, got, err, r)
		}
		// Any one byte changed is caught.
		for i := range len(line) - 1 {
			bad := bytes.Clone(line[:len(line)-1])
			bad[i] ^= 0x01
			if _, err := parseRecord(bad); err == nil {
				t.Errorf("%q with byte %d flipped read as good", line, i)
			}
		}
	}
}

func TestChargeReleaseAndMonths(t *testing.T) {
	state := t.TempDir()
	l := openLedger(t, state)
	p := Published
	c1, err := l.Charge(sep1, "m:1", p.ForPost("hello", 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Charge(sep1.Add(time.Hour), "m:2", p.ForPost("see example.com", 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Charge(sep1.Add(2*time.Hour), "check", p.One(ItemUserRead)); err != nil {
		t.Fatal(err)
	}
	m := month(t, l, sep1)
	if m.Spent != 15_000+200_000+10_000+10_000 || m.Posts() != 2 || m.Requests[ItemUserRead] != 1 || m.Requests[ItemMediaMetadata] != 2 {
		t.Fatalf("month %+v", m)
	}
	if err := l.Release(sep1.Add(3*time.Hour), c1); err != nil {
		t.Fatal(err)
	}
	// Released twice counts once.
	if err := l.Release(sep1.Add(3*time.Hour), c1); err != nil {
		t.Fatal(err)
	}
	if m := month(t, l, sep1); m.Spent != 220_000 || m.Posts() != 1 || !l.Released(c1) {
		t.Fatalf("after the release: %+v", m)
	}
	// Another process's view: everything, from the file alone.
	other := openLedger(t, state)
	if m := month(t, other, sep1.Add(24*time.Hour)); m.Spent != 220_000 || m.Name != "2026-09" {
		t.Fatalf("read afresh: %+v", m)
	}
	// October starts at nothing; a release of a September charge in
	// October goes to September.
	oct := time.Date(2026, 10, 1, 0, 0, 1, 0, time.UTC)
	c2, err := l.Charge(sep1.Add(29*24*time.Hour+15*time.Hour+59*time.Minute), "m:3", p.ForPost("late", 0)) // September 30, 23:59 UTC
	if err != nil {
		t.Fatal(err)
	}
	if m := month(t, l, oct); m.Spent != 0 || m.Name != "2026-10" {
		t.Fatalf("October: %+v", m)
	}
	if err := l.Release(oct, c2); err != nil {
		t.Fatal(err)
	}
	if m := month(t, other, sep1); m.Spent != 220_000 {
		t.Fatalf("September after a release made in October: %+v", m)
	}
	// Credits.
	if err := l.SetDepleted(sep1.Add(4 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if m := month(t, other, sep1); !m.Depleted.Equal(sep1.Add(4 * time.Hour)) {
		t.Fatalf("depleted %v", m.Depleted)
	}
	if err := other.SetCredited(sep1.Add(5 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if m := month(t, l, sep1); !m.Depleted.IsZero() {
		t.Fatalf("still depleted after a success: %v", m.Depleted)
	}
	months, err := l.Months()
	if err != nil || strings.Join(months, ",") != "2026-09" {
		t.Fatalf("months %v, %v (October has no file: only a release was due there, and it went to September)", months, err)
	}
}

// Two ledgers on one directory, as the daemon and a pitweet post run by
// root: every charge of both is counted, none lost to the other's write.
func TestConcurrentWriters(t *testing.T) {
	state := t.TempDir()
	a, b := openLedger(t, state), openLedger(t, state)
	var wg sync.WaitGroup
	for _, l := range []*Ledger{a, b} {
		wg.Go(func() {
			for range 50 {
				if _, err := l.Charge(sep1, "m:x", Published.One(ItemPost)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, l := range []*Ledger{a, b, openLedger(t, state)} {
		if m := month(t, l, sep1); m.Spent != 100*15_000 || m.Posts() != 100 || m.Damaged != 0 {
			t.Fatalf("month %+v; want 100 posts", m)
		}
	}
}

// A line cut short (a writer killed mid-write) is not read; the next
// writer ends it, and everything before and after it counts.
func TestTornTail(t *testing.T) {
	state := t.TempDir()
	l := openLedger(t, state)
	if _, err := l.Charge(sep1, "m:1", Published.One(ItemPost)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(state, Dir, "2026-09")
	whole := appendRecord(nil, record{kind: recCharge, id: 7, at: sep1.UnixMilli(), item: ItemPostURL, price: 200_000, ref: "m:2"})
	for cut := 1; cut < len(whole); cut++ {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(whole[:cut])
		f.Close()
		// A reader sees the whole lines only.
		fresh := openLedger(t, state)
		if m := month(t, fresh, sep1); m.Posts() != 1+(cut-1) || m.Damaged != cut-1 {
			t.Fatalf("cut at %d: %+v; want the earlier charges, %d damaged lines", cut, m, cut-1)
		}
		// The next write ends the cut line and is read.
		if _, err := l.Charge(sep1, "m:3", Published.One(ItemPost)); err != nil {
			t.Fatal(err)
		}
		// (Cut just before its newline, the line is whole once ended: it
		// counts.)
		wantDamaged := cut
		if cut == len(whole)-1 {
			wantDamaged--
		}
		if m := month(t, openLedger(t, state), sep1); m.Posts()+m.Damaged != 1+cut+cut || m.Damaged != wantDamaged {
			t.Fatalf("cut at %d, then a charge: %+v", cut, m)
		}
	}
}

// What is planted in the spend folder is not followed or read.
func TestPlanted(t *testing.T) {
	state := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("api_key=x\n"), 0o600)
	if err := os.MkdirAll(filepath.Join(state, Dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(state, Dir, "2026-09")); err != nil {
		t.Fatal(err)
	}
	l := openLedger(t, state)
	if _, err := l.Month(sep1); !errors.Is(err, statedir.ErrUnsafe) {
		t.Fatalf("Month over a link: %v; want it refused", err)
	}
	if _, err := l.Charge(sep1, "m:1", Published.One(ItemPost)); !errors.Is(err, statedir.ErrUnsafe) {
		t.Fatalf("Charge over a link: %v; want it refused", err)
	}
	if data, _ := os.ReadFile(secret); string(data) != "api_key=x\n" {
		t.Fatalf("the link's target was written: %q", data)
	}
	// A file that is not a spend record is an error, not a month of 0.
	os.Remove(filepath.Join(state, Dir, "2026-09"))
	os.WriteFile(filepath.Join(state, Dir, "2026-09"), []byte("hello\n"), 0o600)
	if _, err := openLedger(t, state).Month(sep1); err == nil || !strings.Contains(err.Error(), "not the spend record of 2026-09") {
		t.Fatalf("Month over a stranger's file: %v", err)
	}
	// The folder itself a link: Open refuses it.
	state2 := t.TempDir()
	os.Symlink(t.TempDir(), filepath.Join(state2, Dir))
	if _, err := Open(state2, Options{}); !errors.Is(err, statedir.ErrUnsafe) {
		t.Fatalf("Open with spend/ a link: %v", err)
	}
}

func TestPrune(t *testing.T) {
	state := t.TempDir()
	l := openLedger(t, state)
	for _, at := range []time.Time{sep1.AddDate(-3, 0, 0), sep1.AddDate(-2, 0, 0), sep1.AddDate(-1, 0, 0), sep1} {
		if _, err := l.Charge(at, "m:1", Published.One(ItemPost)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(state, Dir, statedir.TempPrefix+"2026-09-123"), []byte("pitweet-"), 0o600)
	l2 := openLedger(t, state)
	months, _ := l2.Months()
	if strings.Join(months, ",") != "2024-09,2025-09,2026-09" {
		t.Fatalf("months kept: %v; want two years", months)
	}
	if _, err := os.Stat(filepath.Join(state, Dir, statedir.TempPrefix+"2026-09-123")); err == nil {
		t.Fatal("a temporary file was left")
	}
}

// As root, what the ledger creates belongs to the state directory's
// owner: the daemon's user can append to a month a `sudo pitweet post`
// began.
func TestRootGivesFilesToTheOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	state := t.TempDir()
	if err := os.Chown(state, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	l := openLedger(t, state)
	if _, err := l.Charge(sep1, "post", Published.One(ItemPost)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(state, Dir), filepath.Join(state, Dir, "2026-09")} {
		if uid, gid := owner(t, p); uid != 65534 || gid != 65534 {
			t.Errorf("%s is %d:%d, want 65534:65534", p, uid, gid)
		}
	}
}

// Kept lists what was charged for a reference and is not released, one
// Charge per call, oldest first: what a restarted daemon settles a
// message's earlier attempts with.
func TestKept(t *testing.T) {
	l := openLedger(t, t.TempDir())
	a, _ := l.Charge(sep1, "m:7", Published.ForPost("photo", 2))
	b, _ := l.Charge(sep1.Add(time.Minute), "m:7", Published.ForPost("photo", 2))
	l.Charge(sep1.Add(2*time.Minute), "m:8", Published.ForPost("other", 0))
	c, _ := l.Charge(sep1.Add(3*time.Minute), "m:7", Published.ForPost("photo", 2))
	if err := l.Release(sep1, b); err != nil {
		t.Fatal(err)
	}
	kept, err := openLedger(t, l.Path()[:len(l.Path())-len(Dir)-1]).Kept(sep1, "m:7")
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || strings.Join(kept[0].IDs, ",") != strings.Join(a.IDs, ",") || strings.Join(kept[1].IDs, ",") != strings.Join(c.IDs, ",") || kept[0].Total != 25_000 {
		t.Fatalf("kept %+v; want %+v and %+v", kept, a, c)
	}
	if kept, _ := l.Kept(sep1, "m:9"); len(kept) != 0 {
		t.Fatalf("kept for nothing: %+v", kept)
	}
}
