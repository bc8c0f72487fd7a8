package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"pitweet/daemon"
	"pitweet/media"
	"pitweet/sender"
)

// imageFlags are --image FILE and --alt TEXT, repeatable: each --alt
// describes the --image before it.
type imageFlags struct {
	images []daemon.PostImage
	alts   []bool // whether images[i] was given an --alt
	bytes  int64  // the pictures' sizes together, once checked
}

func (f *imageFlags) register(fs *flag.FlagSet) {
	fs.Func("image", fmt.Sprintf("post the picture `FILE` (JPEG, PNG, GIF or WebP) with the text; repeat for up to %d, in order", sender.MaxImages), func(path string) error {
		if path == "" {
			return errors.New("--image needs a file")
		}
		f.images = append(f.images, daemon.PostImage{Path: path})
		f.alts = append(f.alts, false)
		return nil
	})
	fs.Func("alt", "alt `TEXT` of the picture given by the --image just before", func(alt string) error {
		n := len(f.images)
		switch {
		case n == 0:
			return errors.New("--alt describes the --image before it; give --image FILE first")
		case f.alts[n-1]:
			return fmt.Errorf("--alt given twice for %s", f.images[n-1].Path)
		}
		f.images[n-1].Alt, f.alts[n-1] = alt, true
		return nil
	})
}

// check refuses more pictures than a post carries (bad usage) and a file
// that is not a picture (a failure the user fixes: one line). It reads only
// each file's header.
func (f *imageFlags) check() error {
	if len(f.images) > sender.MaxImages {
		return usageError("%d pictures; a post carries at most %d", len(f.images), sender.MaxImages)
	}
	for _, im := range f.images {
		info, err := media.Probe(im.Path)
		if err != nil {
			if errors.Is(err, media.ErrNotImage) {
				return fmt.Errorf("%s is not a JPEG, PNG, GIF or WebP picture; give a picture to --image", im.Path)
			}
			return fmt.Errorf("--image %s: %w", im.Path, err)
		}
		f.bytes += info.Size
	}
	return nil
}

// timeout is how long a command may take to post: given, or the default
// and the time the pictures' upload is allowed on a slow uplink
// (sender.UploadTime), when --timeout was not given.
func (f *imageFlags) timeout(fs *flag.FlagSet, given time.Duration) time.Duration {
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == "timeout" })
	if set {
		return given
	}
	return given + sender.UploadTime(f.bytes)
}
