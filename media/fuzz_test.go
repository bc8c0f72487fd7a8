package media

import (
	"bytes"
	"errors"
	"image"
	"image/gif"
	"image/jpeg"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// fuzzSeeds are small pictures of every kind Probe knows, and the same
// cut short.
func fuzzSeeds(f *testing.F) [][]byte {
	small := photo(48, 32, 5)
	jpg := jpegBytes(f, small, 80)
	var seeds [][]byte
	seeds = append(seeds, jpg, withEXIF(jpg, 6, true), withEXIF(jpg, 3, false),
		pngBytes(f, small), gifBytes(1), gifBytes(2))
	for _, name := range []string{"video-001.lossy.webp", "gopher-doc.with-alpha.lossless.webp", "progressive.jpg", "yuv444.jpg"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, s := range seeds[:len(seeds):len(seeds)] {
		seeds = append(seeds, s[:len(s)/2])
	}
	return seeds
}

// FuzzProbe: Probe never panics, allocates little whatever the bytes say,
// and what it accepts is a picture with a size.
func FuzzProbe(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		info, err := ProbeReaderAt(bytes.NewReader(data), int64(len(data)))
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Fatalf("Probe allocated %d bytes for %d bytes of input", n, len(data))
		}
		if err != nil {
			if !errors.Is(err, ErrNotImage) {
				t.Fatalf("error %v does not match ErrNotImage", err)
			}
			return
		}
		if !info.Format.known() || info.Width <= 0 || info.Height <= 0 || info.Size != int64(len(data)) ||
			info.Orientation < 0 || info.Orientation > 8 || info.decodeBytes < info.Pixels() {
			t.Fatalf("Probe accepted %q as %+v", data, info)
		}
	})
}

// FuzzStripJPEG: removing the metadata of a JPEG that image/jpeg decodes
// succeeds, and the result decodes to the same pixels, without EXIF.
func FuzzStripJPEG(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if sniff(s) == JPEG {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		err := stripJPEG(&out, bytes.NewReader(data), int64(len(data)))
		if err == nil && out.Len() > len(data) {
			t.Fatalf("stripping %d bytes made %d", len(data), out.Len())
		}
		cfg, cerr := jpeg.DecodeConfig(bytes.NewReader(data))
		if cerr != nil || cfg.Width*cfg.Height > 1<<20 {
			return
		}
		want, derr := jpeg.Decode(bytes.NewReader(data))
		if derr != nil {
			return
		}
		if err != nil {
			t.Fatalf("image/jpeg decodes %q but stripping it failed: %v", data, err)
		}
		got, err := jpeg.Decode(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("stripped JPEG does not decode: %v\nin:  %q\nout: %q", err, data, out.Bytes())
		}
		if !samePixels(got, want) {
			t.Fatalf("stripped JPEG decodes to other pixels\nin:  %q\nout: %q", data, out.Bytes())
		}
		info, err := ProbeReaderAt(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err == nil && (info.GPS || info.Orientation != 0) {
			t.Fatalf("stripped JPEG still has EXIF: %+v", info)
		}
	})
}

// FuzzGIFAnimated: gifAnimated agrees with image/gif on every GIF image/gif
// reads whole.
func FuzzGIFAnimated(f *testing.F) {
	for _, n := range []int{1, 2, 3} {
		f.Add(gifBytes(n))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		animated, err := gifAnimated(bytes.NewReader(data))
		cfg, cerr := gif.DecodeConfig(bytes.NewReader(data))
		if cerr != nil || cfg.Width*cfg.Height > 1<<20 {
			return
		}
		g, gerr := gif.DecodeAll(bytes.NewReader(data))
		if gerr != nil {
			return
		}
		if err != nil {
			t.Fatalf("image/gif reads %d frames from %q; gifAnimated: %v", len(g.Image), data, err)
		}
		if animated != (len(g.Image) > 1) {
			t.Fatalf("gifAnimated = %v; image/gif reads %d frames from %q", animated, len(g.Image), data)
		}
	})
}

// FuzzMultipart: whatever fields NewMultipartBoundary accepts,
// mime/multipart reads back the same fields and file, from a body of
// exactly ContentLength bytes.
func FuzzMultipart(f *testing.F) {
	f.Add("media_category", "tweet_image", "media", "photo.jpg", "image/jpeg", []byte("\xff\xd8\xff\xe0 picture"))
	f.Add("a\"b", "line one\r\nline two", "f\\g", "ü ñ.png", "", []byte{})
	f.Add("x", "ends with CR\r", "file", "", "text/plain; charset=utf-8", []byte("\r\n--B\r\n"))
	f.Fuzz(func(t *testing.T, name, value, fileField, filename, ctype string, content []byte) {
		p := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := NewMultipartBoundary("B0undary-fuzz", []Field{{name, value}},
			[]FilePart{{Name: fileField, Filename: filename, ContentType: ctype, Path: p, Size: int64(len(content))}})
		if err != nil {
			return
		}
		var body bytes.Buffer
		if n, err := m.WriteTo(&body); err != nil || n != m.ContentLength() || int64(body.Len()) != n {
			t.Fatalf("WriteTo = %d, %v; ContentLength %d, body %d bytes", n, err, m.ContentLength(), body.Len())
		}
		r := multipart.NewReader(&body, m.Boundary())
		part, err := r.NextPart()
		if err != nil {
			t.Fatalf("mime/multipart: %v\n%q", err, body.Bytes())
		}
		got, _ := io.ReadAll(part)
		if part.FormName() != name || string(got) != value {
			t.Fatalf("field %q = %q, want %q = %q", part.FormName(), got, name, value)
		}
		part, err = r.NextPart()
		if err != nil {
			t.Fatalf("mime/multipart: %v\n%q", err, body.Bytes())
		}
		got, _ = io.ReadAll(part)
		wantType := ctype
		if wantType == "" {
			wantType = "application/octet-stream"
		}
		if part.FormName() != fileField || part.FileName() != filepath.Base(filename) && filename != "" ||
			part.Header.Get("Content-Type") != wantType || !bytes.Equal(got, content) {
			t.Fatalf("file part %q (%q, %q, %d bytes), want %q (%q, %q, %d bytes)",
				part.FormName(), part.FileName(), part.Header.Get("Content-Type"), len(got), fileField, filename, wantType, len(content))
		}
		if _, err := r.NextPart(); err != io.EOF {
			t.Fatalf("after the file: %v, want io.EOF", err)
		}
	})
}

// samePixels reports whether two decoded pictures have the same bounds
// and colours.
func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				return false
			}
		}
	}
	return true
}
