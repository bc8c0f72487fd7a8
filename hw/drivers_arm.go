//go:build arm || arm64

package hw

// The Raspberry Pi's own drivers: the BCM283x GPIO registers and the
// board's header names (P1_11 and so on). Other ARM boards periph knows
// are left out.
import (
	_ "periph.io/x/host/v3/bcm283x"
	_ "periph.io/x/host/v3/rpi"
)
