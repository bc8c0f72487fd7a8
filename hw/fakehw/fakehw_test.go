package fakehw

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"pitweet/hw"
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
	byBCM, _ := b.Pin("BCM17")
	if byHeader != byGPIO || byNumber != byGPIO || byBCM != byGPIO || byGPIO.Name() != "GPIO17" {
		t.Errorf("P1_11, GPIO17, 17 and BCM17 give %v, %v, %v, %v; want one pin GPIO17", byHeader, byGPIO, byNumber, byBCM)
	}
	for _, name := range []string{"GPIO28", "GPIO0", "P1_1", "P1_x", "LED", ""} {
		if _, err := b.Pin(name); err == nil {
			t.Errorf("Pin(%q) succeeded, want an error", name)
		}
	}
	if _, err := NewBoard(Options{Board: "pi6"}); err == nil || !strings.Contains(err.Error(), "pi5-2023") {
		t.Errorf("NewBoard(pi6) = %v, want an error listing the variants", err)
	}
	unknown := New(Options{Board: "pi6", NoChips: true})
	defer unknown.Close()
	if _, err := unknown.Pin("GPIO17"); !errors.Is(err, hw.ErrNoGPIOChip) || !strings.Contains(err.Error(), `board "pi6"`) {
		t.Errorf("Pin on an unknown variant = %v, want hw.ErrNoGPIOChip", err)
	}
}

// Lines are requested as periph's gpioioctl requests them: a descriptor is
// kept, and a line whose descriptor is 0 is requested again, which the
// kernel refuses while it is held.
func TestLineRequest(t *testing.T) {
	b := New(Options{NoChips: true})
	p, _ := b.Pin("GPIO17")
	fp := p.(*Pin)
	if fp.LineFD() != -1 {
		t.Fatalf("LineFD before In = %d, want -1", fp.LineFD())
	}
	if err := p.In(gpio.PullUp, gpio.BothEdges); err != nil {
		t.Fatal(err)
	}
	fd := fp.LineFD()
	if fd <= 0 {
		t.Fatalf("LineFD after In = %d, want a descriptor", fd)
	}
	if err := p.In(gpio.PullDown, gpio.BothEdges); err != nil || fp.LineFD() != fd {
		t.Errorf("In again: %v, LineFD %d; want the same request %d", err, fp.LineFD(), fd)
	}
	// As gpioioctl would see a line given descriptor 0.
	fp.mu.Lock()
	fp.lineFD = 0
	fp.mu.Unlock()
	if err := p.In(gpio.PullUp, gpio.BothEdges); err == nil || !strings.Contains(err.Error(), "line_request ioctl: device or resource busy") {
		t.Errorf("In on a line whose descriptor is 0 = %v, want EBUSY", err)
	}
	fp.mu.Lock()
	fp.lineFD = fd
	fp.mu.Unlock()
	b.Close()
	if fp.LineFD() != -1 {
		t.Errorf("LineFD after Close = %d, want -1", fp.LineFD())
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
	// Nothing scheduled: the wait runs out, in real time, and the clock
	// moves by the timeout.
	if p.WaitForEdge(20 * time.Millisecond) {
		t.Error("edge seen with nothing scheduled")
	}
	if got := b.Clock().Now().Sub(t0); got != time.Second+20*time.Millisecond {
		t.Errorf("an idle 20ms wait moved the clock to %v, want 1.02s", got)
	}
	// A press scheduled during an idle wait ends it.
	seen := make(chan bool)
	go func() { seen <- p.WaitForEdge(time.Hour) }()
	if err := b.Press("GPIO4"); err != nil {
		t.Fatal(err)
	}
	select {
	case edge := <-seen:
		if !edge {
			t.Error("the wait ended without the press")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a press did not end an idle wait")
	}
}

// A pin with the fault EdgeFails returns from every wait at once.
func TestEdgeFails(t *testing.T) {
	b := New(Options{NoChips: true})
	defer b.Close()
	p, _ := b.Pin("GPIO5")
	p.In(gpio.PullUp, gpio.BothEdges)
	b.SetPinFault("GPIO5", EdgeFails)
	b.Press("GPIO5")
	t0 := b.Clock().Now()
	for range 3 {
		if p.WaitForEdge(time.Second) {
			t.Fatal("edge seen on a failing pin")
		}
	}
	if b.Clock().Now() != t0 || p.(*Pin).Waits() != 3 {
		t.Errorf("clock moved %v, waits %d; want none and 3", b.Clock().Now().Sub(t0), p.(*Pin).Waits())
	}
	b.SetPinFault("GPIO5", PinWorks)
	if !p.WaitForEdge(time.Second) {
		t.Error("the press is not seen once the pin works")
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

// beforeReal skips the rest of a test whose virtual-time check needs less
// than d of real time to have passed since start: a chip's conversion also
// ends when its time passes for real (see instant).
func beforeReal(t *testing.T, start time.Time, d time.Duration) {
	t.Helper()
	if time.Since(start) >= d {
		t.Skipf("the machine took %v, longer than the %v conversion under test", time.Since(start), d)
	}
}

func tx(t *testing.T, bus *Bus, addr uint16, w []byte, n int) []byte {
	t.Helper()
	r := make([]byte, n)
	if err := bus.Tx(addr, w, r); err != nil {
		t.Fatalf("Tx(%#x, % x): %v", addr, w, err)
	}
	return r
}

// The AHT20 is busy for 80 ms after a trigger, with the previous data.
func TestAHT20BusyBit(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	b.SetEnv(Env{Temperature: 50, Humidity: 50})
	bus := b.I2C()
	tx(t, bus, 0x38, []byte{0xBE, 0x08, 0x00}, 0)
	start := time.Now()
	tx(t, bus, 0x38, []byte{0xAC, 0x33, 0x00}, 0)
	busy := tx(t, bus, 0x38, nil, 7)
	b.Clock().Advance(79 * time.Millisecond)
	still := tx(t, bus, 0x38, nil, 7)
	beforeReal(t, start, 80*time.Millisecond)
	if busy[0] != 0x98 || string(busy[1:6]) != "\x00\x00\x00\x00\x00" || still[0]&0x80 == 0 {
		t.Errorf("during the measurement: % x then % x; want busy (0x98) with the old (zero) data", busy, still)
	}
	b.Clock().Advance(time.Millisecond)
	r := tx(t, bus, 0x38, nil, 7)
	// 50 % is 2¹⁹ counts; 50 °C is (50+50)/200·2²⁰ = 2¹⁹ counts.
	want := []byte{0x18, 0x80, 0x00, 0x08, 0x00, 0x00}
	if string(r[:6]) != string(want) || r[6] != crc8(r[:6]) {
		t.Errorf("after 80ms: frame % x, want % x and a valid CRC", r, want)
	}
	// Stuck: busy for ever.
	b.SetFault(0x38, Stuck)
	tx(t, bus, 0x38, []byte{0xAC, 0x33, 0x00}, 0)
	b.Clock().Advance(time.Hour)
	if r := tx(t, bus, 0x38, nil, 7); r[0]&0x80 == 0 {
		t.Errorf("a stuck AHT20 reads % x, want busy", r)
	}
}

// The BME280 sets its measuring bit for the datasheet's maximum measurement
// time and keeps the old data meanwhile.
func TestBME280MeasuringBit(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	bus := b.I2C()
	// Oversampling ×16 on all three: 1.25 + 3·36.8 + 2·0.575 = 112.8 ms.
	start := time.Now()
	tx(t, bus, 0x76, []byte{0xF2, 0x05, 0xF4, 0xB5}, 0)
	status := tx(t, bus, 0x76, []byte{0xF3}, 1)
	data := tx(t, bus, 0x76, []byte{0xF7}, 8)
	b.Clock().Advance(112 * time.Millisecond)
	still := tx(t, bus, 0x76, []byte{0xF3}, 1)
	beforeReal(t, start, 112*time.Millisecond)
	if status[0] != 0x08 || still[0] != 0x08 || string(data) != "\x80\x00\x00\x80\x00\x00\x80\x00" {
		t.Errorf("measuring: status %#x then %#x, data % x; want 0x08 and the reset values", status[0], still[0], data)
	}
	b.Clock().Advance(time.Millisecond)
	status = tx(t, bus, 0x76, []byte{0xF3}, 1)
	ctrl := tx(t, bus, 0x76, []byte{0xF4}, 1)
	data = tx(t, bus, 0x76, []byte{0xF7}, 8)
	if status[0] != 0 || ctrl[0] != 0xB4 || data[0] == 0x80 {
		t.Errorf("after 112.8ms: status %#x, ctrl_meas %#x, data % x; want 0, sleep mode 0xb4, a measurement", status[0], ctrl[0], data)
	}
}

// The SCD41 measures every 5 s from its start; read_measurement empties
// the buffer and is not acknowledged with nothing new.
func TestSCD4xMeasurementTiming(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	bus := b.I2C()
	ready := func() bool {
		r := tx(t, bus, 0x62, []byte{0xe4, 0xb8}, 3)
		return (uint16(r[0])<<8|uint16(r[1]))&0x7FF != 0
	}
	readMeasurement := func() error { return bus.Tx(0x62, []byte{0xec, 0x05}, make([]byte, 9)) }
	tx(t, bus, 0x62, []byte{0x21, 0xb1}, 0) // start_periodic_measurement
	if ready() || readMeasurement() == nil {
		t.Error("data ready, or read, at the start")
	}
	b.Clock().Advance(4999 * time.Millisecond)
	if ready() {
		t.Error("data ready 4.999s after the start")
	}
	b.Clock().Advance(time.Millisecond)
	if !ready() {
		t.Fatal("no data 5s after the start")
	}
	if err := readMeasurement(); err != nil {
		t.Fatal(err)
	}
	if ready() {
		t.Error("data still ready after read_measurement")
	}
	if err := readMeasurement(); err == nil || !strings.Contains(err.Error(), "remote I/O error") {
		t.Errorf("read_measurement with nothing new = %v, want a NACK", err)
	}
	b.Clock().Advance(5 * time.Second)
	if !ready() {
		t.Error("no data 10s after the start")
	}
	b.SetFault(0x62, Stuck)
	b.Clock().Advance(time.Hour)
	if ready() {
		t.Error("a stuck SCD41 has data ready")
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
