package fakemastodon

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	_ "image/jpeg" // image.Decode reads JPEG
	_ "image/png"  // and PNG
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"pitweet/emulator"
	"pitweet/httpd"
)

// mediaFilesPath is where uploaded files are served, as Mastodon's local
// file storage lays them out.
const mediaFilesPath = "/system/media_attachments/files/"

// Messages of POST /api/v2/media, all answered 422 {"error": "..."}.
const (
	// docs.joinmastodon.org/methods/media/#v2, 422: "File or file type is
	// unsupported or invalid".
	msgFileType = "Validation failed: File content type is invalid, File is invalid"
	// Rails' presence validation of the attachment.
	msgFileBlank = "Validation failed: File can't be blank"
	// Paperclip's size validation (MediaAttachment IMAGE_LIMIT).
	msgFileSize = "Validation failed: File file size must be less than %d MB"
	// Mastodon's MediaAttachment#check_image_dimension (image_matrix_limit).
	msgDimensions = "%dx%d images are not supported"
	// Rails' length validation of the description (description_limit).
	msgDescription = "Validation failed: Description is too long (maximum is %d characters)"
)

// postMedia serves POST /api/v2/media (docs.joinmastodon.org/methods/media/#v2):
// multipart/form-data with file ("The file to be attached, encoded using
// multipart form data. The file must have a MIME type.") and description
// ("A plain-text description of the media, for accessibility purposes").
// Still images are processed synchronously and answered 200; animated GIFs
// (and, if AsyncOver is set, large images) answer 202 with url null while
// they are "processing" ("Smaller media formats (image) will be processed
// synchronously and return 200 instead of 202. Larger media formats ...
// will continue to be processed asynchronously and return 202").
func (s *Server) postMedia(ex *emulator.Exchange) {
	a, ok := s.authenticate(ex, "write:media")
	if !ok || !s.countRequest(ex, a) {
		return
	}
	var file *httpd.Part
	var description, focus string
	if httpd.MediaType(ex.R.Header.Get("Content-Type")) == "multipart/form-data" {
		parts, err := ex.R.Multipart()
		if err != nil {
			s.fail(ex, 400, msgParse, err.Error())
			return
		}
		for i := range parts {
			switch parts[i].Name {
			case "file":
				file = &parts[i]
			case "description":
				description = string(parts[i].Body)
			case "focus":
				focus = string(parts[i].Body)
			}
		}
	}
	if file == nil {
		s.fail(ex, 422, msgFileBlank, "no file part (multipart/form-data, name=\"file\")")
		return
	}
	if file.Filename == "" || file.ContentType == "" {
		s.fail(ex, 422, msgFileType, "the file part needs a filename and a Content-Type")
		return
	}
	if len(file.Body) > s.ImageSizeLimit {
		s.fail(ex, 422, fmt.Sprintf(msgFileSize, s.ImageSizeLimit>>20), fmt.Sprintf("%d bytes over the image_size_limit of %d", len(file.Body), s.ImageSizeLimit))
		return
	}
	mimeType := emulator.SniffImage(file.Body)
	if !slices.Contains(s.SupportedMIMETypes, mimeType) {
		s.fail(ex, 422, msgFileType, fmt.Sprintf("the bytes are %q, not one of %v (sent as %s)", mimeType, s.SupportedMIMETypes, file.ContentType))
		return
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(file.Body))
	if err != nil {
		s.fail(ex, 422, msgFileType, "the image does not decode: "+err.Error())
		return
	}
	if cfg.Width*cfg.Height > s.ImageMatrixLimit {
		s.fail(ex, 422, fmt.Sprintf(msgDimensions, cfg.Width, cfg.Height), "over the image_matrix_limit")
		return
	}
	frames := 1
	if mimeType == "image/gif" {
		g, err := gif.DecodeAll(bytes.NewReader(file.Body))
		if err != nil {
			s.fail(ex, 422, msgFileType, "the image does not decode: "+err.Error())
			return
		}
		frames = len(g.Image)
	} else if _, _, err := image.Decode(bytes.NewReader(file.Body)); err != nil {
		s.fail(ex, 422, msgFileType, "the image does not decode: "+err.Error())
		return
	}
	if n := utf8.RuneCountInString(description); n > s.DescriptionLimit {
		s.fail(ex, 422, fmt.Sprintf(msgDescription, s.DescriptionLimit), fmt.Sprintf("description of %d characters", n))
		return
	}

	kind, async := "image", s.AsyncOver > 0 && len(file.Body) > s.AsyncOver
	if frames > 1 {
		kind, async = "gifv", true // docs.joinmastodon.org/user/posting/: animated GIFs become soundless MP4s
	}
	s.mu.Lock()
	m := &Media{ID: s.nextID(ex.Now), Account: a.Username, Type: kind, MIMEType: mimeType, Filename: file.Filename,
		Description: description, Focus: focus, Width: cfg.Width, Height: cfg.Height, Size: len(file.Body),
		UploadedAt: ex.Now, ReadyAt: ex.Now, data: bytes.Clone(file.Body)}
	status := 200
	if async {
		m.ReadyAt = ex.Now.Add(s.ProcessingTime)
		status = 202
	}
	s.media = append(s.media, m)
	v := mediaJSON(m, ex.R.Host, ex.Now)
	s.mu.Unlock()
	s.core.Notify()
	ex.JSON(status, v, fmt.Sprintf("media %s: %s %dx%d, %d bytes", m.ID, mimeType, cfg.Width, cfg.Height, m.Size))
}

// getMedia serves GET /api/v1/media/:id (docs.joinmastodon.org/methods/media/#get):
// 206 "The media attachment is still being processed", 200 when done, 404
// "MediaAttachment is not owned by you or does not exist".
func (s *Server) getMedia(ex *emulator.Exchange, id string) {
	a, ok := s.authenticate(ex, "write:media")
	if !ok || !s.countRequest(ex, a) {
		return
	}
	s.mu.Lock()
	m := s.mediaByID(id)
	if m == nil || m.Account != a.Username || strconv.FormatInt(rubyToI(id), 10) != id {
		s.mu.Unlock()
		s.fail(ex, 404, msgNotFound, "")
		return
	}
	v := mediaJSON(m, ex.R.Host, ex.Now)
	ready := !ex.Now.Before(m.ReadyAt)
	s.mu.Unlock()
	if !ready {
		ex.JSON(206, v, "media "+id+" still processing")
		return
	}
	ex.JSON(200, v, "")
}

// mediaFile serves an uploaded file once it is processed.
func (s *Server) mediaFile(ex *emulator.Exchange, rest string) {
	id, _, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	m := s.mediaByID(id)
	var data []byte
	if m != nil && m.ID == id && !ex.Now.Before(m.ReadyAt) {
		data, ex.W.Header["Content-Type"] = m.data, []string{m.MIMEType}
	}
	s.mu.Unlock()
	if data == nil {
		s.fail(ex, 404, msgNotFound, "")
		return
	}
	ex.Reply(200, data, "")
}

// mediaJSON is the MediaAttachment entity
// (docs.joinmastodon.org/entities/MediaAttachment/) at now: url is null
// while processing ("the MediaAttachment's url will still be null ...
// However, the preview_url should be available").
func mediaJSON(m *Media, host string, now time.Time) map[string]any {
	base := "https://" + host + mediaFilesPath + m.ID
	var url, description any
	if !now.Before(m.ReadyAt) {
		url = base + "/original/" + m.Filename
	}
	if m.Description != "" {
		description = m.Description
	}
	size := func(w, h int) map[string]any {
		return map[string]any{"width": w, "height": h, "size": fmt.Sprintf("%dx%d", w, h), "aspect": float64(w) / float64(max(h, 1))}
	}
	sw, sh := m.Width, m.Height
	if sw*sh > 640*480 { // Mastodon's small version: about 640×480 pixels
		f := float64(640*480) / float64(sw*sh)
		sw, sh = int(float64(sw)*math.Sqrt(f)), int(float64(sh)*math.Sqrt(f))
	}
	meta := map[string]any{"original": size(m.Width, m.Height), "small": size(sw, sh)}
	if m.Focus != "" {
		x, y, _ := strings.Cut(m.Focus, ",")
		fx, _ := strconv.ParseFloat(strings.TrimSpace(x), 64)
		fy, _ := strconv.ParseFloat(strings.TrimSpace(y), 64)
		meta["focus"] = map[string]float64{"x": fx, "y": fy}
	}
	return map[string]any{
		"id":                 m.ID,
		"type":               m.Type,
		"url":                url,
		"preview_url":        base + "/small/" + m.Filename,
		"remote_url":         nil,
		"preview_remote_url": nil,
		"text_url":           nil,
		"meta":               meta,
		"description":        description,
		"blurhash":           nil,
	}
}
