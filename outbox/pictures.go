package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"pitweet/media"
	"pitweet/statedir"
)

// A message's pictures are the files 1.jpg, 2.png, … (their number and
// type) in the directory <id>.d beside it, mode 0700. A destination that
// needs a picture smaller or in another format keeps its version beside
// the original, as 1.bluesky.jpg, so it is made once and not at each
// retry; it goes with the message.

// imageTypes maps the picture types a message may carry (those package
// media recognises) to their file name extensions.
var imageTypes = map[string]string{}

func init() {
	for _, f := range []media.Format{media.JPEG, media.PNG, media.GIF, media.WebP} {
		imageTypes[f.MIMEType()] = f.Ext()
	}
}

// ErrNotImage is returned by Put for a picture that is not a JPEG, PNG, GIF
// or WebP; it is media.ErrNotImage.
var ErrNotImage = media.ErrNotImage

// errPictures marks a queued message whose pictures are missing or
// damaged.
var errPictures = errors.New("outbox: the message's pictures are missing or damaged")

// pictureName is the file name of picture i (from 0) of type ext.
func pictureName(i int, ext string) string { return strconv.Itoa(i+1) + ext }

// probe reads the header of the picture r holds, size bytes: its type and
// size in pixels.
func probe(r io.ReaderAt, size int64) (typ string, width, height int, err error) {
	info, err := media.ProbeReaderAt(r, size)
	if err != nil {
		return "", 0, 0, err
	}
	return info.Format.MIMEType(), info.Width, info.Height, nil
}

// writePictures stores pics as the pictures of message id: in a temporary
// directory, each file fsynced, the directory fsynced, renamed to <id>.d,
// the spool fsynced. It returns their records and a function that removes
// the files copied from elsewhere (a move that could not rename), to call
// once the message is queued.
func (o *Outbox) writePictures(id string, pics []NewImage) (images []Image, moved func(), err error) {
	tmp, err := o.tempDir(id + picSuffix + "-")
	if err != nil {
		return nil, nil, err
	}
	sub, err := o.spool.Sub(tmp)
	if err != nil {
		o.spool.RemoveAll(tmp)
		return nil, nil, fmt.Errorf("outbox: %w", err)
	}
	var sources []source
	defer func() {
		sub.Close()
		if err != nil {
			for _, s := range sources {
				s.undo()
			}
			o.spool.RemoveAll(tmp)
		}
	}()
	for i, p := range pics {
		var im Image
		var s source
		if p.Path != "" {
			if im, s, err = o.movePicture(sub, i, p.Path); err == nil {
				sources = append(sources, s)
			}
		} else {
			im, err = o.savePicture(sub, i, p.Data)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("outbox: picture %d: %w", i+1, err)
		}
		im.Alt = p.Alt
		images = append(images, im)
	}
	if err = o.sync(sub); err != nil {
		return nil, nil, err
	}
	if err = o.spool.Rename(tmp, id+picSuffix); err != nil {
		return nil, nil, fmt.Errorf("outbox: rename the pictures of message %s into place: %w", id, err)
	}
	if err = o.sync(o.spool); err != nil {
		o.spool.RemoveAll(id + picSuffix)
		return nil, nil, err
	}
	return images, func() {
		for _, s := range sources {
			s.done()
		}
	}, nil
}

// tempDir makes a new temporary directory in the spool, named for what it
// will hold; Open removes it if a crash leaves it.
func (o *Outbox) tempDir(pattern string) (string, error) {
	for range 100 {
		name := tmpPrefix + pattern + strconv.FormatUint(rand.Uint64(), 36)
		err := o.spool.Mkdir(name, 0o700)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("outbox: make a directory for pictures: %w; check the state directory is writable and not full", err)
		}
		return name, nil
	}
	return "", fmt.Errorf("outbox: no free temporary name in %s", o.dir)
}

// savePicture writes data as picture i in dir, fsynced.
func (o *Outbox) savePicture(dir *statedir.Dir, i int, data []byte) (Image, error) {
	if len(data) > MaxPictureSize {
		return Image{}, invalidError{fmt.Errorf("it is %d bytes; pictures may be %d", len(data), MaxPictureSize)}
	}
	typ, w, h, err := probe(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Image{}, invalidError{err}
	}
	im := Image{Name: pictureName(i, imageTypes[typ]), Type: typ, Width: w, Height: h, Size: int64(len(data))}
	f, err := dir.Create(im.Name, 0o600)
	if err != nil {
		return Image{}, err
	}
	_, err = f.Write(data)
	if err == nil {
		o.syncs.Add(1)
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Image{}, fmt.Errorf("write: %w; check the state directory is writable and not full", err)
	}
	return im, nil
}

// source is a picture file Put was given by its path.
type source struct {
	path  string
	moved string // where it was renamed to; "" when it was copied
	dir   *statedir.Dir
	fi    fs.FileInfo
}

// undo puts a renamed file back where it was.
func (s source) undo() {
	if s.moved != "" {
		os.Rename(s.moved, s.path)
	}
	s.dir.Close()
}

// done removes a file that was copied, unless it was replaced since.
func (s source) done() {
	if s.moved == "" {
		name := filepath.Base(s.path)
		if fi, err := s.dir.Lstat(name); err == nil && os.SameFile(fi, s.fi) {
			s.dir.Remove(name)
		}
	}
	s.dir.Close()
}

// movePicture moves the file at path in as picture i of dir: renamed when
// it is on the same file system, else copied (Put removes the original
// once the message is queued). The file is opened as the state directory's
// own are: a link, a FIFO or device, a file with other hard links or one
// larger than MaxPictureSize is refused unread.
func (o *Outbox) movePicture(dir *statedir.Dir, i int, path string) (Image, source, error) {
	src, err := statedir.Open(filepath.Dir(path))
	if err != nil {
		return Image{}, source{}, err
	}
	s := source{path: path, dir: src}
	f, fi, err := src.OpenFile(filepath.Base(path), MaxPictureSize)
	if err != nil {
		src.Close()
		return Image{}, source{}, err
	}
	defer f.Close()
	s.fi = fi
	typ, w, h, err := probe(f, fi.Size())
	if err != nil {
		src.Close()
		err = fmt.Errorf("%s: %w", path, err)
		if errors.Is(err, ErrNotImage) {
			err = invalidError{err}
		}
		return Image{}, source{}, err
	}
	im := Image{Name: pictureName(i, imageTypes[typ]), Type: typ, Width: w, Height: h, Size: fi.Size()}
	dst := dir.Join(im.Name)
	if err := os.Rename(path, dst); err == nil {
		s.moved = dst
		got, err := dir.Lstat(im.Name)
		if err != nil || !os.SameFile(got, fi) {
			// Replaced between the checks and the rename: not ours.
			s.moved = ""
			dir.Remove(im.Name)
			src.Close()
			return Image{}, source{}, fmt.Errorf("%s changed while it was moved in", path)
		}
		// The data may not be on disk yet: it was written elsewhere.
		o.syncs.Add(1)
		if err := f.Sync(); err != nil {
			s.undo()
			return Image{}, source{}, fmt.Errorf("fsync: %w", err)
		}
		return im, s, nil
	}
	out, err := dir.Create(im.Name, 0o600)
	if err != nil {
		src.Close()
		return Image{}, source{}, err
	}
	_, err = io.Copy(out, io.LimitReader(f, MaxPictureSize))
	if err == nil {
		o.syncs.Add(1)
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		src.Close()
		return Image{}, source{}, fmt.Errorf("copy %s: %w; check the state directory is writable and not full", path, err)
	}
	if st, err := dir.Lstat(im.Name); err != nil || st.Size() != im.Size {
		src.Close()
		return Image{}, source{}, fmt.Errorf("%s changed while it was copied", path)
	}
	return im, s, nil
}

// checkPictures checks, at Open, the pictures of the queued messages and
// the picture directories in the spool (pics) and in dead/ (deadPics). A message whose pictures are
// missing, damaged or not what they should be (a link, a FIFO, a file of
// another size or type) is quarantined with them; a picture directory of
// no queued message is removed (a Put cut short), or moved beside its dead
// letter (a move to dead letters cut short). Picture directories of
// messages this process cannot read are left alone.
func (o *Outbox) checkPictures(queued []Message, unreadable []string, deadIDs, pics, deadPics map[string]bool) ([]Message, int, error) {
	keep := map[string]bool{}
	for _, id := range unreadable {
		keep[id] = true
	}
	var ok []Message
	quarantined := 0
	for _, m := range queued {
		if len(m.Images) == 0 {
			ok = append(ok, m)
			continue
		}
		err := o.verifyPictures(m)
		switch {
		case err == nil:
			ok = append(ok, m)
			keep[m.ID] = true
		case errors.Is(err, fs.ErrPermission):
			o.log.Error("outbox: cannot read a message's pictures; it stays where it is, unsent (was pitweet run as another user, with sudo?); chown them to this user and restart pitweet",
				"dir", o.spool.Join(m.ID+picSuffix), "uid", os.Geteuid(), "err", err)
			keep[m.ID] = true
		default:
			if err := o.quarantine("", m.ID, fmt.Errorf("%w: %w", errPictures, err)); err != nil {
				return nil, 0, err
			}
			delete(pics, m.ID)
			quarantined++
		}
	}
	if quarantined > 0 {
		if err := o.sync(o.spool); err != nil {
			return nil, 0, err
		}
	}
	for _, m := range ok {
		keep[m.ID] = true
	}
	changed := false
	for _, id := range slices.Sorted(maps.Keys(pics)) {
		name := id + picSuffix
		if keep[id] {
			continue
		}
		if deadIDs[id] && !deadPics[id] {
			if err := o.spool.Rename(name, deadDir+"/"+name); err == nil {
				o.log.Info("outbox: moved a dead letter's pictures beside it", "id", id)
				deadPics[id] = true
				changed = true
				continue
			}
		}
		if err := o.spool.RemoveAll(name); err != nil {
			o.log.Error("outbox: cannot remove the pictures of a message that is not queued; remove them", "dir", o.spool.Join(name), "err", err)
			continue
		}
		o.log.Info("outbox: removed the pictures of a message that is not queued (a write cut short, or one posted)", "dir", o.spool.Join(name))
		changed = true
	}
	if changed {
		if err := errors.Join(o.sync(o.spool), o.sync(o.dead)); err != nil {
			return nil, 0, err
		}
	}
	// Pictures in dead/ whose dead letter is not there.
	for id := range deadPics {
		if deadIDs[id] {
			continue
		}
		if err := o.dead.RemoveAll(id + picSuffix); err != nil {
			o.log.Error("outbox: cannot remove pictures without a dead letter; remove them", "dir", o.dead.Join(id+picSuffix), "err", err)
		}
	}
	return ok, quarantined, nil
}

// verifyPictures checks that every picture of m is in its directory: a
// regular file of the recorded size and type, with one name. It removes
// the leftovers of variants whose writing was cut short.
func (o *Outbox) verifyPictures(m Message) error {
	dir, err := o.spool.Sub(m.ID + picSuffix)
	if err != nil {
		return err
	}
	defer dir.Close()
	for _, im := range m.Images {
		f, fi, err := dir.OpenFile(im.Name, MaxPictureSize)
		if err != nil {
			return err
		}
		typ, w, h, err := probe(f, fi.Size())
		f.Close()
		switch {
		case fi.Size() != im.Size:
			return fmt.Errorf("%s is %d bytes, the message says %d", im.Name, fi.Size(), im.Size)
		case err != nil:
			return fmt.Errorf("%s: %w", im.Name, err)
		case typ != im.Type || w != im.Width || h != im.Height:
			return fmt.Errorf("%s is a %dx%d %s, the message says a %dx%d %s", im.Name, w, h, typ, im.Width, im.Height, im.Type)
		}
	}
	o.removeTemps(dir)
	return nil
}

// PicturePath returns the path of picture name of message id, for a
// destination to stream it from disk. OpenPicture opens it with the
// state directory's checks.
func (o *Outbox) PicturePath(id, name string) string {
	return filepath.Join(o.dir, id+picSuffix, name)
}

// OpenPicture opens picture name of message id (or a variant of it) for
// reading. A link, a FIFO or device, a file with other hard links or one
// larger than MaxPictureSize is refused unread.
func (o *Outbox) OpenPicture(id, name string) (*os.File, fs.FileInfo, error) {
	if !validID(id) || !validPictureFile(name) {
		return nil, nil, fmt.Errorf("%w: picture %q of message %q", ErrNotFound, name, id)
	}
	o.ops.RLock()
	defer o.ops.RUnlock()
	if o.closed {
		return nil, nil, ErrClosed
	}
	dir, err := o.spool.Sub(id + picSuffix)
	if err != nil {
		return nil, nil, fmt.Errorf("outbox: pictures of message %s: %w", id, err)
	}
	defer dir.Close()
	f, fi, err := dir.OpenFile(name, MaxPictureSize)
	if err != nil {
		return nil, nil, fmt.Errorf("outbox: picture %s of message %s: %w", name, id, err)
	}
	return f, fi, nil
}

// validPictureFile reports whether name can be a picture's or a variant's
// file name: no directory, no leading dot.
func validPictureFile(name string) bool {
	return name != "" && !strings.HasPrefix(name, ".") && !strings.ContainsAny(name, `/\`) && len(name) <= 128
}

// VariantPath returns where dest keeps its version of picture name of
// message id, with the file name extension ext (".jpg"): beside the
// original, as 1.bluesky.jpg. Write it by temporary file, fsync and
// rename in the same directory (as media.Fit does); Variant finds it at
// the next attempt.
func (o *Outbox) VariantPath(id, name, dest, ext string) string {
	base, _, _ := strings.Cut(name, ".")
	return filepath.Join(o.dir, id+picSuffix, base+"."+dest+ext)
}

// Variant returns the name of dest's version of picture name of message
// id, if one was kept (see VariantPath); open it with OpenPicture.
func (o *Outbox) Variant(id, name, dest string) (string, bool) {
	if !validID(id) || !ValidDestination(dest) {
		return "", false
	}
	o.ops.RLock()
	defer o.ops.RUnlock()
	if o.closed {
		return "", false
	}
	dir, err := o.spool.Sub(id + picSuffix)
	if err != nil {
		return "", false
	}
	defer dir.Close()
	entries, err := dir.Entries()
	if err != nil {
		return "", false
	}
	base, _, _ := strings.Cut(name, ".")
	prefix := base + "." + dest + "."
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			return e.Name(), true
		}
	}
	return "", false
}
