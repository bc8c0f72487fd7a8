package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
)

// stripJPEG copies the JPEG in r (size bytes) to w without its metadata:
// before the first scan, where cameras and phones write it, every APPn
// segment goes but JFIF (APP0), the ICC colour profile (APP2
// "ICC_PROFILE") and Adobe's (APP14, which says how to read the
// components), and every comment, so EXIF (with its GPS position and
// thumbnail), XMP and IPTC go. The frame and its tables are copied as they
// are, and from the first scan up to the end-of-image marker everything is
// copied byte for byte, so the picture is the same. Anything after the end
// of the image (such as a phone's second picture, with its own EXIF) is
// left out. It reads and writes in a stream.
func stripJPEG(w io.Writer, r io.ReaderAt, size int64) error {
	var soi [2]byte
	if _, err := r.ReadAt(soi[:], 0); err != nil || soi != [2]byte{0xff, markerSOI} {
		return errBadJPEG
	}
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.Write(soi[:])
	sos := int64(-1)
	var werr error
	_, err := jpegSegments(r, size, func(s segment) bool {
		if s.marker == markerSOS {
			sos = s.start
			return false
		}
		if standalone(s.marker) {
			return true // a stray RSTn: image/jpeg ignores it too
		}
		var head [12]byte
		n, _ := r.ReadAt(head[:min(s.length-4, int64(len(head)))], s.start+4)
		if dropSegment(s.marker, head[:n]) {
			return true
		}
		_, werr = io.Copy(bw, io.NewSectionReader(r, s.start, s.length))
		return werr == nil
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if sos < 0 {
		return errBadJPEG
	}
	end, err := findEOI(r, sos, size)
	if err != nil {
		return err
	}
	if _, err := io.Copy(bw, io.NewSectionReader(r, sos, end-sos)); err != nil {
		return err
	}
	return bw.Flush()
}

// findEOI returns the offset just past the end-of-image marker of the JPEG
// in r, looking from the segment at from on: it skips segments by their
// length and entropy-coded data up to the next marker, as image/jpeg reads
// them.
func findEOI(r io.ReaderAt, from, size int64) (int64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, from, size-from), 32<<10)
	pos := from
	for {
		m, err := skipToMarker(br, &pos)
		if err != nil {
			return 0, err
		}
		switch {
		case m == markerEOI:
			return pos, nil
		case standalone(m):
			continue // RSTn between the intervals of a scan
		}
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, errShortJPEG(err)
		}
		n := int64(binary.BigEndian.Uint16(b[:])) - 2
		if n < 0 {
			return 0, errBadJPEG
		}
		if _, err := br.Discard(int(n)); err != nil {
			return 0, errShortJPEG(err)
		}
		pos += 2 + n
	}
}

// dropSegment reports whether a segment is metadata to leave out, given
// the first bytes of its contents.
func dropSegment(m byte, head []byte) bool {
	switch {
	case m == markerCOM:
		return true
	case m < markerAPP0 || m > markerAPPF:
		return false
	case m == markerAPP0 || m == markerAPPE:
		return false
	case m == markerAPP2:
		return !bytes.HasPrefix(head, []byte("ICC_PROFILE\x00"))
	}
	return true
}
