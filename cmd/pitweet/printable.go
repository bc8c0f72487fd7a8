package main

import (
	"io"
	"sync"
	"unicode/utf8"

	"pitweet/daemon"
)

// printableWriter passes what pitweet writes to its terminal (or to the
// journal, under systemd) through daemon.AppendPrintable, keeping line
// ends and tabs: whatever a server, a sensor or a file said is shown as
// text, never acted on as a control sequence. JSON output stays JSON: the
// escapes are JSON's own. Output that is not text (an image, say) goes to
// binaryOutput instead.
type printableWriter struct {
	mu   sync.Mutex
	w    io.Writer
	tail []byte // an incomplete UTF-8 sequence that the next Write may end
	buf  []byte
}

func newPrintableWriter(w io.Writer) *printableWriter { return &printableWriter{w: w} }

func (p *printableWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	data := b
	if len(p.tail) > 0 {
		data = append(p.tail, b...)
		p.tail = nil
	}
	cut := incompleteRune(data)
	p.buf = daemon.AppendPrintable(p.buf[:0], data[:len(data)-cut], true)
	p.tail = append([]byte(nil), data[len(data)-cut:]...)
	if _, err := p.w.Write(p.buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

// binaryOutput is where output that is not text goes (a PNG on stdout):
// the writer under w, after what w holds back, when w is a printableWriter.
func binaryOutput(w io.Writer) io.Writer {
	p, ok := w.(*printableWriter)
	if !ok {
		return w
	}
	p.Flush()
	return p.w
}

// Flush writes an incomplete UTF-8 sequence held back from the last Write,
// escaped.
func (p *printableWriter) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == 0 {
		return nil
	}
	p.buf = daemon.AppendPrintable(p.buf[:0], p.tail, true)
	p.tail = nil
	_, err := p.w.Write(p.buf)
	return err
}

// incompleteRune is the length of the UTF-8 sequence that b ends in the
// middle of, or 0.
func incompleteRune(b []byte) int {
	for i := len(b) - 1; i >= 0 && i > len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return 0
			}
			return len(b) - i
		}
	}
	return 0
}
