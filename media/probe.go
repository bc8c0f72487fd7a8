package media

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"strconv"

	"golang.org/x/image/webp"
)

// Format is an image file format.
type Format int

// The formats Probe recognises. X, Mastodon (as its servers list them) and
// Bluesky accept all four.
const (
	JPEG Format = 1 + iota
	PNG
	GIF
	WebP
)

var formats = [...]struct{ name, mime, ext string }{
	JPEG: {"JPEG", "image/jpeg", ".jpg"},
	PNG:  {"PNG", "image/png", ".png"},
	GIF:  {"GIF", "image/gif", ".gif"},
	WebP: {"WebP", "image/webp", ".webp"},
}

func (f Format) known() bool { return f >= JPEG && f <= WebP }

func (f Format) String() string {
	if f.known() {
		return formats[f].name
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// MIMEType returns the media type, as in "image/jpeg"; "" for an unknown
// format.
func (f Format) MIMEType() string {
	if f.known() {
		return formats[f].mime
	}
	return ""
}

// Ext returns the usual file name extension, with its dot: ".jpg".
func (f Format) Ext() string {
	if f.known() {
		return formats[f].ext
	}
	return ""
}

// ErrNotImage is wrapped by the error Probe returns for data that is not an
// image it recognises (JPEG, PNG, GIF or WebP) or whose header is broken.
var ErrNotImage = errors.New("media: not a JPEG, PNG, GIF or WebP image")

// notImageError says why some data is not an image; it matches ErrNotImage.
type notImageError struct {
	name   string // the file, or "the data"
	reason string // e.g. `it starts with "hello"`
}

func (e *notImageError) Error() string {
	return fmt.Sprintf("media: %s is not a JPEG, PNG, GIF or WebP image (%s)", e.name, e.reason)
}

func (e *notImageError) Is(target error) bool { return target == ErrNotImage }

// Info is what Probe learns from an image's header.
type Info struct {
	Format Format
	Width  int   // pixels, as stored (before any EXIF orientation)
	Height int   // pixels, as stored
	Size   int64 // bytes in the file

	// Orientation is a JPEG's EXIF orientation, 1 to 8 (1 is upright,
	// 6 needs turning 90° clockwise to be seen upright); 0 when it has none.
	Orientation int
	// GPS reports whether a JPEG's EXIF records where it was taken.
	GPS bool

	// decodeBytes is how much memory the standard decoder needs for the
	// whole picture, estimated from the header.
	decodeBytes int64
	// lossless: PNG, GIF, or lossless WebP; a picture better kept as PNG.
	lossless bool
}

// Pixels returns Width×Height.
func (i Info) Pixels() int64 { return int64(i.Width) * int64(i.Height) }

// Upright returns the size of the picture as it is meant to be seen: Width
// and Height swapped when the EXIF orientation turns it by 90°.
func (i Info) Upright() (width, height int) {
	if i.Orientation >= 5 && i.Orientation <= 8 {
		return i.Height, i.Width
	}
	return i.Width, i.Height
}

// AspectRatio returns the upright width and height divided by their
// greatest common divisor, as Bluesky's aspectRatio wants them: 4056×3040
// gives 507 and 380.
func (i Info) AspectRatio() (width, height int) {
	w, h := i.Upright()
	if w <= 0 || h <= 0 {
		return 0, 0
	}
	a, b := w, h
	for b != 0 {
		a, b = b, a%b
	}
	return w / a, h / a
}

func (i Info) String() string {
	return fmt.Sprintf("%s %d×%d, %d bytes", i.Format, i.Width, i.Height, i.Size)
}

// maxHeaderBytes bounds what Probe reads: a JPEG's SOF marker must come
// within the first MiB (after EXIF, XMP and ICC segments of up to 64 KiB
// each).
const maxHeaderBytes = 1 << 20

// Probe says what the image file at path is, reading only its header.
func Probe(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("media: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("media: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("media: %s is not a regular file", path)
	}
	return probe(f, st.Size(), path)
}

// ProbeReaderAt is Probe for size bytes read from r.
func ProbeReaderAt(r io.ReaderAt, size int64) (Info, error) {
	return probe(r, size, "the data")
}

func probe(r io.ReaderAt, size int64, name string) (Info, error) {
	if size <= 0 {
		return Info{}, &notImageError{name, "it is empty"}
	}
	var head [16]byte
	n, err := r.ReadAt(head[:], 0)
	if n < len(head) && err != nil && err != io.EOF {
		return Info{}, fmt.Errorf("media: %s: %w", name, err)
	}
	info := Info{Format: sniff(head[:n]), Size: size}
	if info.Format == 0 {
		return Info{}, &notImageError{name, fmt.Sprintf("it starts with %q", head[:min(n, 8)])}
	}

	// The decoders read through a bounded window, so a header that never
	// ends costs at most maxHeaderBytes of reading.
	limit := min(size, maxHeaderBytes)
	hr := io.NewSectionReader(r, 0, limit)
	var cfg image.Config
	switch info.Format {
	case JPEG:
		cfg, err = jpeg.DecodeConfig(hr)
	case PNG:
		cfg, err = png.DecodeConfig(hr)
	case GIF:
		cfg, err = gif.DecodeConfig(hr)
	case WebP:
		cfg, err = webp.DecodeConfig(hr)
	}
	if err != nil {
		if size > limit && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return Info{}, &notImageError{name, fmt.Sprintf("its %s header goes on past %d KiB", info.Format, maxHeaderBytes>>10)}
		}
		return Info{}, &notImageError{name, fmt.Sprintf("a broken %s header: %v", info.Format, err)}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Info{}, &notImageError{name, fmt.Sprintf("a %s header that says %d×%d pixels", info.Format, cfg.Width, cfg.Height)}
	}
	info.Width, info.Height = cfg.Width, cfg.Height
	px := info.Pixels()

	switch info.Format {
	case JPEG:
		h := scanJPEG(hr)
		info.Orientation, info.GPS = h.orientation, h.gps
		info.decodeBytes = h.decodeBytes(cfg.Width, cfg.Height)
	case PNG:
		info.lossless = true
		info.decodeBytes = px * int64(bytesPerPixel(cfg.ColorModel))
		if pngInterlaced(hr) {
			// Each Adam7 pass is decoded into its own image first.
			info.decodeBytes *= 2
		}
	case GIF:
		info.lossless = true
		info.decodeBytes = px // the first frame, one byte a pixel
	case WebP:
		if bytes.Equal(head[12:16], []byte("VP8 ")) {
			// Simple lossy: a 4:2:0 YCbCr picture in whole macroblocks.
			info.decodeBytes = int64(cfg.Width+15) &^ 15 * (int64(cfg.Height+15) &^ 15) * 3 / 2
		} else {
			// Lossless, or extended (alpha, maybe lossless): ARGB words
			// and the NRGBA picture made from them.
			info.lossless = !bytes.Equal(head[12:16], []byte("VP8X"))
			info.decodeBytes = px * 8
		}
	}
	return info, nil
}

// sniff recognises a format by its first bytes.
func sniff(b []byte) Format {
	switch {
	case len(b) >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff:
		return JPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return GIF
	case len(b) >= 16 && bytes.HasPrefix(b, []byte("RIFF")) && string(b[8:12]) == "WEBP":
		return WebP
	}
	return 0
}

// bytesPerPixel is what image/png allocates a pixel for each color model.
func bytesPerPixel(m color.Model) int {
	switch m {
	case color.GrayModel:
		return 1
	case color.Gray16Model:
		return 2
	case color.RGBAModel, color.NRGBAModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

// pngInterlaced reads the interlace method of a PNG's IHDR chunk, which
// png.DecodeConfig has already checked.
func pngInterlaced(r io.ReaderAt) bool {
	var b [29]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return true // the larger estimate
	}
	return string(b[12:16]) == "IHDR" && b[28] != 0
}
