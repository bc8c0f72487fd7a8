//go:build unix

package outbox

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"pitweet/statedir"
)

// putPictures queues a message for x with pics.
func putPictures(t *testing.T, o *Outbox, pics ...NewImage) Message {
	t.Helper()
	m, err := o.Put(Message{Text: "with pictures", To: toX}, pics)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return m
}

func readPicture(t *testing.T, o *Outbox, id, name string) []byte {
	t.Helper()
	f, _, err := o.OpenPicture(id, name)
	if err != nil {
		t.Fatalf("OpenPicture(%s): %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPicturesStoredWithTheMessage(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	png1 := testPNG(t, 12, 7)
	// A capture's file, in the spool as a camera command leaves it.
	capture := filepath.Join(dir, tmpPrefix+"capture-1")
	png2 := testPNG(t, 3, 5)
	if err := os.WriteFile(capture, png2, 0o600); err != nil {
		t.Fatal(err)
	}
	m := putPictures(t, o, NewImage{Data: png1, Alt: "the first"}, NewImage{Path: capture, Alt: "the second"})
	if _, err := os.Lstat(capture); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the captured file is still there (%v): it should have moved into the outbox", err)
	}
	want := []Image{
		{Name: "1.png", Type: "image/png", Alt: "the first", Width: 12, Height: 7, Size: int64(len(png1))},
		{Name: "2.png", Type: "image/png", Alt: "the second", Width: 3, Height: 5, Size: int64(len(png2))},
	}
	for round := range 2 {
		if round == 1 {
			o = reopen(t, o, nil)
		}
		got, _, _ := o.NextFor("x")
		if !equalImages(got.Images, want) {
			t.Fatalf("round %d: images %+v, want %+v", round, got.Images, want)
		}
		if !bytes.Equal(readPicture(t, o, m.ID, "1.png"), png1) || !bytes.Equal(readPicture(t, o, m.ID, "2.png"), png2) {
			t.Fatalf("round %d: the pictures read back differ", round)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, m.ID+picSuffix))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("picture directory: %v, %v; want mode 0700", fi, err)
	}
	if p := o.PicturePath(m.ID, "1.png"); p != filepath.Join(dir, m.ID+picSuffix, "1.png") {
		t.Fatalf("PicturePath = %s", p)
	}
}

func equalImages(a, b []Image) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPutRefusesWhatIsNotAPicture(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	secret := plantSecret(t)
	link := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(t.TempDir(), "notes.png")
	if err := os.WriteFile(text, []byte("not a picture at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, pics := range map[string][]NewImage{
		"text as bytes":     {{Data: []byte("hello, not a picture")}},
		"empty":             {{Data: []byte{}}},
		"a text file":       {{Path: text}},
		"a link":            {{Path: link}},
		"a missing file":    {{Path: filepath.Join(dir, "nope.png")}},
		"neither":           {{}},
		"five pictures":     {{Data: testPNG(t, 1, 1)}, {Data: testPNG(t, 1, 1)}, {Data: testPNG(t, 1, 1)}, {Data: testPNG(t, 1, 1)}, {Data: testPNG(t, 1, 1)}},
		"a good and a bad":  {{Data: testPNG(t, 2, 2)}, {Data: []byte("nope")}},
		"a too long alt":    {{Data: testPNG(t, 2, 2), Alt: strings.Repeat("a", maxAlt+1)}},
		"a giant picture":   {{Data: make([]byte, MaxPictureSize+1)}},
		"a file and a link": {{Path: text}, {Path: link}},
	} {
		if m, err := o.Put(Message{Text: "hi", To: toX}, pics); err == nil {
			t.Errorf("%s: Put succeeded: %+v", name, m.Images)
		}
	}
	if o.Len() != 0 {
		t.Fatalf("Len = %d after refused puts", o.Len())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), picSuffix) || strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("a refused Put left %s", e.Name())
		}
	}
	if data, err := os.ReadFile(secret); err != nil || !strings.HasPrefix(string(data), secretLine) {
		t.Fatalf("the link's target changed: %q, %v", data, err)
	}
	if _, err := os.Lstat(text); err != nil {
		t.Fatalf("a refused file was moved: %v", err)
	}
}

// A Put cut short leaves pictures without a message: Open removes them,
// and the temporary directory of one cut shorter.
func TestOrphanPicturesRemoved(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	kept := putPictures(t, o, NewImage{Data: testPNG(t, 2, 2)})
	o.Close()
	orphan := filepath.Join(dir, plantedID()+picSuffix)
	tmp := filepath.Join(dir, tmpPrefix+plantedID()+picSuffix+"-x1")
	deadOrphan := filepath.Join(dir, deadDir, plantedID()+picSuffix)
	for _, d := range []string{orphan, tmp, deadOrphan} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "1.png"), testPNG(t, 1, 1), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logs := &logBuffer{}
	o = open(t, dir, logs)
	for _, d := range []string{orphan, tmp, deadOrphan} {
		if _, err := os.Lstat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after Open (%v)", d, err)
		}
	}
	if !bytes.Equal(readPicture(t, o, kept.ID, "1.png"), testPNG(t, 2, 2)) {
		t.Fatal("a queued message's picture was touched")
	}
	if !strings.Contains(logs.String(), "not queued") {
		t.Fatalf("no log line about the orphan:\n%s", logs)
	}
}

// Pictures that are missing, damaged or planted (a link, a FIFO, a link
// in place of the directory) are never read nor posted: the message moves
// to corrupt/ with them, and the log says why.
func TestBadPicturesQuarantineTheMessage(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, pics string){
		"missing": func(t *testing.T, pics string) { os.Remove(filepath.Join(pics, "1.png")) },
		"no directory": func(t *testing.T, pics string) {
			os.RemoveAll(pics)
		},
		"cut short": func(t *testing.T, pics string) { os.Truncate(filepath.Join(pics, "1.png"), 20) },
		"another picture": func(t *testing.T, pics string) {
			os.WriteFile(filepath.Join(pics, "1.png"), testPNG(t, 9, 9)[:len(testPNG(t, 4, 4))], 0o600)
		},
		"a link to a secret": func(t *testing.T, pics string) {
			p := filepath.Join(pics, "1.png")
			os.Remove(p)
			if err := os.Symlink(plantSecret(t), p); err != nil {
				t.Fatal(err)
			}
		},
		"a FIFO": func(t *testing.T, pics string) {
			p := filepath.Join(pics, "1.png")
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Skip(err)
			}
		},
		"a hard link": func(t *testing.T, pics string) {
			if err := os.Link(filepath.Join(pics, "1.png"), filepath.Join(t.TempDir(), "other")); err != nil {
				t.Skip(err)
			}
		},
		"the directory a link": func(t *testing.T, pics string) {
			elsewhere := t.TempDir()
			if err := os.Rename(pics, filepath.Join(elsewhere, "pics")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(elsewhere, "pics"), pics); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o := open(t, dir, nil)
			m := putPictures(t, o, NewImage{Data: testPNG(t, 4, 4)})
			other := put(t, o, "no pictures")
			o.Close()
			damage(t, filepath.Join(dir, m.ID+picSuffix))
			logs := &logBuffer{}
			o = openWithin(t, dir, logs)
			if got := o.Pending(); len(got) != 1 || got[0].ID != other.ID {
				t.Fatalf("pending %q, want only the message without pictures", texts(got))
			}
			if _, err := os.Lstat(filepath.Join(dir, corruptDir, m.ID+msgSuffix)); err != nil {
				t.Fatalf("the message is not in corrupt/: %v", err)
			}
			if _, err := os.Lstat(filepath.Join(dir, m.ID+picSuffix)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("its pictures are still in the spool: %v", err)
			}
			if !strings.Contains(logs.String(), "never posted without them") {
				t.Fatalf("the log does not say why:\n%s", logs)
			}
			assertNoSecret(t, logs)
		})
	}
}

// OpenPicture and Variant refuse what was planted after Open.
func TestOpenPictureRefusesPlantedFiles(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	m := putPictures(t, o, NewImage{Data: testPNG(t, 4, 4)})
	pics := filepath.Join(dir, m.ID+picSuffix)
	secret := plantSecret(t)
	if err := os.Symlink(secret, filepath.Join(pics, "1.bluesky.jpg")); err != nil {
		t.Fatal(err)
	}
	if name, ok := o.Variant(m.ID, "1.png", "bluesky"); ok {
		t.Fatalf("Variant found the planted link %s", name)
	}
	if f, _, err := o.OpenPicture(m.ID, "1.bluesky.jpg"); !errors.Is(err, statedir.ErrUnsafe) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("OpenPicture of a link: %v, want it refused", err)
	}
	for _, name := range []string{"../" + m.ID + msgSuffix, ".tmp-x", "", "a/b"} {
		if f, _, err := o.OpenPicture(m.ID, name); err == nil {
			f.Close()
			t.Errorf("OpenPicture(%q) succeeded", name)
		}
	}
}

// A destination keeps its version of a picture beside the original, made
// once; it goes with the message.
func TestVariantCache(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	m, err := o.Put(Message{Text: "photo", To: []string{"x", "bluesky"}}, []NewImage{{Data: testPNG(t, 40, 30)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := o.Variant(m.ID, "1.png", "bluesky"); ok {
		t.Fatal("a variant before one was made")
	}
	path := o.VariantPath(m.ID, "1.png", "bluesky", ".jpg")
	if path != filepath.Join(dir, m.ID+picSuffix, "1.bluesky.jpg") {
		t.Fatalf("VariantPath = %s", path)
	}
	small := testPNG(t, 20, 15)
	tmp := filepath.Join(filepath.Dir(path), tmpPrefix+"fit-1")
	if err := os.WriteFile(tmp, small, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	o = reopen(t, o, nil)
	name, ok := o.Variant(m.ID, "1.png", "bluesky")
	if !ok || name != "1.bluesky.jpg" || !bytes.Equal(readPicture(t, o, m.ID, name), small) {
		t.Fatalf("Variant = %q, %v; want the kept version", name, ok)
	}
	if _, ok := o.Variant(m.ID, "1.png", "mastodon"); ok {
		t.Fatal("mastodon found bluesky's version")
	}
	if err := o.Refuse(m.ID, "bluesky", "refused"); err != nil {
		t.Fatal(err)
	}
	if err := o.Delivered(m.ID, "x", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, deadDir, m.ID+picSuffix, "1.bluesky.jpg")); err != nil {
		t.Fatalf("the variant did not go with the dead letter: %v", err)
	}
}

// A crash between the dead copy and the move of the pictures: Open puts
// the pictures beside the dead letter.
func TestInterruptedDeadMovesPictures(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, nil)
	m := putPictures(t, o, NewImage{Data: testPNG(t, 4, 4)})
	o.Close()
	m.Dest["x"] = Delivery{Refused: "refused"}
	data, err := encode(recordOf(m))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, deadDir, m.ID+msgSuffix), data, 0o600); err != nil {
		t.Fatal(err)
	}
	o = open(t, dir, nil)
	if o.Len() != 0 {
		t.Fatal("the dead message is still queued")
	}
	if _, err := os.Stat(filepath.Join(dir, deadDir, m.ID+picSuffix, "1.png")); err != nil {
		t.Fatalf("the pictures are not beside the dead letter: %v", err)
	}
}
