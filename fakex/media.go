package fakex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/gif"
	_ "image/jpeg" // decoders of the formats X takes
	_ "image/png"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	_ "golang.org/x/image/webp"

	"pitweet/httpd"
)

// This file serves X's media endpoints as docs.x.com and X's OpenAPI
// reference (openapi.json, info.version 2.167) describe them; each rule
// cites its source, and README.md lists them all.
//
//	POST /2/media/upload                   one request, multipart/form-data
//	POST /2/media/upload/initialize        chunked flow: INITIALIZE (JSON)
//	POST /2/media/upload/{id}/append       chunked flow: APPEND (multipart)
//	POST /2/media/upload/{id}/finalize     chunked flow: FINALIZE (no body)
//	GET  /2/media/upload?command=STATUS&media_id=
//	POST /2/media/metadata                 alt text (JSON)
//
// The media endpoints are signed like every other (OpenAPI: security
// UserToken, OAuth 1.0a); their bodies, JSON or multipart, are not part of
// the signature (RFC 5849 section 3.4.1.3.1), and verify signs none of
// their fields.

// Limits X states (docs.x.com "Media best practices", "Media upload
// introduction"): an image up to 5 MB, an animated GIF up to 15 MB. X does
// not say whether a MB is 10^6 or 2^20 bytes; fakex holds clients to the
// smaller, so a client that sends more fails here before it fails on X.
const (
	maxImageBytes = 5_000_000
	maxGIFBytes   = 15_000_000
	// maxAltText is metadata.alt_text.text's maxLength in the OpenAPI
	// reference (createMediaMetadata); counted in code points.
	maxAltText = 1000
	// maxMediaPerPost is CreatePostsMedia.media_ids' maxItems (and "You may
	// attach up to 4 photos" on docs.x.com).
	maxMediaPerPost = 4
	// maxSegment is segment_index's maximum in the OpenAPI reference of
	// APPEND.
	maxSegment = 999
	// DefaultMediaTTL is the expires_after_secs X answers an upload with
	// (86400 in docs.x.com's examples of FINALIZE and in observed one-shot
	// answers).
	DefaultMediaTTL = 24 * time.Hour
)

// mediaCategories is the media_category enum of the one-request upload
// and INITIALIZE (OpenAPI; INITIALIZE also takes amplify_video).
var mediaCategories = []string{"tweet_image", "tweet_video", "tweet_gif", "dm_image", "dm_video", "dm_gif", "subtitles", "amplify_video"}

// initMediaTypes is INITIALIZE's media_type enum (OpenAPI).
var initMediaTypes = []string{"video/mp4", "video/webm", "video/mp2t", "video/quicktime", "text/srt", "text/vtt",
	"image/jpeg", "image/gif", "image/bmp", "image/png", "image/webp", "image/pjpeg", "image/tiff",
	"model/gltf-binary", "model/vnd.usdz+zip"}

// A Picture is a picture X holds: uploaded, and attached to a tweet once
// posted. fakex keeps its bytes, so a demo or a test can look at it.
type Picture struct {
	MediaID  string    `json:"media_id"`
	Category string    `json:"media_category"`
	Type     string    `json:"type"` // image/jpeg, image/png, image/gif, image/webp
	Size     int       `json:"size"`
	Width    int       `json:"width"`
	Height   int       `json:"height"`
	Frames   int       `json:"frames"` // 1 but for an animated GIF
	Alt      string    `json:"alt,omitempty"`
	Chunked  bool      `json:"chunked"` // uploaded by the chunked flow
	Expires  time.Time `json:"expires"`
	Data     []byte    `json:"-"`
}

// upload is a media id and what X knows of it.
type upload struct {
	pic   Picture
	owner string // the access token that uploaded it
	// The chunked flow's state: the size announced, the segments so far,
	// FINALIZE seen, STATUS polls until processing is done.
	total     int64
	chunks    [][]byte
	received  int64
	finalized bool
	pending   int
}

// ready reports whether the upload can be attached to a post.
func (u *upload) ready() bool { return u.finalized && u.pending == 0 }

// Uploads returns every picture uploaded so far, attached or not, in the
// order their ids were issued.
func (s *Server) Uploads() []Picture {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Picture
	for _, id := range s.mediaOrder {
		out = append(out, s.media[id].pic)
	}
	return out
}

// ExpireMedia makes every media id uploaded so far expire now, as X's do
// after expires_after_secs.
func (s *Server) ExpireMedia() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.media {
		u.pic.Expires = time.Time{}
	}
}

func (s *Server) mediaTTL() time.Duration {
	if s.MediaTTL <= 0 {
		return DefaultMediaTTL
	}
	return s.MediaTTL
}

// newMediaID issues a media id (a snowflake, as X's are) for owner.
func (s *Server) newMediaID(ex *exchange, owner string, u *upload) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := (ex.now.UnixMilli() - twitterEpoch) << 22
	id = max(id, 1_000_000_000_000_000_000, s.lastID+1)
	s.lastID = id
	u.pic.MediaID = strconv.FormatInt(id, 10)
	u.owner = owner
	u.pic.Expires = ex.now.Add(s.mediaTTL())
	s.media[u.pic.MediaID] = u
	s.mediaOrder = append(s.mediaOrder, u.pic.MediaID)
	return u.pic.MediaID
}

// mediaBegin starts a media request: authenticated, with an access token
// that may write. On failure it answers and returns nil.
func (s *Server) mediaBegin(w *httpd.Response, r *httpd.Request) *exchange {
	ex := s.begin(w, r, "v2", kindOther)
	grant, ok := s.authenticate(ex)
	if !ok {
		return nil
	}
	// OBS in docs/specs/x.md a.8: a read-only app fails at the upload already.
	w.Header.Set("x-access-level", "read-write")
	if grant.readOnly {
		ex.w.Header.Set("x-access-level", "read")
		s.forbiddenReadOnly(ex)
		return nil
	}
	return ex
}

// mediaUpload serves the one-request upload, POST /2/media/upload
// (OpenAPI mediaUpload): multipart/form-data with media (required, the
// raw bytes) and media_category (required, in the enum); media_type,
// shared and additional_owners are taken and ignored (older versions of
// the reference listed them); any other field is refused
// (additionalProperties: false).
func (s *Server) mediaUpload(w *httpd.Response, r *httpd.Request) {
	ex := s.mediaBegin(w, r)
	if ex == nil {
		return
	}
	if httpd.MediaType(r.Header.Get("Content-Type")) != "multipart/form-data" {
		s.mediaInvalid(ex, "media", "the one-request upload takes multipart/form-data; this is "+strconv.Quote(r.Header.Get("Content-Type")), "not multipart")
		return
	}
	// "Multi-part message boundaries must be on their own line and
	// terminated by a CRLF" (Media best practices): ParseMultipart holds
	// the body to RFC 2046's framing.
	parts, err := r.Multipart()
	if err != nil {
		s.mediaInvalid(ex, "media", "malformed multipart body", err.Error())
		return
	}
	fields, ok := s.formFields(ex, parts, []string{"media", "media_category"}, []string{"media_type", "shared", "additional_owners"})
	if !ok {
		return
	}
	category := string(fields["media_category"].Body)
	if !slices.Contains(mediaCategories, category) {
		s.mediaInvalid(ex, "media_category", fmt.Sprintf("media_category %q is not one of %s", category, strings.Join(mediaCategories, ", ")), "bad media_category")
		return
	}
	// "the older simple upload (images only)" (Media upload introduction).
	if category != "tweet_image" && category != "dm_image" && category != "tweet_gif" && category != "dm_gif" {
		s.mediaInvalid(ex, "media_category", "the one-request upload takes images; send "+category+" by the chunked upload", "not an image category")
		return
	}
	u := &upload{pic: Picture{Category: category}}
	if !s.checkPicture(ex, &u.pic, fields["media"].Body) {
		return
	}
	u.finalized = true
	id := s.newMediaID(ex, ex.token, u)
	s.reply(ex, 200, mediaAnswer(u, ex.now), "")
	s.logger().Info("fakex accepted an upload", "media_id", id, "type", u.pic.Type, "size", u.pic.Size)
}

// formFields checks a multipart body's fields: each of required exactly
// once, any of allowed at most once, nothing else (OpenAPI:
// additionalProperties false). On failure it answers and returns false.
func (s *Server) formFields(ex *exchange, parts []httpd.Part, required, allowed []string) (map[string]httpd.Part, bool) {
	fields := map[string]httpd.Part{}
	for _, p := range parts {
		if !slices.Contains(required, p.Name) && !slices.Contains(allowed, p.Name) {
			s.mediaInvalid(ex, p.Name, fmt.Sprintf("the field %q is not allowed here", p.Name), "unknown field "+p.Name)
			return nil, false
		}
		if _, dup := fields[p.Name]; dup {
			s.mediaInvalid(ex, p.Name, fmt.Sprintf("the field %q is given twice", p.Name), "repeated field "+p.Name)
			return nil, false
		}
		fields[p.Name] = p
	}
	for _, name := range required {
		if _, ok := fields[name]; !ok {
			s.mediaInvalid(ex, name, fmt.Sprintf("the field %q is required", name), "missing field "+name)
			return nil, false
		}
	}
	return fields, true
}

// checkPicture checks an uploaded file as X does: a JPEG, PNG, GIF or
// WEBP ("Supported image media types", Media best practices) that
// decodes, within the size limit of its category (5 MB an image, 15 MB a
// GIF; Media upload introduction). It fills in pic. On failure it answers
// and returns false.
func (s *Server) checkPicture(ex *exchange, pic *Picture, data []byte) bool {
	limit := maxImageBytes
	if strings.HasSuffix(pic.Category, "_gif") {
		limit = maxGIFBytes
	}
	if len(data) > limit {
		s.mediaInvalid(ex, "media", fmt.Sprintf("the file is %d bytes; %s takes at most %d", len(data), pic.Category, limit), "too large")
		return false
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		s.mediaInvalid(ex, "media", "media type unrecognized: not a JPEG, PNG, GIF or WEBP image", "not an image: "+err.Error())
		return false
	}
	pic.Frames = 1
	if format == "gif" {
		g, err := gif.DecodeAll(bytes.NewReader(data))
		if err != nil {
			s.mediaInvalid(ex, "media", "the GIF does not decode: "+err.Error(), "bad GIF")
			return false
		}
		pic.Frames = len(g.Image)
	} else if _, _, err := image.Decode(bytes.NewReader(data)); err != nil {
		s.mediaInvalid(ex, "media", "the "+strings.ToUpper(format)+" does not decode: "+err.Error(), "bad "+format)
		return false
	}
	if pic.Frames > 1 && !strings.HasSuffix(pic.Category, "_gif") && len(data) > maxImageBytes {
		s.mediaInvalid(ex, "media", "an animated GIF over 5 MB goes by the chunked upload with media_category tweet_gif", "large animated GIF as an image")
		return false
	}
	pic.Type, pic.Size, pic.Width, pic.Height, pic.Data = "image/"+format, len(data), cfg.Width, cfg.Height, data
	return true
}

// mediaInit serves INITIALIZE of the chunked flow, POST
// /2/media/upload/initialize (OpenAPI): a JSON body only, with media_type
// and media_category from their enums and total_bytes (0 to 17179869184;
// fakex holds it to the category's limit at once); additional_owners and
// shared are taken; nothing else (additionalProperties false).
func (s *Server) mediaInit(w *httpd.Response, r *httpd.Request) {
	ex := s.mediaBegin(w, r)
	if ex == nil {
		return
	}
	if httpd.MediaType(r.Header.Get("Content-Type")) != "application/json" {
		s.mediaInvalid(ex, "media_type", "INITIALIZE takes a JSON body", "not JSON")
		return
	}
	var req struct {
		MediaType        *string  `json:"media_type"`
		TotalBytes       *int64   `json:"total_bytes"`
		MediaCategory    *string  `json:"media_category"`
		AdditionalOwners []string `json:"additional_owners"`
		Shared           *bool    `json:"shared"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.mediaInvalid(ex, "body", "the JSON body is not an INITIALIZE request: "+err.Error(), "bad INITIALIZE body")
		return
	}
	switch {
	case req.MediaType == nil || !slices.Contains(initMediaTypes, *req.MediaType):
		s.mediaInvalid(ex, "media_type", "media_type is required, one of "+strings.Join(initMediaTypes, ", "), "bad media_type")
		return
	case req.TotalBytes == nil || *req.TotalBytes <= 0 || *req.TotalBytes > 17179869184:
		s.mediaInvalid(ex, "total_bytes", "total_bytes is required, 1 to 17179869184", "bad total_bytes")
		return
	case req.MediaCategory == nil || !slices.Contains(mediaCategories, *req.MediaCategory):
		s.mediaInvalid(ex, "media_category", "media_category is required, one of "+strings.Join(mediaCategories, ", "), "bad media_category")
		return
	}
	limit := int64(maxImageBytes)
	if strings.HasSuffix(*req.MediaCategory, "_gif") {
		limit = maxGIFBytes
	}
	if *req.TotalBytes > limit || !strings.HasPrefix(*req.MediaType, "image/") {
		s.mediaInvalid(ex, "total_bytes", fmt.Sprintf("fakex takes pictures only, of at most %d bytes for %s", limit, *req.MediaCategory), "too large or not a picture")
		return
	}
	u := &upload{pic: Picture{Category: *req.MediaCategory, Type: *req.MediaType, Chunked: true}, total: *req.TotalBytes}
	s.newMediaID(ex, ex.token, u)
	s.reply(ex, 200, mediaAnswer(u, ex.now), "")
}

// ownUpload finds the upload of id for the caller: it exists, it is the
// caller's, it has not expired. On failure it answers and returns nil.
func (s *Server) ownUpload(ex *exchange, id, param string) *upload {
	s.mu.Lock()
	u := s.media[id]
	s.mu.Unlock()
	switch {
	case u == nil || u.owner != ex.token:
		// X does not say whether another account's media is "not found"
		// or "forbidden"; it is not found here, as it would be to anyone
		// else.
		s.mediaInvalid(ex, param, "media id "+strconv.Quote(id)+" is unknown", "unknown media id")
		return nil
	case !ex.now.Before(u.pic.Expires):
		s.mediaInvalid(ex, param, "media id "+strconv.Quote(id)+" has expired", "expired media id")
		return nil
	}
	return u
}

// mediaAppend serves APPEND, POST /2/media/upload/{id}/append (OpenAPI):
// multipart with media (required) and segment_index (required, 0 to
// 999); segments in order, none past total_bytes, not after FINALIZE.
func (s *Server) mediaAppend(w *httpd.Response, r *httpd.Request, id string) {
	ex := s.mediaBegin(w, r)
	if ex == nil {
		return
	}
	u := s.ownUpload(ex, id, "id")
	if u == nil {
		return
	}
	parts, err := r.Multipart()
	if err != nil {
		s.mediaInvalid(ex, "media", "malformed multipart body", err.Error())
		return
	}
	fields, ok := s.formFields(ex, parts, []string{"media", "segment_index"}, nil)
	if !ok {
		return
	}
	seg, err := strconv.Atoi(string(fields["segment_index"].Body))
	chunk := fields["media"].Body
	s.mu.Lock()
	var why string
	switch {
	case err != nil || seg < 0 || seg > maxSegment:
		why = "segment_index must be 0 to 999"
	case u.finalized:
		why = "the upload is finalized"
	case seg != len(u.chunks):
		why = fmt.Sprintf("segment_index %d comes after segment %d; send them in order", seg, len(u.chunks)-1)
	case u.received+int64(len(chunk)) > u.total:
		why = fmt.Sprintf("the segments hold more than the %d bytes announced", u.total)
	case len(chunk) == 0:
		why = "the segment is empty"
	default:
		u.chunks = append(u.chunks, chunk)
		u.received += int64(len(chunk))
	}
	expires := u.pic.Expires
	s.mu.Unlock()
	if why != "" {
		s.mediaInvalid(ex, "segment_index", why, why)
		return
	}
	body, _ := json.Marshal(map[string]any{"data": map[string]any{"expires_at": expires.Unix()}})
	s.reply(ex, 200, body, "")
}

// mediaFinalize serves FINALIZE, POST /2/media/upload/{id}/finalize: the
// segments must add up to total_bytes; the file is then checked as a
// one-request upload is. A GIF is processed: the answer carries
// processing_info (pending) until a STATUS request sees it succeeded
// (Chunked media upload quickstart: "pending → in_progress → succeeded or
// failed").
func (s *Server) mediaFinalize(w *httpd.Response, r *httpd.Request, id string) {
	ex := s.mediaBegin(w, r)
	if ex == nil {
		return
	}
	u := s.ownUpload(ex, id, "id")
	if u == nil {
		return
	}
	s.mu.Lock()
	finalized, received, total := u.finalized, u.received, u.total
	data := bytes.Join(u.chunks, nil)
	s.mu.Unlock()
	switch {
	case finalized:
		s.mediaInvalid(ex, "id", "the upload is finalized already", "finalized twice")
		return
	case received != total:
		s.mediaInvalid(ex, "id", fmt.Sprintf("the segments hold %d bytes, not the %d announced", received, total), "incomplete upload")
		return
	}
	pic := u.pic
	if !s.checkPicture(ex, &pic, data) {
		return
	}
	s.mu.Lock()
	u.pic, u.chunks, u.finalized = pic, nil, true
	if strings.HasSuffix(pic.Category, "_gif") {
		u.pending = 1
	}
	body := mediaAnswer(u, ex.now)
	s.mu.Unlock()
	s.reply(ex, 200, body, "")
}

// mediaStatus serves STATUS, GET /2/media/upload?command=STATUS&media_id=
// (OpenAPI: media_id required, 1 to 19 digits; command optional, STATUS).
// The query is signed (RFC 5849 section 3.4.1.3.1).
func (s *Server) mediaStatus(w *httpd.Response, r *httpd.Request) {
	ex := s.mediaBegin(w, r)
	if ex == nil {
		return
	}
	q := form(r)
	id := formValue(q, "media_id")
	if c := formValue(q, "command"); c != "" && c != "STATUS" {
		s.mediaInvalid(ex, "command", "command must be STATUS", "bad command")
		return
	}
	if !validID(id) {
		s.mediaInvalid(ex, "media_id", "media_id is required, 1 to 19 digits", "bad media_id")
		return
	}
	u := s.ownUpload(ex, id, "media_id")
	if u == nil {
		return
	}
	s.mu.Lock()
	if !u.finalized {
		s.mu.Unlock()
		s.mediaInvalid(ex, "media_id", "the upload is not finalized", "status before finalize")
		return
	}
	if u.pending > 0 {
		u.pending--
	}
	body := mediaAnswer(u, ex.now)
	s.mu.Unlock()
	s.reply(ex, 200, body, "")
}

// mediaMetadata serves POST /2/media/metadata (OpenAPI
// createMediaMetadata): JSON {"id": "...", "metadata": {"alt_text":
// {"text": "..."}}}, the id 1 to 19 digits and the caller's, the text at
// most 1000 characters.
func (s *Server) mediaMetadata(w *httpd.Response, r *httpd.Request) {
	ex := s.mediaBegin(w, r)
	if ex == nil {
		return
	}
	var req struct {
		ID       string `json:"id"`
		Metadata struct {
			AltText *struct {
				Text *string `json:"text"`
			} `json:"alt_text"`
		} `json:"metadata"`
	}
	if httpd.MediaType(r.Header.Get("Content-Type")) != "application/json" || json.Unmarshal(r.Body, &req) != nil {
		s.mediaInvalid(ex, "body", "the body must be a JSON metadata request", "bad metadata body")
		return
	}
	if !validID(req.ID) {
		s.mediaInvalid(ex, "id", "id is required, 1 to 19 digits", "bad id")
		return
	}
	if req.Metadata.AltText == nil || req.Metadata.AltText.Text == nil {
		s.mediaInvalid(ex, "metadata.alt_text.text", "metadata.alt_text.text is required", "no alt text")
		return
	}
	text := *req.Metadata.AltText.Text
	if n := utf8.RuneCountInString(text); n > maxAltText {
		s.mediaInvalid(ex, "metadata.alt_text.text", fmt.Sprintf("the alt text is %d characters; at most %d", n, maxAltText), "alt text too long")
		return
	}
	u := s.ownUpload(ex, req.ID, "id")
	if u == nil {
		return
	}
	s.mu.Lock()
	u.pic.Alt = text
	s.mu.Unlock()
	body, _ := json.Marshal(map[string]any{"data": map[string]any{"id": req.ID,
		"associated_metadata": map[string]any{"alt_text": map[string]string{"text": text}}}})
	s.reply(ex, 200, body, "")
}

// attach checks the media ids of a post (CreatePostsMedia: 1 to 4, each 1
// to 19 digits; the caller's own, not expired, processed) and returns the
// pictures. expired takes every id as expired (the media-expired fault).
// At most 4 photos, or one animated GIF ("You may attach up to 4 photos,
// 1 animated GIF or 1 video in a Post"). On failure it answers and returns
// false.
func (s *Server) attach(ex *exchange, ids []string, expired bool) ([]Picture, bool) {
	refuse := func(message, reason string) ([]Picture, bool) {
		body, _ := json.Marshal(map[string]any{
			"errors": []map[string]any{{"parameters": map[string][]string{"media.media_ids": ids}, "message": message}},
			"title":  "Invalid Request",
			"detail": "One or more parameters to your request was invalid.",
			"type":   "https://api.twitter.com/2/problems/invalid-request",
		})
		ex.w.Header.Set("Content-Type", "application/problem+json")
		s.reply(ex, 400, body, reason)
		return nil, false
	}
	if len(ids) == 0 || len(ids) > maxMediaPerPost {
		return refuse(fmt.Sprintf("media_ids holds %d ids; 1 to %d", len(ids), maxMediaPerPost), "bad media id count")
	}
	s.mu.Lock()
	var pics []Picture
	var reason string
	for _, id := range ids {
		u := s.media[id]
		switch {
		case !validID(id) || u == nil || u.owner != ex.token:
			reason = "unknown media id " + id
		case expired || !ex.now.Before(u.pic.Expires):
			reason = "expired media id " + id
		case !u.ready():
			reason = "media id " + id + " is not processed"
		case slices.ContainsFunc(pics, func(p Picture) bool { return p.MediaID == id }):
			reason = "media id " + id + " given twice"
		}
		if reason != "" {
			break
		}
		pics = append(pics, u.pic)
	}
	s.mu.Unlock()
	if reason != "" {
		return refuse("Your media IDs are invalid.", reason)
	}
	for _, p := range pics {
		if p.Frames > 1 && len(pics) > 1 {
			return refuse("An animated GIF goes alone in a post.", "animated GIF with other media")
		}
	}
	return pics, true
}

// mediaAnswer is the MediaUploadResponse of u.
func mediaAnswer(u *upload, now time.Time) []byte {
	data := map[string]any{
		"id":                 u.pic.MediaID,
		"media_key":          "3_" + u.pic.MediaID,
		"expires_after_secs": max(int64(u.pic.Expires.Sub(now)/time.Second), 0),
	}
	if u.pic.Frames > 1 || strings.HasSuffix(u.pic.Category, "_gif") {
		data["media_key"] = "16_" + u.pic.MediaID
	}
	if u.finalized {
		data["size"] = u.pic.Size
		data["image"] = map[string]any{"image_type": u.pic.Type, "w": u.pic.Width, "h": u.pic.Height}
		if strings.HasSuffix(u.pic.Category, "_gif") {
			state := "succeeded"
			if u.pending > 0 {
				state = "pending"
			}
			info := map[string]any{"state": state, "progress_percent": 100}
			if u.pending > 0 {
				info["check_after_secs"], info["progress_percent"] = 1, 0
			}
			data["processing_info"] = info
		}
	}
	body, _ := json.Marshal(map[string]any{"data": data})
	return body
}

// mediaInvalid answers 400 with X's invalid-request problem, naming the
// parameter and saying what is wrong with it.
func (s *Server) mediaInvalid(ex *exchange, param, message, reason string) {
	body, _ := json.Marshal(map[string]any{
		"errors": []map[string]any{{"parameters": map[string][]string{param: {}}, "message": message}},
		"title":  "Invalid Request",
		"detail": "One or more parameters to your request was invalid.",
		"type":   "https://api.twitter.com/2/problems/invalid-request",
	})
	ex.w.Header.Set("Content-Type", "application/problem+json")
	s.reply(ex, 400, body, reason)
}

// validID reports whether id is 1 to 19 digits, the pattern of media ids
// in X's reference.
func validID(id string) bool {
	if len(id) < 1 || len(id) > 19 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}
