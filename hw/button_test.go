package hw_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"pitweet/hw"
	"pitweet/hw/fakehw"
)

var (
	_ hw.Board = (*fakehw.Board)(nil)
	_ hw.Clock = (*fakehw.Clock)(nil)
)

// startButton runs a button on pin GPIO17 of a new simulated board until the
// test ends.
func startButton(t *testing.T, cfg hw.ButtonConfig) (*fakehw.Board, <-chan hw.Press) {
	t.Helper()
	board := fakehw.New(fakehw.Options{NoChips: true})
	t.Cleanup(func() { board.Close() })
	pin, err := board.Pin("GPIO17")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clock = board.Clock()
	b, err := hw.NewButton(pin, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan hw.Press)
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
	return board, out
}

func nextPress(t *testing.T, presses <-chan hw.Press) hw.Press {
	t.Helper()
	select {
	case p := <-presses:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no press event within 5s")
		return hw.Press{}
	}
}

var doorbell = hw.ButtonConfig{Name: "doorbell", Pull: gpio.PullUp, ActiveLow: true, Debounce: 30 * time.Millisecond}

func TestBouncingPressGivesOneEvent(t *testing.T) {
	board, presses := startButton(t, doorbell)
	t0 := board.Clock().Now()
	// A bouncing press, then a clean one queued after it: the event after
	// the first must be the clean press, not an echo of the bounce.
	if err := board.PressBounce("GPIO17"); err != nil {
		t.Fatal(err)
	}
	if err := board.Press("GPIO17"); err != nil {
		t.Fatal(err)
	}
	bounceEnd := fakehw.Bounce[len(fakehw.Bounce)-1]
	second := t0.Add(fakehw.ShortPress + bounceEnd + 150*time.Millisecond)

	if got, want := nextPress(t, presses), (hw.Press{Button: "doorbell", At: t0}); got != want {
		t.Errorf("first event = %+v, want %+v", got, want)
	}
	if got, want := nextPress(t, presses), (hw.Press{Button: "doorbell", At: second}); got != want {
		t.Errorf("second event = %+v, want %+v (the clean press)", got, want)
	}
}

func TestLongPress(t *testing.T) {
	cfg := doorbell
	cfg.LongPress = 2 * time.Second
	board, presses := startButton(t, cfg)
	t0 := board.Clock().Now()
	if err := board.HoldBounce("GPIO17", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := board.Press("GPIO17"); err != nil {
		t.Fatal(err)
	}
	if got, want := nextPress(t, presses), (hw.Press{Button: "doorbell", Long: true, At: t0}); got != want {
		t.Errorf("held 3s: event = %+v, want %+v", got, want)
	}
	// The release of the long press gives nothing; the next event is the
	// short press after it.
	bounceEnd := fakehw.Bounce[len(fakehw.Bounce)-1]
	short := t0.Add(3*time.Second + bounceEnd + 150*time.Millisecond)
	if got, want := nextPress(t, presses), (hw.Press{Button: "doorbell", At: short}); got != want {
		t.Errorf("then a short press: event = %+v, want %+v", got, want)
	}
}

func TestLongPressIsSentWhileHeld(t *testing.T) {
	cfg := doorbell
	cfg.LongPress = 2 * time.Second
	board, presses := startButton(t, cfg)
	t0 := board.Clock().Now()
	// Released after a virtual 1000 hours: far more than the button loop can
	// simulate before the test looks at the clock.
	const held = 1000 * time.Hour
	if err := board.Hold("GPIO17", held); err != nil {
		t.Fatal(err)
	}
	if got, want := nextPress(t, presses), (hw.Press{Button: "doorbell", Long: true, At: t0}); got != want {
		t.Errorf("event = %+v, want %+v", got, want)
	}
	if l, _ := board.Level("GPIO17"); l != gpio.Low {
		t.Errorf("button reads %v when the long press is reported, want Low (still held)", l)
	}
	if now := board.Clock().Now(); now.Sub(t0) >= held {
		t.Errorf("long press reported %v after the press, want before the release", now.Sub(t0))
	}
}

func TestPullDownButton(t *testing.T) {
	cfg := hw.ButtonConfig{Name: "bell", Pull: gpio.PullDown, Debounce: 20 * time.Millisecond}
	board, presses := startButton(t, cfg)
	t0 := board.Clock().Now()
	if err := board.PressBounce("GPIO17"); err != nil {
		t.Fatal(err)
	}
	if got, want := nextPress(t, presses), (hw.Press{Button: "bell", At: t0}); got != want {
		t.Errorf("event = %+v, want %+v", got, want)
	}
}

func TestCancelStopsButtonLoop(t *testing.T) {
	board := fakehw.New(fakehw.Options{NoChips: true})
	defer board.Close()
	pin, _ := board.Pin("P1_11")
	cfg := doorbell
	cfg.Clock = board.Clock()
	b, err := hw.NewButton(pin, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, make(chan hw.Press)) }()
	cancel()
	waitCanceled(t, done)
}

func TestCancelWhileEventIsUnread(t *testing.T) {
	board := fakehw.New(fakehw.Options{NoChips: true})
	defer board.Close()
	pin, _ := board.Pin("GPIO5")
	cfg := doorbell
	cfg.Clock = board.Clock()
	b, _ := hw.NewButton(pin, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, make(chan hw.Press)) }() // nobody reads
	board.Press("GPIO5")
	cancel()
	waitCanceled(t, done)
}

// waitCanceled waits for Run's result after a cancel: context.Canceled.
func waitCanceled(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
}

func TestButtonConfigErrors(t *testing.T) {
	board := fakehw.New(fakehw.Options{NoChips: true})
	defer board.Close()
	pin, _ := board.Pin("GPIO17")
	for _, cfg := range []hw.ButtonConfig{
		{Name: "a", Debounce: 5 * time.Millisecond},
		{Name: "b", LongPress: -time.Second},
		{Name: "c", Debounce: 50 * time.Millisecond, LongPress: 40 * time.Millisecond},
	} {
		if _, err := hw.NewButton(pin, cfg); err == nil {
			t.Errorf("NewButton(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestLEDBlink(t *testing.T) {
	board := fakehw.New(fakehw.Options{NoChips: true})
	defer board.Close()
	pin, _ := board.Pin("GPIO27")
	led := hw.NewLED(pin)
	led.Clock = board.Clock()
	t0 := board.Clock().Now()
	ms := time.Millisecond
	if err := led.Blink(context.Background(), hw.Pattern{100 * ms, 200 * ms, 100 * ms}); err != nil {
		t.Fatal(err)
	}
	got, _ := board.History("GPIO27")
	want := []fakehw.Change{
		{At: t0, Level: gpio.High},
		{At: t0.Add(100 * ms), Level: gpio.Low},
		{At: t0.Add(300 * ms), Level: gpio.High},
		{At: t0.Add(400 * ms), Level: gpio.Low},
	}
	if len(got) != len(want) {
		t.Fatalf("history = %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) || got[i].Level != want[i].Level {
			t.Errorf("change %d = %v, want %v", i, got[i], want[i])
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := led.Blink(ctx, hw.BlinkError); !errors.Is(err, context.Canceled) {
		t.Errorf("Blink with a cancelled context = %v, want context.Canceled", err)
	}
	if l, _ := board.Level("GPIO27"); l != gpio.Low {
		t.Errorf("LED after a cancelled blink is %v, want Low", l)
	}
	if err := led.On(); err != nil {
		t.Fatal(err)
	}
	if l, _ := board.Level("GPIO27"); l != gpio.High {
		t.Errorf("LED after On is %v, want High", l)
	}
}

// records is a slog.Handler that keeps what was logged.
type records struct {
	mu   sync.Mutex
	msgs []string // "LEVEL message"
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// waitUntil polls cond until it holds, failing the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

// A pin whose waits for an edge fail at once (periph's gpioioctl returns
// false, as for a timeout) does not make the button loop spin: the button
// says it is failing, logs it once, pauses longer and longer between
// attempts, and works again, saying so once, when the pin does.
func TestFailingButtonBacksOff(t *testing.T) {
	board := fakehw.New(fakehw.Options{NoChips: true})
	defer board.Close()
	pin, _ := board.Pin("GPIO17")
	log := &records{}
	cfg := doorbell
	cfg.Clock, cfg.Log, cfg.Pin = board.Clock(), slog.New(log), "GPIO17"
	b, err := hw.NewButton(pin, cfg)
	if err != nil {
		t.Fatal(err)
	}
	board.SetPinFault("GPIO17", fakehw.EdgeFails)
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan hw.Press)
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, out) }()
	defer func() {
		cancel()
		waitCanceled(t, done)
	}()

	waitUntil(t, "the button says it is failing", func() bool { return b.Err() != nil })
	if msg := b.Err().Error(); !strings.Contains(msg, `button "doorbell": waiting for an edge on GPIO17 fails at once`) {
		t.Errorf("Err() = %q", msg)
	}
	fp := pin.(*fakehw.Pin)
	// Counted from after c0 to before the end of elapsed, so that the
	// loop, which runs on in virtual time, cannot fit more in.
	c0 := board.Clock().Now()
	w0 := fp.Waits()
	waitUntil(t, "an hour passes on the board's clock", func() bool { return board.Clock().Now().Sub(c0) >= time.Hour })
	w1 := fp.Waits()
	elapsed := board.Clock().Now().Sub(c0)
	// Pauses of 1s, 2s, ... 32s, then 1 min: an hour holds about 66 waits.
	if n, most := w1-w0, 8+int(elapsed/time.Minute); n > most {
		t.Errorf("%d waits in %v of failing, want at most %d", n, elapsed, most)
	}
	if n := log.count("ERROR hw: button failing"); n != 1 {
		t.Errorf("logged the failure %d times, want once: %q", n, log.msgs)
	}

	// A press during a pause may be lost, as on a real pin (its edges are
	// read after the pause, and the level then is "released"); the first
	// edge read tells the button the pin works.
	board.SetPinFault("GPIO17", fakehw.PinWorks)
	if err := board.Press("GPIO17"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the button works again", func() bool { return b.Err() == nil })
	t1 := board.Clock().Now()
	if err := board.Press("GPIO17"); err != nil {
		t.Fatal(err)
	}
	p := nextPress(t, out)
	if p.At.Before(t1) {
		p = nextPress(t, out) // the first one was not lost
	}
	if p.Button != "doorbell" || p.At.Before(t1) {
		t.Errorf("press %+v, want one at or after %v", p, t1)
	}
	if n := log.count("INFO hw: button works again"); n != 1 {
		t.Errorf("logged the recovery %d times, want once: %q", n, log.msgs)
	}
}

// Check finds a pin whose waits fail at once, as the button loop would.
func TestButtonCheck(t *testing.T) {
	board := fakehw.New(fakehw.Options{NoChips: true})
	defer board.Close()
	pin, _ := board.Pin("GPIO22")
	cfg := doorbell
	cfg.Clock = board.Clock()
	b, err := hw.NewButton(pin, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Check(); err != nil {
		t.Errorf("Check on a working pin: %v", err)
	}
	board.SetPinFault("GPIO22", fakehw.EdgeFails)
	if err := b.Check(); err == nil || !strings.Contains(err.Error(), "fails at once, 5 times in a row") || !strings.Contains(err.Error(), "GPIO22 (line 22)") {
		t.Errorf("Check on a failing pin = %v", err)
	}
}
