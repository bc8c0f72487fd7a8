package chart

import (
	"cmp"
	"image"
	"image/color"
	"slices"
)

// paletted converts a chart to at most 256 colours, for a PNG a third the
// size that is faster to compress. A chart has a few hundred colours, most
// of them in the anti-aliased edges of lines and glyphs: the 256 most used
// are kept exactly and each rarer edge colour takes the nearest of them.
func paletted(img *image.RGBA) *image.Paletted {
	const white = 0xFFFFFF
	b := img.Bounds()
	counts := map[uint32]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]
		for i := 0; i < len(row); i += 4 {
			c := uint32(row[i])<<16 | uint32(row[i+1])<<8 | uint32(row[i+2])
			if c != white {
				counts[c]++
			}
		}
	}
	used := make([]uint32, 0, len(counts))
	for c := range counts {
		used = append(used, c)
	}
	slices.SortFunc(used, func(a, b uint32) int {
		if n := cmp.Compare(counts[b], counts[a]); n != 0 {
			return n
		}
		return cmp.Compare(a, b)
	})
	keep := used[:min(len(used), 255)]
	pal := color.Palette{color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}}
	index := make(map[uint32]uint8, len(used))
	for i, c := range keep {
		pal = append(pal, rgb(c))
		index[c] = uint8(i + 1)
	}
	for _, c := range used[len(keep):] {
		index[c] = nearest(c, keep)
	}
	out := image.NewPaletted(b, pal)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]
		dst := out.Pix[out.PixOffset(b.Min.X, y):]
		for i, j := 0, 0; i < len(row); i, j = i+4, j+1 {
			c := uint32(row[i])<<16 | uint32(row[i+1])<<8 | uint32(row[i+2])
			if c != white {
				dst[j] = index[c]
			}
		}
	}
	return out
}

func rgb(c uint32) color.RGBA { return color.RGBA{uint8(c >> 16), uint8(c >> 8), uint8(c), 0xFF} }

// nearest is the palette index (1-based, after white) of the colour in
// keep closest to c; white when that is closer.
func nearest(c uint32, keep []uint32) uint8 {
	dist := func(a, b uint32) int {
		dr := int(a>>16&0xFF) - int(b>>16&0xFF)
		dg := int(a>>8&0xFF) - int(b>>8&0xFF)
		db := int(a&0xFF) - int(b&0xFF)
		return 2*dr*dr + 4*dg*dg + 3*db*db
	}
	best, bestD := uint8(0), dist(c, 0xFFFFFF)
	for i, k := range keep {
		if d := dist(c, k); d < bestD {
			best, bestD = uint8(i+1), d
		}
	}
	return best
}
