package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestFitUnchanged(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		data []byte
		lim  Limits
	}{
		{"photo.jpg", jpegBytes(t, photo(800, 600, 1), 90), XLimits()},
		{"upright.jpg", withEXIF(jpegBytes(t, photo(80, 60, 1), 90), 1, false), BlueskyLimits()},
		{"chart.png", pngBytes(t, image.NewGray(image.Rect(0, 0, 1200, 675))), MastodonLimits("m.example", 0, 0, nil)},
		{"anim.gif", gifBytes(3), XLimits()},
	} {
		src := writeFile(t, dir, tt.name, tt.data)
		dst := filepath.Join(dir, "out-"+tt.name)
		res, err := Fit(context.Background(), src, dst, tt.lim)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !res.Unchanged || res.Path != src || res.Note != "" || res.Info.Size != int64(len(tt.data)) {
			t.Errorf("%s: Fit = %+v, want the source unchanged", tt.name, res)
		}
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Errorf("%s: Fit wrote %s for a file that fits (%v)", tt.name, dst, err)
		}
	}
	if names := dirNames(t, dir); len(names) != 4 {
		t.Errorf("the directory holds %q, want the 4 sources only", names)
	}
}

// The 12-megapixel camera photo, made to fit X and Bluesky: smaller than
// their limit, the same aspect ratio, written whole with no temporary
// file left beside it.
func TestFitCameraPhoto(t *testing.T) {
	if testing.Short() {
		t.Skip("makes and encodes 12-megapixel pictures")
	}
	src := cameraJPEG(t)
	srcInfo, err := Probe(src)
	if err != nil {
		t.Fatal(err)
	}
	if srcInfo.Size <= XLimits().MaxBytes {
		t.Fatalf("the camera photo is %d bytes: it must be over X's limit for this test", srcInfo.Size)
	}
	for _, lim := range []Limits{XLimits(), BlueskyLimits()} {
		dir := t.TempDir()
		dst := filepath.Join(dir, "photo")
		res, err := Fit(context.Background(), src, dst, lim)
		if err != nil {
			t.Fatalf("%s: %v", lim.Name, err)
		}
		t.Logf("%s: %s, %d bytes", lim.Name, res.Note, res.Info.Size)
		if res.Unchanged || res.Path != dst || res.Info.Format != JPEG {
			t.Errorf("%s: Fit = %+v, want a JPEG at %s", lim.Name, res, dst)
		}
		st, err := os.Stat(dst)
		if err != nil || st.Size() != res.Info.Size || st.Size() > lim.MaxBytes {
			t.Errorf("%s: %s is %v bytes (%v), Result says %d, the limit is %d", lim.Name, dst, st.Size(), err, res.Info.Size, lim.MaxBytes)
		}
		// Scaling keeps the aspect ratio to the rounding of one pixel.
		if got := float64(res.Info.Width) * 3040 / 4056; got < float64(res.Info.Height)-1 || got > float64(res.Info.Height)+1 {
			t.Errorf("%s: %d×%d does not keep 4056×3040's aspect ratio", lim.Name, res.Info.Width, res.Info.Height)
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"photo"}) {
			t.Errorf("%s: the directory holds %q", lim.Name, names)
		}
		f, _ := os.Open(dst)
		_, err = jpeg.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: the result does not decode: %v", lim.Name, err)
		}
	}
}

// Each EXIF orientation: the picture comes out upright, its metadata
// gone.
func TestFitOrientation(t *testing.T) {
	// An upright 60×40 picture in four coloured quarters.
	quarters := []color.RGBA{{230, 20, 20, 255}, {20, 200, 20, 255}, {20, 20, 230, 255}, {240, 240, 20, 255}}
	upright := image.NewRGBA(image.Rect(0, 0, 60, 40))
	for y := range 40 {
		for x := range 60 {
			upright.SetRGBA(x, y, quarters[(y/20)*2+x/30])
		}
	}
	dir := t.TempDir()
	for o := 1; o <= 8; o++ {
		// Store it as a camera with orientation o would.
		w, h := 60, 40
		if o >= 5 {
			w, h = 40, 60
		}
		stored := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				ux, uy := seenAt(o, x, y, w, h)
				stored.Set(x, y, upright.At(ux, uy))
			}
		}
		src := writeFile(t, dir, "o.jpg", withEXIF(jpegBytes(t, stored, 95), o, false))
		dst := filepath.Join(dir, "upright.jpg")
		res, err := Fit(context.Background(), src, dst, XLimits())
		if err != nil {
			t.Fatal(err)
		}
		if o == 1 {
			if !res.Unchanged {
				t.Errorf("orientation 1: %+v, want unchanged", res)
			}
			continue
		}
		if res.Unchanged || res.Info.Width != 60 || res.Info.Height != 40 || res.Info.Orientation != 0 || !strings.Contains(res.Note, "turned upright") {
			t.Errorf("orientation %d: Fit = %+v", o, res)
			continue
		}
		f, _ := os.Open(dst)
		got, err := jpeg.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range quarters {
			x, y := 15+30*(i%2), 10+20*(i/2)
			r, g, b, _ := got.At(x, y).RGBA()
			if absDiff(r>>8, uint32(c.R)) > 24 || absDiff(g>>8, uint32(c.G)) > 24 || absDiff(b>>8, uint32(c.B)) > 24 {
				t.Errorf("orientation %d: quarter %d is %d,%d,%d, want %v", o, i, r>>8, g>>8, b>>8, c)
			}
		}
	}
}

// seenAt maps pixel x,y of a w×h picture stored with orientation o to
// where it is seen upright, as EXIF 2.3 (tag 274) describes the eight
// orientations by where row 0 and column 0 go.
func seenAt(o, x, y, w, h int) (int, int) {
	switch o {
	case 2: // row 0 at the top, column 0 on the right
		return w - 1 - x, y
	case 3: // row 0 at the bottom, column 0 on the right
		return w - 1 - x, h - 1 - y
	case 4: // row 0 at the bottom, column 0 on the left
		return x, h - 1 - y
	case 5: // row 0 on the left, column 0 at the top
		return y, x
	case 6: // row 0 on the right, column 0 at the top
		return h - 1 - y, x
	case 7: // row 0 on the right, column 0 at the bottom
		return h - 1 - y, w - 1 - x
	case 8: // row 0 on the left, column 0 at the bottom
		return y, w - 1 - x
	}
	return x, y
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// A JPEG that fits but says where it was taken loses its metadata, and
// nothing else: the same pixels, the same ICC profile.
func TestFitRemovesGPS(t *testing.T) {
	dir := t.TempDir()
	plain := jpegBytes(t, photo(320, 240, 6), 90)
	icc := jpegSegment(markerAPP2, "ICC_PROFILE\x00\x01\x01abcd")
	xmp := jpegSegment(markerAPP1, "http://ns.adobe.com/xap/1.0/\x00<x/>")
	com := jpegSegment(markerCOM, "taken home")
	withGPS := withEXIF(plain, 0, true)
	data := slices.Concat(withGPS[:2], icc, xmp, com, withGPS[2:])
	src := writeFile(t, dir, "home.jpg", data)
	info, err := Probe(src)
	if err != nil || !info.GPS {
		t.Fatalf("Probe = %+v, %v; want a GPS position", info, err)
	}
	dst := filepath.Join(dir, "out.jpg")
	res, err := Fit(context.Background(), src, dst, XLimits())
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged || res.Info.GPS || !strings.Contains(res.Note, "metadata removed") {
		t.Fatalf("Fit = %+v", res)
	}
	out, _ := os.ReadFile(dst)
	want := slices.Concat(plain[:2], icc, plain[2:])
	if !bytes.Equal(out, want) {
		t.Errorf("stripped file (%d bytes) is not SOI, the ICC profile and the rest of the original (%d bytes)", len(out), len(want))
	}
	a, _ := jpeg.Decode(bytes.NewReader(out))
	b, _ := jpeg.Decode(bytes.NewReader(data))
	if a == nil || b == nil || !samePixels(a, b) {
		t.Error("the pixels changed")
	}
}

// jpegSegment makes a marker segment.
func jpegSegment(marker byte, contents string) []byte {
	b := []byte{0xff, marker}
	b = binary.BigEndian.AppendUint16(b, uint16(2+len(contents)))
	return append(b, contents...)
}

// A PNG chart too large for its destination stays a PNG when a smaller
// PNG fits; when none would, it becomes a JPEG with its transparent parts
// white.
func TestFitPNG(t *testing.T) {
	dir := t.TempDir()
	chart := image.NewNRGBA(image.Rect(0, 0, 1200, 675))
	for y := range 675 {
		for x := range 1200 {
			if (x/150+y/150)%2 == 0 {
				chart.SetNRGBA(x, y, color.NRGBA{20, 60, 200, 255})
			} // else transparent
		}
	}
	src := writeFile(t, dir, "chart.png", pngBytes(t, chart))

	small := MastodonLimits("m.example", 0, 300*200, []string{"image/png", "image/jpeg"})
	res, err := Fit(context.Background(), src, filepath.Join(dir, "small"), small)
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Format != PNG || res.Info.Pixels() > 300*200 || res.Info.Width < 300 || !strings.Contains(res.Note, "PNG") {
		t.Errorf("pixel limit: Fit = %+v, want a PNG of at most 60000 pixels", res)
	}

	tiny := Limits{Name: "tiny", MaxBytes: 4000, Formats: []Format{JPEG, PNG}}
	res, err = Fit(context.Background(), src, filepath.Join(dir, "tiny"), tiny)
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Format != JPEG || res.Info.Size > 4000 {
		t.Fatalf("byte limit: Fit = %+v, want a JPEG of at most 4000 bytes", res)
	}
	f, _ := os.Open(res.Path)
	m, err := jpeg.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The top-left square is blue, the one right of it was transparent:
	// white.
	sx := float64(res.Info.Width) / 1200
	for _, p := range []struct {
		x, y    int
		r, g, b uint32
	}{{75, 75, 20, 60, 200}, {225, 75, 255, 255, 255}} {
		r, g, b, _ := m.At(int(float64(p.x)*sx), int(float64(p.y)*sx)).RGBA()
		if absDiff(r>>8, p.r) > 40 || absDiff(g>>8, p.g) > 40 || absDiff(b>>8, p.b) > 40 {
			t.Errorf("at %d,%d of the chart: %d,%d,%d, want about %d,%d,%d", p.x, p.y, r>>8, g>>8, b>>8, p.r, p.g, p.b)
		}
	}
}

// A WebP goes to a server that does not list image/webp as a JPEG.
func TestFitFormatNotAccepted(t *testing.T) {
	dir := t.TempDir()
	webp, _ := os.ReadFile("testdata/video-001.lossy.webp")
	src := writeFile(t, dir, "a.webp", webp)
	lim := MastodonLimits("old.example", 8<<20, 0, []string{"image/jpeg", "image/png", "image/gif"})
	res, err := Fit(context.Background(), src, filepath.Join(dir, "out"), lim)
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Format != JPEG || res.Info.Width != 150 || res.Info.Height != 103 || res.Note != "encoded again as JPEG quality 85" {
		t.Errorf("Fit = %+v", res)
	}
}

func TestFitAnimatedGIF(t *testing.T) {
	dir := t.TempDir()
	anim := gifBytes(4)
	src := writeFile(t, dir, "a.gif", anim)
	n := int64(len(anim))
	lim := Limits{Name: "X", MaxBytes: n - 1, MaxAnimatedBytes: n, Formats: []Format{JPEG, PNG, GIF}}
	res, err := Fit(context.Background(), src, filepath.Join(dir, "out"), lim)
	if err != nil || !res.Unchanged {
		t.Errorf("within the animated GIF limit: %+v, %v", res, err)
	}
	lim.MaxAnimatedBytes = n - 1
	_, err = Fit(context.Background(), src, filepath.Join(dir, "out"), lim)
	if err == nil || !strings.Contains(err.Error(), "is an animated GIF of") || !strings.Contains(err.Error(), "not re-encoded") {
		t.Errorf("over the animated GIF limit: %v", err)
	}
	// A still GIF is only a picture: re-encoded, as PNG.
	still := writeFile(t, dir, "s.gif", gifBytes(1))
	lim = Limits{Name: "Mastodon", MaxBytes: 1 << 20, Formats: []Format{JPEG, PNG}}
	res, err = Fit(context.Background(), still, filepath.Join(dir, "still"), lim)
	if err != nil || res.Info.Format != PNG {
		t.Errorf("a still GIF where GIF is not accepted: %+v, %v", res, err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"a.gif", "s.gif", "still"}) {
		t.Errorf("the directory holds %q", names)
	}
}

// A picture whose header promises more pixels than the memory bound is
// refused before it is decoded: no allocation of its size, whatever the
// file's own size.
func TestFitRefusesDecompressionBomb(t *testing.T) {
	dir := t.TempDir()
	// A 30000×30000 grey PNG: a valid header and one tiny IDAT.
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 30000), 30000)
	chunk("IHDR", append(ihdr, 8, 0, 0, 0, 0))
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	src := writeFile(t, dir, "bomb.png", b.Bytes())

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	// X takes the file as it is (its bytes and format fit, X sets no
	// pixel limit); a Mastodon server's pixel limit makes Fit decode it.
	if res, err := Fit(context.Background(), src, filepath.Join(dir, "out"), XLimits()); err != nil || !res.Unchanged {
		t.Errorf("Fit for X = %+v, %v; want it unchanged", res, err)
	}
	_, err := Fit(context.Background(), src, filepath.Join(dir, "out"), MastodonLimits("m.example", 0, 0, nil))
	runtime.ReadMemStats(&after)
	want := "media: " + src + " (PNG 30000×30000) would need 859 MiB to decode, more than the 48 MiB pitweet allows itself; make it smaller first (or save a progressive JPEG as baseline)"
	if err == nil || err.Error() != want {
		t.Errorf("Fit:\n got %v\nwant %s", err, want)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("refusing it allocated %d bytes", n)
	}
	// A progressive 12-megapixel JPEG keeps its coefficients while it
	// decodes: 93 MB, refused the same way.
	info := Info{Format: JPEG, Width: 4056, Height: 3040}
	info.decodeBytes = jpegHeader{sof: true, progressive: true, comps: []sampling{{2, 2}, {1, 1}, {1, 1}}}.decodeBytes(4056, 3040)
	if info.decodeBytes < MaxMemory {
		t.Errorf("a progressive 12 MP JPEG is estimated at %d bytes, under the bound", info.decodeBytes)
	}
}

func TestFitCannotFit(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "p.jpg", jpegBytes(t, photo(400, 300, 7), 90))
	lim := Limits{Name: "Tiny", MaxBytes: 300, Formats: []Format{JPEG}}
	_, err := Fit(context.Background(), src, filepath.Join(dir, "out"), lim)
	if err == nil || !strings.HasPrefix(err.Error(), "media: "+src+" cannot be made to fit Tiny's 300 bytes (the last try, ") {
		t.Errorf("Fit = %v", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"p.jpg"}) {
		t.Errorf("the directory holds %q", names)
	}
	if _, err := Fit(context.Background(), writeFile(t, dir, "t.txt", []byte("text")), filepath.Join(dir, "out"), XLimits()); err == nil || !strings.Contains(err.Error(), "is not a JPEG, PNG, GIF or WebP image") {
		t.Errorf("Fit of a text file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	big := writeFile(t, dir, "big.png", pngBytes(t, photo(300, 200, 8)))
	if _, err := Fit(ctx, big, filepath.Join(dir, "out"), Limits{Name: "X", MaxBytes: 10_000, Formats: []Format{JPEG}}); err != context.Canceled {
		t.Errorf("Fit with a cancelled context: %v", err)
	}
}

func TestMastodonLimits(t *testing.T) {
	l := MastodonLimits("mastodon.social", 16777216, 33177600, []string{"image/jpeg", "image/png", "image/gif", "image/heic", "image/heif", "image/webp", "image/avif", "video/mp4"})
	if l.MaxBytes != 16777216 || l.MaxPixels != 33177600 || !slices.Equal(l.Formats, []Format{JPEG, PNG, GIF, WebP}) {
		t.Errorf("MastodonLimits = %+v", l)
	}
	l = MastodonLimits("old.example", 0, 0, nil)
	if l.MaxBytes != 8<<20 || l.MaxPixels != 4096*4096 || !slices.Equal(l.Formats, []Format{JPEG, PNG, GIF}) {
		t.Errorf("MastodonLimits with nothing given = %+v", l)
	}
	if _, err := Fit(context.Background(), "x", "y", Limits{Name: "Nowhere"}); err == nil {
		t.Error("Fit accepted limits without MaxBytes")
	}
}
