package chart

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"
)

// The Go fonts: sans-serif, made for legibility at small sizes, with the
// degree sign and the other units' characters; BSD-licensed like Go.
var fonts = sync.OnceValues(func() ([2]*sfnt.Font, error) {
	reg, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return [2]*sfnt.Font{}, err
	}
	bold, err := opentype.Parse(gobold.TTF)
	return [2]*sfnt.Font{reg, bold}, err
})

// canvas draws on an RGBA image: text with the Go fonts, anti-aliased
// lines and dots with a vector rasterizer.
type canvas struct {
	img   *image.RGBA
	fonts [2]*sfnt.Font
	r     vector.Rasterizer
}

func newCanvas(w, h int) (*canvas, error) {
	f, err := fonts()
	if err != nil {
		return nil, fmt.Errorf("chart: the built-in font: %w", err)
	}
	c := &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h)), fonts: f}
	draw.Draw(c.img, c.img.Bounds(), image.White, image.Point{}, draw.Src)
	return c, nil
}

// face returns the regular or bold face at size pixels.
func (c *canvas) face(size float64, bold bool) (font.Face, error) {
	i := 0
	if bold {
		i = 1
	}
	f, err := opentype.NewFace(c.fonts[i], &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("chart: a %.0f px face: %w", size, err)
	}
	return f, nil
}

// textWidth is the advance of s in pixels.
func textWidth(f font.Face, s string) int { return font.MeasureString(f, s).Ceil() }

// ascent is how far f's capitals rise above the baseline, in pixels.
func ascent(f font.Face) int { return f.Metrics().CapHeight.Ceil() }

// text draws s with its baseline's left end at (x, y).
func (c *canvas) text(f font.Face, x, y int, s string, col color.Color) {
	d := font.Drawer{Dst: c.img, Src: image.NewUniform(col), Face: f, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// haloText draws s with a white outline, readable over lines and grid.
func (c *canvas) haloText(f font.Face, x, y int, s string, col color.Color, halo int) {
	for dy := -halo; dy <= halo; dy++ {
		for dx := -halo; dx <= halo; dx++ {
			if dx*dx+dy*dy <= halo*halo+1 && (dx != 0 || dy != 0) {
				c.text(f, x+dx, y+dy, s, color.White)
			}
		}
	}
	c.text(f, x, y, s, col)
}

// fill fills r with col.
func (c *canvas) fill(r image.Rectangle, col color.Color) {
	draw.Draw(c.img, r, image.NewUniform(col), image.Point{}, draw.Over)
}

// point is a position in pixels, relative to a plot's top left corner.
type point struct{ x, y float32 }

// polylines strokes each run of points as a line of width w within the
// rectangle area, with a dot for a run of one point.
func (c *canvas) polylines(area image.Rectangle, runs [][]point, w float32, col color.Color) {
	c.r.Reset(area.Dx(), area.Dy())
	h := w / 2
	for _, run := range runs {
		if len(run) == 1 {
			c.disc(run[0], w*0.9)
			continue
		}
		for i := 1; i < len(run); i++ {
			a, b := run[i-1], run[i]
			dx, dy := b.x-a.x, b.y-a.y
			l := float32(math.Hypot(float64(dx), float64(dy)))
			if l == 0 {
				continue
			}
			nx, ny := -dy/l*h, dx/l*h
			// Every shape is wound the same way, so where they overlap
			// the rasterizer adds them up instead of cutting holes.
			c.r.MoveTo(a.x+nx, a.y+ny)
			c.r.LineTo(b.x+nx, b.y+ny)
			c.r.LineTo(b.x-nx, b.y-ny)
			c.r.LineTo(a.x-nx, a.y-ny)
			c.r.ClosePath()
		}
		// Round joins and ends.
		for _, p := range run {
			c.disc(p, h)
		}
	}
	c.r.Draw(c.img, area, image.NewUniform(col), image.Point{})
}

// disc adds a filled circle of radius r at p to the rasterizer, wound as
// polylines winds its segments.
func (c *canvas) disc(p point, r float32) {
	const n = 12
	for i := range n + 1 {
		a := -2 * math.Pi * float64(i) / n
		x, y := p.x+r*float32(math.Cos(a)), p.y+r*float32(math.Sin(a))
		if i == 0 {
			c.r.MoveTo(x, y)
		} else {
			c.r.LineTo(x, y)
		}
	}
	c.r.ClosePath()
}

// dot draws a filled circle with a white ring at p in area, rasterizing
// only the square around it.
func (c *canvas) dot(area image.Rectangle, p point, r float32, col color.Color) {
	ring := r + 2
	x0, y0 := int(math.Floor(float64(p.x-ring)))-1, int(math.Floor(float64(p.y-ring)))-1
	box := image.Rect(x0, y0, x0+int(2*ring)+3, y0+int(2*ring)+3).Add(area.Min).Intersect(area)
	if box.Empty() {
		return
	}
	local := point{p.x - float32(box.Min.X-area.Min.X), p.y - float32(box.Min.Y-area.Min.Y)}
	for _, d := range []struct {
		r   float32
		col color.Color
	}{{ring, color.White}, {r, col}} {
		c.r.Reset(box.Dx(), box.Dy())
		c.disc(local, d.r)
		c.r.Draw(c.img, box, image.NewUniform(d.col), image.Point{})
	}
}
