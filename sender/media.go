package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"pitweet/media"
)

// X's media endpoints (docs.x.com, the OpenAPI reference of API v2: the
// one-request upload for images, the dedicated endpoints of the chunked
// flow introduced on 30 April 2025, STATUS on GET /2/media/upload, and the
// metadata endpoint for alt text). The older chunked form, command=INIT
// and so on against /2/media/upload, is deprecated and never sent.
const (
	pathMediaUpload   = "/2/media/upload"
	pathMediaInit     = "/2/media/upload/initialize"
	pathMediaMetadata = "/2/media/metadata"
)

// X's limits for pictures in a post.
const (
	// MaxImages is how many pictures one post carries ("You may attach up
	// to 4 photos"; media.media_ids has maxItems 4).
	MaxImages = 4
	// MaxOneShot is the largest file sent in one request: X's image limit,
	// 5 MB, taken as 10^6-byte megabytes since X does not say which.
	MaxOneShot = 5_000_000
	// ChunkSize is the size of each APPEND of the chunked flow. X states
	// none; its own examples and twitter-api-v2 send 1 MiB, which with the
	// 1000 segments allowed covers any GIF X takes (15 MB).
	ChunkSize = 1 << 20
	// MaxAltText is the longest alt text X takes, in characters (the
	// metadata endpoint's maxLength); a longer one is cut.
	MaxAltText = 1000
	// MinUploadRate is the slowest uplink an upload is given time for: a
	// request that sends a file may take the transport's timeout plus its
	// size at this rate (5 MB: 30 s and 2.5 minutes), so a Pi on weak
	// Wi-Fi finishes its upload rather than failing it at every attempt.
	MinUploadRate = 32 << 10 // bytes a second
	// maxStatusPolls bounds the STATUS requests of one upload; maxPollWait
	// bounds the wait X may ask for between two.
	maxStatusPolls = 60
	maxPollWait    = 10 * time.Second
)

// ErrMediaRefused is wrapped by the *APIError of a post that X refused
// because of its media ids: unknown, not the caller's, or expired. The
// pictures must be uploaded again before the post is tried again.
var ErrMediaRefused = errors.New("sender: X refused the post's media ids")

// Image is a picture to upload: a file X accepts as it is (see media.Fit
// with media.XLimits), streamed from disk when the request is sent.
type Image struct {
	Path string // the file
	Type string // its MIME type: image/jpeg, image/png, image/gif or image/webp
	Size int64  // its size in bytes; the upload fails if the file's differs
	// Animated marks an animated GIF: it goes by the chunked flow, as
	// media_category tweet_gif. A still picture larger than MaxOneShot
	// goes that way too.
	Animated bool
	Alt      string // alt text; "" for none
}

// ImageFile describes the picture at path, for an upload: its type, its
// size, and whether it is an animated GIF. It reads only the header (and
// a GIF's block structure).
func ImageFile(path, alt string) (Image, error) {
	info, err := media.Probe(path)
	if err != nil {
		return Image{}, err
	}
	im := Image{Path: path, Type: info.Format.MIMEType(), Size: info.Size, Alt: alt}
	if info.Format == media.GIF {
		if im.Animated, err = media.Animated(path); err != nil {
			return Image{}, err
		}
	}
	return im, nil
}

// chunked reports whether im goes by the chunked flow.
func (im Image) chunked() bool { return im.Animated || im.Size > MaxOneShot }

// category is im's media_category.
func (im Image) category() string {
	if im.Animated {
		return "tweet_gif"
	}
	return "tweet_image"
}

// filename is what the server is told the file is called: its base name,
// or "image" and the type's extension when that holds characters a
// header should not carry.
func (im Image) filename() string {
	name := filepath.Base(im.Path)
	if !utf8.ValidString(name) || strings.ContainsAny(name, "\"\\") || strings.IndexFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		_, ext, _ := strings.Cut(im.Type, "/")
		name = "image." + ext
	}
	return name
}

// Media is a picture X holds, ready to attach to a post.
type Media struct {
	ID  string // data.id: what media_ids and the metadata endpoint take
	Key string // data.media_key, e.g. "3_1880028106020515840"
	// Expires is when X forgets the upload, by the local clock: the answer's
	// expires_after_secs counted from when it was read; zero when X gave
	// none.
	Expires time.Time
	Meta    Meta
}

// mediaAnswer is the body X answers an upload, a FINALIZE and a STATUS
// with (MediaUploadResponse), and its errors.
type mediaAnswer struct {
	Data *struct {
		ID               string          `json:"id"`
		MediaKey         string          `json:"media_key"`
		ExpiresAfterSecs int64           `json:"expires_after_secs"`
		ProcessingInfo   *processingInfo `json:"processing_info"`
	} `json:"data"`
}

type processingInfo struct {
	State          string `json:"state"` // pending, in_progress, failed, succeeded
	CheckAfterSecs int64  `json:"check_after_secs"`
	Error          *struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	} `json:"error"`
}

// ParseMediaAnswer reads the body of a successful upload, FINALIZE or
// STATUS answer: the media id (digits, at most 19, as X's reference
// says), its key, when it expires (counted from now) and, while X is still
// processing it, the processing state and how long to wait before asking
// again.
func ParseMediaAnswer(body []byte, now time.Time) (m Media, state string, checkAfter time.Duration, err error) {
	var v mediaAnswer
	if err := json.Unmarshal(body, &v); err != nil {
		return Media{}, "", 0, fmt.Errorf("not JSON: %w", err)
	}
	if v.Data == nil || !validMediaID(v.Data.ID) {
		return Media{}, "", 0, errors.New(`no media id of 1 to 19 digits in "data"`)
	}
	m = Media{ID: v.Data.ID, Key: v.Data.MediaKey}
	if s := v.Data.ExpiresAfterSecs; s > 0 && s < 1<<31 {
		m.Expires = now.Add(time.Duration(s) * time.Second)
	}
	if p := v.Data.ProcessingInfo; p != nil {
		switch p.State {
		case "pending", "in_progress", "succeeded":
		case "failed":
			why := "X could not process the upload"
			if p.Error != nil && p.Error.Message != "" {
				why += ": " + p.Error.Message
			}
			return m, p.State, 0, errProcessingFailed{why}
		default:
			return Media{}, "", 0, fmt.Errorf("unknown processing state %q", p.State)
		}
		state = p.State
		checkAfter = time.Duration(min(max(p.CheckAfterSecs, 1), int64(maxPollWait/time.Second))) * time.Second
	}
	return m, state, checkAfter, nil
}

// errProcessingFailed is X's processing_info state "failed".
type errProcessingFailed struct{ why string }

func (e errProcessingFailed) Error() string { return e.why }

// validMediaID reports whether id is 1 to 19 ASCII digits, the pattern
// X's reference gives for media ids.
func validMediaID(id string) bool {
	return len(id) >= 1 && len(id) <= 19 && allDigits(id)
}

// uploadCall is the one-request upload of im (POST /2/media/upload,
// multipart/form-data: media_category, then media). The file is streamed
// from disk at each attempt. boundary "" means a random one.
//
// Only the oauth_* parameters are signed. RFC 5849 section 3.4.1.3.1
// takes parameters from the entity-body only when it is single-part and
// application/x-www-form-urlencoded; a multipart/form-data body is neither,
// so neither media_category nor the image's bytes enter the signature base
// string, and X verifies the signature without reading the body.
func uploadCall(im Image, boundary string) (call, *media.Multipart, error) {
	fields := []media.Field{{Name: "media_category", Value: im.category()}}
	files := []media.FilePart{{Name: "media", Filename: im.filename(), ContentType: im.Type, Path: im.Path, Size: im.Size}}
	var mp *media.Multipart
	var err error
	if boundary == "" {
		mp, err = media.NewMultipart(fields, files)
	} else {
		mp, err = media.NewMultipartBoundary(boundary, fields, files)
	}
	if err != nil {
		return call{}, nil, fmt.Errorf("sender: lay out the upload of %s: %w", im.Path, err)
	}
	return call{method: "POST", path: pathMediaUpload, contentType: mp.ContentType(), stream: multipartBody(mp, im.Size, 0),
		timeout: UploadTime(im.Size)}, mp, nil
}

// UploadTime is the time allowed for sending size bytes of a file, on top
// of a request's usual timeout: size at MinUploadRate.
func UploadTime(size int64) time.Duration {
	return time.Duration(size) * time.Second / MinUploadRate
}

// multipartBody is mp as a request body: its framing as bytes, each file
// as a stream of size bytes from offset off of a file of total bytes
// (checked at each attempt, so a file changed since is never half sent).
func multipartBody(mp *media.Multipart, total, off int64) *Body {
	b := new(Body)
	mp.Parts(func(text string) { b.Append([]byte(text)) }, func(f media.FilePart) {
		b.AppendStream(f.Size, f.Filename, fileSection(f.Path, total, off, f.Size))
	})
	return b
}

// fileSection opens the n bytes at off of the file at path, which must
// be total bytes long.
func fileSection(path string, total, off, n int64) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err == nil && st.Size() != total {
			err = fmt.Errorf("%s is now %d bytes, not the %d it was when the upload began", path, st.Size(), total)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		if off == 0 && n == total {
			return f, nil
		}
		return struct {
			io.Reader
			io.Closer
		}{io.NewSectionReader(f, off, n), f}, nil
	}
}

// initCall is INITIALIZE of the chunked flow: a JSON body (the only type
// X's reference lists for it), not signed.
func initCall(im Image) (call, error) {
	body, err := json.Marshal(struct {
		MediaType     string `json:"media_type"`
		TotalBytes    int64  `json:"total_bytes"`
		MediaCategory string `json:"media_category"`
	}{im.Type, im.Size, im.category()})
	if err != nil {
		return call{}, fmt.Errorf("sender: encode the upload's INITIALIZE: %w", err)
	}
	return call{method: "POST", path: pathMediaInit, contentType: "application/json", body: body}, nil
}

// appendCall is APPEND of segment i of the chunked flow of im to upload id:
// multipart/form-data with segment_index and the chunk as media, not
// signed (the upload id is in the path, which is).
func appendCall(im Image, id string, i int, boundary string) (call, *media.Multipart, error) {
	off := int64(i) * ChunkSize
	n := min(ChunkSize, im.Size-off)
	fields := []media.Field{{Name: "segment_index", Value: strconv.Itoa(i)}}
	files := []media.FilePart{{Name: "media", Filename: im.filename(), ContentType: "application/octet-stream", Path: im.Path, Size: n}}
	var mp *media.Multipart
	var err error
	if boundary == "" {
		mp, err = media.NewMultipart(fields, files)
	} else {
		mp, err = media.NewMultipartBoundary(boundary, fields, files)
	}
	if err != nil {
		return call{}, nil, fmt.Errorf("sender: lay out segment %d of %s: %w", i, im.Path, err)
	}
	return call{method: "POST", path: pathMediaUpload + "/" + id + "/append", contentType: mp.ContentType(),
		stream: multipartBody(mp, im.Size, off), timeout: UploadTime(n)}, mp, nil
}

// metadataCall sets the alt text of media id: POST /2/media/metadata with
// a JSON body, not signed.
func metadataCall(id, alt string) (call, error) {
	type altText struct {
		Text string `json:"text"`
	}
	type metadata struct {
		AltText altText `json:"alt_text"`
	}
	body, err := json.Marshal(struct {
		ID       string   `json:"id"`
		Metadata metadata `json:"metadata"`
	}{id, metadata{altText{ClipAltText(alt)}}})
	if err != nil {
		return call{}, fmt.Errorf("sender: encode alt text: %w", err)
	}
	return call{method: "POST", path: pathMediaMetadata, contentType: "application/json", body: body}, nil
}

// ClipAltText cuts alt to the MaxAltText characters X takes. X does not
// say whether it counts code points or UTF-16 units; the cut keeps both
// within the limit.
func ClipAltText(alt string) string {
	units := 0
	for i, r := range alt {
		u := 1
		if r >= 0x10000 {
			u = 2
		}
		if units+u > MaxAltText {
			return alt[:i]
		}
		units += u
	}
	return alt
}

// UploadImage uploads im, by one request when it is a still picture of at
// most MaxOneShot bytes and by the chunked flow otherwise, and sets its alt
// text if it has one. A refusal (a format or size X does not take) is an
// *APIError of KindPermanent with X's reason.
func (c *Client) UploadImage(ctx context.Context, im Image) (*Media, error) {
	var m *Media
	var err error
	if im.chunked() {
		m, err = c.uploadChunked(ctx, im)
	} else {
		m, err = c.uploadOnce(ctx, im)
	}
	if err != nil {
		return nil, err
	}
	if im.Alt != "" {
		if err := c.SetAltText(ctx, m.ID, im.Alt); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (c *Client) uploadOnce(ctx context.Context, im Image) (*Media, error) {
	k, _, err := uploadCall(im, "")
	if err != nil {
		return nil, err
	}
	m, _, _, err := c.mediaRequest(ctx, k)
	return m, err
}

// uploadChunked runs INITIALIZE, one APPEND per ChunkSize bytes, FINALIZE,
// and STATUS while X processes the file.
func (c *Client) uploadChunked(ctx context.Context, im Image) (*Media, error) {
	if im.Size <= 0 {
		return nil, fmt.Errorf("sender: %s is empty", im.Path)
	}
	if segments := (im.Size + ChunkSize - 1) / ChunkSize; segments > 1000 {
		return nil, fmt.Errorf("sender: %s is %d bytes, more than X's 1000 segments of %d bytes take", im.Path, im.Size, ChunkSize)
	}
	k, err := initCall(im)
	if err != nil {
		return nil, err
	}
	up, _, _, err := c.mediaRequest(ctx, k)
	if err != nil {
		return nil, err
	}
	for i := 0; int64(i)*ChunkSize < im.Size; i++ {
		k, _, err := appendCall(im, up.ID, i, "")
		if err != nil {
			return nil, err
		}
		resp, err := c.do(ctx, k)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil, classify(resp, c.now().Add(c.ClockOffset()))
		}
	}
	m, state, wait, err := c.mediaRequest(ctx, call{method: "POST", path: pathMediaUpload + "/" + up.ID + "/finalize"})
	for polls := 0; err == nil && (state == "pending" || state == "in_progress"); polls++ {
		if polls == maxStatusPolls {
			return nil, fmt.Errorf("sender: X was still processing %s after %d status checks: %w", im.Path, polls, ErrTransient)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("sender: waiting for X to process %s: %w (%w)", im.Path, ctx.Err(), ErrTransient)
		case <-t.C:
		}
		m, state, wait, err = c.mediaRequest(ctx, call{method: "GET", path: pathMediaUpload + "?command=STATUS&media_id=" + up.ID})
	}
	return m, err
}

// mediaRequest sends k and reads a MediaUploadResponse.
func (c *Client) mediaRequest(ctx context.Context, k call) (*Media, string, time.Duration, error) {
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, "", 0, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, "", 0, classify(resp, c.now().Add(c.ClockOffset()))
	}
	m, state, wait, err := ParseMediaAnswer(resp.Body, c.now())
	var failed errProcessingFailed
	if errors.As(err, &failed) {
		return nil, "", 0, &APIError{Service: "X", Kind: KindPermanent, Status: resp.StatusCode, Title: resp.Reason,
			Detail: failed.why, Header: resp.Header, Meta: metaFrom(resp)}
	}
	if err != nil {
		return nil, "", 0, protocolAPIError(resp, `{"data":{"id":...}} (`+err.Error()+`)`)
	}
	m.Meta = metaFrom(resp)
	return &m, state, wait, nil
}

// SetAltText sets the alt text of media id (POST /2/media/metadata), cut
// to MaxAltText characters.
func (c *Client) SetAltText(ctx context.Context, id, alt string) error {
	k, err := metadataCall(id, alt)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return classify(resp, c.now().Add(c.ClockOffset()))
	}
	return nil
}

// PostMedia publishes text with the pictures X holds as mediaIDs (at
// most MaxImages), through POST /2/tweets. A refusal of the media ids
// wraps ErrMediaRefused: upload the pictures again, then post again.
func (c *Client) PostMedia(ctx context.Context, text string, mediaIDs []string) (*Tweet, error) {
	if len(mediaIDs) == 0 {
		return c.Post(ctx, text)
	}
	k, err := c.postMediaCall(text, mediaIDs)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := classify(resp, c.now().Add(c.ClockOffset()))
		if resp.StatusCode == 400 && mentionsMedia(resp.Body) {
			e.Err = ErrMediaRefused
		}
		return nil, e
	}
	return decodeTweet("v2", resp)
}

// mentionsMedia reports whether an invalid-request answer names the media
// ids: X's v2 errors array points at the parameter ("media.media_ids").
func mentionsMedia(body []byte) bool {
	var v struct {
		Errors []struct {
			Parameters map[string]json.RawMessage `json:"parameters"`
			Message    string                     `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	for _, e := range v.Errors {
		if _, ok := e.Parameters["media.media_ids"]; ok {
			return true
		}
		if strings.Contains(strings.ToLower(e.Message), "media id") {
			return true
		}
	}
	return false
}

func (c *Client) postMediaCall(text string, mediaIDs []string) (call, error) {
	if c.api != "v2" {
		return call{}, errors.New(`sender: pictures are posted through X API v2; set api = "v2" in [x]`)
	}
	if len(mediaIDs) > MaxImages {
		return call{}, fmt.Errorf("sender: %d pictures; a post carries at most %d", len(mediaIDs), MaxImages)
	}
	type mediaField struct {
		MediaIDs []string `json:"media_ids"`
	}
	body, err := json.Marshal(struct {
		Text  string     `json:"text,omitempty"`
		Media mediaField `json:"media"`
	}{text, mediaField{mediaIDs}})
	if err != nil {
		return call{}, fmt.Errorf("sender: encode tweet: %w", err)
	}
	return call{method: "POST", path: pathTweetV2, contentType: "application/json", body: body}, nil
}

// PreparedUpload is the requests of a post with pictures, signed and
// rendered but not sent: what `pitweet explain --image` shows. The media
// ids, unknown until X answers, are shown as placeholders.
type PreparedUpload struct {
	Steps []PreparedStep
}

// PreparedStep is one request of an upload.
type PreparedStep struct {
	What      string // e.g. "upload picture 1 (one request)"
	Prepared  *Prepared
	Multipart *media.Multipart // the body's layout, for a multipart body; nil otherwise
}

// BuildUpload signs, without sending, every request of posting text with
// images: each upload (one request, or the chunked flow's INITIALIZE,
// first APPEND and FINALIZE), its alt text, and the post. nonce and
// timestamp as for BuildPost; boundary "" means a random one. Media ids
// are shown as MEDIA_ID_1, MEDIA_ID_2, ...: X chooses them.
func (c *Client) BuildUpload(text string, images []Image, nonce, timestamp, boundary string) (*PreparedUpload, error) {
	if len(images) > MaxImages {
		return nil, fmt.Errorf("sender: %d pictures; a post carries at most %d", len(images), MaxImages)
	}
	var out PreparedUpload
	add := func(what string, k call, mp *media.Multipart) error {
		p, err := c.build(k, nonce, timestamp)
		if err != nil {
			return err
		}
		out.Steps = append(out.Steps, PreparedStep{What: what, Prepared: p, Multipart: mp})
		return nil
	}
	var ids []string
	for i, im := range images {
		id := fmt.Sprintf("MEDIA_ID_%d", i+1)
		ids = append(ids, id)
		n := i + 1
		if im.chunked() {
			k, err := initCall(im)
			if err != nil {
				return nil, err
			}
			if err := add(fmt.Sprintf("picture %d: INITIALIZE the chunked upload (%s, %d bytes)", n, im.category(), im.Size), k, nil); err != nil {
				return nil, err
			}
			k, mp, err := appendCall(im, id, 0, boundary)
			if err != nil {
				return nil, err
			}
			segs := (im.Size + ChunkSize - 1) / ChunkSize
			if err := add(fmt.Sprintf("picture %d: APPEND segment 0 of %d (1 MiB each)", n, segs), k, mp); err != nil {
				return nil, err
			}
			if err := add(fmt.Sprintf("picture %d: FINALIZE; then GET %s?command=STATUS&media_id=%s while X processes it", n, pathMediaUpload, id),
				call{method: "POST", path: pathMediaUpload + "/" + id + "/finalize"}, nil); err != nil {
				return nil, err
			}
		} else {
			k, mp, err := uploadCall(im, boundary)
			if err != nil {
				return nil, err
			}
			if err := add(fmt.Sprintf("picture %d: upload in one request (%s, %d bytes)", n, im.category(), im.Size), k, mp); err != nil {
				return nil, err
			}
		}
		if im.Alt != "" {
			k, err := metadataCall(id, im.Alt)
			if err != nil {
				return nil, err
			}
			if err := add(fmt.Sprintf("picture %d: its alt text", n), k, nil); err != nil {
				return nil, err
			}
		}
	}
	k, err := c.postMediaCall(text, ids)
	if err != nil {
		return nil, err
	}
	if err := add("the post, with the pictures' media ids", k, nil); err != nil {
		return nil, err
	}
	return &out, nil
}
