package config

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const photoButton = `
[[button]]
name = "doorbell"
pin = "GPIO17"
text = "Ding dong"
long_text = "Long ring"
photo = ["rpicam-still", "-n", "-t", "1", "-o", "-"]
`

func TestPhotoConfig(t *testing.T) {
	cfg, err := Parse([]byte(photoButton+`
[[button]]
name = "gate"
pin = "GPIO22"
text = "Gate"
photo = ["/usr/local/bin/snap", "--jpeg"]
photo_timeout = "30s"
alt = 'The gate at {{.Time.Format "15:04"}}, {{.Button}} pressed'

[[button]]
name = "mailbox"
pin = "GPIO23"
text = "Mail"
`), "pitweet.toml")
	if err != nil {
		t.Fatal(err)
	}
	bell, gate, mail := cfg.Buttons[0].Photo, cfg.Buttons[1].Photo, cfg.Buttons[2].Photo
	if bell == nil || !slices.Equal(bell.Command, []string{"rpicam-still", "-n", "-t", "1", "-o", "-"}) || bell.Timeout != DefaultPhotoTimeout {
		t.Fatalf("doorbell photo %+v, want rpicam-still with the default timeout", bell)
	}
	if alt, err := bell.Alt.Render(cfg.SampleData("doorbell")); err != nil || alt != "Photo taken when the doorbell button was pressed, at 14:30 on Jun 1" {
		t.Errorf("doorbell's default alt %q, %v", alt, err)
	}
	if gate == nil || gate.Timeout != 30*time.Second || gate.Command[0] != "/usr/local/bin/snap" {
		t.Fatalf("gate photo %+v", gate)
	}
	if alt, err := gate.Alt.Render(cfg.SampleData("gate")); err != nil || alt != "The gate at 14:30, gate pressed" {
		t.Errorf("gate's alt %q, %v", alt, err)
	}
	if mail != nil {
		t.Errorf("mailbox has a photo %+v, want none", mail)
	}
}

func TestPhotoConfigErrors(t *testing.T) {
	const head = "[[button]]\nname = \"a\"\npin = \"GPIO17\"\ntext = \"x\"\n"
	for _, tt := range []struct {
		name, toml, want string
	}{
		{"empty command", head + "photo = []\n",
			`pitweet.toml:5: button "a": photo needs the command that takes the photo, such as photo = ["rpicam-still", "-n", "-t", "1", "-o", "-"]`},
		{"empty program", head + "photo = [\"\", \"-o\", \"-\"]\n",
			`pitweet.toml:5: button "a": photo needs the command`},
		{"a shell line", head + "photo = [\"rpicam-still -n -o -\"]\n",
			`pitweet.toml:5: button "a": photo's first item "rpicam-still -n -o -" has a space: the command runs without a shell, so give the program and each argument as items of their own`},
		{"relative path", head + "photo = [\"./snap.sh\"]\n",
			`pitweet.toml:5: button "a": photo's program "./snap.sh" is a relative path; give its full path, or a name found in PATH`},
		{"a string", head + "photo = \"rpicam-still -o -\"\n",
			`pitweet.toml:5:9: photo must be a list of the program and its arguments, such as ["rpicam-still", "-n", "-t", "1", "-o", "-"], not a TOML string`},
		{"NUL", head + "photo = [\"cam\", \"a\\u0000b\"]\n",
			`pitweet.toml:5: button "a": photo has an item with a NUL byte`},
		{"too many items", head + "photo = [" + strings.Repeat("\"-v\", ", 64) + "\"-o\"]\n",
			`pitweet.toml:5: button "a": photo has 65 items; a command has at most 64`},
		{"timeout too long", head + "photo = [\"cam\"]\nphoto_timeout = \"2m\"\n",
			`pitweet.toml:6: photo_timeout = "2m" must be from 1s to 1m0s (the press is acknowledged once its photo is stored)`},
		{"timeout too short", head + "photo = [\"cam\"]\nphoto_timeout = \"100ms\"\n",
			`pitweet.toml:6: photo_timeout = "100ms" must be from 1s to 1m0s`},
		{"timeout not a duration", head + "photo = [\"cam\"]\nphoto_timeout = \"10\"\n",
			`pitweet.toml:6: photo_timeout = "10" is not a duration`},
		{"timeout without photo", head + "photo_timeout = \"5s\"\n",
			`pitweet.toml:5: button "a" has photo_timeout but no photo; add photo, the command that takes it (photo = ["rpicam-still", "-n", "-t", "1", "-o", "-"]), or remove photo_timeout`},
		{"alt without photo", head + "alt = \"a photo\"\n",
			`pitweet.toml:5: button "a" has alt but no photo; add photo`},
		{"alt template", head + "photo = [\"cam\"]\nalt = \"{{.Sensors.attic.Temperature}}\"\n",
			`pitweet.toml:6: button a alt`},
		{"alt unknown field", head + "photo = [\"cam\"]\nalt = \"{{.Photo}}\"\n",
			`templates see .Time, .Host, .Button, .Long and .Sensors`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), "pitweet.toml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n%v\nwant one with\n%s", err, tt.want)
			}
		})
	}
}

// check says what takes each photo and its alt text; on real hardware a
// command it cannot find is a warning, on the simulated board the camera
// is the simulated one.
func TestCheckPhotos(t *testing.T) {
	bin := t.TempDir()
	camera := filepath.Join(bin, "snap")
	if err := os.WriteFile(camera, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notExec := filepath.Join(bin, "notes.txt")
	if err := os.WriteFile(notExec, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	config := strings.Replace(checkConfig, `mode = "fake"`, `mode = "real"`, 1) + `
[[button]]
name = "gate"
pin = "GPIO22"
text = "Gate"
photo = ["snap", "-o", "-"]
alt = 'The gate, {{.Sensors.room.Temperature}}'

[[button]]
name = "porch"
pin = "GPIO23"
text = "Porch"
photo = ["rpicam-still", "-o", "-"]

[[button]]
name = "shed"
pin = "GPIO24"
text = "Shed"
photo = ["NOTES"]
photo_timeout = "3s"
`
	path := checkFixture(t, strings.Replace(config, "NOTES", notExec, 1))
	rep := Check(context.Background(), path, CheckOptions{})
	out := lines(rep)
	for _, want := range []string{
		`ok    photo button gate: snap -o - (` + camera + `), timeout 10s; alt text "The gate, 21.5 °C"` + "\n",
		`warn  photo button porch: the photo command "rpicam-still" is not found in PATH; install it (rpicam-still is in the rpicam-apps package) or give its full path; until then the button's presses are posted without a photo` + "\n",
		`warn  photo button shed: the photo command "` + notExec + `" cannot be run: permission denied; install it`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks\n%s\nin\n%s", want, out)
		}
	}
	if f := rep.Failed(); f != nil {
		t.Errorf("a photo command not found fails check: %v", f)
	}

	fake := checkFixture(t, checkConfig+`
[[button]]
name = "gate"
pin = "GPIO22"
text = "Gate"
photo = ["rpicam-still", "-o", "-"]
`)
	out = lines(Check(context.Background(), fake, CheckOptions{}))
	if want := `ok    photo button gate: from the simulated camera (fake hardware; rpicam-still -o - is not run), timeout 10s; alt text "Photo taken when the gate button was pressed, at 14:30 on Jun 1"` + "\n"; !strings.Contains(out, want) {
		t.Errorf("check output lacks\n%s\nin\n%s", want, out)
	}

	long := checkFixture(t, checkConfig+`
[[button]]
name = "gate"
pin = "GPIO22"
text = "Gate"
photo = ["rpicam-still", "-o", "-"]
alt = '{{.Host}}{{printf "%0999d" 0}}'
`)
	rep = Check(context.Background(), long, CheckOptions{})
	if f := rep.Failed(); f == nil || f.Message() != "photo button gate: alt is 1010 characters with sample readings, more than X's 1000; shorten it" {
		t.Errorf("a long alt: %v\n%s", f, lines(rep))
	}
}
