package hw

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/aht20"
	"periph.io/x/devices/v3/bh1750"
	"periph.io/x/devices/v3/bmxx80"
	"periph.io/x/devices/v3/scd4x"
)

// Chip ids in register 0xD0 of the Bosch sensors.
const (
	chipIDBMP280 = 0x58
	chipIDBME280 = 0x60
)

// bmx280 is a BME280 (temperature, humidity, pressure) or a BMP280
// (temperature, pressure) through periph.io's bmxx80 driver.
type bmx280 struct {
	bme bool
	dev *bmxx80.Dev
}

func (c *bmx280) open(bus i2c.Bus, addr uint16) error {
	// The driver accepts any of BMP180, BMP280 and BME280; check that the
	// chip is the configured one first, and name what was found.
	var id [1]byte
	if err := bus.Tx(addr, []byte{0xD0}, id[:]); err != nil {
		return err
	}
	switch {
	case id[0] == chipIDBME280:
	case id[0] == chipIDBMP280 && !c.bme:
	case id[0] == chipIDBMP280:
		return fmt.Errorf("%w: chip id 0x58 is a BMP280, which has no humidity sensor; set type = \"bmp280\"", ErrWrongChip)
	default:
		return fmt.Errorf("%w: chip id %#02x is neither a BME280 (0x60) nor a BMP280 (0x58)", ErrWrongChip, id[0])
	}
	opts := bmxx80.DefaultOpts
	dev, err := bmxx80.NewI2C(bus, addr, &opts)
	if err != nil {
		return err
	}
	c.dev = dev
	return nil
}

func (c *bmx280) read(_ context.Context, _ Clock, values map[string]float64) error {
	var e physic.Env
	if err := c.dev.Sense(&e); err != nil {
		return err
	}
	values[Temperature] = celsius(e.Temperature)
	values[Pressure] = hectopascal(e.Pressure)
	if c.bme {
		values[Humidity] = percentRH(e.Humidity)
	}
	return nil
}

// aht20Chip is an AHT20 (temperature, humidity).
type aht20Chip struct{ dev *aht20.Dev }

func (c *aht20Chip) open(bus i2c.Bus, _ uint16) error {
	// The driver always uses address 0x38, the only one the chip has.
	dev, err := aht20.NewI2C(bus, nil)
	if err != nil {
		return err
	}
	c.dev = dev
	return nil
}

func (c *aht20Chip) read(_ context.Context, _ Clock, values map[string]float64) error {
	var e physic.Env
	if err := c.dev.Sense(&e); err != nil {
		return err
	}
	values[Temperature] = celsius(e.Temperature)
	values[Humidity] = percentRH(e.Humidity)
	return nil
}

// scd4xChip is a Sensirion SCD40/SCD41 (CO2, temperature, humidity).
type scd4xChip struct {
	probe i2c.Dev
	dev   *scd4x.Dev
}

// scd4xDataReady is the get_data_ready_status command.
var scd4xDataReady = []byte{0xe4, 0xb8}

// scd4xPoll is how often read asks whether a measurement is ready.
const scd4xPoll = 500 * time.Millisecond

func (c *scd4xChip) open(bus i2c.Bus, addr uint16) error {
	dev, err := scd4x.NewI2C(bus, addr)
	if err != nil {
		return err
	}
	c.probe = i2c.Dev{Bus: bus, Addr: addr}
	c.dev = dev
	return nil
}

// read waits for a measurement itself before calling the driver's Sense.
// The chip measures every 5 s, the first time 5 s after open started it;
// Sense asks whether data is ready about once a second until a deadline it
// takes from the wall clock's whole seconds, 5 to 6 s later, and then
// fails, so a first measurement that comes late in that window is missed.
// Waiting here, until ctx ends, leaves Sense data that is ready at its
// first question. A bus error here fails at once (Sense would take it for
// "not ready" and go on asking).
func (c *scd4xChip) read(ctx context.Context, clock Clock, values map[string]float64) error {
	for {
		var status [3]byte
		if err := c.probe.Tx(scd4xDataReady, status[:]); err != nil {
			return err
		}
		if crc := sensirionCRC(status[:2]); crc != status[2] {
			return fmt.Errorf("%w: answer %x has CRC %#02x, want %#02x; is it a SCD40/SCD41?", ErrWrongChip, status[:2], status[2], crc)
		}
		if (uint16(status[0])<<8|uint16(status[1]))&0x07FF != 0 {
			break
		}
		if err := clock.Sleep(ctx, scd4xPoll); err != nil {
			return fmt.Errorf("no measurement ready: %w", err)
		}
	}
	var e scd4x.Env
	if err := c.dev.Sense(&e); err != nil {
		return err
	}
	values[CO2] = float64(e.CO2)
	values[Temperature] = celsius(e.Temperature)
	values[Humidity] = percentRH(e.Humidity)
	return nil
}

// bh1750Chip is a ROHM BH1750 (illuminance).
type bh1750Chip struct{ dev *bh1750.Dev }

func (c *bh1750Chip) open(bus i2c.Bus, addr uint16) error {
	dev, err := bh1750.NewI2C(bus, addr)
	if err != nil {
		return err
	}
	c.dev = dev
	return nil
}

func (c *bh1750Chip) read(_ context.Context, _ Clock, values map[string]float64) error {
	flux, err := c.dev.Sense()
	if err != nil {
		return err
	}
	// The driver returns lux as physic.LuminousFlux (lumen); 1 lx = 1 lm/m².
	values[Illuminance] = round(float64(flux)/float64(physic.Lumen), 1)
	return nil
}

// sensirionCRC is the CRC-8 after each 16-bit word of a Sensirion chip:
// polynomial 0x31, initial value 0xFF.
func sensirionCRC(data []byte) byte {
	crc := byte(0xFF)
	for _, b := range data {
		crc ^= b
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x31
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
