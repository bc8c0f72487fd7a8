package fakehw

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"sync"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Camera is the simulated board's camera: each photo is the next frame of
// a test card (colour bars, a grey ramp, the frame number and the time),
// as a JPEG, so everything downstream of a camera (size checks, scaling,
// upload) runs on a real picture.
//
// A photo command runs as a process of its own. To use the test card as
// one without a shell, a program writes TestCard's bytes to its standard
// output, for example pitweet itself under a hidden subcommand, given as
// the button's command in fake mode: photo = [<pitweet>, "fake-camera"].
type Camera struct {
	// Clock gives the time printed on the card; nil: the system clock.
	Clock interface{ Now() time.Time }
	// Width and Height are the card's size; 0: 1280×720.
	Width, Height int

	mu     sync.Mutex
	frames int
}

// Photo returns the next frame as a JPEG.
func (c *Camera) Photo() ([]byte, error) {
	c.mu.Lock()
	c.frames++
	frame := c.frames
	c.mu.Unlock()
	now := time.Now()
	if c.Clock != nil {
		now = c.Clock.Now()
	}
	return TestCard(c.Width, c.Height, frame, now)
}

// Frames returns how many photos were taken.
func (c *Camera) Frames() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames
}

// bars are the test card's colour bars, left to right: white, yellow,
// cyan, green, magenta, red, blue, at 75 % as in the EBU and SMPTE bars.
var bars = [...]color.RGBA{
	{191, 191, 191, 255}, {191, 191, 0, 255}, {0, 191, 191, 255}, {0, 191, 0, 255},
	{191, 0, 191, 255}, {191, 0, 0, 255}, {0, 0, 191, 255},
}

// TestCard draws frame number frame at time t as a w×h JPEG (0×0: 1280×720):
// 75 % colour bars (white, yellow, cyan, green, magenta, red, blue) over
// the top 60 %, a grey ramp from black to white
// under them, and a black band at the bottom with "FRAME n" and the time
// in UTC.
func TestCard(w, h, frame int, t time.Time) ([]byte, error) {
	if w == 0 && h == 0 {
		w, h = 1280, 720
	}
	if w < 64 || h < 48 || w > 8192 || h > 8192 {
		return nil, fmt.Errorf("fakehw: a test card of %d×%d pixels is outside 64×48 to 8192×8192", w, h)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	barsEnd, rampEnd := h*60/100, h*75/100
	for i, c := range bars {
		r := image.Rect(i*w/len(bars), 0, (i+1)*w/len(bars), barsEnd)
		draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
	}
	for x := range w {
		v := uint8(x * 255 / (w - 1))
		for y := barsEnd; y < rampEnd; y++ {
			img.SetRGBA(x, y, color.RGBA{v, v, v, 255})
		}
	}
	draw.Draw(img, image.Rect(0, rampEnd, w, h), image.Black, image.Point{}, draw.Src)

	// The text, in a 7×13 bitmap font, drawn small and enlarged pixel by
	// pixel.
	lines := []string{fmt.Sprintf("FRAME %06d", frame), t.UTC().Format("2006-01-02 15:04:05 UTC")}
	const lineH = 13
	small := image.NewRGBA(image.Rect(0, 0, 7*len(lines[1]), lineH*len(lines)))
	d := font.Drawer{Dst: small, Src: image.White, Face: basicfont.Face7x13}
	for i, s := range lines {
		d.Dot = fixed.P(0, lineH*i+basicfont.Face7x13.Ascent)
		d.DrawString(s)
	}
	band := image.Rect(0, rampEnd, w, h).Inset(h / 60)
	scale := max(1, min(band.Dx()/small.Rect.Dx(), band.Dy()/small.Rect.Dy()))
	tr := image.Rect(0, 0, small.Rect.Dx()*scale, small.Rect.Dy()*scale)
	tr = tr.Add(image.Pt(band.Min.X+(band.Dx()-tr.Dx())/2, band.Min.Y+(band.Dy()-tr.Dy())/2))
	for y := range tr.Dy() {
		for x := range tr.Dx() {
			if small.Pix[(y/scale)*small.Stride+4*(x/scale)+3] != 0 {
				img.SetRGBA(tr.Min.X+x, tr.Min.Y+y, color.RGBA{255, 255, 255, 255})
			}
		}
	}

	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		return nil, fmt.Errorf("fakehw: encoding the test card: %w", err)
	}
	return b.Bytes(), nil
}
