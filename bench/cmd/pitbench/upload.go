package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// uploadPixels are the picture's size: noise of 1290×1260 RGB is a PNG of
// about 4.9 MB, under X's 5 MB, so it is sent as it is (no scaling).
const uploadW, uploadH = 1290, 1260

// measureUpload posts one tweet with a 4.9 MB picture and its alt text in
// a fresh process, with pitweet tweet --image (one streamed multipart
// upload) and with twitter-api-v2's v2.uploadMedia (which reads the file
// into a Buffer and sends 1 MiB APPENDs), beside pitweet tweet with text
// alone; alternating, under /usr/bin/time -v, to the same emulator, which
// decodes and keeps each picture.
func measureUpload(o *options, rep *report, log *slog.Logger) error {
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		return errors.New("pitbench: /usr/bin/time is missing: apt-get install time")
	}
	r, err := newBenchRig()
	if err != nil {
		return err
	}
	defer r.close()
	cfg, _, err := r.writeConfig("upload", "")
	if err != nil {
		return err
	}
	pic := filepath.Join(r.dir, "noise.png")
	size, err := writeNoisePNG(pic)
	if err != nil {
		return err
	}
	const alt = "Noise, 1290 by 1260 pixels"
	tools := []tool{
		{name: toolText, argv: func(text string) ([]string, error) {
			return []string{o.pitweet, "tweet", "--config", cfg, text}, nil
		}},
		{name: toolImage, argv: func(text string) ([]string, error) {
			return []string{o.pitweet, "tweet", "--config", cfg, "--image", pic, "--alt", alt, text}, nil
		}},
	}
	if _, err := exec.LookPath("node"); err == nil && exists("node/node_modules/twitter-api-v2") {
		tools = append(tools, tool{name: toolNodeUpload, env: append(r.keyEnv(), "NODE_EXTRA_CA_CERTS="+r.ca),
			argv: func(text string) ([]string, error) {
				return []string{"node", "node/upload.js", r.x.URL(), pic, "image/png", alt, text}, nil
			}})
	} else {
		rep.skip("upload: twitter-api-v2", "node or bench/node/node_modules is missing (apt-get install nodejs npm; cd bench/node && npm ci)")
	}
	samples := map[string][]sample{}
	seq := 0
	for round := -1; round < o.runs; round++ {
		for i := range tools {
			t := tools[(i+max(round, 0))%len(tools)]
			seq++
			text := fmt.Sprintf("bench upload %d by %s at %d", seq, t.name, time.Now().UnixNano())
			s, err := timeOne(r, t, text)
			if err != nil {
				return err
			}
			if t.name != toolText {
				if err := checkPicture(r, text, size, alt); err != nil {
					return fmt.Errorf("pitbench: %s: %w", t.name, err)
				}
			}
			if round >= 0 {
				samples[t.name] = append(samples[t.name], s)
			}
		}
	}
	med := map[string]sample{}
	for _, t := range tools {
		var w, c, m []float64
		for _, s := range samples[t.name] {
			w = append(w, float64(s.wall))
			c = append(c, float64(s.cpu))
			m = append(m, float64(s.rss))
		}
		med[t.name] = sample{wall: time.Duration(median(w)), cpu: time.Duration(median(c)), rss: int64(median(m))}
	}
	note := fmt.Sprintf("Medians of %d alternating runs after one warm-up each, wall time around /usr/bin/time -v, peak RSS (VmHWM) from its report. The picture is a %d-byte PNG (%d×%d noise), within X's 5 MB, so pitweet sends it as it is, streamed from disk in one multipart request (POST /2/media/upload), then the alt text and the post; twitter-api-v2 1.29.1 reads it into a Buffer and sends it by v2.uploadMedia (INITIALIZE, 1 MiB APPENDs, FINALIZE), then createMediaMetadata and v2.tweet. The emulator decodes every picture it is sent, for both.", o.runs, size, uploadW, uploadH)
	for _, t := range tools {
		s := med[t.name]
		rep.add("upload", row{measure: t.name, value: fmt.Sprintf("%s wall, %s CPU, %s peak RSS", ms(s.wall), ms(s.cpu), mib(s.rss)), note: note})
	}
	text, img := med[toolText], med[toolImage]
	growth := float64(img.rss-text.rss) / 1024
	rep.add("upload", goal("peak RSS growth of tweet --image (4.9 MB) over a text tweet", fmt.Sprintf("%+.1f MiB", growth), "≤ 4 MiB", growth <= 4, note))
	if n, ok := med[toolNodeUpload]; ok {
		rep.add("upload", row{measure: "pitweet tweet --image vs twitter-api-v2 uploadMedia",
			value: fmt.Sprintf("%.2f× wall, %.2f× peak RSS", float64(img.wall)/float64(n.wall), float64(img.rss)/float64(n.rss)), note: note})
	}
	return nil
}

// Names of the upload measure's tools.
const (
	toolText       = "pitweet tweet (text only)"
	toolImage      = "pitweet tweet --image (4.9 MB PNG, alt text)"
	toolNodeUpload = "twitter-api-v2 (node) v2.uploadMedia + alt text + tweet"
)

// checkPicture checks that the tweet text was posted with the picture of
// size bytes and alt.
func checkPicture(r *benchRig, text string, size int, alt string) error {
	for _, tw := range r.x.Tweets() {
		if tw.Text != text {
			continue
		}
		if len(tw.Media) != 1 || tw.Media[0].Size != size || tw.Media[0].Alt != alt {
			return fmt.Errorf("the emulator has %q with %d pictures, not the %d-byte picture with its alt text", text, len(tw.Media), size)
		}
		return nil
	}
	return fmt.Errorf("the emulator has no tweet %q", text)
}

// writeNoisePNG writes a uploadW×uploadH PNG of noise and returns its size.
func writeNoisePNG(path string) (int, error) {
	img := image.NewRGBA(image.Rect(0, 0, uploadW, uploadH))
	seed := uint32(11)
	for y := range uploadH {
		for x := range uploadW {
			seed = seed*1664525 + 1013904223
			img.SetRGBA(x, y, color.RGBA{uint8(seed >> 24), uint8(seed >> 16), uint8(seed >> 8), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return 0, err
	}
	if b.Len() > 5_000_000 {
		return 0, fmt.Errorf("pitbench: the noise PNG is %d bytes, over X's 5 MB", b.Len())
	}
	return b.Len(), os.WriteFile(path, b.Bytes(), 0o644)
}
