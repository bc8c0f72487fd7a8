package media

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	nrgba := image.NewNRGBA(image.Rect(0, 0, 120, 80))
	nrgba.Pix[3] = 0x80 // not opaque: kept as NRGBA
	gray := image.NewGray(image.Rect(0, 0, 33, 17))
	webpLossy, _ := os.ReadFile("testdata/video-001.lossy.webp")
	webpAlpha, _ := os.ReadFile("testdata/gopher-doc.with-alpha.lossless.webp")
	tests := []struct {
		name   string
		data   []byte
		format Format
		w, h   int
		mime   string
	}{
		{"photo.jpg", jpegBytes(t, photo(640, 480, 1), 90), JPEG, 640, 480, "image/jpeg"},
		{"gray.jpg", jpegBytes(t, gray, 90), JPEG, 33, 17, "image/jpeg"},
		{"chart.png", pngBytes(t, nrgba), PNG, 120, 80, "image/png"},
		{"anim.gif", gifBytes(3), GIF, 40, 30, "image/gif"},
		{"lossy.webp", webpLossy, WebP, 150, 103, "image/webp"},
		{"alpha.webp", webpAlpha, WebP, 75, 100, "image/webp"},
		// The extension means nothing: the bytes decide.
		{"picture.txt", pngBytes(t, gray), PNG, 33, 17, "image/png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, dir, tt.name, tt.data)
			info, err := Probe(p)
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != tt.format || info.Width != tt.w || info.Height != tt.h || info.Size != int64(len(tt.data)) {
				t.Errorf("Probe = %v, want %v %d×%d, %d bytes", info, tt.format, tt.w, tt.h, len(tt.data))
			}
			if got := info.Format.MIMEType(); got != tt.mime {
				t.Errorf("MIME type %q, want %q", got, tt.mime)
			}
			if info.Orientation != 0 || info.GPS {
				t.Errorf("orientation %d, GPS %v; want none", info.Orientation, info.GPS)
			}
			again, err := ProbeReaderAt(bytes.NewReader(tt.data), int64(len(tt.data)))
			if err != nil || again != info {
				t.Errorf("ProbeReaderAt = %v, %v; want %v as Probe", again, err, info)
			}
		})
	}
}

func TestProbeEXIF(t *testing.T) {
	jpg := jpegBytes(t, photo(400, 300, 2), 90)
	for _, tt := range []struct {
		orientation int
		gps         bool
		upW, upH    int
		ratioW      int
		ratioH      int
	}{
		{1, false, 400, 300, 4, 3},
		{3, true, 400, 300, 4, 3},
		{6, false, 300, 400, 3, 4},
		{8, true, 300, 400, 3, 4},
		{0, true, 400, 300, 4, 3},
	} {
		data := withEXIF(jpg, tt.orientation, tt.gps)
		info, err := ProbeReaderAt(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if info.Orientation != tt.orientation || info.GPS != tt.gps || info.Width != 400 || info.Height != 300 {
			t.Errorf("EXIF orientation %d, GPS %v: Probe = %+v", tt.orientation, tt.gps, info)
		}
		if w, h := info.Upright(); w != tt.upW || h != tt.upH {
			t.Errorf("orientation %d: upright %d×%d, want %d×%d", tt.orientation, w, h, tt.upW, tt.upH)
		}
		if w, h := info.AspectRatio(); w != tt.ratioW || h != tt.ratioH {
			t.Errorf("orientation %d: aspect ratio %d:%d, want %d:%d", tt.orientation, w, h, tt.ratioW, tt.ratioH)
		}
	}
}

func TestAspectRatioOfTheHQCamera(t *testing.T) {
	info := Info{Format: JPEG, Width: 4056, Height: 3040}
	if w, h := info.AspectRatio(); w != 507 || h != 380 {
		t.Errorf("4056×3040: aspect ratio %d:%d, want 507:380", w, h)
	}
}

func TestProbeRefuses(t *testing.T) {
	dir := t.TempDir()
	jpg := jpegBytes(t, photo(64, 48, 3), 80)
	// A JPEG whose frame header comes after more than a MiB of segments.
	var long bytes.Buffer
	long.Write(jpg[:2])
	for range 20 {
		long.Write([]byte{0xff, 0xe5, 0xff, 0xff})
		long.Write(make([]byte, 0xfffd))
	}
	long.Write(jpg[2:])
	png := pngBytes(t, image.NewGray(image.Rect(0, 0, 8, 8)))
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"notes.txt", []byte("hello world, not a picture"), `media: DIR/notes.txt is not a JPEG, PNG, GIF or WebP image (it starts with "hello wo")`},
		{"empty.jpg", nil, `media: DIR/empty.jpg is not a JPEG, PNG, GIF or WebP image (it is empty)`},
		{"short.jpg", jpg[:40], `media: DIR/short.jpg is not a JPEG, PNG, GIF or WebP image (a broken JPEG header: unexpected EOF)`},
		{"long.jpg", long.Bytes(), `media: DIR/long.jpg is not a JPEG, PNG, GIF or WebP image (its JPEG header goes on past 1024 KiB)`},
		{"zero.png", append(append(append([]byte{}, png[:16]...), 0, 0, 0, 0, 0, 0, 0, 8), png[24:]...), `media: DIR/zero.png is not a JPEG, PNG, GIF or WebP image (a broken PNG header: png: invalid format: non-positive dimension)`},
		{"pdf.png", []byte("%PDF-1.7\n"), `media: DIR/pdf.png is not a JPEG, PNG, GIF or WebP image (it starts with "%PDF-1.7")`},
	}
	for _, tt := range tests {
		p := writeFile(t, dir, tt.name, tt.data)
		_, err := Probe(p)
		if err == nil {
			t.Errorf("%s: Probe accepted it", tt.name)
			continue
		}
		if want := strings.ReplaceAll(tt.want, "DIR", dir); err.Error() != want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, err, want)
		}
		if !errors.Is(err, ErrNotImage) {
			t.Errorf("%s: error does not match ErrNotImage", tt.name)
		}
	}

	if _, err := Probe(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Probe of a directory: %v", err)
	}
	if _, err := Probe(filepath.Join(dir, "missing.jpg")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Probe of a missing file: %v, want one that matches os.ErrNotExist", err)
	}
}

// The decoded-size estimate Fit relies on must cover what the decoders
// allocate, but for their fixed state (tables, buffers: under 128 KiB),
// which Fit's reserve covers.
func TestDecodeEstimate(t *testing.T) {
	webpLossy, _ := os.ReadFile("testdata/video-001.lossy.webp")
	webpAlpha, _ := os.ReadFile("testdata/gopher-doc.with-alpha.lossless.webp")
	jpeg444, _ := os.ReadFile("testdata/yuv444.jpg")
	progressive, _ := os.ReadFile("testdata/progressive.jpg")
	rgb := image.NewRGBA(image.Rect(0, 0, 301, 203))
	for i := range rgb.Pix {
		rgb.Pix[i] = 255
	}
	pal := image.NewPaletted(image.Rect(0, 0, 301, 203), color.Palette{color.Black, color.White})
	gray16 := image.NewGray16(image.Rect(0, 0, 301, 203))
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"JPEG 4:2:0", jpegBytes(t, photo(1001, 751, 4), 90)},
		{"JPEG gray", jpegBytes(t, image.NewGray(image.Rect(0, 0, 1001, 751)), 90)},
		{"JPEG 4:4:4", jpeg444},
		{"JPEG progressive", progressive},
		{"PNG RGB", pngBytes(t, rgb)},
		{"PNG paletted", pngBytes(t, pal)},
		{"PNG gray16", pngBytes(t, gray16)},
		{"GIF", gifBytes(2)},
		{"WebP lossy", webpLossy},
		{"WebP lossless alpha", webpAlpha},
	} {
		info, err := ProbeReaderAt(bytes.NewReader(tt.data), int64(len(tt.data)))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		p := writeFile(t, dir, "x", tt.data)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		img, err := decode(p, info.Format)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		allocated := int64(after.TotalAlloc - before.TotalAlloc)
		pixels := pixelBytes(img)
		t.Logf("%s: estimate %d, picture %d, decoder allocated %d", tt.name, info.decodeBytes, pixels, allocated)
		if info.decodeBytes < pixels || info.decodeBytes+128<<10 < allocated {
			t.Errorf("%s: estimated %d bytes; the picture holds %d, the decoder allocated %d", tt.name, info.decodeBytes, pixels, allocated)
		}
		if info.decodeBytes > 3*allocated {
			t.Errorf("%s: estimated %d bytes, more than 3× the %d allocated", tt.name, info.decodeBytes, allocated)
		}
	}
}

// pixelBytes is the size of a decoded picture's pixel arrays.
func pixelBytes(m image.Image) int64 {
	switch m := m.(type) {
	case *image.YCbCr:
		return int64(len(m.Y) + len(m.Cb) + len(m.Cr))
	case *image.NYCbCrA:
		return int64(len(m.Y) + len(m.Cb) + len(m.Cr) + len(m.A))
	case *image.Gray:
		return int64(len(m.Pix))
	case *image.Gray16:
		return int64(len(m.Pix))
	case *image.RGBA:
		return int64(len(m.Pix))
	case *image.NRGBA:
		return int64(len(m.Pix))
	case *image.Paletted:
		return int64(len(m.Pix))
	}
	return 0
}

func TestFormatNames(t *testing.T) {
	for f, want := range map[Format][3]string{
		JPEG: {"JPEG", "image/jpeg", ".jpg"},
		PNG:  {"PNG", "image/png", ".png"},
		GIF:  {"GIF", "image/gif", ".gif"},
		WebP: {"WebP", "image/webp", ".webp"},
		0:    {"Format(0)", "", ""},
	} {
		if got := [3]string{f.String(), f.MIMEType(), f.Ext()}; got != want {
			t.Errorf("Format %d: %q, want %q", int(f), got, want)
		}
	}
}
