package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"

	"golang.org/x/image/webp"
)

// MaxMemory bounds the memory Fit uses for pixels: the decoded picture
// and the scaled one. A picture whose header says it needs more is
// refused before it is decoded. With the Go runtime and the encoders on
// top, Fit of a 12-megapixel camera JPEG peaks under 64 MiB of RSS.
const MaxMemory = 48 << 20

// scalerMemory is kept aside from MaxMemory for the scaler's rows and the
// encoders' buffers.
const scalerMemory = 2 << 20

// JPEG qualities Fit encodes with: it starts high and steps down once
// before it takes pixels away.
const (
	qualityFirst = 85
	qualityLast  = 75
)

// maxAttempts bounds the encodings Fit tries before it gives up.
const maxAttempts = 8

// Result is what Fit made.
type Result struct {
	// Path is the picture to send: the source itself when Unchanged.
	Path string
	// Info describes the picture at Path.
	Info Info
	// Unchanged reports that the source fitted as it was; nothing was
	// written.
	Unchanged bool
	// Note says what was done, for the log; "" when Unchanged.
	Note string
}

// Fit makes the picture at src fit lim. When it already does (format,
// bytes, pixels), it is used as it is, without a copy. Otherwise the
// result is written to dst, through a temporary file next to it that is
// fsynced and renamed (and the directory fsynced), in the format Result
// reports (dst's extension is not looked at):
//
//   - a JPEG that fits but records a GPS position loses its metadata
//     segments; its picture data is copied unchanged;
//   - anything else is decoded, turned upright as its EXIF orientation
//     says, scaled down (keeping its aspect ratio) until it is within the
//     pixel limit and the memory bound, and encoded again: as PNG when it
//     was lossless (PNG, GIF, lossless WebP) and the PNG fits, else as
//     JPEG at quality 85, then 75, then with fewer pixels until it fits.
//     Transparent pixels are laid over white in a JPEG. The metadata
//     (EXIF, GPS) is not carried over.
//
// An animated GIF is used as it is or refused: encoding it again would
// keep only its first frame. ctx is checked between encodings.
func Fit(ctx context.Context, src, dst string, lim Limits) (Result, error) {
	if err := lim.check(); err != nil {
		return Result{}, err
	}
	info, err := Probe(src)
	if err != nil {
		return Result{}, err
	}
	fits := lim.accepts(info.Format) && info.Size <= lim.MaxBytes &&
		lim.within(info.Width, info.Height) && info.Orientation <= 1
	switch {
	case fits && !info.GPS:
		return Result{Path: src, Info: info, Unchanged: true}, nil
	case fits:
		if res, err := strip(src, dst, info); err == nil {
			return res, nil
		}
		// A JPEG too odd to take apart segment by segment: encoding it
		// again drops the metadata as well.
	case info.Format == GIF:
		animated, err := fileAnimated(src)
		if err != nil {
			return Result{}, fmt.Errorf("media: %s: %w", src, err)
		}
		if animated {
			return fitAnimated(src, info, lim)
		}
	}
	return reencode(ctx, src, dst, info, lim)
}

func fileAnimated(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return gifAnimated(f)
}

// fitAnimated uses an animated GIF as it is, or says why it cannot.
func fitAnimated(src string, info Info, lim Limits) (Result, error) {
	maxBytes := lim.MaxAnimatedBytes
	if maxBytes <= 0 {
		maxBytes = lim.MaxBytes
	}
	switch {
	case !lim.accepts(GIF):
		return Result{}, fmt.Errorf("media: %s is an animated GIF, which %s does not accept; send a still picture", src, lim.Name)
	case info.Size > maxBytes:
		return Result{}, fmt.Errorf("media: %s is an animated GIF of %d bytes, more than the %d %s accepts; animated GIFs are not re-encoded: make it shorter or smaller", src, info.Size, maxBytes, lim.Name)
	case !lim.within(info.Width, info.Height):
		return Result{}, fmt.Errorf("media: %s is an animated GIF of %d×%d pixels, more than the %d %s accepts; animated GIFs are not re-encoded: make it smaller", src, info.Width, info.Height, lim.MaxPixels, lim.Name)
	}
	return Result{Path: src, Info: info, Unchanged: true}, nil
}

// strip writes src without its metadata to dst.
func strip(src, dst string, info Info) (Result, error) {
	in, err := os.Open(src)
	if err != nil {
		return Result{}, fmt.Errorf("media: %w", err)
	}
	defer in.Close()
	f, err := createTemp(filepath.Dir(dst), "fit")
	if err != nil {
		return Result{}, err
	}
	if err := stripJPEG(f, in, info.Size); err != nil {
		discard(f)
		return Result{}, fmt.Errorf("media: removing the metadata of %s: %w", src, err)
	}
	if err := commit(f, dst); err != nil {
		return Result{}, err
	}
	out, err := Probe(dst)
	if err != nil {
		return Result{}, err
	}
	return Result{Path: dst, Info: out, Note: "metadata removed (it recorded a GPS position)"}, nil
}

// reencode decodes src and encodes it again, smaller, until it fits lim.
func reencode(ctx context.Context, src, dst string, info Info, lim Limits) (Result, error) {
	if info.decodeBytes > MaxMemory-scalerMemory {
		return Result{}, fmt.Errorf("media: %s (%s %d×%d) would need %d MiB to decode, more than the %d MiB pitweet allows itself; make it smaller first (or save a progressive JPEG as baseline)",
			src, info.Format, info.Width, info.Height, mib(info.decodeBytes), MaxMemory>>20)
	}
	img, err := decode(src, info.Format)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}

	// The largest upright size within the limits.
	uw, uh := info.Upright()
	w, h := uw, uh
	if !lim.within(w, h) {
		w, h = scaleTo(uw, uh, float64(lim.MaxPixels))
	}

	e := &encoder{img: img, info: info, orient: info.Orientation, lim: lim,
		free: (MaxMemory - scalerMemory - info.decodeBytes) / 4}
	defer e.release()
	f, err := createTemp(filepath.Dir(dst), "fit")
	if err != nil {
		return Result{}, err
	}
	e.file = f

	var how string // the format, for the note
	if info.lossless && lim.accepts(PNG) {
		w, h := e.bound(w, h, false)
		n, err := e.encode(w, h, PNG, 0)
		if err != nil {
			discard(f)
			return Result{}, err
		}
		if n <= lim.MaxBytes {
			how = "PNG"
		}
	}
	if how == "" {
		q, err := e.fitJPEG(ctx, w, h)
		if err != nil {
			discard(f)
			if ctx.Err() != nil {
				return Result{}, ctx.Err()
			}
			return Result{}, fmt.Errorf("media: %s %w", src, err)
		}
		how = fmt.Sprintf("JPEG quality %d", q)
	}
	if err := commit(f, dst); err != nil {
		return Result{}, err
	}
	out, err := Probe(dst)
	if err != nil {
		return Result{}, err
	}
	note := "encoded again as " + how
	if uw != out.Width || uh != out.Height {
		note = fmt.Sprintf("scaled from %d×%d to %d×%d, %s", uw, uh, out.Width, out.Height, how)
	}
	if info.Orientation > 1 {
		note += ", turned upright"
	}
	return Result{Path: dst, Info: out, Note: note}, nil
}

// mib rounds n bytes up to whole MiB.
func mib(n int64) int64 { return (n + 1<<20 - 1) >> 20 }

// scaleTo returns w×h scaled down, keeping its aspect ratio, to at most
// pixels pixels (and at least 1×1).
func scaleTo(w, h int, pixels float64) (int, int) {
	f := math.Sqrt(pixels / (float64(w) * float64(h)))
	if f >= 1 {
		return w, h
	}
	return max(1, int(float64(w)*f)), max(1, int(float64(h)*f))
}

// decode reads the whole picture.
func decode(path string, f Format) (image.Image, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	defer in.Close()
	r := bufio.NewReaderSize(in, 64<<10)
	var img image.Image
	switch f {
	case JPEG:
		img, err = jpeg.Decode(r)
	case PNG:
		img, err = png.Decode(r)
	case GIF:
		img, err = gif.Decode(r)
	case WebP:
		img, err = webp.Decode(r)
	}
	if err != nil {
		return nil, fmt.Errorf("media: decoding %s (%s): %w", path, f, err)
	}
	return img, nil
}

// encoder encodes one decoded picture at various sizes into one file.
type encoder struct {
	img    image.Image
	info   Info
	orient int
	lim    Limits
	file   *os.File
	free   int64  // the most pixels a scaled picture may have
	pix    []byte // the scaled picture's pixels, reused by each attempt
}

// direct reports whether the decoded picture can be encoded as it is at
// w×h: it needs no scaling, no turning, and (flat: for a JPEG) has no
// transparency.
func (e *encoder) direct(w, h int, flat bool) bool {
	b := e.img.Bounds()
	return w == b.Dx() && h == b.Dy() && e.orient <= 1 && (!flat || opaque(e.img))
}

// bound returns w×h scaled down, if a scaled picture that large would not
// fit in the memory left beside the decoded one.
func (e *encoder) bound(w, h int, flat bool) (int, int) {
	if e.direct(w, h, flat) || int64(w)*int64(h) <= e.free {
		return w, h
	}
	return scaleTo(w, h, float64(e.free))
}

func (e *encoder) release() { e.pix, e.img = nil, nil }

// fitJPEG encodes JPEGs, from w×h at quality 85 down, until one fits,
// and returns the quality of the one that does.
func (e *encoder) fitJPEG(ctx context.Context, w, h int) (int, error) {
	q := qualityFirst
	// A JPEG larger than the limit gets fewer pixels at once, guessed from
	// its own bytes per pixel (a camera's quality 90 to 95 comes to about
	// 0.6 of that at quality 85), instead of a first full-size try.
	if e.info.Format == JPEG {
		guess := 0.6 * float64(e.info.Size) * float64(w) * float64(h) / float64(e.info.Pixels())
		if guess > float64(e.lim.MaxBytes) {
			w, h = scaleTo(w, h, 0.9*float64(w)*float64(h)*float64(e.lim.MaxBytes)/guess)
		}
	}
	var n int64
	for range maxAttempts {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		w, h = e.bound(w, h, true)
		var err error
		n, err = e.encode(w, h, JPEG, q)
		if err != nil {
			return 0, err
		}
		if n <= e.lim.MaxBytes {
			return q, nil
		}
		ratio := float64(e.lim.MaxBytes) / float64(n)
		if q > qualityLast && ratio > 0.6 {
			q = qualityLast
			continue
		}
		// Bytes go roughly with pixels: aim under the limit.
		nw, nh := scaleTo(w, h, 0.9*ratio*float64(w)*float64(h))
		if nw == w && nh == h || min(nw, nh) < 16 {
			break
		}
		w, h = nw, nh
	}
	return 0, fmt.Errorf("cannot be made to fit %s's %d bytes (the last try, %d×%d at JPEG quality %d, made %d)", e.lim.Name, e.lim.MaxBytes, w, h, q, n)
}

// encode writes the picture at w×h (upright) in format f (JPEG quality q)
// over whatever the file held, and returns its size.
func (e *encoder) encode(w, h int, f Format, q int) (int64, error) {
	m, err := e.render(w, h, f == JPEG)
	if err != nil {
		return 0, err
	}
	if _, err := e.file.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("media: %w", err)
	}
	if err := e.file.Truncate(0); err != nil {
		return 0, fmt.Errorf("media: %w", err)
	}
	cw := &countWriter{w: e.file}
	bw := bufio.NewWriterSize(cw, 64<<10)
	if f == JPEG {
		err = jpeg.Encode(bw, m, &jpeg.Options{Quality: q})
	} else {
		err = (&png.Encoder{}).Encode(bw, m)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return 0, fmt.Errorf("media: encoding %s: %w", f, err)
	}
	return cw.n, nil
}

// render returns the picture at w×h, upright; for a JPEG (flat) laid
// over white. The decoded picture is used as it is when it already is
// all that; otherwise it is scaled into a buffer that every attempt
// reuses (each is smaller than the one before).
func (e *encoder) render(w, h int, flat bool) (image.Image, error) {
	if e.direct(w, h, flat) {
		return e.img, nil
	}
	need := 4 * w * h
	if int64(w)*int64(h) > e.free {
		return nil, errors.New("media: the scaled picture does not fit the memory bound")
	}
	if cap(e.pix) < need {
		e.pix = make([]byte, need)
	}
	m := &image.RGBA{Pix: e.pix[:need], Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
	resize(m, e.img, e.orient)
	if flat {
		flattenWhite(m)
	}
	return m, nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Animated reports whether the GIF at path has more than one frame: an
// animated GIF, which services take by a flow of their own (X's chunked
// upload with media_category tweet_gif).
func Animated(path string) (bool, error) {
	animated, err := fileAnimated(path)
	if err != nil {
		return false, fmt.Errorf("media: %s: %w", path, err)
	}
	return animated, nil
}
