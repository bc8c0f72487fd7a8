package config

import (
	"pitweet/textlen"
	"testing"
	"unicode/utf8"
)

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		`Ding dong at {{.Time.Format "15:04"}} on {{.Host}}`,
		`{{.Sensors.room.Temperature}} {{printf "%.1f" .Sensors.room.Humidity.V}}`,
		`{{if gt .Sensors.room.Temperature.V 30.0}}hot{{else}}fine{{end}} https://example.com/x 👨‍👩‍👧‍👦 故人`,
		`{{with .Sensors.cpu}}{{.Temperature}}{{end}} {{.Button}} {{.Long}}`,
		`{{range 10}}x{{end}}`,
	} {
		f.Add(s)
	}
	cfg, err := Parse([]byte("[[sensor]]\nname = \"room\"\ntype = \"bme280\"\n[[sensor]]\nname = \"cpu\"\ntype = \"cpu\"\n"), "f.toml")
	if err != nil {
		f.Fatal(err)
	}
	data := cfg.SampleData("door")
	f.Fuzz(func(t *testing.T, text string) {
		tmpl, err := ParseTemplate("t", text)
		if err != nil {
			return
		}
		out, err := tmpl.Render(data)
		if err != nil {
			return
		}
		if len(out) > maxRendered {
			t.Fatalf("rendered %d bytes, more than %d", len(out), maxRendered)
		}
		n := textlen.X(out)
		if n < 0 || (utf8.ValidString(out) && n > 23*utf8.RuneCountInString(out)) {
			t.Fatalf("TweetLength(%q) = %d", out, n)
		}
		short := textlen.TruncateX(out, textlen.MaxX)
		if textlen.X(short) > textlen.MaxX {
			t.Fatalf("Truncate(%q) has length %d", out, textlen.X(short))
		}
		if n <= textlen.MaxX && short != out {
			t.Fatalf("Truncate changed text that fits: %q -> %q", out, short)
		}
		tmpl.SensorRefs()
	})
}
