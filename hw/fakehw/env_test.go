package fakehw_test

import (
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"pitweet/hw"
	"pitweet/hw/fakehw"
)

// A day of DailyEnv, minute by minute, stays within what the chips measure,
// moves smoothly, and has the shape of a lived-in room.
func TestDailyEnvShape(t *testing.T) {
	loc := time.FixedZone("test", 2*3600)
	for _, date := range []time.Time{
		time.Date(2025, 6, 1, 0, 0, 0, 0, loc),
		time.Date(2026, 1, 17, 0, 0, 0, 0, loc),
		time.Date(2026, 11, 27, 0, 0, 0, 0, loc),
	} {
		at := func(h, m int) fakehw.Env {
			return fakehw.DailyEnv(date.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute))
		}
		prev := at(0, 0)
		for m := 1; m < 24*60; m++ {
			e := at(0, m)
			switch {
			case e.Temperature < 15 || e.Temperature > 28:
				t.Fatalf("%v +%dmin: temperature %v outside 15..28 °C", date, m, e.Temperature)
			case e.Humidity < 25 || e.Humidity > 80:
				t.Fatalf("%v +%dmin: humidity %v outside 25..80 %%", date, m, e.Humidity)
			case e.Pressure < 995 || e.Pressure > 1030:
				t.Fatalf("%v +%dmin: pressure %v outside 995..1030 hPa", date, m, e.Pressure)
			case e.CO2 < 400 || e.CO2 > 1300:
				t.Fatalf("%v +%dmin: CO2 %v outside 400..1300 ppm", date, m, e.CO2)
			case e.Illuminance < 0 || e.Illuminance > 1200:
				t.Fatalf("%v +%dmin: illuminance %v outside 0..1200 lux", date, m, e.Illuminance)
			}
			// No jumps from one minute to the next (the evening lamp is
			// switched, so light is left out).
			if d := math.Abs(e.Temperature - prev.Temperature); d > 0.1 {
				t.Fatalf("%v +%dmin: temperature jumps by %.2f °C in a minute", date, m, d)
			}
			if d := math.Abs(e.Humidity - prev.Humidity); d > 0.8 {
				t.Fatalf("%v +%dmin: humidity jumps by %.2f %% in a minute", date, m, d)
			}
			if d := math.Abs(e.CO2 - prev.CO2); d > 40 {
				t.Fatalf("%v +%dmin: CO2 jumps by %v ppm in a minute", date, m, d)
			}
			prev = e
		}
		if a, b := at(16, 0).Temperature, at(4, 0).Temperature; a < b+2 {
			t.Errorf("%v: 16:00 is %v °C, 04:00 is %v °C; want the afternoon at least 2 °C warmer", date, a, b)
		}
		if a, b := at(7, 30).Humidity, at(13, 0).Humidity; a < b+10 {
			t.Errorf("%v: humidity after the shower %v %%, at noon %v %%; want it at least 10 points higher", date, a, b)
		}
		if a, b := at(7, 30).CO2, at(13, 0).CO2; a < b+300 {
			t.Errorf("%v: CO2 at 07:30 %v ppm, at 13:00 %v ppm; want the night's build-up", date, a, b)
		}
		if l := at(2, 0).Illuminance; l > 5 {
			t.Errorf("%v: %v lux at 02:00; want dark", date, l)
		}
		if l := at(13, 0).Illuminance; l < 300 {
			t.Errorf("%v: %v lux at 13:00; want daylight", date, l)
		}
		// Noise: a plain daily cosine turns twice a day; with noise the
		// temperature turns many times.
		turns, rising := 0, at(0, 1).Temperature > at(0, 0).Temperature
		for m := 2; m < 24*60; m++ {
			a, b := at(0, m-1).Temperature, at(0, m).Temperature
			if a != b && (b > a) != rising {
				turns++
				rising = b > a
			}
		}
		if turns < 20 {
			t.Errorf("%v: the temperature turns %d times in a day; want noise (at least 20)", date, turns)
		}
	}
	// The same instant always reads the same.
	now := time.Date(2026, 3, 3, 9, 41, 7, 0, time.UTC)
	if fakehw.DailyEnv(now) != fakehw.DailyEnv(now) {
		t.Error("DailyEnv is not a function of its time")
	}
}

// A board with Options.Daily measures DailyEnv at its clock, through the
// real drivers; SetEnv fixes the environment again.
func TestDailyBoard(t *testing.T) {
	b := fakehw.New(fakehw.Options{Daily: true, Dir: t.TempDir()})
	defer b.Close()
	room, err := hw.OpenSensor(b, hw.SensorConfig{Name: "room", Type: "bme280"})
	if err != nil {
		t.Fatal(err)
	}
	air, err := hw.OpenSensor(b, hw.SensorConfig{Name: "air", Type: "scd4x"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(what string) {
		t.Helper()
		want := fakehw.DailyEnv(b.Clock().Now())
		r, err := room.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(r.Values[hw.Temperature] - want.Temperature); d > 0.02 {
			t.Errorf("%s: bme280 reads %v °C, DailyEnv says %v", what, r.Values[hw.Temperature], want.Temperature)
		}
		if d := math.Abs(r.Values[hw.Pressure] - want.Pressure); d > 0.03 {
			t.Errorf("%s: bme280 reads %v hPa, DailyEnv says %v", what, r.Values[hw.Pressure], want.Pressure)
		}
		a, err := air.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The SCD4x needs seconds of the board's time to measure; compare
		// with the environment when the read ended.
		if got, want := a.Values[hw.CO2], fakehw.DailyEnv(b.Clock().Now()).CO2; math.Abs(got-want) > 1 {
			t.Errorf("%s: scd4x reads %v ppm, DailyEnv says %v", what, got, want)
		}
	}
	check("at the epoch")
	noon := b.Env()
	b.Clock().Advance(15 * time.Hour) // 12:00 to 03:00 UTC
	check("15 h later")
	night := b.Env()
	if night.Temperature >= noon.Temperature || night.Illuminance >= noon.Illuminance {
		t.Errorf("03:00 %+v is not cooler and darker than 12:00 %+v", night, noon)
	}

	fixed := fakehw.DefaultEnv
	if err := b.SetEnv(fixed); err != nil {
		t.Fatal(err)
	}
	b.Clock().Advance(5 * time.Hour)
	if b.Env() != fixed {
		t.Errorf("after SetEnv the environment is %+v, want %+v", b.Env(), fixed)
	}
}

// With Options.Daily the CPU temperature file follows the day too.
func TestDailyCPUFile(t *testing.T) {
	b := fakehw.New(fakehw.Options{Daily: true, RealTime: true, Dir: t.TempDir()})
	defer b.Close()
	read := func() float64 {
		t.Helper()
		data, err := os.ReadFile(b.CPUTempPath())
		if err != nil {
			t.Fatal(err)
		}
		milli, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			t.Fatalf("CPU temperature file holds %q", data)
		}
		return float64(milli) / 1000
	}
	got := read()
	want := fakehw.DailyEnv(time.Now()).CPUTemperature
	if math.Abs(got-want) > 2 {
		t.Errorf("CPU temperature file says %v °C; DailyEnv now says %v", got, want)
	}
}
