package bluesky

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"pitweet/sender"
	"pitweet/textlen"
)

// Post is one post to make.
type Post struct {
	Text    string
	Created time.Time // createdAt: the message's creation time, the same on every attempt
	Rkey    string    // the record key: RecordKey of the message
	Images  []Image
}

// Image is a picture of a post, on disk, already within the service's
// limits (media.BlueskyLimits).
type Image struct {
	Path   string
	Type   string // image/jpeg, image/png, …
	Size   int64
	Alt    string
	Width  int // upright, for aspectRatio; 0 when unknown
	Height int
}

// Result is a post the service has.
type Result struct {
	URI  string // at://DID/app.bsky.feed.post/RKEY
	CID  string
	Rkey string
	URL  string    // https://bsky.app/profile/HANDLE/post/RKEY
	Date time.Time // the answer's Date; zero when absent
	// Found reports that the post was there already, made by an earlier
	// attempt whose answer was lost.
	Found bool
}

// DateTime is createdAt's format: the lexicon's datetime, UTC with
// milliseconds and "Z" (atproto.com/specs/lexicon: "It is strongly
// preferred to use the UTC timezone … with a simple capital Z suffix",
// "Best practice is to use at least millisecond precision").
const DateTime = "2006-01-02T15:04:05.000Z"

// record is an app.bsky.feed.post record, its fields in the order they
// are written.
type record struct {
	Type      string   `json:"$type"`
	Text      string   `json:"text"`
	CreatedAt string   `json:"createdAt"`
	Langs     []string `json:"langs,omitempty"`
	Facets    []facet  `json:"facets,omitempty"`
	Embed     *embed   `json:"embed,omitempty"`
}

type facet struct {
	Index struct {
		ByteStart int `json:"byteStart"`
		ByteEnd   int `json:"byteEnd"`
	} `json:"index"`
	Features []feature `json:"features"`
}

type feature struct {
	Type string `json:"$type"`
	URI  string `json:"uri"`
}

type embed struct {
	Type   string       `json:"$type"`
	Images []embedImage `json:"images"`
}

type embedImage struct {
	Alt         string          `json:"alt"`
	Image       json.RawMessage `json:"image"` // the blob as uploadBlob answered it, verbatim
	AspectRatio *aspectRatio    `json:"aspectRatio,omitempty"`
}

type aspectRatio struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// check says what keeps p from being a valid post.
func (p Post) check() error {
	switch {
	case !ValidTID(p.Rkey):
		return fmt.Errorf("bluesky: record key %q is not a TID", p.Rkey)
	case len(p.Images) > MaxImages:
		return fmt.Errorf("bluesky: a post carries at most %d pictures, this one %d", MaxImages, len(p.Images))
	case p.Text == "" && len(p.Images) == 0:
		return errors.New("bluesky: the post is empty")
	}
	if n, b := textlen.Graphemes(p.Text), len(p.Text); n > MaxGraphemes || b > MaxBytes {
		return fmt.Errorf("bluesky: the text is %d characters (grapheme clusters) and %d bytes; Bluesky takes at most %d and %d", n, b, MaxGraphemes, MaxBytes)
	}
	return nil
}

// newRecord builds p's record with the blobs uploadBlob answered, one per
// image.
func (c *Client) newRecord(p Post, blobs []json.RawMessage) record {
	r := record{Type: Collection, Text: p.Text, CreatedAt: p.Created.UTC().Format(DateTime), Langs: c.cfg.Langs}
	for _, l := range Links(p.Text) {
		var f facet
		f.Index.ByteStart, f.Index.ByteEnd = l.Start, l.End
		f.Features = []feature{{Type: "app.bsky.richtext.facet#link", URI: l.URI}}
		r.Facets = append(r.Facets, f)
	}
	if len(blobs) > 0 {
		r.Embed = &embed{Type: "app.bsky.embed.images"}
		for i, b := range blobs {
			im := p.Images[i]
			ei := embedImage{Alt: im.Alt, Image: b}
			if w, h := ratio(im.Width, im.Height); w > 0 {
				ei.AspectRatio = &aspectRatio{Width: w, Height: h}
			}
			r.Embed.Images = append(r.Embed.Images, ei)
		}
	}
	return r
}

// ratio reduces width:height by their greatest common divisor.
func ratio(w, h int) (int, int) {
	if w <= 0 || h <= 0 {
		return 0, 0
	}
	a, b := w, h
	for b != 0 {
		a, b = b, a%b
	}
	return w / a, h / a
}

// createRecordBody is createRecord's input for rec under rkey in repo.
func createRecordBody(repo, rkey string, rec record) ([]byte, error) {
	return jsonBody(struct {
		Repo       string `json:"repo"`
		Collection string `json:"collection"`
		Rkey       string `json:"rkey"`
		Record     record `json:"record"`
	}{repo, Collection, rkey, rec})
}

// Post makes p, or finds it made. tried says an earlier attempt may have
// reached the service: the record is looked for first, and a post that is
// there is not made again.
//
// A createRecord whose answer is lost (a timeout, a reset), or is a 5xx
// (what a PDS answers today for a record key already used), or says
// RecordAlreadyExists (400, as proposed for the PDS, or 409, as another PDS
// answers) is followed by a getRecord of the same key: a record with this
// post's text and createdAt is this post, delivered; one with other content
// is a permanent error; none leaves the original error, to try again
// later.
func (c *Client) Post(ctx context.Context, p Post, tried bool) (*Result, error) {
	if err := p.check(); err != nil {
		return nil, &sender.APIError{Service: "Bluesky", Kind: sender.KindPermanent, Detail: strings.TrimPrefix(err.Error(), "bluesky: ")}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if tried {
		if res, found, err := c.confirm(ctx, p); err != nil {
			return nil, err
		} else if found {
			return res, nil
		}
	}
	var blobs []json.RawMessage
	for _, im := range p.Images {
		b, err := c.uploadBlob(ctx, im)
		if err != nil {
			return nil, err
		}
		blobs = append(blobs, b)
	}
	rec := c.newRecord(p, blobs)
	var sent time.Time
	resp, err := c.do(ctx, func() *sender.Request {
		// The repo is the session's DID, known once logged in. Strings
		// and numbers always encode.
		body, _ := createRecordBody(c.session.DID, p.Rkey, rec)
		sent = c.now()
		return &sender.Request{Method: "POST", Target: pathCreateRecord, ContentType: "application/json", Body: sender.BytesBody(body)}
	})
	if err == nil && resp.StatusCode == 200 {
		return c.created(resp, p)
	}
	if err == nil {
		err = classify(resp, sent.Add(c.clockOffset()))
	}
	if !c.mayExist(err) {
		return nil, err
	}
	res, found, cerr := c.confirm(ctx, p)
	switch {
	case cerr != nil && isCollision(cerr):
		return nil, cerr
	case cerr != nil:
		c.log.Warn("bluesky: looking for the post after a failed createRecord failed too", "rkey", p.Rkey, "err", cerr)
		return nil, err
	case found:
		c.log.Info("bluesky: the post was made by the request whose answer failed", "rkey", p.Rkey, "answer", err)
		return res, nil
	}
	if isReason(err, "RecordAlreadyExists") {
		e, _ := answered(err)
		e.Kind, e.Err = sender.KindTransient, sender.ErrTransient
		e.Hint = "the service says the record exists, and getRecord does not find it; trying again later"
	}
	return nil, err
}

// mayExist reports whether a failed createRecord may have made the
// record: its answer was lost, was a 5xx, or says the record exists.
func (c *Client) mayExist(err error) bool {
	e, ok := answered(err)
	if !ok {
		return errors.Is(err, sender.ErrTransient)
	}
	return e.Reason == "RecordAlreadyExists" || e.Status >= 500 || e.Kind == sender.KindProtocol
}

// created reads createRecord's answer.
func (c *Client) created(resp *sender.Response, p Post) (*Result, error) {
	var v struct {
		URI string `json:"uri"`
		CID string `json:"cid"`
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil || !strings.HasPrefix(v.URI, "at://") || v.CID == "" {
		return nil, protocolError(resp, `{"uri":"at://…","cid":…}`)
	}
	return c.result(v.URI, v.CID, p.Rkey, resp, false), nil
}

func (c *Client) result(uri, cid, rkey string, resp *sender.Response, found bool) *Result {
	handle := c.session.Handle
	if handle == "" || handle == "handle.invalid" {
		handle = c.session.DID
	}
	return &Result{URI: uri, CID: cid, Rkey: rkey, Found: found,
		URL:  "https://bsky.app/profile/" + handle + "/post/" + rkey,
		Date: parseDate(resp.Header.Get("date"))}
}

// reasonCollision marks the error of a record under this post's key with
// other content.
const reasonCollision = "RecordKeyCollision"

func isCollision(err error) bool { return isReason(err, reasonCollision) }

// confirm looks for p's record (getRecord). found is false when the
// service says RecordNotFound; a record with other content is a
// permanent error.
func (c *Client) confirm(ctx context.Context, p Post) (*Result, bool, error) {
	var sent time.Time
	resp, err := c.do(ctx, func() *sender.Request {
		sent = c.now()
		return &sender.Request{Method: "GET", Target: getTarget(pathGetRecord, "repo", c.session.DID, "collection", Collection, "rkey", p.Rkey)}
	})
	if err != nil {
		return nil, false, err
	}
	if resp.StatusCode != 200 {
		e := classify(resp, sent.Add(c.clockOffset()))
		if e.Reason == "RecordNotFound" {
			return nil, false, nil
		}
		return nil, false, e
	}
	got, err := decodeGetRecord(resp.Body)
	if err != nil {
		return nil, false, protocolError(resp, `{"uri":…,"value":{…}}: `+err.Error())
	}
	if got.Value.Text != p.Text || got.Value.CreatedAt != p.Created.UTC().Format(DateTime) {
		return nil, false, &sender.APIError{Service: "Bluesky", Kind: sender.KindPermanent, Status: resp.StatusCode, Reason: reasonCollision,
			Detail: fmt.Sprintf("the account already has a different post under this message's record key %s (%s)", p.Rkey, got.URI),
			Hint:   "another program wrote it; this message is not posted again under that key"}
	}
	return c.result(got.URI, got.CID, p.Rkey, resp, true), true, nil
}

// gotRecord is getRecord's output, as much as is compared.
type gotRecord struct {
	URI   string `json:"uri"`
	CID   string `json:"cid"`
	Value struct {
		Type      string `json:"$type"`
		Text      string `json:"text"`
		CreatedAt string `json:"createdAt"`
	} `json:"value"`
}

func decodeGetRecord(body []byte) (gotRecord, error) {
	var g gotRecord
	if err := json.Unmarshal(body, &g); err != nil {
		return g, err
	}
	if !strings.HasPrefix(g.URI, "at://") || g.Value.Type != Collection {
		return g, errors.New(`no "uri" or not an app.bsky.feed.post "value"`)
	}
	return g, nil
}

// uploadBlob sends im's bytes and returns the blob the service answers,
// to be embedded as it is.
func (c *Client) uploadBlob(ctx context.Context, im Image) (json.RawMessage, error) {
	var sent time.Time
	resp, err := c.do(ctx, func() *sender.Request {
		sent = c.now()
		return uploadRequest(im)
	})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, classify(resp, sent.Add(c.clockOffset()))
	}
	b, err := decodeBlob(resp.Body)
	if err != nil {
		return nil, protocolError(resp, `{"blob":{"$type":"blob","ref":{"$link":…},"mimeType":…,"size":…}}: `+err.Error())
	}
	return b, nil
}

func uploadRequest(im Image) *sender.Request {
	body := new(sender.Body).AppendStream(im.Size, im.Path, func() (io.ReadCloser, error) { return os.Open(im.Path) })
	return &sender.Request{Method: "POST", Target: pathUploadBlob, ContentType: im.Type, Body: body}
}

// decodeBlob reads uploadBlob's output and checks the blob is one a
// record may hold (atproto.com/specs/data-model, "blob").
func decodeBlob(body []byte) (json.RawMessage, error) {
	var v struct {
		Blob json.RawMessage `json:"blob"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	var b struct {
		Type string `json:"$type"`
		Ref  struct {
			Link string `json:"$link"`
		} `json:"ref"`
		MIMEType string `json:"mimeType"`
		Size     int64  `json:"size"`
	}
	if err := json.Unmarshal(v.Blob, &b); err != nil {
		return nil, err
	}
	if b.Type != "blob" || b.Ref.Link == "" || b.MIMEType == "" || b.Size <= 0 {
		return nil, errors.New(`the blob lacks "$type":"blob", ref, mimeType or size`)
	}
	return v.Blob, nil
}
