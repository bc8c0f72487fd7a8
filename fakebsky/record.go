package fakebsky

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// This file validates an app.bsky.feed.post record as the PDS does
// against the lexicon (github.com/bluesky-social/atproto lexicons/app/bsky/
// feed/post.json, richtext/facet.json, embed/images.json, embed/defs.json),
// and then checks what the PDS leaves to the client but the app needs:
// facet offsets inside the text, on character and grapheme boundaries,
// not overlapping, a link facet over its URL. An issue reads as the PDS's
// do ("grapheme too big (maximum 300, got 301) at $.record.text"); the
// caller prefixes "Invalid app.bsky.feed.post record: ".

// An issue is the first thing wrong with a record, and where.
type issue struct {
	msg, path string
	// emulator marks a check the PDS does not make: it stores such a
	// record, and the app shows a broken facet.
	emulator bool
}

func (i *issue) String() string {
	s := i.msg + " at " + i.path
	if i.emulator {
		s += " (fakebsky checks this: a PDS stores the post and the app shows it broken)"
	}
	return s
}

// Limits of app.bsky.feed.post and the lexicons it uses.
const (
	maxTextBytes     = 3000 // text maxLength: "maxLength … in UTF-8 bytes" (atproto.com/specs/lexicon)
	maxTextGraphemes = 300  // text maxGraphemes
	maxLangs         = 3    // langs maxLength
	maxTags          = 8
	maxTagBytes      = 640
	maxTagGraphemes  = 64
	maxImages        = 4 // app.bsky.embed.images images maxLength
)

// A postCheck validates one post record. blobMax is the image blob size
// limit in force.
type postCheck struct {
	blobMax int
}

// check returns the first issue with rec (a data-model map, $type set),
// or nil.
func (c postCheck) check(rec map[string]any) *issue {
	p := "$.record"
	text, iss := requiredString(rec, "text", p)
	if iss != nil {
		return iss
	}
	if iss := checkString(text, p+".text", maxTextBytes, maxTextGraphemes); iss != nil {
		return iss
	}
	if v, ok := rec["facets"]; ok {
		if iss := c.checkFacets(text, v, p+".facets"); iss != nil {
			return iss
		}
	}
	if v, ok := rec["reply"]; ok {
		if iss := checkReply(v, p+".reply"); iss != nil {
			return iss
		}
	}
	if v, ok := rec["embed"]; ok {
		if iss := c.checkEmbed(v, p+".embed"); iss != nil {
			return iss
		}
	}
	if v, ok := rec["langs"]; ok {
		langs, iss := wantArray(v, p+".langs", maxLangs)
		if iss != nil {
			return iss
		}
		for i, l := range langs {
			lp := fmt.Sprintf("%s.langs[%d]", p, i)
			s, iss := wantString(l, lp)
			if iss != nil {
				return iss
			}
			if !validLanguage(s) {
				return &issue{msg: "Invalid language (got " + quote(s) + ")", path: lp}
			}
		}
	}
	if v, ok := rec["tags"]; ok {
		tags, iss := wantArray(v, p+".tags", maxTags)
		if iss != nil {
			return iss
		}
		for i, t := range tags {
			tp := fmt.Sprintf("%s.tags[%d]", p, i)
			s, iss := wantString(t, tp)
			if iss != nil {
				return iss
			}
			if iss := checkString(s, tp, maxTagBytes, maxTagGraphemes); iss != nil {
				return iss
			}
		}
	}
	created, iss := requiredString(rec, "createdAt", p)
	if iss != nil {
		return iss
	}
	if !validDatetime(created) {
		return &issue{msg: "Invalid datetime (got " + quote(created) + ")", path: p + ".createdAt"}
	}
	return nil
}

// checkFacets checks app.bsky.richtext.facet items against the lexicon,
// then against the text.
func (c postCheck) checkFacets(text string, v any, path string) *issue {
	facets, iss := wantArray(v, path, -1)
	if iss != nil {
		return iss
	}
	type span struct{ start, end int64 }
	var spans []span
	for i, f := range facets {
		fp := fmt.Sprintf("%s[%d]", path, i)
		obj, iss := wantObject(f, fp)
		if iss != nil {
			return iss
		}
		idx, iss := requiredObject(obj, "index", fp)
		if iss != nil {
			return iss
		}
		start, iss := requiredInt(idx, "byteStart", fp+".index", 0)
		if iss != nil {
			return iss
		}
		end, iss := requiredInt(idx, "byteEnd", fp+".index", 0)
		if iss != nil {
			return iss
		}
		fv, ok := obj["features"]
		if !ok {
			return missing("features", fp)
		}
		features, iss := wantArray(fv, fp+".features", -1)
		if iss != nil {
			return iss
		}
		var links []string
		for j, feat := range features {
			ftp := fmt.Sprintf("%s.features[%d]", fp, j)
			fo, iss := wantTyped(feat, ftp)
			if iss != nil {
				return iss
			}
			switch fo["$type"] {
			case "app.bsky.richtext.facet#link":
				uri, iss := requiredString(fo, "uri", ftp)
				if iss != nil {
					return iss
				}
				if !validURI(uri) {
					return &issue{msg: "Invalid uri (got " + quote(uri) + ")", path: ftp + ".uri"}
				}
				links = append(links, uri)
			case "app.bsky.richtext.facet#mention":
				did, iss := requiredString(fo, "did", ftp)
				if iss != nil {
					return iss
				}
				if !validDID(did) {
					return &issue{msg: "Invalid DID (got " + quote(did) + ")", path: ftp + ".did"}
				}
			case "app.bsky.richtext.facet#tag":
				tag, iss := requiredString(fo, "tag", ftp)
				if iss != nil {
					return iss
				}
				if iss := checkString(tag, ftp+".tag", maxTagBytes, maxTagGraphemes); iss != nil {
					return iss
				}
			}
			// Unions are open: a feature of another $type passes.
		}

		// What the lexicon cannot say: the slice is inside the text
		// ("Indices are zero-indexed, counting bytes of the UTF-8 encoded
		// text"), on boundaries, and not empty.
		ip := fp + ".index"
		switch {
		case start >= end:
			return &issue{msg: fmt.Sprintf("byteStart %d is not before byteEnd %d", start, end), path: ip, emulator: true}
		case end > int64(len(text)):
			return &issue{msg: fmt.Sprintf("byteEnd %d is past the end of the text (%d bytes of UTF-8)", end, len(text)), path: ip, emulator: true}
		case !utf8.RuneStart(text[start]) || int(end) < len(text) && !utf8.RuneStart(text[end]):
			return &issue{msg: fmt.Sprintf("byte range %d-%d cuts a UTF-8 character; count bytes of UTF-8, not UTF-16 units or code points", start, end), path: ip, emulator: true}
		case !graphemeBoundary(text, int(start)) || !graphemeBoundary(text, int(end)):
			return &issue{msg: fmt.Sprintf("byte range %d-%d cuts a grapheme cluster", start, end), path: ip, emulator: true}
		}
		for _, s := range spans {
			if start < s.end && s.start < end {
				return &issue{msg: fmt.Sprintf("byte range %d-%d overlaps %d-%d; facets can not overlap", start, end, s.start, s.end), path: ip, emulator: true}
			}
		}
		spans = append(spans, span{start, end})
		for _, uri := range links {
			if covered := text[start:end]; !linkText(covered, uri) {
				return &issue{msg: fmt.Sprintf("the link's text %s is not its uri %s, nor that uri shortened", quote(covered), quote(uri)), path: ip, emulator: true}
			}
		}
	}
	return nil
}

// linkText reports whether covered is how a link to uri may read: the URI
// itself or, as the lexicon allows ("The text URL may have been
// simplified or truncated"), the URI without its scheme or "www.", and cut
// short with "..." or "…".
func linkText(covered, uri string) bool {
	if covered == uri {
		return true
	}
	simple := func(s string) string {
		for _, p := range []string{"https://", "http://", "www."} {
			if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
				s = s[len(p):]
			}
		}
		return s
	}
	c, u := simple(covered), simple(uri)
	if short, ok := strings.CutSuffix(c, "..."); ok {
		return short != "" && strings.HasPrefix(u, short)
	}
	if short, ok := strings.CutSuffix(c, "…"); ok {
		return short != "" && strings.HasPrefix(u, short)
	}
	return c == u || c+"/" == u
}

// graphemeBoundary reports whether byte offset i of s is between two
// grapheme clusters (or at either end).
func graphemeBoundary(s string, i int) bool {
	if i <= 0 || i >= len(s) {
		return true
	}
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		from, to := g.Positions()
		if from == i || to == i {
			return true
		}
		if from > i {
			return false
		}
	}
	return false
}

// checkEmbed checks the embed union; app.bsky.embed.images in full. Other
// embeds are left to the lexicon's open union: not emulated.
func (c postCheck) checkEmbed(v any, path string) *issue {
	obj, iss := wantTyped(v, path)
	if iss != nil {
		return iss
	}
	if obj["$type"] != "app.bsky.embed.images" {
		return nil
	}
	iv, ok := obj["images"]
	if !ok {
		return missing("images", path)
	}
	images, iss := wantArray(iv, path+".images", maxImages)
	if iss != nil {
		return iss
	}
	for i, img := range images {
		ip := fmt.Sprintf("%s.images[%d]", path, i)
		o, iss := wantObject(img, ip)
		if iss != nil {
			return iss
		}
		bv, ok := o["image"]
		if !ok {
			return missing("image", ip)
		}
		if iss := checkBlob(bv, ip+".image", "image/", c.blobMax); iss != nil {
			return iss
		}
		if _, iss := requiredString(o, "alt", ip); iss != nil {
			return iss
		}
		if ar, ok := o["aspectRatio"]; ok {
			ao, iss := wantObject(ar, ip+".aspectRatio")
			if iss != nil {
				return iss
			}
			if _, iss := requiredInt(ao, "width", ip+".aspectRatio", 1); iss != nil {
				return iss
			}
			if _, iss := requiredInt(ao, "height", ip+".aspectRatio", 1); iss != nil {
				return iss
			}
		}
	}
	return nil
}

// checkBlob checks a blob ref in strict mode (atproto.com/specs/data-model
// "blob"): $type "blob", ref a link, mimeType accepted, size at most max.
func checkBlob(v any, path, accept string, max int) *issue {
	o, ok := v.(map[string]any)
	if !ok {
		return &issue{msg: "Expected blob value type (got " + stringify(v) + ")", path: path}
	}
	if _, legacy := o["cid"]; legacy && o["$type"] == nil {
		return &issue{msg: "Expected blob value type (got legacy-blob); copy the blob object uploadBlob answered", path: path}
	}
	_, isLink := o["ref"].(link)
	mime, mimeOK := o["mimeType"].(string)
	size, sizeOK := o["size"].(int64)
	if o["$type"] != "blob" || !isLink || !mimeOK || mime == "" || !sizeOK || size < 0 {
		return &issue{msg: "Expected blob value type (got " + stringify(v) + ")", path: path}
	}
	if !strings.HasPrefix(mime, accept) {
		return &issue{msg: "Expected " + quote(accept+"*") + " (got " + quote(mime) + ")", path: path + ".mimeType"}
	}
	if size > int64(max) {
		return &issue{msg: fmt.Sprintf("blob too big (maximum %d, got %d)", max, size), path: path}
	}
	return nil
}

// checkReply checks app.bsky.feed.post#replyRef: root and parent strong
// references (uri, cid).
func checkReply(v any, path string) *issue {
	o, iss := wantObject(v, path)
	if iss != nil {
		return iss
	}
	for _, k := range []string{"root", "parent"} {
		ref, iss := requiredObject(o, k, path)
		if iss != nil {
			return iss
		}
		uri, iss := requiredString(ref, "uri", path+"."+k)
		if iss != nil {
			return iss
		}
		if !strings.HasPrefix(uri, "at://") {
			return &issue{msg: "Invalid AT URI (got " + quote(uri) + ")", path: path + "." + k + ".uri"}
		}
		cid, iss := requiredString(ref, "cid", path+"."+k)
		if iss != nil {
			return iss
		}
		if _, _, err := parseCID(cid); err != nil {
			return &issue{msg: "Invalid CID string (got " + quote(cid) + ")", path: path + "." + k + ".cid"}
		}
	}
	return nil
}

// checkString checks a string's UTF-8 length in bytes and its length in
// grapheme clusters (atproto.com/specs/lexicon: "maxLength … in UTF-8
// bytes", "maxGraphemes … counted as Unicode Grapheme Clusters").
func checkString(s, path string, maxBytes, maxGraphemes int) *issue {
	if len(s) > maxBytes {
		return &issue{msg: fmt.Sprintf("string too big (maximum %d, got %d)", maxBytes, len(s)), path: path}
	}
	if n := uniseg.GraphemeClusterCount(s); n > maxGraphemes {
		return &issue{msg: fmt.Sprintf("grapheme too big (maximum %d, got %d)", maxGraphemes, n), path: path}
	}
	return nil
}

// Shapes.

func missing(key, path string) *issue {
	return &issue{msg: "Missing required key " + strconv.Quote(key), path: path}
}

func wantObject(v any, path string) (map[string]any, *issue) {
	o, ok := v.(map[string]any)
	if !ok {
		return nil, &issue{msg: "Expected object value type (got " + stringify(v) + ")", path: path}
	}
	return o, nil
}

// wantTyped wants a union member: an object with a string $type
// (atproto.com/specs/lexicon: "union variants must always include $type").
func wantTyped(v any, path string) (map[string]any, *issue) {
	o, ok := v.(map[string]any)
	if _, typed := o["$type"].(string); !ok || !typed {
		return nil, &issue{msg: `Expected an object which includes the "$type" property value type (got ` + stringify(v) + ")", path: path}
	}
	return o, nil
}

func wantString(v any, path string) (string, *issue) {
	s, ok := v.(string)
	if !ok {
		return "", &issue{msg: "Expected string value type (got " + stringify(v) + ")", path: path}
	}
	return s, nil
}

// wantArray wants an array of at most max items (max < 0: no limit).
func wantArray(v any, path string, max int) ([]any, *issue) {
	a, ok := v.([]any)
	if !ok {
		return nil, &issue{msg: "Expected array value type (got " + stringify(v) + ")", path: path}
	}
	if max >= 0 && len(a) > max {
		return nil, &issue{msg: fmt.Sprintf("array too big (maximum %d, got %d)", max, len(a)), path: path}
	}
	return a, nil
}

func requiredString(o map[string]any, key, path string) (string, *issue) {
	v, ok := o[key]
	if !ok {
		return "", missing(key, path)
	}
	return wantString(v, path+"."+key)
}

func requiredObject(o map[string]any, key, path string) (map[string]any, *issue) {
	v, ok := o[key]
	if !ok {
		return nil, missing(key, path)
	}
	return wantObject(v, path+"."+key)
}

// requiredInt wants an integer of at least min.
func requiredInt(o map[string]any, key, path string, min int64) (int64, *issue) {
	v, ok := o[key]
	if !ok {
		return 0, missing(key, path)
	}
	n, ok := v.(int64)
	if !ok {
		return 0, &issue{msg: "Expected integer value type (got " + stringify(v) + ")", path: path + "." + key}
	}
	if n < min {
		return 0, &issue{msg: fmt.Sprintf("integer too small (minimum %d, got %d)", min, n), path: path + "." + key}
	}
	return n, nil
}

// stringify shows a value as the PDS's issues do, in short.
func stringify(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return quote(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "array"
	case link:
		return "cid"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// quote is JSON.stringify of a string, cut at 256 characters.
func quote(s string) string {
	if utf8.RuneCountInString(s) >= 256 {
		s = string([]rune(s)[:255]) + "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}
