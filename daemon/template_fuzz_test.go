package daemon

import (
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
	cfg, err := ParseConfig([]byte("[[sensor]]\nname = \"room\"\ntype = \"bme280\"\n[[sensor]]\nname = \"cpu\"\ntype = \"cpu\"\n"), "f.toml")
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
		n := TweetLength(out)
		if n < 0 || (utf8.ValidString(out) && n > 23*utf8.RuneCountInString(out)) {
			t.Fatalf("TweetLength(%q) = %d", out, n)
		}
		short := Truncate(out, MaxTweetLength)
		if TweetLength(short) > MaxTweetLength {
			t.Fatalf("Truncate(%q) has length %d", out, TweetLength(short))
		}
		if n <= MaxTweetLength && short != out {
			t.Fatalf("Truncate changed text that fits: %q -> %q", out, short)
		}
		tmpl.SensorRefs()
	})
}
