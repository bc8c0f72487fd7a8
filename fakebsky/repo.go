package fakebsky

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif"  // image.Decode reads GIF
	_ "image/jpeg" // JPEG
	_ "image/png"  // and PNG
	"net/url"
	"strings"

	"pitweet/emulator"
	"pitweet/httpd"
)

const postNSID = "app.bsky.feed.post"

// createRecord serves com.atproto.repo.createRecord (lexicons/com/atproto/
// repo/createRecord.json): repo (the caller's handle or DID), collection,
// record, optional rkey and validate. As the PDS (repo/prepare.ts): $type
// filled in if missing and else equal to the collection; the rkey record-
// key syntax, and for app.bsky.feed.post a TID (its lexicon's "key":
// "tid"); the record valid against the lexicon unless validate is false;
// every blob it references uploaded by the caller, with the size and type
// stored. A second record at the same rkey is answered DuplicateStatus.
func (s *Server) createRecord(ex *emulator.Exchange) {
	a, ok := s.access(ex)
	if !ok {
		return
	}
	in, ok := s.jsonInput(ex)
	if !ok {
		return
	}
	repo, msg := inputString(in, "repo", true)
	collection, msg2 := inputString(in, "collection", true)
	rkey, msg3 := inputString(in, "rkey", false)
	for _, m := range []string{msg, msg2, msg3} {
		if m != "" {
			s.invalid(ex, m)
			return
		}
	}
	recIn, hasRecord := in["record"]
	validate, hasValidate := in["validate"].(bool)
	_, rkeyGiven := in["rkey"]
	switch {
	case !validDID(repo) && !validHandle(repo):
		s.invalid(ex, "Invalid AT identifier (got "+quote(repo)+") at $.repo")
		return
	case !validNSID(collection):
		s.invalid(ex, "Invalid NSID (got "+quote(collection)+") at $.collection")
		return
	case !hasRecord:
		s.invalid(ex, `Missing required key "record" at $`)
		return
	case rkeyGiven && (len(rkey) > 512 || !validRecordKey(rkey)):
		s.invalid(ex, "Invalid record key (got "+quote(rkey)+") at $.rkey")
		return
	case in["validate"] != nil && !hasValidate:
		s.invalid(ex, "Expected boolean value type (got "+stringify(in["validate"])+") at $.validate")
		return
	}
	recMap, ok := recIn.(map[string]any)
	if !ok {
		s.invalid(ex, "Expected object value type (got "+stringify(recIn)+") at $.record")
		return
	}
	if !s.spend(ex, limitWrite, a.DID, 3) {
		return
	}
	owner, found := s.account(repo)
	if !found {
		s.fail(ex, 403, "AccountNotFound", "Account not found", "")
		return
	}
	if owner.DID != a.DID {
		s.fail(ex, 401, "AuthenticationRequired", "Authentication Required", "repo "+repo+" is not the caller's")
		return
	}

	v, err := fromJSON(recMap)
	if err != nil {
		s.invalid(ex, "Invalid record: "+err.Error())
		return
	}
	rec := v.(map[string]any)
	switch t, ok := rec["$type"]; {
	case !ok:
		rec["$type"] = collection
	case t != collection:
		s.invalid(ex, fmt.Sprintf("Invalid $type: expected %s, got %s", collection, stringify(t)))
		return
	}
	if rkeyGiven && !validRecordKey(rkey) {
		s.invalid(ex, "Invalid record key: "+rkey)
		return
	}
	if !rkeyGiven {
		rkey = s.nextTID(ex)
	}
	status := ""
	switch {
	case hasValidate && !validate:
	case collection == postNSID:
		if !IsTID(rkey) {
			s.invalid(ex, "Invalid record key for app.bsky.feed.post: Invalid TID string (got "+quote(rkey)+") at $")
			return
		}
		if iss := (postCheck{blobMax: s.ImageLimit}).check(rec); iss != nil {
			s.invalid(ex, "Invalid app.bsky.feed.post record: "+iss.String())
			return
		}
		status = "valid"
	case hasValidate && validate:
		s.invalid(ex, "Unknown lexicon type: "+collection)
		return
	default:
		status = "unknown"
	}
	refs, legacy := blobRefs(rec)
	if legacy != "" {
		s.invalid(ex, "Legacy blobs are not allowed ("+legacy+")")
		return
	}
	cid, err := recordCID(rec)
	if err != nil {
		s.invalid(ex, "Invalid record: "+err.Error())
		return
	}
	value, err := json.Marshal(toJSON(rec))
	if err != nil {
		s.invalid(ex, "Invalid record: "+err.Error())
		return
	}

	uri := "at://" + a.DID + "/" + collection + "/" + rkey
	s.mu.Lock()
	if s.byKey[a.DID+"/"+collection+"/"+rkey] != nil {
		s.mu.Unlock()
		s.duplicate(ex, collection, rkey)
		return
	}
	// The blobs, as the PDS's verifyBlobAndMakePermanent checks them.
	for _, ref := range refs {
		b := s.blobs[a.DID+" "+ref.cid]
		if b != nil && !b.Referenced && !ex.Now.Before(b.UploadedAt.Add(s.BlobTTL)) {
			b = nil // expired unreferenced
		}
		switch {
		case b == nil:
			s.mu.Unlock()
			s.fail(ex, 400, "BlobNotFound", "Could not find blob: "+ref.cid, "")
			return
		case b.MIMEType != ref.mimeType:
			s.mu.Unlock()
			s.fail(ex, 400, "InvalidMimeType", fmt.Sprintf("Referenced Mimetype does not match stored blob. Expected: %s, Got: %s", b.MIMEType, ref.mimeType), "")
			return
		case int64(b.Size) != ref.size:
			s.mu.Unlock()
			s.fail(ex, 400, "InvalidSize", fmt.Sprintf("Referenced Size does not match stored blob. Expected: %d, Got: %d", b.Size, ref.size), "")
			return
		}
	}
	r := &Record{URI: uri, CID: cid, Repo: a.DID, Collection: collection, Rkey: rkey, Value: value, ValidationStatus: status, At: ex.Now}
	if collection == postNSID {
		r.Text, _ = rec["text"].(string)
		for _, ref := range refs {
			r.Images = append(r.Images, ref.cid)
		}
	}
	for _, ref := range refs {
		s.blobs[a.DID+" "+ref.cid].Referenced = true
	}
	s.records = append(s.records, r)
	s.byKey[a.DID+"/"+collection+"/"+rkey] = r
	s.mu.Unlock()
	s.core.Notify()
	s.core.Log().Info("fakebsky stored record", "uri", uri, "text", r.Text, "images", len(r.Images))

	out := map[string]any{"uri": uri, "cid": cid, "commit": s.commit(ex, a, cid)}
	if status != "" {
		out["validationStatus"] = status
	}
	ex.JSON(200, out, "record "+uri)
}

// duplicate answers a createRecord for an rkey already used, as
// DuplicateStatus says (see docs/specs/bluesky.md 3.1: the PDS today throws from
// its MST and answers 500; atproto PR #4728 proposes 400
// RecordAlreadyExists; another PDS answers 409).
func (s *Server) duplicate(ex *emulator.Exchange, collection, rkey string) {
	reason := "rkey " + rkey + " already used"
	switch s.DuplicateStatus {
	case 400, 409:
		s.fail(ex, s.DuplicateStatus, "RecordAlreadyExists", "Record already exists: "+collection+"/"+rkey, reason)
	default:
		s.fail(ex, 500, "InternalServerError", "Internal Server Error", reason)
	}
}

// commit describes the repository commit of a write: a revision TID and
// the CID of a commit object naming the record.
func (s *Server) commit(ex *emulator.Exchange, a Account, record string) map[string]string {
	rev := s.nextTID(ex)
	b, _, _ := parseCID(record)
	cid, _ := recordCID(map[string]any{"did": a.DID, "rev": rev, "version": int64(3), "data": link(b), "prev": nil})
	return map[string]string{"cid": cid, "rev": rev}
}

// nextTID returns a TID from the server's clock, later than any before.
func (s *Server) nextTID(ex *emulator.Exchange) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := uint64(ex.Now.UnixMicro())&(1<<53-1)<<10 | 0x155
	if v <= s.tidClock {
		v = s.tidClock + 1<<10
	}
	s.tidClock = v
	return TID(v)
}

// A blobRef is a blob a record references.
type blobRef struct {
	cid, mimeType string
	size          int64
}

// blobRefs returns every blob ref in a data-model value ({"$type": "blob",
// "ref": link, …}), and the CID of a legacy ref ({"cid": …, "mimeType":
// …} without $type) if there is one.
func blobRefs(v any) (refs []blobRef, legacy string) {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			r, l := blobRefs(x)
			refs = append(refs, r...)
			if legacy == "" {
				legacy = l
			}
		}
	case map[string]any:
		if v["$type"] == "blob" {
			l, _ := v["ref"].(link)
			mime, _ := v["mimeType"].(string)
			size, _ := v["size"].(int64)
			return []blobRef{{"b" + base32Lower.EncodeToString(l), mime, size}}, ""
		}
		if c, ok := v["cid"].(string); ok && v["$type"] == nil {
			if _, ok := v["mimeType"].(string); ok && len(v) == 2 {
				return nil, c
			}
		}
		for _, x := range v {
			r, l := blobRefs(x)
			refs = append(refs, r...)
			if legacy == "" {
				legacy = l
			}
		}
	}
	return refs, legacy
}

// toJSON converts a data-model value back to JSON values.
func toJSON(v any) any {
	switch v := v.(type) {
	case link:
		return map[string]string{"$link": "b" + base32Lower.EncodeToString(v)}
	case []byte:
		return map[string]string{"$bytes": b64std.EncodeToString(v)}
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = toJSON(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = toJSON(x)
		}
		return out
	}
	return v
}

// getRecord serves com.atproto.repo.getRecord (lexicons/com/atproto/repo/
// getRecord.json: "Does not require auth"): 400 RecordNotFound for a
// record that is not there.
func (s *Server) getRecord(ex *emulator.Exchange) {
	q, err := url.ParseQuery(ex.R.RawQuery)
	if err != nil {
		s.invalid(ex, "Invalid com.atproto.repo.getRecord params: "+err.Error())
		return
	}
	for _, k := range []string{"repo", "collection", "rkey"} {
		if q.Get(k) == "" {
			s.invalid(ex, `Invalid com.atproto.repo.getRecord params: Missing required key "`+k+`"`)
			return
		}
	}
	a, ok := s.account(q.Get("repo"))
	if !ok {
		s.invalid(ex, "Could not locate record")
		return
	}
	uri := "at://" + a.DID + "/" + q.Get("collection") + "/" + q.Get("rkey")
	s.mu.Lock()
	r := s.byKey[a.DID+"/"+q.Get("collection")+"/"+q.Get("rkey")]
	s.mu.Unlock()
	if r == nil || q.Get("cid") != "" && q.Get("cid") != r.CID {
		s.fail(ex, 400, "RecordNotFound", "Could not locate record: "+uri, "")
		return
	}
	ex.JSON(200, map[string]any{"uri": r.URI, "cid": r.CID, "value": r.Value}, "")
}

// uploadBlob serves com.atproto.repo.uploadBlob (lexicons/com/atproto/repo/
// uploadBlob.json: input "encoding": "*/*"): the raw bytes as the body with
// a Content-Type ("a Content-Type header is still expected",
// atproto.com/specs/xrpc), at most UploadLimit bytes (413 beyond). The
// answer is the blob ref, its ref the CID of the bytes. The type stored is
// the one the bytes say, else the Content-Type (the PDS sniffs). An image
// type must really decode: stricter than the PDS, which stores any bytes
// and leaves a broken picture in the app.
func (s *Server) uploadBlob(ex *emulator.Exchange) {
	a, ok := s.access(ex)
	if !ok {
		return
	}
	r := ex.R
	if r.Header.Get("Content-Length") == "" && r.Header.Get("Transfer-Encoding") == "" {
		s.invalid(ex, "A request body is expected but none was provided")
		return
	}
	ctype := httpd.MediaType(r.Header.Get("Content-Type"))
	if ctype == "" {
		s.invalid(ex, "Request encoding (Content-Type) required but not provided")
		return
	}
	if !s.spend(ex, limitUpload, a.DID, 1) {
		return
	}
	if len(r.Body) > s.UploadLimit {
		s.fail(ex, 413, "PayloadTooLarge", "request entity too large", fmt.Sprintf("%d bytes over the upload limit of %d", len(r.Body), s.UploadLimit))
		return
	}
	sniffed := emulator.SniffImage(r.Body)
	mime := sniffed
	if mime == "" {
		mime = ctype
	}
	var w, h int
	switch {
	case strings.HasPrefix(mime, "image/") && sniffed == "":
		s.invalid(ex, "fakebsky: the body sent as "+mime+" is no image format fakebsky knows (JPEG, PNG, GIF, WebP, AVIF, HEIC)")
		return
	case mime == "image/jpeg", mime == "image/png", mime == "image/gif":
		img, _, err := image.Decode(bytes.NewReader(r.Body))
		if err != nil {
			s.invalid(ex, fmt.Sprintf("fakebsky: the body is not a %s image that decodes: %v", mime, err))
			return
		}
		w, h = img.Bounds().Dx(), img.Bounds().Dy()
	}
	cid := BlobCID(r.Body)
	s.mu.Lock()
	b := s.blobs[a.DID+" "+cid]
	if b == nil {
		b = &Blob{CID: cid, Repo: a.DID, data: bytes.Clone(r.Body)}
		s.blobs[a.DID+" "+cid] = b
	}
	b.MIMEType, b.Size, b.Width, b.Height, b.UploadedAt = mime, len(r.Body), w, h, ex.Now
	s.mu.Unlock()
	s.core.Notify()
	ex.JSON(200, map[string]any{"blob": map[string]any{
		"$type": "blob", "ref": map[string]string{"$link": cid}, "mimeType": mime, "size": len(r.Body),
	}}, fmt.Sprintf("blob %s: %s, %d bytes", cid, mime, len(r.Body)))
}

// queryParam returns the first value of name in a raw query, or "".
func queryParam(rawQuery, name string) string {
	q, _ := url.ParseQuery(rawQuery)
	return q.Get(name)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
