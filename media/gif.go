package media

import (
	"bufio"
	"errors"
	"io"
)

// errNotGIF: the GIF block structure is broken.
var errNotGIF = errors.New("media: broken GIF block structure")

// gifAnimated reports whether the GIF in r has more than one frame. It
// walks the block structure (ignoring the image data), so it reads the
// file through but keeps only a small buffer.
func gifAnimated(r io.Reader) (bool, error) {
	br := bufio.NewReaderSize(r, 16<<10)
	var hdr [13]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return false, errNotGIF
	}
	if hdr[10]&0x80 != 0 { // global colour table
		if _, err := br.Discard(3 << (hdr[10]&7 + 1)); err != nil {
			return false, errNotGIF
		}
	}
	frames := 0
	for {
		c, err := br.ReadByte()
		if err != nil {
			return false, errNotGIF
		}
		switch c {
		case 0x21: // extension: label, then sub-blocks
			if _, err := br.Discard(1); err != nil {
				return false, errNotGIF
			}
		case 0x2c: // image descriptor
			frames++
			if frames > 1 {
				return true, nil
			}
			var d [9]byte
			if _, err := io.ReadFull(br, d[:]); err != nil {
				return false, errNotGIF
			}
			if d[8]&0x80 != 0 { // local colour table
				if _, err := br.Discard(3 << (d[8]&7 + 1)); err != nil {
					return false, errNotGIF
				}
			}
			if _, err := br.Discard(1); err != nil { // LZW minimum code size
				return false, errNotGIF
			}
		case 0x3b: // trailer
			return false, nil
		default:
			return false, errNotGIF
		}
		if err := skipSubBlocks(br); err != nil {
			return false, err
		}
	}
}

// skipSubBlocks skips data sub-blocks up to and including the terminator.
func skipSubBlocks(br *bufio.Reader) error {
	for {
		n, err := br.ReadByte()
		if err != nil {
			return errNotGIF
		}
		if n == 0 {
			return nil
		}
		if _, err := br.Discard(int(n)); err != nil {
			return errNotGIF
		}
	}
}
