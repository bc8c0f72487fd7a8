package media

import (
	"image"
	"math"

	"golang.org/x/image/draw"
)

// The scaler. golang.org/x/image/draw's kernel scaler keeps a
// [4]float64 for every destination column of every source row: 4056×3040
// scaled to 2000×1500 needs 195 MB for that alone, three times the memory
// a Pi Zero photo may use. This scaler applies the same kernel
// (draw.CatmullRom, widened when shrinking so that every source pixel
// counts, with the same edge handling) in one pass down the picture: each
// source row is filtered horizontally once into a small ring of rows, and
// each destination row is filtered vertically from that ring, so beside
// the source and the destination it needs a few hundred KiB. It also turns
// the picture upright on the way out. It computes in integers (weights in
// fixed point), which a Pi Zero's ARM11 does faster than floating point.
// The tests hold its output to draw.CatmullRom.Scale's.

// kernel is the filter the scaler applies.
var kernel = draw.CatmullRom

// Fixed point: colour levels are 16-bit (0 to 0xffff, as color.Color's
// RGBA), horizontal weights in units of 1/2^hBits and vertical ones of
// 1/2^vBits. The weights of a pixel add up to 1 but their magnitudes to at
// most about 1.2 (the kernel's negative lobes), so the horizontal sums
// stay under 1.3·2^30 and the vertical ones under 2^29.
const (
	hBits = 14
	vBits = 12
)

// taps are, for each destination column (or row) i, the source columns
// first[i]… with the weights w[off[i]:off[i+1]], which add up to 1<<bits
// exactly.
type taps struct {
	first []int
	off   []int
	w     []int32
}

func (t *taps) span(i int) (first, n int) { return t.first[i], t.off[i+1] - t.off[i] }

// newTaps distributes sn source columns over dn destination columns as
// x/image/draw does: destination i is centred on source (i+0.5)·sn/dn−0.5,
// and the kernel is widened by sn/dn when shrinking. Taps outside the
// source are left out and the rest renormalised.
func newTaps(dn, sn, bits int) *taps {
	scale := float64(sn) / float64(dn)
	half, argScale := kernel.Support, 1.0
	if scale > 1 {
		half *= scale
		argScale = 1 / scale
	}
	t := &taps{first: make([]int, dn), off: make([]int, dn+1)}
	ws := make([]float64, 0, int(2*half)+2)
	for i := range dn {
		center := (float64(i)+0.5)*scale - 0.5
		lo := max(0, int(math.Floor(center-half)))
		hi := min(sn, int(math.Ceil(center+half)))
		ws = ws[:0]
		first, total := -1, 0.0
		for j := lo; j < hi; j++ {
			d := math.Abs(float64(j)-center) * argScale
			w := 0.0
			if d < kernel.Support {
				w = kernel.At(d)
			}
			if w == 0 && first < 0 {
				continue
			}
			if first < 0 {
				first = j
			}
			ws = append(ws, w)
			total += w
		}
		for len(ws) > 0 && ws[len(ws)-1] == 0 {
			ws = ws[:len(ws)-1]
		}
		if first < 0 || total == 0 {
			// No weight: take the nearest source pixel.
			first, ws, total = min(max(0, int(center+0.5)), sn-1), append(ws[:0], 1), 1
		}
		t.first[i] = first
		// Round each weight, and give what rounding lost to the largest,
		// so that a flat area stays exactly flat.
		sum, big := int32(0), len(t.w)
		for _, w := range ws {
			q := int32(math.Round(w / total * float64(int(1)<<bits)))
			t.w = append(t.w, q)
			sum += q
			if q > t.w[big] {
				big = len(t.w) - 1
			}
		}
		t.w[big] += int32(1)<<bits - sum
		t.off[i+1] = len(t.w)
	}
	return t
}

// resize draws src into dst (whose bounds start at 0,0), turned upright as
// EXIF orientation orient says (0 and 1: as stored) and scaled to fill it.
// dst holds premultiplied RGBA; where src is transparent so is dst.
func resize(dst *image.RGBA, src image.Image, orient int) {
	sb := src.Bounds()
	sw, sh := sb.Dx(), sb.Dy()
	dw, dh := dst.Rect.Dx(), dst.Rect.Dy()
	// Scale in stored orientation, to tw×th, and turn each pixel upright
	// as it is written.
	tw, th := dw, dh
	if orient >= 5 && orient <= 8 {
		tw, th = dh, dw
	}
	ht, vt := newTaps(tw, sw, hBits), newTaps(th, sh, vBits)

	// The ring holds horizontally filtered source rows, enough for the
	// vertical taps of any destination row.
	span := 1
	for y := range th {
		_, n := vt.span(y)
		span = max(span, n)
	}
	ring := make([][]int32, span)
	held := make([]int, span) // the source row in each slot
	for i := range ring {
		ring[i] = make([]int32, 4*tw)
		held[i] = -1
	}
	read := rowReader(src)
	line := make([]int32, 4*sw)
	acc := make([]int32, 4*tw)

	for y := range th {
		first, n := vt.span(y)
		for r := first; r < first+n; r++ {
			if held[r%span] == r {
				continue
			}
			read(sb.Min.Y+r, line)
			filterRow(ring[r%span], line, ht)
			held[r%span] = r
		}
		clear(acc)
		for k, w := range vt.w[vt.off[y]:vt.off[y+1]] {
			row := ring[(first+k)%span]
			for i, v := range row {
				acc[i] += w * v
			}
		}
		const half = 1 << (vBits - 1)
		for x := range tw {
			a := clamp16((acc[4*x+3] + half) >> vBits)
			r := to8(min(clamp16((acc[4*x]+half)>>vBits), a))
			g := to8(min(clamp16((acc[4*x+1]+half)>>vBits), a))
			b := to8(min(clamp16((acc[4*x+2]+half)>>vBits), a))
			dx, dy := upright(orient, x, y, tw, th)
			p := dst.Pix[dy*dst.Stride+4*dx : dy*dst.Stride+4*dx+4 : dy*dst.Stride+4*dx+4]
			p[0], p[1], p[2], p[3] = r, g, b, to8(a)
		}
	}
}

// filterRow filters one source row (premultiplied RGBA levels) into out.
func filterRow(out, in []int32, t *taps) {
	const shift, half = hBits, 1 << (hBits - 1)
	for x := range len(out) / 4 {
		var r, g, b, a int32
		j := 4 * t.first[x]
		for _, w := range t.w[t.off[x]:t.off[x+1]] {
			r += w * in[j]
			g += w * in[j+1]
			b += w * in[j+2]
			a += w * in[j+3]
			j += 4
		}
		out[4*x], out[4*x+1], out[4*x+2], out[4*x+3] = (r+half)>>shift, (g+half)>>shift, (b+half)>>shift, (a+half)>>shift
	}
}

func clamp16(v int32) int32 { return min(max(v, 0), 0xffff) }

// to8 rounds a 16-bit level to 8 bits.
func to8(v int32) uint8 { return uint8((v*255 + 0x7fff) / 0xffff) }

// upright maps pixel x,y of a w×h picture stored with EXIF orientation o
// to where it is seen when the picture is upright.
func upright(o, x, y, w, h int) (int, int) {
	switch o {
	case 2: // mirrored
		return w - 1 - x, y
	case 3: // upside down
		return w - 1 - x, h - 1 - y
	case 4: // mirrored upside down
		return x, h - 1 - y
	case 5: // mirrored, turned 90° anticlockwise
		return y, x
	case 6: // turned 90° anticlockwise: turn it clockwise
		return h - 1 - y, x
	case 7: // mirrored, turned 90° clockwise
		return h - 1 - y, w - 1 - x
	case 8: // turned 90° clockwise: turn it anticlockwise
		return y, w - 1 - x
	}
	return x, y
}

// rowReader returns a function that reads row y of src into out as
// premultiplied 16-bit RGBA levels, with fast paths for the pictures the
// standard decoders return.
func rowReader(src image.Image) func(y int, out []int32) {
	b := src.Bounds()
	switch m := src.(type) {
	case *image.YCbCr:
		return yCbCrRow(m, nil, 0)
	case *image.NYCbCrA:
		return yCbCrRow(&m.YCbCr, m.A, m.AStride)
	case *image.Gray:
		return func(y int, out []int32) {
			row := m.Pix[(y-b.Min.Y)*m.Stride:]
			for x := range b.Dx() {
				v := int32(row[x]) * 0x101
				out[4*x], out[4*x+1], out[4*x+2], out[4*x+3] = v, v, v, 0xffff
			}
		}
	case *image.RGBA:
		return func(y int, out []int32) {
			row := m.Pix[(y-b.Min.Y)*m.Stride:]
			for i := range 4 * b.Dx() {
				out[i] = int32(row[i]) * 0x101
			}
		}
	case *image.NRGBA:
		return func(y int, out []int32) {
			row := m.Pix[(y-b.Min.Y)*m.Stride:]
			for x := range b.Dx() {
				p := row[4*x : 4*x+4 : 4*x+4]
				a := int32(p[3])
				out[4*x], out[4*x+1], out[4*x+2], out[4*x+3] = premul(int32(p[0])*0x101, a), premul(int32(p[1])*0x101, a), premul(int32(p[2])*0x101, a), a*0x101
			}
		}
	case *image.Paletted:
		var pal [256][4]int32
		for i, c := range m.Palette {
			r, g, bl, a := c.RGBA()
			pal[i] = [4]int32{int32(r), int32(g), int32(bl), int32(a)}
		}
		return func(y int, out []int32) {
			row := m.Pix[(y-b.Min.Y)*m.Stride:]
			for x := range b.Dx() {
				copy(out[4*x:4*x+4], pal[row[x]][:])
			}
		}
	}
	return func(y int, out []int32) {
		for x := range b.Dx() {
			r, g, bl, a := src.At(b.Min.X+x, y).RGBA()
			out[4*x], out[4*x+1], out[4*x+2], out[4*x+3] = int32(r), int32(g), int32(bl), int32(a)
		}
	}
}

// premul multiplies a 16-bit level by an 8-bit alpha, rounding.
func premul(c, a int32) int32 { return (c*a + 127) / 255 }

// yCbCrRow reads rows of a YCbCr picture (with an alpha plane when alpha
// is not nil), converting as color.YCbCr's RGBA method does.
func yCbCrRow(m *image.YCbCr, alpha []byte, aStride int) func(y int, out []int32) {
	b := m.Rect
	hdiv, vdiv := 1, 1
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hdiv = 2
	case image.YCbCrSubsampleRatio420:
		hdiv, vdiv = 2, 2
	case image.YCbCrSubsampleRatio440:
		vdiv = 2
	case image.YCbCrSubsampleRatio411:
		hdiv = 4
	case image.YCbCrSubsampleRatio410:
		hdiv, vdiv = 4, 2
	}
	return func(y int, out []int32) {
		yrow := m.Y[(y-b.Min.Y)*m.YStride:]
		crow := (y/vdiv - b.Min.Y/vdiv) * m.CStride
		cx0 := b.Min.X / hdiv
		for x := range b.Dx() {
			ci := crow + (b.Min.X+x)/hdiv - cx0
			// JFIF's conversion in 16.16 fixed point, as color.YCbCr.RGBA.
			yy := int32(yrow[x]) * 0x10101
			cb := int32(m.Cb[ci]) - 128
			cr := int32(m.Cr[ci]) - 128
			out[4*x] = level16(yy + 91881*cr)
			out[4*x+1] = level16(yy - 22554*cb - 46802*cr)
			out[4*x+2] = level16(yy + 116130*cb)
			out[4*x+3] = 0xffff
		}
		if alpha != nil {
			arow := alpha[(y-b.Min.Y)*aStride:]
			for x := range b.Dx() {
				a := int32(arow[x])
				out[4*x] = premul(out[4*x], a)
				out[4*x+1] = premul(out[4*x+1], a)
				out[4*x+2] = premul(out[4*x+2], a)
				out[4*x+3] = a * 0x101
			}
		}
	}
}

// level16 turns a 16.16 fixed-point level into a 16-bit one, clamped as
// color.YCbCr's RGBA method does.
func level16(v int32) int32 {
	if uint32(v)&0xff000000 == 0 {
		return v >> 8
	}
	return ^(v >> 31) & 0xffff
}

// flattenWhite lays a premultiplied picture over white, for a format
// without transparency.
func flattenWhite(m *image.RGBA) {
	for i := 0; i+3 < len(m.Pix); i += 4 {
		if a := m.Pix[i+3]; a != 255 {
			m.Pix[i] += 255 - a
			m.Pix[i+1] += 255 - a
			m.Pix[i+2] += 255 - a
			m.Pix[i+3] = 255
		}
	}
}

// opaque reports whether every pixel of m is opaque.
func opaque(m image.Image) bool {
	if o, ok := m.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}
