package media

import (
	"bufio"
	"encoding/binary"
	"io"
)

// JPEG markers (ITU T.81 table B.1) that the header walk looks at.
const (
	markerSOI  = 0xd8
	markerEOI  = 0xd9
	markerSOS  = 0xda
	markerAPP0 = 0xe0
	markerAPP1 = 0xe1
	markerAPP2 = 0xe2
	markerAPPE = 0xee // Adobe: says how the components are to be read
	markerAPPF = 0xef
	markerCOM  = 0xfe
)

// jpegHeader is what the segments before the first scan say beyond
// jpeg.DecodeConfig: the frame's components and coding, and EXIF.
type jpegHeader struct {
	orientation int
	gps         bool
	sof         bool // a SOF segment was read
	progressive bool
	comps       []sampling
}

type sampling struct{ h, v int }

// standalone reports whether a marker has no length field: TEM, RSTn,
// SOI, EOI.
func standalone(m byte) bool {
	return m == 0x01 || (m >= 0xd0 && m <= markerEOI)
}

// isSOF reports whether m starts a frame: SOF0 to SOF15 but DHT, JPG and
// DAC, which share the range.
func isSOF(m byte) bool {
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc
}

// segment is one marker segment: its marker, where it starts (at the 0xff)
// and its total length on disk, marker included.
type segment struct {
	marker byte
	start  int64
	length int64
}

// jpegSegments calls fn for each marker segment of the JPEG in r (size
// bytes), from after SOI up to and including the first SOS, and stops when
// fn returns false. It returns the offset just past the last segment
// visited. Like image/jpeg (and libjpeg), it skips fill bytes before a
// marker and any other bytes between segments.
func jpegSegments(r io.ReaderAt, size int64, fn func(segment) bool) (int64, error) {
	if size < 2 {
		return 0, errBadJPEG
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, 2, size-2), 4096)
	pos := int64(2)
	for {
		m, err := skipToMarker(br, &pos)
		if err != nil {
			return pos, err
		}
		s := segment{marker: m, start: pos - 2, length: 2}
		if !standalone(m) {
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return pos, errShortJPEG(err)
			}
			n := int64(binary.BigEndian.Uint16(b[:]))
			if n < 2 || s.start+2+n > size {
				return pos, errBadJPEG
			}
			s.length = 2 + n
			pos += 2
		}
		if m == markerSOI || m == markerEOI {
			return pos, errBadJPEG
		}
		if !fn(s) {
			return s.start + s.length, nil
		}
		if n := s.start + s.length - pos; n > 0 {
			if _, err := br.Discard(int(n)); err != nil {
				return pos, errShortJPEG(err)
			}
			pos += n
		}
		if m == markerSOS {
			return pos, nil
		}
	}
}

// skipToMarker reads up to and including the next marker outside
// entropy-coded data, skipping other bytes, "\xff\x00" and fill bytes, as
// image/jpeg does, and returns it. *pos counts the bytes read.
func skipToMarker(br *bufio.Reader, pos *int64) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, errShortJPEG(err)
		}
		*pos++
		if c != 0xff {
			continue
		}
		m, err := br.ReadByte()
		for err == nil && m == 0xff {
			*pos++
			m, err = br.ReadByte()
		}
		if err != nil {
			return 0, errShortJPEG(err)
		}
		*pos++
		if m != 0x00 {
			return m, nil
		}
	}
}

type jpegError string

func (e jpegError) Error() string { return string(e) }

const errBadJPEG = jpegError("media: broken JPEG segment structure")

func errShortJPEG(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// scanJPEG walks the segments before the first scan of the JPEG in r (a
// window that jpeg.DecodeConfig accepted) and reads the frame header and
// the first EXIF segment.
func scanJPEG(r *io.SectionReader) jpegHeader {
	var h jpegHeader
	exifSeen := false
	jpegSegments(r, r.Size(), func(s segment) bool {
		body := s.length - 4
		switch {
		case s.marker == markerAPP1 && !exifSeen && body >= 6:
			b := make([]byte, body)
			if _, err := r.ReadAt(b, s.start+4); err != nil || string(b[:6]) != "Exif\x00\x00" {
				return true
			}
			exifSeen = true
			h.orientation, h.gps = parseEXIF(b[6:])
		case isSOF(s.marker) && !h.sof && body >= 6:
			var b [6 + 3*4]byte
			n := min(body, int64(len(b)))
			if _, err := r.ReadAt(b[:n], s.start+4); err != nil {
				return false
			}
			nc := int(b[5])
			if nc < 1 || nc > 4 || int64(6+3*nc) > n {
				return false
			}
			h.sof = true
			h.progressive = s.marker == 0xc2 || s.marker == 0xc6 || s.marker == 0xca || s.marker == 0xce
			for i := range nc {
				f := b[6+3*i+1]
				h.comps = append(h.comps, sampling{int(f >> 4), int(f & 0x0f)})
			}
			return false // EXIF, if any, comes before the frame
		}
		return true
	})
	return h
}

// decodeBytes estimates the memory image/jpeg needs to decode a w×h
// picture with this frame header: the component planes (padded to whole
// MCUs), for four components the CMYK picture made from them, and for a
// progressive JPEG its coefficients (an int32 per sample) kept until the
// last scan. Without a frame header it assumes the worst: four
// progressive full-size components.
func (h jpegHeader) decodeBytes(w, hgt int) int64 {
	comps := h.comps
	progressive := h.progressive
	if !h.sof {
		comps = []sampling{{1, 1}, {1, 1}, {1, 1}, {1, 1}}
		progressive = true
	}
	if len(comps) == 1 {
		comps = []sampling{{1, 1}} // image/jpeg ignores a lone component's factors
	}
	hmax, vmax := 1, 1
	for _, c := range comps {
		hmax, vmax = max(hmax, c.h), max(vmax, c.v)
	}
	mcuW, mcuH := int64(8*hmax), int64(8*vmax)
	mxx := (int64(w) + mcuW - 1) / mcuW
	myy := (int64(hgt) + mcuH - 1) / mcuH
	var planes int64
	for _, c := range comps {
		planes += int64(8*max(c.h, 1)) * mxx * int64(8*max(c.v, 1)) * myy
	}
	total := planes
	if len(comps) == 4 {
		total += 4 * int64(w) * int64(hgt)
	}
	if progressive {
		total += 4 * planes
	}
	return total
}

// EXIF tags (TIFF 6.0 and EXIF 2.3) that matter here.
const (
	tagOrientation  = 0x0112
	tagGPSIFD       = 0x8825
	tagGPSLatitude  = 0x0002
	tagGPSLongitude = 0x0004
)

// parseEXIF reads the orientation and whether there is a GPS position from
// a TIFF structure (an APP1 EXIF segment after its "Exif\0\0"). It reads
// only IFD0 and the GPS IFD, and ignores what it cannot read.
func parseEXIF(b []byte) (orientation int, gps bool) {
	if len(b) < 8 {
		return 0, false
	}
	var bo binary.ByteOrder
	switch string(b[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0, false
	}
	// entries calls fn with the tag, type, count and value field of each
	// entry of the IFD at off.
	entries := func(off uint32, fn func(tag, typ uint16, count uint32, value []byte)) {
		if uint64(off)+2 > uint64(len(b)) {
			return
		}
		n := int(bo.Uint16(b[off:]))
		for i := range n {
			e := uint64(off) + 2 + 12*uint64(i)
			if e+12 > uint64(len(b)) {
				return
			}
			fn(bo.Uint16(b[e:]), bo.Uint16(b[e+2:]), bo.Uint32(b[e+4:]), b[e+8:e+12])
		}
	}
	var gpsIFD uint32
	entries(bo.Uint32(b[4:]), func(tag, typ uint16, count uint32, value []byte) {
		switch {
		case tag == tagOrientation && typ == 3 && count >= 1:
			if v := bo.Uint16(value); v >= 1 && v <= 8 {
				orientation = int(v)
			}
		case tag == tagGPSIFD && (typ == 4 || typ == 13) && count == 1:
			gpsIFD = bo.Uint32(value)
		}
	})
	if gpsIFD != 0 {
		entries(gpsIFD, func(tag, typ uint16, count uint32, value []byte) {
			if (tag == tagGPSLatitude || tag == tagGPSLongitude) && count > 0 {
				gps = true
			}
		})
	}
	return orientation, gps
}
