package media

import (
	"image"
	"image/color"
	"testing"

	"golang.org/x/image/draw"
)

// The scaler gives what draw.CatmullRom.Scale gives (the oracle), to a
// level or two of rounding, for every kind of picture the decoders
// return, shrinking and enlarging.
func TestResizeMatchesXImageDraw(t *testing.T) {
	p := photo(203, 151, 11)
	rgba := image.NewRGBA(image.Rect(0, 0, 203, 151))
	nrgba := image.NewNRGBA(image.Rect(0, 0, 203, 151))
	gray := image.NewGray(image.Rect(0, 0, 203, 151))
	pal := image.NewPaletted(image.Rect(0, 0, 203, 151), color.Palette{color.Black, color.White, color.RGBA{200, 30, 30, 255}, color.Transparent})
	nycc := &image.NYCbCrA{YCbCr: *p, A: make([]byte, 203*151), AStride: 203}
	for y := range 151 {
		for x := range 203 {
			c := color.NRGBAModel.Convert(p.At(x, y)).(color.NRGBA)
			a := uint8((x * 255 / 202) ^ (y & 0x1f))
			nrgba.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, a})
			rgba.Set(x, y, color.NRGBA{c.G, c.B, c.R, a})
			gray.SetGray(x, y, color.Gray{c.G})
			pal.SetColorIndex(x, y, uint8((x/7+y/5)%4))
			nycc.A[y*203+x] = a
		}
	}
	// A picture that is a window onto a larger one.
	sub := photo(260, 200, 12).SubImage(image.Rect(31, 17, 234, 168))

	for _, src := range []struct {
		name string
		m    image.Image
	}{
		{"YCbCr 4:2:0", p}, {"RGBA", rgba}, {"NRGBA", nrgba}, {"Gray", gray}, {"Paletted", pal},
		{"NYCbCrA", nycc}, {"YCbCr sub-image", sub}, {"CMYK (generic)", cmyk(p)},
	} {
		for _, size := range []image.Point{{97, 71}, {203, 151}, {40, 149}, {290, 160}, {1, 1}} {
			got := image.NewRGBA(image.Rect(0, 0, size.X, size.Y))
			resize(got, src.m, 1)
			want := image.NewRGBA(got.Rect)
			draw.CatmullRom.Scale(want, want.Rect, src.m, src.m.Bounds(), draw.Src, nil)
			worst, at := 0, 0
			for i := range got.Pix {
				d := int(got.Pix[i]) - int(want.Pix[i])
				if d < 0 {
					d = -d
				}
				if d > worst {
					worst, at = d, i
				}
			}
			if worst > 1 {
				t.Errorf("%s to %v: differs from draw.CatmullRom by %d at byte %d (%d, want %d)", src.name, size, worst, at, got.Pix[at], want.Pix[at])
			}
		}
	}
}

func cmyk(m image.Image) *image.CMYK {
	c := image.NewCMYK(m.Bounds())
	for y := m.Bounds().Min.Y; y < m.Bounds().Max.Y; y++ {
		for x := m.Bounds().Min.X; x < m.Bounds().Max.X; x++ {
			c.Set(x, y, m.At(x, y))
		}
	}
	return c
}

// Turning upright composes with scaling: each orientation, scaled, is the
// upright picture scaled.
func TestResizeTurnsUpright(t *testing.T) {
	up := image.NewRGBA(image.Rect(0, 0, 90, 60))
	for i := range up.Pix {
		up.Pix[i] = uint8(i * 7 % 251)
		if i%4 == 3 {
			up.Pix[i] = 255
		}
	}
	want := image.NewRGBA(image.Rect(0, 0, 45, 30))
	resize(want, up, 1)
	for o := 2; o <= 8; o++ {
		w, h := 90, 60
		if o >= 5 {
			w, h = 60, 90
		}
		stored := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				ux, uy := seenAt(o, x, y, w, h)
				stored.Set(x, y, up.At(ux, uy))
			}
		}
		got := image.NewRGBA(want.Rect)
		resize(got, stored, o)
		for i := range got.Pix {
			if d := int(got.Pix[i]) - int(want.Pix[i]); d > 1 || d < -1 {
				t.Errorf("orientation %d: byte %d is %d, want %d", o, i, got.Pix[i], want.Pix[i])
				break
			}
		}
	}
}
