package fakehw

import (
	"math"
	"time"
)

// DailyEnv is a room through the day at time t (in t's location): warmest
// in the afternoon and coolest before dawn, more humid when it is cool and
// after the morning shower, pressure drifting with the weather over days,
// CO2 building up overnight and cleared when a window opens in the morning,
// daylight through a window with passing clouds and a lamp in the evening,
// and the CPU some 26 °C above the room. Each quantity carries noise that
// depends only on t, so a given instant always reads the same.
//
// A board made with Options.Daily measures DailyEnv at its clock's time.
func DailyEnv(t time.Time) Env {
	h := float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
	days := float64(t.Unix()) / 86400
	day := func(peak float64) float64 { return math.Cos(2 * math.Pi * (h - peak) / 24) }

	temp := 21 + 1.8*day(16) + 0.35*smoothNoise(t, 1, 40*time.Minute) + 0.05*smoothNoise(t, 2, 3*time.Minute)

	shower := bump(h, 7.5, 0.7)
	hum := 47 - 6*day(16) + 14*shower + 1.5*smoothNoise(t, 3, 30*time.Minute) + 0.3*smoothNoise(t, 4, 3*time.Minute)

	press := 1013 + 7*math.Sin(2*math.Pi*days/4.3) + 0.6*math.Cos(2*math.Pi*(h-10)/12) +
		0.4*smoothNoise(t, 5, 3*time.Hour) + 0.05*smoothNoise(t, 6, 5*time.Minute)

	// People at home from five in the evening: CO2 builds up overnight
	// until a window is opened at a quarter to eight.
	since := math.Mod(h-17+24, 24)
	occupied := 1 - math.Exp(-since/5)
	if since > 14.75 {
		occupied = (1 - math.Exp(-14.75/5)) * math.Exp(-(since-14.75)/0.5)
	}
	co2 := 430 + 700*occupied + 25*smoothNoise(t, 7, 20*time.Minute) + 6*smoothNoise(t, 8, 2*time.Minute)

	sun := math.Max(0, math.Sin(math.Pi*(h-6.5)/13.5))
	clouds := 0.75 + 0.25*smoothNoise(t, 9, 25*time.Minute)
	lux := 900 * math.Pow(sun, 1.5) * clouds
	if h >= 18 && h < 23 {
		lux += 180
	}
	lux = math.Max(0, lux+3*smoothNoise(t, 10, 2*time.Minute))

	return Env{
		Temperature:    round2(temp),
		Humidity:       round2(clamp(hum, 0, 100)),
		Pressure:       round2(press),
		CO2:            math.Round(math.Max(400, co2)),
		Illuminance:    round2(lux),
		CPUTemperature: round2(temp + 26 + 1.5*smoothNoise(t, 11, 4*time.Minute)),
	}
}

// bump is a bell of height 1 at peak (hours) with the given width, wrapping
// around midnight.
func bump(h, peak, width float64) float64 {
	d := math.Abs(h - peak)
	d = math.Min(d, 24-d)
	return math.Exp(-d * d / (2 * width * width))
}

// smoothNoise is value noise in [-1, 1]: a pseudo-random value at every
// multiple of step since the Unix epoch, eased in between, so it wanders
// smoothly and depends only on t and the stream.
func smoothNoise(t time.Time, stream uint64, step time.Duration) float64 {
	x := float64(t.UnixNano()) / float64(step)
	i := math.Floor(x)
	f := x - i
	f = f * f * (3 - 2*f)
	a, b := knot(stream, int64(i)), knot(stream, int64(i)+1)
	return a + (b-a)*f
}

// knot is the noise value of knot i in a stream: splitmix64 mapped to
// [-1, 1].
func knot(stream uint64, i int64) float64 {
	z := uint64(i)*0x9E3779B97F4A7C15 + stream*0xD1B54A32D192ED03
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	z ^= z >> 31
	return float64(z>>11)/float64(1<<52) - 1
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
