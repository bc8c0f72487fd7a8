// Package sdlog writes pitweet's log as text lines on stderr and, when
// stderr is systemd's journal, gives each line its priority, so that
// `journalctl -u pitweet -p warning` shows the warnings and errors and
// nothing else.
//
// The priority travels as the sd-daemon(3) prefix ("<4>" for a warning)
// at the start of each line on the same stderr stream: journald reads the
// prefix and stores the rest of the line as the message. Everything stays
// on one stream, in order, with whatever else the process writes there.
package sdlog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
)

// Priorities as syslog(3) numbers them, the ones pitweet's levels map to.
const (
	Err     = 3
	Warning = 4
	Info    = 6
	Debug   = 7
)

// Priority is the syslog priority of a slog level: Error and above are
// errors, Warn up to Error warnings, Info up to Warn informational, below
// Info debug.
func Priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return Err
	case l >= slog.LevelWarn:
		return Warning
	case l >= slog.LevelInfo:
		return Info
	}
	return Debug
}

// StderrIsJournal reports whether stderr is a stream to the journal: systemd
// set JOURNAL_STREAM to stderr's device and inode. A malformed
// JOURNAL_STREAM counts as no (the log is then plain text).
func StderrIsJournal() bool {
	ok, err := journal.StderrIsJournalStream()
	return ok && err == nil
}

// NewHandler returns a handler that writes slog's text format to w, one
// line per record. With journal false that is exactly slog.NewTextHandler.
// With journal true each line starts with the record's priority prefix;
// a record is one line (the text format quotes newlines in messages and
// values), and should a record ever span lines, every line gets the prefix,
// so none of it loses its priority.
func NewHandler(w io.Writer, journal bool, opts *slog.HandlerOptions) slog.Handler {
	if !journal {
		return slog.NewTextHandler(w, opts)
	}
	out := &output{w: w}
	return &handler{text: slog.NewTextHandler(&out.buf, opts), out: out}
}

// handler formats a record with the text handler into the shared buffer,
// then writes it to w with the prefix on each line, in one write.
type handler struct {
	text slog.Handler
	out  *output
}

// output is shared by a handler and those derived from it (WithAttrs,
// WithGroup), so that records from all of them are written whole.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   io.Writer
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.text.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	line, _ := appendPrefixed(nil, prefix(Priority(r.Level)), h.out.buf.Bytes(), false)
	_, err := h.out.w.Write(line)
	return err
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{text: h.text.WithAttrs(attrs), out: h.out}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{text: h.text.WithGroup(name), out: h.out}
}

// PrefixLines returns a writer that starts every line written to w with
// the prefix of priority prio, for text that is not a log record (the one
// line a failing command prints).
func PrefixLines(w io.Writer, prio int) io.Writer {
	return &prefixWriter{w: w, prefix: prefix(prio)}
}

type prefixWriter struct {
	w      io.Writer
	prefix string
	mid    bool // the last write ended inside a line
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out []byte
	out, p.mid = appendPrefixed(out, p.prefix, b, p.mid)
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// prefix is the sd-daemon(3) prefix of priority prio: "<4>".
func prefix(prio int) string { return "<" + strconv.Itoa(prio) + ">" }

// appendPrefixed appends b to dst with prefix at the start of each line;
// mid says dst already ends inside a line. It returns whether the result
// ends inside a line.
func appendPrefixed(dst []byte, prefix string, b []byte, mid bool) ([]byte, bool) {
	for len(b) > 0 {
		if !mid {
			dst = append(dst, prefix...)
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return append(dst, b...), true
		}
		dst = append(dst, b[:i+1]...)
		b = b[i+1:]
		mid = false
	}
	return dst, mid
}
