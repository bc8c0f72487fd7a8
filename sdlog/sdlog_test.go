package sdlog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// noTime drops the time attribute, so outputs compare exactly.
var noTime = &slog.HandlerOptions{
	Level: slog.LevelDebug - 4,
	ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	},
}

// logEvery logs one record at each level through a handler made by mk and
// returns what it wrote.
func logEvery(mk func(*bytes.Buffer) slog.Handler) string {
	var buf bytes.Buffer
	ctx := context.Background()
	log := slog.New(mk(&buf))
	log.Log(ctx, slog.LevelDebug-2, "trace", "n", 1)
	log.Debug("debug")
	log.Info("daemon: started", "config", "/etc/pitweet/pitweet.toml")
	log.Log(ctx, slog.LevelInfo+2, "notice")
	log.Warn("daemon: sensor read failed; keeping its last reading", "sensor", "room", "err", errors.New("hw: bme280: timeout"))
	log.Log(ctx, slog.LevelWarn+2, "between")
	log.Error("daemon: reload refused; keeping the running config", "err", errors.New("a.toml:1: x\na.toml:2: y"))
	log.Log(ctx, slog.LevelError+4, "worse")
	log.With("button", "doorbell").WithGroup("press").Error("grouped", "long", true)
	return buf.String()
}

func TestJournalPrefixes(t *testing.T) {
	plain := logEvery(func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, noTime) })
	journal := logEvery(func(b *bytes.Buffer) slog.Handler { return NewHandler(b, true, noTime) })

	wantPrio := []string{"<7>", "<7>", "<6>", "<6>", "<4>", "<4>", "<3>", "<3>", "<3>"}
	plainLines := strings.SplitAfter(plain, "\n")
	journalLines := strings.SplitAfter(journal, "\n")
	// One line per record, each ending in a newline, so the last split is "".
	if len(journalLines) != len(wantPrio)+1 || journalLines[len(wantPrio)] != "" {
		t.Fatalf("journal output is not one line per record:\n%s", journal)
	}
	for i, p := range wantPrio {
		if journalLines[i] != p+plainLines[i] {
			t.Errorf("line %d = %q, want %q", i+1, journalLines[i], p+plainLines[i])
		}
	}
	// The error whose text has two lines stays one record on one line,
	// with its priority.
	if want := "<3>level=ERROR msg=\"daemon: reload refused; keeping the running config\" err=\"a.toml:1: x\\na.toml:2: y\"\n"; journalLines[6] != want {
		t.Errorf("two-line error logged as %q, want %q", journalLines[6], want)
	}
	if want := "<3>level=ERROR msg=grouped button=doorbell press.long=true\n"; journalLines[8] != want {
		t.Errorf("record with attrs and a group logged as %q, want %q", journalLines[8], want)
	}
}

func TestPlainIsTextHandler(t *testing.T) {
	plain := logEvery(func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, noTime) })
	got := logEvery(func(b *bytes.Buffer) slog.Handler { return NewHandler(b, false, noTime) })
	if got != plain {
		t.Fatalf("not the journal, the output is\n%s\nwant slog's text format:\n%s", got, plain)
	}
	if strings.Contains(got, "<") {
		t.Fatalf("plain output has a priority prefix:\n%s", got)
	}
}

func TestLevelFilter(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(&buf, true, &slog.HandlerOptions{Level: slog.LevelWarn}))
	log.Info("quiet")
	log.Warn("loud")
	if got := buf.String(); !strings.HasPrefix(got, "<4>time=") || strings.Contains(got, "quiet") || strings.Count(got, "\n") != 1 {
		t.Fatalf("with level warn the handler wrote %q; want only the warning, prefixed", got)
	}
}

func TestPrefixLines(t *testing.T) {
	var buf bytes.Buffer
	w := PrefixLines(&buf, Err)
	// Lines split across writes, and a write of several lines.
	for _, s := range []string{"pitweet run: a.toml:1: x", "\na.toml:2: y\nusage: ", "pitweet run [--config F]\n"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	want := "<3>pitweet run: a.toml:1: x\n<3>a.toml:2: y\n<3>usage: pitweet run [--config F]\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}

func TestPriority(t *testing.T) {
	for _, tc := range []struct {
		l    slog.Level
		want int
	}{
		{slog.LevelDebug - 1, Debug}, {slog.LevelDebug, Debug}, {slog.LevelInfo - 1, Debug},
		{slog.LevelInfo, Info}, {slog.LevelWarn - 1, Info},
		{slog.LevelWarn, Warning}, {slog.LevelError - 1, Warning},
		{slog.LevelError, Err}, {slog.LevelError + 8, Err},
	} {
		if got := Priority(tc.l); got != tc.want {
			t.Errorf("Priority(%v) = %d, want %d", tc.l, got, tc.want)
		}
	}
}
