package config

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"pitweet/chart"
)

// PhotoConfig is a button's photo: the command that takes it, how long it
// may take, and the picture's alt text.
type PhotoConfig struct {
	// Command is the program and its arguments, run without a shell; it
	// writes a JPEG or PNG to its standard output.
	Command []string
	Timeout time.Duration
	// Alt is the alt text, rendered with what the button's text sees; it
	// is never nil (a description of the photo when the file has none).
	Alt *Template
}

// Photo limits and defaults.
const (
	// DefaultPhotoTimeout suits a doorbell: rpicam-still starts the
	// camera, settles its exposure and writes a JPEG in one to two
	// seconds on a Pi 4 and in three to five on a Pi Zero, so 10 s
	// leaves room for a slow card or a busy CPU, while a photo taken
	// later than that would show an empty porch, and the press's post
	// waits for it.
	DefaultPhotoTimeout = 10 * time.Second
	// MinPhotoTimeout and MaxPhotoTimeout bound photo_timeout: no camera
	// takes a photo in less than a second, and a press is not
	// acknowledged (nor posted) before its photo is stored.
	MinPhotoTimeout = time.Second
	MaxPhotoTimeout = time.Minute
	// maxPhotoArgs bounds the command's length.
	maxPhotoArgs = 64
)

// DefaultPhotoAlt is the alt text of a photo whose button has no alt.
const DefaultPhotoAlt = `Photo taken when the {{.Button}} button was pressed, at {{.Time.Format "15:04 on Jan 2"}}`

// PhotoCommandExample is how a photo command is written.
const PhotoCommandExample = `photo = ["rpicam-still", "-n", "-t", "1", "-o", "-"]`

// photo checks a button's photo, photo_timeout and alt keys.
func (v *validator) photo(b *ButtonConfig, i int, raw *rawButton, sample TemplateData) {
	path := func(key string) []string { return item("button", i, key) }
	at := func(key string) string { return v.at(path(key)...) }
	if raw.Photo == nil {
		if raw.PhotoTimeout != "" {
			v.problem(at("photo_timeout"), "button %q has photo_timeout but no photo; add photo, the command that takes it (%s), or remove photo_timeout", raw.Name, PhotoCommandExample)
		}
		if raw.Alt != "" {
			v.problem(at("alt"), "button %q has alt but no photo; add photo, the command that takes it (%s), or remove alt", raw.Name, PhotoCommandExample)
		}
		return
	}
	p := &PhotoConfig{Command: raw.Photo}
	if err := checkPhotoCommand(raw.Photo); err != nil {
		v.problem(at("photo"), "button %q: %v", raw.Name, err)
	}
	p.Timeout = v.duration(path("photo_timeout"), raw.PhotoTimeout, DefaultPhotoTimeout)
	if p.Timeout < MinPhotoTimeout || p.Timeout > MaxPhotoTimeout {
		v.problem(at("photo_timeout"), "photo_timeout = %q must be from %v to %v (the press is acknowledged once its photo is stored)", raw.PhotoTimeout, MinPhotoTimeout, MaxPhotoTimeout)
	}
	alt, what := raw.Alt, "button "+raw.Name+" alt"
	if alt == "" {
		alt, what = DefaultPhotoAlt, "button "+raw.Name+" default alt"
	}
	sample.Button = raw.Name
	p.Alt = v.template(path("alt"), what, alt, sample)
	b.Photo = p
}

// checkPhotoCommand checks a photo command as written: a program (a name
// found in PATH, or an absolute path) and its arguments, run without a
// shell.
func checkPhotoCommand(cmd []string) error {
	switch {
	case len(cmd) == 0 || cmd[0] == "":
		return fmt.Errorf("photo needs the command that takes the photo, such as %s", PhotoCommandExample)
	case len(cmd) > maxPhotoArgs:
		return fmt.Errorf("photo has %d items; a command has at most %d", len(cmd), maxPhotoArgs)
	case strings.ContainsFunc(cmd[0], unicode.IsSpace):
		return fmt.Errorf("photo's first item %q has a space: the command runs without a shell, so give the program and each argument as items of their own, such as %s", cmd[0], PhotoCommandExample)
	case strings.Contains(cmd[0], "/") && !filepath.IsAbs(cmd[0]):
		return fmt.Errorf("photo's program %q is a relative path; give its full path, or a name found in PATH", cmd[0])
	}
	for _, arg := range cmd {
		if strings.ContainsRune(arg, 0) {
			return errors.New("photo has an item with a NUL byte, which no command line can carry")
		}
	}
	return nil
}

// checkPhotos says, for each button with a photo, what takes it and what
// its alt text says with sample readings. On real hardware a command that
// is not found is a warning: the button's presses are posted without a
// photo.
func checkPhotos(cfg *Config, rep *CheckReport) {
	for _, b := range cfg.Buttons {
		p := b.Photo
		if p == nil {
			continue
		}
		res := CheckResult{What: "photo", Detail: "button " + b.Name}
		alt, err := p.Alt.Render(cfg.SampleData(b.Name))
		switch n := len([]rune(alt)); {
		case err != nil:
			res.Err = err
		case strings.TrimSpace(alt) == "":
			res.Err = errors.New("alt renders to nothing with sample readings; remove alt to have one made")
		case n > chart.MaxAlt:
			res.Err = fmt.Errorf("alt is %d characters with sample readings, more than X's %d; shorten it", n, chart.MaxAlt)
		}
		if res.Err != nil {
			rep.add(res)
			continue
		}
		command := strings.Join(p.Command, " ")
		if cfg.Hardware.Fake() {
			res.Detail = fmt.Sprintf("button %s: from the simulated camera (fake hardware; %s is not run), timeout %v; alt text %q", b.Name, command, p.Timeout, alt)
			rep.add(res)
			continue
		}
		res.Detail = fmt.Sprintf("button %s: %s, timeout %v; alt text %q", b.Name, command, p.Timeout, alt)
		found, err := exec.LookPath(p.Command[0])
		if err != nil {
			why := "is not found in PATH"
			var ee *exec.Error
			if filepath.IsAbs(p.Command[0]) && errors.As(err, &ee) {
				why = "cannot be run: " + trimPkg(ee.Err)
			}
			res.Detail, res.Warn = "button "+b.Name, true
			res.Err = fmt.Errorf("the photo command %q %s; install it (rpicam-still is in the rpicam-apps package) or give its full path; until then the button's presses are posted without a photo", p.Command[0], why)
		} else if found != p.Command[0] {
			res.Detail = fmt.Sprintf("button %s: %s (%s), timeout %v; alt text %q", b.Name, command, found, p.Timeout, alt)
		}
		rep.add(res)
	}
}
