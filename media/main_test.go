package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"pitweet/hw/fakehw"
)

// The test binary doubles as the photo commands of the capture tests and
// as the process whose peak RSS the memory benchmark measures:
// `media.test media-helper MODE ARGS...`.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "media-helper" {
		os.Exit(helper(os.Args[2], os.Args[3:]))
	}
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func helper(mode string, args []string) int {
	switch mode {
	case "card": // a photo
		b, err := fakehw.TestCard(0, 0, 7, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.Stdout.Write(b)
	case "gif":
		os.Stdout.Write(gifBytes(1))
	case "text":
		fmt.Println("hello, this is not a picture")
	case "nothing":
	case "idle": // for the memory benchmark: the process's own cost
		printPeakRSS()
	case "fail":
		fmt.Fprint(os.Stderr, "[0:00:01.5] camera manager started\nERROR: *** no cameras available ***\n\n")
		return 3
	case "flood": // writes until it is stopped
		buf := bytes.Repeat([]byte{0xff}, 64<<10)
		for {
			if _, err := os.Stdout.Write(buf); err != nil {
				return 1
			}
		}
	case "hang":
		fmt.Fprintln(os.Stderr, "waiting for the camera")
		time.Sleep(time.Hour)
	case "hang-child": // a child that holds stdout, then both hang
		child := exec.Command(os.Args[0], "media-helper", "hold", args[0])
		child.Stdout = os.Stdout
		if err := child.Start(); err != nil {
			return 1
		}
		time.Sleep(time.Hour)
	case "hold": // opens the FIFO args[0] for writing and hangs
		f, err := os.OpenFile(args[0], os.O_WRONLY, 0)
		if err != nil {
			return 1
		}
		defer f.Close()
		time.Sleep(time.Hour)
	case "fit": // Fit args[0] to args[1] with limits args[2]; print the result
		return fitHelper(args)
	default:
		return 2
	}
	return 0
}

// shared holds pictures that take long to make, made once per run.
var shared struct {
	once sync.Once
	dir  string
	err  error

	cameraOnce sync.Once
	camera     string
}

func sharedDir(tb testing.TB) string {
	shared.once.Do(func() { shared.dir, shared.err = os.MkdirTemp("", "pitweet-media-test-") })
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.dir
}

// cameraJPEG returns the path of a 4056×3040 JPEG like the Pi HQ camera's
// (4:2:0, quality 93, rpicam-still's default), of a picture with detail
// and sensor grain at every scale, so that it compresses as a photo does:
// about 6 MB, more than X takes. PITWEET_MEDIA_PHOTO names a JPEG to use
// instead: a real photo, or one made before (emulated ARM takes minutes
// to make it).
func cameraJPEG(tb testing.TB) string {
	if p := os.Getenv("PITWEET_MEDIA_PHOTO"); p != "" {
		return p
	}
	dir := sharedDir(tb)
	shared.cameraOnce.Do(func() {
		p := filepath.Join(dir, "camera.jpg")
		f, err := os.Create(p)
		if err == nil {
			err = jpeg.Encode(f, photo(4056, 3040, 1), &jpeg.Options{Quality: 93})
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			shared.err = err
			return
		}
		shared.camera = p
	})
	if shared.camera == "" {
		tb.Fatalf("making the camera JPEG: %v", shared.err)
	}
	return shared.camera
}

// photo makes a w×h 4:2:0 picture with smooth shapes, texture at several
// scales and grain, deterministically from seed.
func photo(w, h int, seed uint32) *image.YCbCr {
	m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := range h {
		row := m.Y[y*m.YStride:]
		for x := range w {
			v := 120 + 50*math.Sin(float64(x)/310+float64(y)/470) +
				45*valueNoise(float64(x)/97, float64(y)/97, seed) +
				25*valueNoise(float64(x)/13, float64(y)/13, seed+1) +
				20*valueNoise(float64(x)/2.5, float64(y)/2.5, seed+5) +
				float64(hash(uint32(x), uint32(y), seed+2)%31) - 15
			row[x] = uint8(min(max(v, 0), 255))
		}
	}
	for y := range (h + 1) / 2 {
		for x := range (w + 1) / 2 {
			i := y*m.CStride + x
			m.Cb[i] = uint8(128 + 30*math.Sin(float64(x)/350) + 20*valueNoise(float64(x)/40, float64(y)/40, seed+3))
			m.Cr[i] = uint8(128 + 30*math.Cos(float64(y)/300) + 20*valueNoise(float64(x)/40, float64(y)/40, seed+4))
		}
	}
	return m
}

func hash(x, y, seed uint32) uint32 {
	h := x*374761393 + y*668265263 + seed*2246822519
	h = (h ^ h>>13) * 1274126177
	return h ^ h>>16
}

// valueNoise is smooth noise in [-1, 1].
func valueNoise(x, y float64, seed uint32) float64 {
	x0, y0 := math.Floor(x), math.Floor(y)
	fx, fy := x-x0, y-y0
	fx, fy = fx*fx*(3-2*fx), fy*fy*(3-2*fy)
	at := func(i, j float64) float64 {
		return float64(hash(uint32(int32(i)), uint32(int32(j)), seed)%2001)/1000 - 1
	}
	top := at(x0, y0)*(1-fx) + at(x0+1, y0)*fx
	bottom := at(x0, y0+1)*(1-fx) + at(x0+1, y0+1)*fx
	return top*(1-fy) + bottom*fy
}

func jpegBytes(tb testing.TB, m image.Image, q int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: q}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func pngBytes(tb testing.TB, m image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// gifBytes returns a 40×30 GIF of frames frames.
func gifBytes(frames int) []byte {
	g := &gif.GIF{}
	for i := range frames {
		m := image.NewPaletted(image.Rect(0, 0, 40, 30), color.Palette{color.Black, color.White, color.RGBA{255, 0, 0, 255}})
		for p := range m.Pix {
			m.Pix[p] = uint8((p + i) % 3)
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// withEXIF inserts an APP1 EXIF segment after a JPEG's SOI: orientation
// (when not 0) in IFD0, and when gps a GPS IFD with a latitude.
func withEXIF(jpg []byte, orientation int, gps bool) []byte {
	le := binary.LittleEndian
	var ifd0 [][12]byte
	entry := func(tag, typ uint16, count, value uint32) [12]byte {
		var e [12]byte
		le.PutUint16(e[0:], tag)
		le.PutUint16(e[2:], typ)
		le.PutUint32(e[4:], count)
		le.PutUint32(e[8:], value)
		return e
	}
	if orientation != 0 {
		ifd0 = append(ifd0, entry(tagOrientation, 3, 1, uint32(orientation)))
	}
	ifd0End := 8 + 2 + 12*(len(ifd0)+1) + 4
	if !gps {
		ifd0End -= 12
	}
	if gps {
		ifd0 = append(ifd0, entry(tagGPSIFD, 4, 1, uint32(ifd0End)))
	}
	tiff := []byte("II*\x00\x08\x00\x00\x00")
	tiff = le.AppendUint16(tiff, uint16(len(ifd0)))
	for _, e := range ifd0 {
		tiff = append(tiff, e[:]...)
	}
	tiff = le.AppendUint32(tiff, 0)
	if gps {
		data := uint32(ifd0End + 2 + 2*12 + 4)
		tiff = le.AppendUint16(tiff, 2)
		ref := entry(1, 2, 2, 0)
		copy(ref[8:], "N\x00")
		lat := entry(tagGPSLatitude, 5, 3, data)
		tiff = append(tiff, ref[:]...)
		tiff = append(tiff, lat[:]...)
		tiff = le.AppendUint32(tiff, 0)
		for _, v := range []uint32{52, 1, 30, 1, 0, 1} {
			tiff = le.AppendUint32(tiff, v)
		}
	}
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xff, markerAPP1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(2+len(payload)))
	seg = append(seg, payload...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func writeFile(tb testing.TB, dir, name string, data []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// dirNames lists dir, to check what was left in it.
func dirNames(tb testing.TB, dir string) []string {
	es, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
