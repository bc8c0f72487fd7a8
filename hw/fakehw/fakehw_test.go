package fakehw

import (
	"os"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
)

func TestPinNames(t *testing.T) {
	b := New(Options{NoChips: true})
	defer b.Close()
	byHeader, err := b.Pin("P1_11")
	if err != nil {
		t.Fatal(err)
	}
	byGPIO, _ := b.Pin("GPIO17")
	byNumber, _ := b.Pin("17")
	if byHeader != byGPIO || byNumber != byGPIO || byGPIO.Name() != "GPIO17" {
		t.Errorf("P1_11, GPIO17 and 17 give %v, %v, %v; want one pin GPIO17", byHeader, byGPIO, byNumber)
	}
	for _, name := range []string{"GPIO28", "P1_1", "P1_x", "LED", ""} {
		if _, err := b.Pin(name); err == nil {
			t.Errorf("Pin(%q) succeeded, want an error", name)
		}
	}
}

func TestWaitForEdgeInVirtualTime(t *testing.T) {
	b := New(Options{NoChips: true})
	defer b.Close()
	p, _ := b.Pin("GPIO4")
	if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	t0 := b.Clock().Now()
	if err := b.Hold("GPIO4", time.Second); err != nil {
		t.Fatal(err)
	}
	if !p.WaitForEdge(10*time.Millisecond) || p.Read() != gpio.Low {
		t.Fatal("press edge not seen, or pin not Low")
	}
	if p.WaitForEdge(100 * time.Millisecond) {
		t.Fatal("edge seen 100ms into a 1s hold")
	}
	if got := b.Clock().Now().Sub(t0); got != 100*time.Millisecond {
		t.Errorf("a 100ms wait moved the clock by %v", got)
	}
	if !p.WaitForEdge(2*time.Second) || p.Read() != gpio.High {
		t.Fatal("release edge not seen, or pin not High")
	}
	if got := b.Clock().Now().Sub(t0); got != time.Second {
		t.Errorf("release seen at %v, want 1s", got)
	}
	// Nothing scheduled: the wait ends without time passing.
	if p.WaitForEdge(time.Hour) {
		t.Error("edge seen with nothing scheduled")
	}
	if got := b.Clock().Now().Sub(t0); got != time.Second {
		t.Errorf("an idle wait moved the clock to %v", got)
	}
}

func TestRealTimePress(t *testing.T) {
	b := New(Options{NoChips: true, RealTime: true})
	defer b.Close()
	p, _ := b.Pin("GPIO22")
	p.In(gpio.PullDown, gpio.BothEdges)
	if err := b.Press("GPIO22"); err != nil {
		t.Fatal(err)
	}
	if !p.WaitForEdge(5*time.Second) || p.Read() != gpio.High {
		t.Fatal("press not seen within 5s")
	}
	if !p.WaitForEdge(5*time.Second) || p.Read() != gpio.Low {
		t.Fatal("release not seen within 5s")
	}
}

func TestOutputHistory(t *testing.T) {
	b := New(Options{NoChips: true})
	defer b.Close()
	p, _ := b.Pin("GPIO27")
	p.Out(gpio.High)
	b.Clock().Advance(time.Second)
	p.Out(gpio.Low)
	h, _ := b.History("GPIO27")
	if len(h) != 2 || h[0].Level != gpio.High || h[1].Level != gpio.Low || h[1].At.Sub(h[0].At) != time.Second {
		t.Errorf("history = %v, want High then Low 1s later", h)
	}
	if p.Function() != "OUT" {
		t.Errorf("Function() = %q, want OUT", p.Function())
	}
}

func TestBusAddressing(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	bus, err := b.Bus("1")
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 1)
	for addr, want := range map[uint16]byte{0x76: 0x60, 0x77: 0x58} {
		if err := bus.Tx(addr, []byte{0xD0}, id); err != nil || id[0] != want {
			t.Errorf("chip id at %#x = %#x, %v; want %#x", addr, id[0], err, want)
		}
	}
	if err := bus.Tx(0x10, []byte{0}, id); err == nil || !strings.Contains(err.Error(), "remote I/O error") {
		t.Errorf("Tx to an empty address = %v, want remote I/O error", err)
	}
	b.SetFault(0x76, WrongChip)
	if err := bus.Tx(0x76, []byte{0xD0}, id); err != nil || id[0] != 0 {
		t.Errorf("chip id of a wrong chip = %#x, %v; want 0", id[0], err)
	}
	if _, err := b.Bus("0"); err == nil {
		t.Error("Bus(\"0\") succeeded; the board has only bus 1")
	}
	if err := b.Attach("dht22", 0x40); err == nil {
		t.Error("Attach(dht22) succeeded")
	}
}

func TestAHT20Frame(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	b.SetEnv(Env{Temperature: 50, Humidity: 50})
	bus := b.I2C()
	if err := bus.Tx(0x38, []byte{0xBE, 0x08, 0x00}, nil); err != nil {
		t.Fatal(err)
	}
	if err := bus.Tx(0x38, []byte{0xAC, 0x33, 0x00}, nil); err != nil {
		t.Fatal(err)
	}
	r := make([]byte, 7)
	if err := bus.Tx(0x38, nil, r); err != nil {
		t.Fatal(err)
	}
	// 50 % is 2¹⁹ counts; 50 °C is (50+50)/200·2²⁰ = 2¹⁹ counts.
	want := []byte{0x18, 0x80, 0x00, 0x08, 0x00, 0x00}
	if string(r[:6]) != string(want) || r[6] != crc8(r[:6]) {
		t.Errorf("frame = % x, want % x and a valid CRC", r, want)
	}
}

func TestCPUTemperatureFile(t *testing.T) {
	b := New(Options{Dir: t.TempDir()})
	defer b.Close()
	e := b.Env()
	e.CPUTemperature = 61.25
	if err := b.SetEnv(e); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(b.CPUTempPath())
	if err != nil || string(got) != "61250\n" {
		t.Errorf("CPU temperature file = %q, %v; want 61250", got, err)
	}
}

// TestHaltEndsWait: Halt interrupts a wait with no timeout, as periph's
// gpioioctl driver does, so a button loop stops when its context ends.
func TestHaltEndsWait(t *testing.T) {
	b := New(Options{NoChips: true, RealTime: true})
	defer b.Close()
	p, _ := b.Pin("GPIO5")
	p.In(gpio.PullUp, gpio.BothEdges)
	got := make(chan bool)
	go func() { got <- p.WaitForEdge(-1) }()
	// Halt ends only a wait in progress, so halt until the wait ends.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		p.Halt()
		select {
		case edge := <-got:
			if edge {
				t.Error("WaitForEdge reported an edge after Halt")
			}
			break wait
		case <-tick.C:
		case <-deadline:
			t.Fatal("Halt did not end a wait with no timeout")
		}
	}
	// A later press is seen as usual.
	if err := b.Press("GPIO5"); err != nil {
		t.Fatal(err)
	}
	if !p.WaitForEdge(5 * time.Second) {
		t.Error("press after Halt not seen")
	}
}
