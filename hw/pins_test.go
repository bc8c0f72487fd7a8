package hw_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"pitweet/hw"
	"pitweet/hw/fakehw"
)

func TestPinNumberSpellings(t *testing.T) {
	for in, want := range map[string]int{
		"GPIO17": 17, "gpio4": 4, "BCM17": 17, "bcm27": 27, "17": 17, " 2 ": 2,
		"P1_11": 17, "p1_40": 21, "P1_3": 2, "P1_13": 27,
	} {
		got, err := hw.PinNumber(in)
		if err != nil || got != want {
			t.Errorf("PinNumber(%q) = %d, %v; want %d", in, got, err, want)
		}
		name, err := hw.PinName(in)
		if wantName := "GPIO" + strconv.Itoa(want); err != nil || name != wantName {
			t.Errorf("PinName(%q) = %q, %v; want %q", in, name, err, wantName)
		}
	}
}

// Every refusal is one line that names the pin and the choices, and says
// what a reserved, power or ground pin is.
func TestPinNumberRefusals(t *testing.T) {
	for in, what := range map[string]string{
		"GPIO0": "reserved for the HAT identification EEPROM", "GPIO1": "ID_SC", "P1_27": "GPIO0 (P1_27, ID_SD)", "0": "reserved",
		"P1_1": "power pin", "P1_2": "power pin", "P1_6": "ground pin", "P1_39": "ground pin",
		"GPIO28": "unknown pin", "BCM53": "unknown pin", "P1_41": "the header pins are P1_1 to P1_40", "P1_0": "P1_1 to P1_40",
		"GPIO": "unknown pin", "GPIO017": "unknown pin", "GPIO-3": "unknown pin", "+5": "unknown pin",
		"LED": "unknown pin", "SDA1": "unknown pin", "PIN11": "unknown pin", "": "unknown pin",
	} {
		_, err := hw.PinNumber(in)
		if err == nil {
			t.Errorf("PinNumber(%q) succeeded", in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, strconv.Quote(in)) || !strings.Contains(msg, what) ||
			!strings.Contains(msg, "use GPIO2 to GPIO27 (BCM numbering, also written BCM17 or 17) or a header pin such as P1_11") || strings.Contains(msg, "\n") {
			t.Errorf("PinNumber(%q) = %q; want one line naming the pin, %q and the choices", in, msg, what)
		}
	}
}

func TestI2CBusNumber(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "/dev/i2c-1": 1, "I2C1": 1, "i2c1": 1, "i2c-3": 3, "/dev/i2c-22": 22, "0": 0} {
		if got, err := hw.I2CBusNumber(in); err != nil || got != want {
			t.Errorf("I2CBusNumber(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "one", "-1", "+1", "01", "/dev/i2c-", "I2C", "/dev/spidev0.0", "i2c-1x", "99999"} {
		if got, err := hw.I2CBusNumber(in); err == nil {
			t.Errorf("I2CBusNumber(%q) = %d, want an error", in, got)
		}
	}
}

// headerChip is the index of the chip that drives the header.
func headerChip(t *testing.T, chips []hw.Chip) int {
	t.Helper()
	for i, c := range chips {
		if _, ok := hw.HeaderChips[c.Label]; ok {
			return i
		}
	}
	t.Fatalf("no header chip among %v", chips)
	return -1
}

// On every simulated board and kernel, each usable header GPIO is found
// under each of its spellings on the header chip at its BCM number, through
// the simulated board as through FindPin itself.
func TestEveryHeaderGPIOOnEveryVariant(t *testing.T) {
	for _, v := range fakehw.Variants() {
		t.Run(v.Name, func(t *testing.T) {
			board, err := fakehw.NewBoard(fakehw.Options{Board: v.Name, NoChips: true})
			if err != nil {
				t.Fatal(err)
			}
			defer board.Close()
			chips := board.Chips()
			hc := headerChip(t, chips)
			for n := 2; n <= 27; n++ {
				spellings := []string{fmt.Sprintf("GPIO%d", n), fmt.Sprintf("gpio%d", n), fmt.Sprintf("BCM%d", n), strconv.Itoa(n),
					fmt.Sprintf("P1_%d", hw.HeaderPin(n))}
				for _, name := range spellings {
					ci, off, err := hw.FindPin(chips, name)
					if err != nil || ci != hc || off != n {
						t.Errorf("FindPin(%q) = chip %d line %d, %v; want chip %d (%s) line %d", name, ci, off, err, hc, chips[hc].Label, n)
					}
					p, err := board.Pin(name)
					if err != nil {
						t.Errorf("Pin(%q): %v", name, err)
						continue
					}
					fp := p.(*fakehw.Pin)
					if fp.Number() != n || fp.Chip() != chips[hc].Label || fp.Name() != chips[hc].Lines[n] {
						t.Errorf("Pin(%q) = %s line %d %q; want %s line %d %q", name, fp.Chip(), fp.Number(), fp.Name(), chips[hc].Label, n, chips[hc].Lines[n])
					}
				}
			}
		})
	}
}

// The line names differ between kernels: resolving by name would miss
// pins on the mainline and first Pi 5 kernels, and on the Pi Zero W's
// mainline names a name appears twice.
func TestLineNamesDifferBetweenKernels(t *testing.T) {
	line := func(variant string, n int) string {
		b, err := fakehw.NewBoard(fakehw.Options{Board: variant, NoChips: true})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		chips := b.Chips()
		return chips[headerChip(t, chips)].Lines[n]
	}
	for _, tc := range []struct {
		variant string
		n       int
		name    string
	}{
		{"pi4", 2, "GPIO2"}, {"pi4-mainline", 2, "SDA1"}, {"pi3-mainline", 4, "GPIO_GCLK"}, {"pi3-mainline", 7, "SPI_CE1_N"},
		{"pi3-mainline", 14, "TXD1"}, {"pi0w-mainline", 14, "TXD0"}, {"pi0w-mainline", 32, "TXD0"},
		{"pi5-2023", 17, "PIN11"}, {"pi5-2023", 0, "ID_SD"}, {"pi5", 17, "GPIO17"}, {"pi2-mainline", 0, "ID_SDA"},
	} {
		if got := line(tc.variant, tc.n); got != tc.name {
			t.Errorf("%s line %d = %q, want %q", tc.variant, tc.n, got, tc.name)
		}
	}
}

// The first Pi 5 kernels named each header line after its header pin:
// the header table agrees with them on every pin.
func TestHeaderTableMatchesPi5PinNames(t *testing.T) {
	b, err := fakehw.NewBoard(fakehw.Options{Board: "pi5-2023", NoChips: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	chips := b.Chips()
	lines := chips[headerChip(t, chips)].Lines
	for n := 0; n <= 27; n++ {
		pos := hw.HeaderPin(n)
		want := fmt.Sprintf("PIN%d", pos)
		if n <= 1 {
			want = [2]string{"ID_SD", "ID_SC"}[n]
		}
		if pos == 0 || lines[n] != want {
			t.Errorf("GPIO%d: header pin %d, line name %q; want %q", n, pos, lines[n], want)
		}
	}
}

// The Pi 5's /dev/gpiochip4 is a link to gpiochip0 on current kernels:
// gpioioctl opens the chip twice and drops the second.
func TestPi5DuplicateChip(t *testing.T) {
	b, err := fakehw.NewBoard(fakehw.Options{Board: "pi5", NoChips: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dropped := b.Dropped()
	if len(dropped) != 1 || dropped[0].Name != "gpiochip0" || dropped[0].Path != "/dev/gpiochip4" || dropped[0].Label != "pinctrl-rp1" {
		t.Errorf("dropped %v, want /dev/gpiochip4, the chip gpiochip0 [pinctrl-rp1] again", dropped)
	}
	chips := b.Chips()
	if len(chips) != 5 || chips[0].Path != "/dev/gpiochip0" || chips[0].Label != "pinctrl-rp1" {
		t.Errorf("chips %v, want gpiochip0 [pinctrl-rp1] first and the four brcmstb chips", chips)
	}
	early, _ := fakehw.NewBoard(fakehw.Options{Board: "pi5-2023", NoChips: true})
	defer early.Close()
	if c := early.Chips(); len(early.Dropped()) != 0 || c[0].Path != "/dev/gpiochip4" {
		t.Errorf("first Pi 5 kernels: chips %v, dropped %v; want gpiochip4 first, nothing dropped", c, early.Dropped())
	}
}

func TestFindPinWithoutHeaderChip(t *testing.T) {
	_, _, err := hw.FindPin(nil, "GPIO17")
	if !errors.Is(err, hw.ErrNoGPIOChip) || !strings.Contains(err.Error(), "ls /dev/gpiochip*") || !strings.Contains(err.Error(), "gpiodetect") || !strings.Contains(err.Error(), "group gpio") {
		t.Errorf("no chips: %v; want ErrNoGPIOChip saying how to check", err)
	}
	other := []hw.Chip{{Name: "gpiochip0", Path: "/dev/gpiochip0", Label: "INT34C6:00", Lines: make([]string, 360)}}
	_, _, err = hw.FindPin(other, "GPIO17")
	if err == nil || !strings.Contains(err.Error(), "/dev/gpiochip0 [INT34C6:00] (360 lines)") || !strings.Contains(err.Error(), "pinctrl-rp1") {
		t.Errorf("a PC's chip: %v; want an error naming the chip found and the labels known", err)
	}
	// A bad name is refused before the chips are looked at.
	if _, _, err := hw.FindPin(nil, "GPIO99"); err == nil || errors.Is(err, hw.ErrNoGPIOChip) {
		t.Errorf("FindPin(GPIO99) with no chips = %v, want the pin name refused", err)
	}
}

// FuzzPinNumber: a pin name is refused in one line, or read as a header
// GPIO whose canonical name reads back the same.
func FuzzPinNumber(f *testing.F) {
	for _, s := range []string{"GPIO17", "bcm4", "17", "P1_11", "P1_1", "GPIO0", "GPIO28", "", "P1_", "gpio٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := hw.PinNumber(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
				t.Errorf("PinNumber(%q): error of several lines: %q", s, err)
			}
			return
		}
		if n < 2 || n > 27 {
			t.Fatalf("PinNumber(%q) = %d, not a header GPIO", s, n)
		}
		name, err := hw.PinName(s)
		if err != nil {
			t.Fatalf("PinName(%q): %v", s, err)
		}
		if again, err := hw.PinNumber(name); err != nil || again != n {
			t.Errorf("PinNumber(%q) = %d, %v; want %d", name, again, err, n)
		}
	})
}

// FuzzI2CBusNumber: a bus is refused, or read as a number whose plain and
// device spellings read back the same.
func FuzzI2CBusNumber(f *testing.F) {
	for _, s := range []string{"1", "/dev/i2c-1", "I2C1", "i2c-20", "", "-1", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := hw.I2CBusNumber(s)
		if err != nil {
			return
		}
		for _, again := range []string{strconv.Itoa(n), "/dev/i2c-" + strconv.Itoa(n), "I2C" + strconv.Itoa(n)} {
			if m, err := hw.I2CBusNumber(again); err != nil || m != n {
				t.Errorf("I2CBusNumber(%q) = %d, %v; want %d (from %q)", again, m, err, n, s)
			}
		}
	})
}
