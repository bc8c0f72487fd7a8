package fakehw

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"pitweet/hw"
)

// A Variant is a Raspberry Pi model running a given kernel, as its GPIO
// chips show through /dev/gpiochip*: the device nodes, each chip's label and
// the names of its lines, taken from the device trees the kernels ship.
type Variant struct {
	Name  string // for Options.Board: "pi4", "pi5-2023", ...
	About string // the model and kernel
	Nodes []Node
}

// A Node is one /dev/gpiochip* entry: a chip, or a symbolic link to
// another node (the Pi 5's /dev/gpiochip4 on kernels since 6.6.47).
type Node struct {
	Path   string  // "/dev/gpiochip0"
	LinkTo string  // for a link, the node it points to
	Chip   hw.Chip // for a chip: Name, Label and Lines (Path is ignored)
}

// DefaultBoard is the variant a Board presents when Options.Board is "".
const DefaultBoard = "pi4"

// Variants lists every board and kernel the simulated board can present.
func Variants() []Variant { return slices.Clone(variants) }

// VariantNamed returns the variant called name.
func VariantNamed(name string) (Variant, bool) {
	i := slices.IndexFunc(variants, func(v Variant) bool { return v.Name == name })
	if i < 0 {
		return Variant{}, false
	}
	return variants[i], true
}

func variantNames() string {
	var names []string
	for _, v := range variants {
		names = append(names, v.Name)
	}
	return strings.Join(names, ", ")
}

// openChips does what periph.io's gpioioctl driver (host v3.8.5) does when
// it loads: it opens every /dev/gpiochip* in the order filepath.Glob gives
// them (a link opens the chip it points to, which keeps its kernel name),
// sorts the chips with the pinctrl- labels first and then by label, and
// drops a chip whose kernel name it has already seen. It returns the chips
// kept and the ones dropped.
func openChips(v Variant) (kept, dropped []hw.Chip) {
	byPath := map[string]Node{}
	var paths []string
	for _, n := range v.Nodes {
		byPath[n.Path] = n
		paths = append(paths, n.Path)
	}
	sort.Strings(paths)
	var chips []hw.Chip
	for _, p := range paths {
		n := byPath[p]
		for n.LinkTo != "" {
			n = byPath[n.LinkTo]
		}
		c := n.Chip
		c.Path = p
		chips = append(chips, c)
	}
	sort.SliceStable(chips, func(i, j int) bool {
		pi, pj := strings.HasPrefix(chips[i].Label, "pinctrl-"), strings.HasPrefix(chips[j].Label, "pinctrl-")
		if pi != pj {
			return pi
		}
		return chips[i].Label < chips[j].Label
	})
	seen := map[string]bool{}
	for _, c := range chips {
		if seen[c.Name] {
			dropped = append(dropped, c)
			continue
		}
		seen[c.Name] = true
		kept = append(kept, c)
	}
	return kept, dropped
}

// names builds a line-name list: the given names, then "" up to n lines.
func names(n int, given ...string) []string {
	out := make([]string, n)
	copy(out, given)
	return out
}

// current renames lines 2 to 27 GPIO2 to GPIO27, as the Raspberry Pi
// kernels have done on every model since early 2024; the other lines keep
// their names.
func current(lines []string) []string {
	out := slices.Clone(lines)
	for i := 2; i <= 27; i++ {
		out[i] = "GPIO" + strconv.Itoa(i)
	}
	return out
}

// Line names of the BCM2835's GPIO lines 0 to 27 in the mainline device
// trees of the Pi 1 B+, 2 and Zero (arch/arm/boot/dts/broadcom/
// bcm2835-rpi-b-plus.dts, bcm2836-rpi-2-b.dts, bcm2835-rpi-zero-w.dts).
var bcm2835Header = []string{
	"ID_SDA", "ID_SCL", "SDA1", "SCL1", "GPIO_GCLK", "GPIO5", "GPIO6",
	"SPI_CE1_N", "SPI_CE0_N", "SPI_MISO", "SPI_MOSI", "SPI_SCLK", "GPIO12", "GPIO13",
	"TXD0", "RXD0", "GPIO16", "GPIO17", "GPIO18", "GPIO19", "GPIO20", "GPIO21",
	"GPIO22", "GPIO23", "GPIO24", "GPIO25", "GPIO26", "GPIO27",
}

// The Pi 3 and 4 name their header UART lines TXD1 and RXD1.
var bcm2837Header = append(slices.Clone(bcm2835Header[:14]), append([]string{"TXD1", "RXD1"}, bcm2835Header[16:]...)...)

var (
	// bcm2835-rpi-b-plus.dts
	pi1BPlusLines = append(slices.Clone(bcm2835Header),
		"SDA0", "SCL0", "", "LAN_RUN", "CAM_GPIO1", "", "", "PWR_LOW_N", "", "",
		"USB_LIMIT", "", "PWM0_OUT", "CAM_GPIO0", "", "", "ETH_CLK", "PWM1_OUT",
		"HDMI_HPD_N", "STATUS_LED", "SD_CLK_R", "SD_CMD_R", "SD_DATA0_R",
		"SD_DATA1_R", "SD_DATA2_R", "SD_DATA3_R")
	// bcm2835-rpi-zero-w.dts: TXD0 and RXD0 twice, on 14/15 and 32/33.
	pi0WLines = append(slices.Clone(bcm2835Header),
		"SDA0", "SCL0", "CTS0", "RTS0", "TXD0", "RXD0", "SD1_CLK", "SD1_CMD",
		"SD1_DATA0", "SD1_DATA1", "SD1_DATA2", "SD1_DATA3", "CAM_GPIO1", "WL_ON", "",
		"WIFI_CLK", "CAM_GPIO0", "BT_ON", "HDMI_HPD_N", "STATUS_LED_N", "SD_CLK_R",
		"SD_CMD_R", "SD_DATA0_R", "SD_DATA1_R", "SD_DATA2_R", "SD_DATA3_R")
	// bcm2836-rpi-2-b.dts
	pi2Lines = append(slices.Clone(bcm2835Header),
		"SDA0", "SCL0", "", "LAN_RUN", "CAM_GPIO1", "", "", "PWR_LOW_N", "", "",
		"USB_LIMIT", "", "PWM0_OUT", "CAM_GPIO0", "SMPS_SCL", "SMPS_SDA", "ETH_CLK",
		"PWM1_OUT", "HDMI_HPD_N", "STATUS_LED", "SD_CLK_R", "SD_CMD_R", "SD_DATA0_R",
		"SD_DATA1_R", "SD_DATA2_R", "SD_DATA3_R")
	// bcm2837-rpi-3-b.dts
	pi3Lines = append(slices.Clone(bcm2837Header),
		"", "LAN_RUN_BOOT", "CTS0", "RTS0", "TXD0", "RXD0", "SD1_CLK", "SD1_CMD",
		"SD1_DATA0", "SD1_DATA1", "SD1_DATA2", "SD1_DATA3", "PWM0_OUT", "PWM1_OUT",
		"ETH_CLK", "WIFI_CLK", "SDA0", "SCL0", "SMPS_SCL", "SMPS_SDA", "SD_CLK_R",
		"SD_CMD_R", "SD_DATA0_R", "SD_DATA1_R", "SD_DATA2_R", "SD_DATA3_R")
	pi3ExpLines = []string{"BT_ON", "WL_ON", "STATUS_LED", "LAN_RUN", "HDMI_HPD_N", "CAM_GPIO0", "CAM_GPIO1", "PWR_LOW_N"}
	// bcm2711-rpi-4-b.dts
	pi4Lines = append(slices.Clone(bcm2837Header),
		"RGMII_MDIO", "RGMII_MDC", "CTS0", "RTS0", "TXD0", "RXD0", "SD1_CLK",
		"SD1_CMD", "SD1_DATA0", "SD1_DATA1", "SD1_DATA2", "SD1_DATA3", "PWM0_MISO",
		"PWM1_MOSI", "STATUS_LED_G_CLK", "SPIFLASH_CE_N", "SDA0", "SCL0",
		"RGMII_RXCLK", "RGMII_RXCTL", "RGMII_RXD0", "RGMII_RXD1", "RGMII_RXD2",
		"RGMII_RXD3", "RGMII_TXCLK", "RGMII_TXCTL", "RGMII_TXD0", "RGMII_TXD1",
		"RGMII_TXD2", "RGMII_TXD3")
	// The Raspberry Pi kernel's bcm2711-rpi-4-b.dts spells line 29 RGMIO_MDC.
	pi4CurrentLines = slices.Replace(current(pi4Lines), 29, 30, "RGMIO_MDC")
	pi4ExpLines     = []string{"BT_ON", "WL_ON", "PWR_LED_OFF", "GLOBAL_RESET", "VDD_SD_IO_SEL", "CAM_GPIO", "SD_PWR_ON", "SD_OC_N"}

	// The RP1's lines 28 to 53 on the Pi 5 (bcm2712-rpi-5-b.dts).
	rp1Rest = []string{
		"PCIE_RP1_WAKE", "FAN_TACH", "HOST_SDA", "HOST_SCL", "ETH_RST_N", "-",
		"CD0_IO0_MICCLK", "CD0_IO0_MICDAT0", "RP1_PCIE_CLKREQ_N", "-", "CD0_SDA",
		"CD0_SCL", "CD1_SDA", "CD1_SCL", "USB_VBUS_EN", "USB_OC_N", "RP1_STAT_LED",
		"FAN_PWM", "CD1_IO0_MICCLK", "2712_WAKE", "CD1_IO1_MICDAT1", "EN_MAX_USB_CUR",
		"-", "-", "-", "-",
	}
	// The first Pi 5 kernels named the header lines after their header pin.
	pi5FirstLines = append([]string{"ID_SD", "ID_SC",
		"PIN3", "PIN5", "PIN7", "PIN29", "PIN31", "PIN26", "PIN24", "PIN21", "PIN19",
		"PIN23", "PIN32", "PIN33", "PIN8", "PIN10", "PIN36", "PIN11", "PIN12", "PIN35",
		"PIN38", "PIN40", "PIN15", "PIN16", "PIN18", "PIN22", "PIN37", "PIN13"}, rp1Rest...)
	pi5Lines = append(current(names(28, "ID_SDA", "ID_SCL")), rp1Rest...)

	// The BCM2712's own GPIO blocks, which drive nothing on the header.
	gio = []string{"-", "2712_BOOT_CS_N", "2712_BOOT_MISO", "2712_BOOT_MOSI", "2712_BOOT_SCLK",
		"-", "-", "-", "-", "-", "-", "-", "-", "-", "PCIE_SDA", "PCIE_SCL", "-", "-", "-", "-",
		"PWR_GPIO", "2712_G21_FS", "-", "-", "BT_RTS", "BT_CTS", "BT_TXD", "BT_RXD", "WL_ON",
		"BT_ON", "WIFI_SDIO_CLK", "WIFI_SDIO_CMD", "WIFI_SDIO_D0", "WIFI_SDIO_D1",
		"WIFI_SDIO_D2", "WIFI_SDIO_D3"}
	gioAON = []string{"RP1_SDA", "RP1_SCL", "RP1_RUN", "SD_IOVDD_SEL", "SD_PWR_ON", "SD_CDET_N",
		"SD_FLG_N", "-", "2712_WAKE", "2712_STAT_LED", "-", "-", "PMIC_INT", "UART_TX_FS",
		"UART_RX_FS", "-", "-"}
	gioSGPIO = []string{"HDMI0_SCL", "HDMI0_SDA", "HDMI1_SCL", "HDMI1_SDA", "PMIC_SCL", "PMIC_SDA"}
)

// chipNode is a /dev/gpiochipN node for a chip called gpiochipN.
func chipNode(n int, label string, lines []string) Node {
	name := "gpiochip" + strconv.Itoa(n)
	return Node{Path: "/dev/" + name, Chip: hw.Chip{Name: name, Label: label, Lines: lines}}
}

// brcmstb is the Pi 5's four BCM2712 GPIO chips, numbered from first.
func brcmstb(first int) []Node {
	return []Node{
		chipNode(first, "gpio-brcmstb@107d508500", gio[:32]),
		chipNode(first+1, "gpio-brcmstb@107d508520", gio[32:]),
		chipNode(first+2, "gpio-brcmstb@107d517c00", gioAON),
		chipNode(first+3, "gpio-brcmstb@107d517c20", gioSGPIO),
	}
}

var variants = []Variant{
	{"pi1-mainline", "Raspberry Pi 1 B+, mainline kernel (or Raspberry Pi OS before 2024)",
		[]Node{chipNode(0, "pinctrl-bcm2835", pi1BPlusLines)}},
	{"pi0w-mainline", "Raspberry Pi Zero W, mainline kernel (or Raspberry Pi OS before 2024)",
		[]Node{chipNode(0, "pinctrl-bcm2835", pi0WLines)}},
	{"pi0w", "Raspberry Pi Zero W, Raspberry Pi OS kernel since 2024",
		[]Node{chipNode(0, "pinctrl-bcm2835", current(pi0WLines))}},
	{"pi2-mainline", "Raspberry Pi 2 B, mainline kernel (or Raspberry Pi OS before 2024)",
		[]Node{chipNode(0, "pinctrl-bcm2835", pi2Lines)}},
	{"pi3-mainline", "Raspberry Pi 3 B, mainline kernel (or Raspberry Pi OS before 2024)",
		[]Node{chipNode(0, "pinctrl-bcm2835", pi3Lines), chipNode(1, "raspberrypi-exp-gpio", pi3ExpLines)}},
	{"pi3", "Raspberry Pi 3 B, Raspberry Pi OS kernel since 2024",
		[]Node{chipNode(0, "pinctrl-bcm2835", current(pi3Lines)), chipNode(1, "raspberrypi-exp-gpio", pi3ExpLines),
			chipNode(2, "brcmvirt-gpio", names(2))}},
	{"pi4-mainline", "Raspberry Pi 4 B, mainline kernel (or Raspberry Pi OS before 2024)",
		[]Node{chipNode(0, "pinctrl-bcm2711", pi4Lines), chipNode(1, "raspberrypi-exp-gpio", pi4ExpLines)}},
	{"pi4", "Raspberry Pi 4 B, Raspberry Pi OS kernel since 2024",
		[]Node{chipNode(0, "pinctrl-bcm2711", pi4CurrentLines), chipNode(1, "raspberrypi-exp-gpio", pi4ExpLines)}},
	{"pi5-2023", "Raspberry Pi 5, its first kernels (6.1, 6.6 before 6.6.47): the header on gpiochip4",
		append(brcmstb(0), chipNode(4, "pinctrl-rp1", pi5FirstLines))},
	{"pi5", "Raspberry Pi 5, kernel 6.6.47 and later: the header on gpiochip0, /dev/gpiochip4 a link to it",
		append([]Node{chipNode(0, "pinctrl-rp1", pi5Lines), {Path: "/dev/gpiochip4", LinkTo: "/dev/gpiochip0"}}, brcmstb(10)...)},
}
