package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"pitweet/media"
	"pitweet/outbox"
)

// A pictureLimiter is a destination that takes pictures within limits
// (X: media.XLimits). Before each attempt the delivery loop fits every
// picture of the message to them with media.Fit, once: a picture that
// does not fit as it is gets a version that does, kept in the outbox
// beside the original (outbox.VariantPath) and used again at the next
// attempt and after a restart. Post is then given the fitted pictures.
type pictureLimiter interface {
	PictureLimits(ctx context.Context) (media.Limits, error)
}

// errPictures marks pictures that cannot be posted, whatever the
// service's state: one that no version can make fit a destination's
// limits (an animated GIF too large, a picture too large to decode within
// pitweet's memory bound, a file that is not a picture), or a destination
// set up to post no pictures. A refusal for good, not a reason to try
// again.
var errPictures = errors.New("daemon: the pictures cannot be posted")

// fitError is a failure to fit a picture, and whether it is for good.
func fitError(name string, lim media.Limits, err error) error {
	var pathErr *fs.PathError
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &pathErr) {
		// Shutting down, or the disk failed: nothing says the picture is
		// at fault.
		return fmt.Errorf("daemon: fit picture %s to %s: %w", name, lim.Name, err)
	}
	return fmt.Errorf("%w to %s: %w", errPictures, lim.Name, err)
}

// fitPictures returns the pictures of message m as destination dest
// posts them, fitted to lim: each variant made earlier, or the original
// when it fits as it is, or a variant made now.
func fitPictures(ctx context.Context, box *outbox.Outbox, m outbox.Message, dest string, lim media.Limits) ([]Picture, error) {
	var pics []Picture
	for _, im := range m.Images {
		path := box.PicturePath(m.ID, im.Name)
		if name, ok := box.Variant(m.ID, im.Name, dest); ok {
			path = box.PicturePath(m.ID, name)
		} else {
			ext := filepath.Ext(im.Name)
			dst := box.VariantPath(m.ID, im.Name, dest, ext)
			res, err := media.Fit(ctx, path, dst, lim)
			if err != nil {
				return nil, fitError(im.Name, lim, err)
			}
			if !res.Unchanged && res.Info.Format.Ext() != ext {
				// Named for what it holds; a crash before the rename
				// leaves a file whose type is read from its header all
				// the same.
				right := strings.TrimSuffix(dst, ext) + res.Info.Format.Ext()
				if err := os.Rename(dst, right); err == nil {
					res.Path = right
				}
			}
			path = res.Path
		}
		pic, err := pictureAt(path, im.Alt)
		if err != nil {
			return nil, fitError(im.Name, lim, err)
		}
		pics = append(pics, pic)
	}
	return pics, nil
}

// pictureAt describes the picture file at path.
func pictureAt(path, alt string) (Picture, error) {
	info, err := media.Probe(path)
	if err != nil {
		return Picture{}, err
	}
	w, h := info.Upright()
	return Picture{Path: path, Type: info.Format.MIMEType(), Alt: alt, Width: w, Height: h, Size: info.Size}, nil
}

// fitFiles fits the picture files of a post made at once (pitweet post
// and tweet) to lim, writing what must change into dir.
func fitFiles(ctx context.Context, images []PostImage, dir string, lim media.Limits) ([]Picture, error) {
	var pics []Picture
	for i, im := range images {
		dst := filepath.Join(dir, fmt.Sprintf("%d%s", i+1, filepath.Ext(im.Path)))
		res, err := media.Fit(ctx, im.Path, dst, lim)
		if err != nil {
			return nil, fitError(im.Path, lim, err)
		}
		pic, err := pictureAt(res.Path, im.Alt)
		if err != nil {
			return nil, fitError(im.Path, lim, err)
		}
		pic.Note = res.Note
		pics = append(pics, pic)
	}
	return pics, nil
}
