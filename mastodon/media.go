package mastodon

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"pitweet/media"
	"pitweet/sender"
)

// Image is a picture to upload, read from disk as the request is sent.
type Image struct {
	Path        string
	Size        int64
	Type        string // its MIME type: "image/jpeg"
	Filename    string // the name the server is told: "photo.jpg"
	Description string // alt text; "" for none
}

// Attachment is a MediaAttachment (docs.joinmastodon.org/entities/MediaAttachment/).
type Attachment struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	URL         string `json:"url"` // null while the server processes the file
	Description string `json:"description"`
}

// UploadRequest is POST /api/v2/media for img: multipart/form-data with
// description and then file (with its file name and Content-Type: "The
// file must have a MIME type"), the file streamed from disk. boundary ""
// picks a random one. The multipart body is returned too, for its Layout.
func (c *Client) UploadRequest(img Image, boundary string) (*sender.Request, *media.Multipart, error) {
	var fields []media.Field
	if img.Description != "" {
		fields = append(fields, media.Field{Name: "description", Value: img.Description})
	}
	files := []media.FilePart{{Name: "file", Filename: img.Filename, ContentType: img.Type, Path: img.Path, Size: img.Size}}
	var mp *media.Multipart
	var err error
	if boundary == "" {
		mp, err = media.NewMultipart(fields, files)
	} else {
		mp, err = media.NewMultipartBoundary(boundary, fields, files)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("mastodon: upload %s: %w", img.Path, err)
	}
	req := &sender.Request{
		Method:        "POST",
		Target:        pathMediaV2,
		ContentType:   mp.ContentType(),
		Authorization: c.auth(),
		Body:          new(sender.Body).AppendStream(mp.ContentLength(), "multipart body with "+img.Path, mp.Open),
		// An upload may take a while on a slow uplink.
		Timeout: 2 * time.Minute,
	}
	return req, mp, nil
}

// Upload sends img. The server answers 200 when it processed the file at
// once, 202 when it still processes it (the attachment's url is null
// until then); done says which.
func (c *Client) Upload(ctx context.Context, img Image) (a *Attachment, done bool, err error) {
	req, _, err := c.UploadRequest(img, "")
	if err != nil {
		return nil, false, err
	}
	resp, err := c.do(ctx, req, 200, 202)
	if err != nil {
		return nil, false, err
	}
	a, err = decodeAttachment(resp)
	if err != nil {
		return nil, false, err
	}
	return a, resp.StatusCode == 200, nil
}

func decodeAttachment(resp *sender.Response) (*Attachment, error) {
	var a Attachment
	if err := json.Unmarshal(resp.Body, &a); err != nil || a.ID == "" {
		return nil, protocolError(resp, `a MediaAttachment ({"id":...})`)
	}
	return &a, nil
}

// Media asks whether the server has processed attachment id (GET
// /api/v1/media/:id: 200 done, 206 still processing).
func (c *Client) Media(ctx context.Context, id string) (a *Attachment, done bool, err error) {
	resp, err := c.do(ctx, &sender.Request{Method: "GET", Target: pathMedia + escapePath(id), Authorization: c.auth()}, 200, 206)
	if err != nil {
		return nil, false, err
	}
	if resp.StatusCode == 206 {
		// "The media attachment is still being processed"; the body is
		// not documented.
		return &Attachment{ID: id}, false, nil
	}
	a, err = decodeAttachment(resp)
	if err != nil {
		return nil, false, err
	}
	return a, true, nil
}

// Polling while the server processes an upload: the documentation gives no
// interval, so 1 s doubling to 8 s, for at most MaxProcessing.
const (
	firstPoll     = time.Second
	maxPoll       = 8 * time.Second
	MaxProcessing = 2 * time.Minute
)

// WaitMedia polls attachment id until the server has processed it, for at
// most MaxProcessing; then it gives up with a transient error (the whole
// post is tried again later).
func (c *Client) WaitMedia(ctx context.Context, id string) (*Attachment, error) {
	deadline := c.now().Add(MaxProcessing)
	wait := firstPoll
	for {
		a, done, err := c.Media(ctx, id)
		if err != nil {
			return nil, err
		}
		if done {
			return a, nil
		}
		if !c.now().Add(wait).Before(deadline) {
			return nil, fmt.Errorf("mastodon: the server was still processing attachment %s after %s; trying again later: %w", id, MaxProcessing, sender.ErrTransient)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("mastodon: waiting for attachment %s: %w", id, err)
		}
		wait = min(2*wait, maxPoll)
	}
}
