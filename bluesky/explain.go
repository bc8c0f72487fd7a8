package bluesky

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"pitweet/sender"
)

// Explained is what a post sends, request by request, as `pitweet explain
// --to bluesky` shows it: the exact bytes, the app password and the tokens
// masked.
type Explained struct {
	Service       string   `json:"service"` // where the session is opened
	Dial          string   `json:"dial"`    // the host:port dialled
	CreateSession string   `json:"create_session"`
	UploadBlob    []string `json:"upload_blob,omitempty"` // one per picture, its bytes not shown
	CreateRecord  string   `json:"create_record"`
	Rkey          string   `json:"rkey"`
	URL           string   `json:"url"`    // the post's address once made
	Facets        []Facet  `json:"facets"` // the links found in the text
}

// accessMask stands for the access token in explained requests.
const accessMask = "<accessJwt from createSession's answer>"

// maskPassword hides every character of p but the dashes; the mask keeps
// the length, so Content-Length is what is sent.
func maskPassword(p string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' {
			return '-'
		}
		return '*'
	}, p)
}

// Explain renders the requests of p without sending any. repo is the
// account's DID as the session gives it; "" writes the handle there (a
// PDS takes either; pitweet sends the DID, known once logged in). Each
// image's blob is shown as uploadBlob will answer it: the CID of its
// bytes, its type and size.
func (c *Client) Explain(p Post, repo string) (*Explained, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if repo == "" {
		repo = c.cfg.Handle
	}
	e := &Explained{Service: c.cfg.Service, Dial: c.entry.Addr(), Rkey: p.Rkey,
		URL: "https://bsky.app/profile/" + c.cfg.Handle + "/post/" + p.Rkey, Facets: Links(p.Text)}
	body, err := jsonBody(struct {
		Identifier string `json:"identifier"`
		Password   string `json:"password"`
	}{c.cfg.Handle, maskPassword(c.cfg.AppPassword)})
	if err != nil {
		return nil, err
	}
	b, err := c.entry.Render(&sender.Request{Method: "POST", Target: pathCreateSession, ContentType: "application/json", Body: sender.BytesBody(body)})
	if err != nil {
		return nil, err
	}
	e.CreateSession = string(b)
	var blobs []json.RawMessage
	for _, im := range p.Images {
		req := uploadRequest(im)
		req.Authorization = "Bearer " + accessMask
		b, err := c.entry.Render(req)
		if err != nil {
			return nil, err
		}
		e.UploadBlob = append(e.UploadBlob, string(b))
		cid, err := fileCID(im.Path)
		if err != nil {
			return nil, err
		}
		blob, err := jsonBody(map[string]any{"$type": "blob", "ref": map[string]string{"$link": cid}, "mimeType": im.Type, "size": im.Size})
		if err != nil {
			return nil, err
		}
		blobs = append(blobs, blob)
	}
	body, err = createRecordBody(repo, p.Rkey, c.newRecord(p, blobs))
	if err != nil {
		return nil, err
	}
	b, err = c.entry.Render(&sender.Request{Method: "POST", Target: pathCreateRecord, ContentType: "application/json",
		Authorization: "Bearer " + accessMask, Body: sender.BytesBody(body)})
	if err != nil {
		return nil, err
	}
	e.CreateRecord = string(b)
	return e, nil
}

// BlobCID is the CID a PDS gives a blob of data (atproto.com/specs/data-model,
// "blob"): CIDv1, the raw codec, a SHA-256 multihash, in base32 ("bafkrei…").
func BlobCID(data []byte) string {
	sum := sha256.Sum256(data)
	raw := append([]byte{0x01, 0x55, 0x12, 0x20}, sum[:]...)
	return "b" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
}

func fileCID(path string) (string, error) {
	data, err := readBounded(path, 50<<20)
	if err != nil {
		return "", fmt.Errorf("bluesky: %w", err)
	}
	return BlobCID(data), nil
}

// readBounded reads the file at path, refusing one larger than max.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}
