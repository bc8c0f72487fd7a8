package fakebsky

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const rkey = "3lq2xk5j4hc2a" // a TID

// invalidPost is the answer to a post the lexicon refuses.
func invalidPost(issue string) string {
	return `{"error":"InvalidRequest","message":` + jsonString("Invalid app.bsky.feed.post record: "+issue) + `}`
}

// createRecord of app.bsky.feed.post, checked as the PDS checks it
// against the lexicon (lexicons/app/bsky/feed/post.json: text maxLength
// 3000 bytes and maxGraphemes 300, createdAt a datetime, langs at most 3
// languages; atproto.com/specs/lexicon for the formats).
func TestWirePost(t *testing.T) {
	p := func(text, extra string) func(string) string {
		return func(access string) string { return post(access, rkey, text, extra) }
	}
	family := "👨‍👩‍👧" // one grapheme, 18 bytes
	runWire(t, []wireTest{
		{name: "a post", raw: p("Hello from the Pi", ""), status: 200,
			contains: `"uri":"at://did:plc:pitweetdemoaaaaaaaaaaaaa/app.bsky.feed.post/3lq2xk5j4hc2a","validationStatus":"valid"`},
		{name: "300 graphemes", raw: p(strings.Repeat("é", 300), ""), status: 200},
		{name: "301 graphemes", raw: p(strings.Repeat("é", 301), ""), status: 400, body: invalidPost("grapheme too big (maximum 300, got 301) at $.record.text")},
		{name: "300 families are 300 graphemes but 5400 bytes", raw: p(strings.Repeat(family, 300), ""), status: 400,
			body: invalidPost("string too big (maximum 3000, got 5400) at $.record.text")},
		{name: "166 families are 2988 bytes", raw: p(strings.Repeat(family, 166), ""), status: 200},
		{name: "empty text", raw: p("", ""), status: 200},
		{name: "text not a string", raw: func(access string) string {
			return xrpc("com.atproto.repo.createRecord", `{"repo":"pitweet-demo.test","collection":"app.bsky.feed.post","rkey":"`+rkey+
				`","record":{"text":42,"createdAt":"`+createdAt+`"}}`, bearer(access))
		}, status: 400, body: invalidPost("Expected string value type (got 42) at $.record.text")},
		{name: "no text", raw: func(access string) string {
			return xrpc("com.atproto.repo.createRecord", `{"repo":"pitweet-demo.test","collection":"app.bsky.feed.post","rkey":"`+rkey+
				`","record":{"createdAt":"`+createdAt+`"}}`, bearer(access))
		}, status: 400, body: invalidPost(`Missing required key "text" at $.record`)},
		{name: "no createdAt", raw: func(access string) string {
			return xrpc("com.atproto.repo.createRecord", `{"repo":"pitweet-demo.test","collection":"app.bsky.feed.post","rkey":"`+rkey+
				`","record":{"text":"hi"}}`, bearer(access))
		}, status: 400, body: invalidPost(`Missing required key "createdAt" at $.record`)},
		{name: "$type filled in", raw: func(access string) string {
			return xrpc("com.atproto.repo.createRecord", `{"repo":"pitweet-demo.test","collection":"app.bsky.feed.post","rkey":"`+rkey+
				`","record":{"text":"hi","createdAt":"`+createdAt+`"}}`, bearer(access))
		}, status: 200},
		{name: "another $type", raw: func(access string) string {
			return xrpc("com.atproto.repo.createRecord", `{"repo":"pitweet-demo.test","collection":"app.bsky.feed.post","rkey":"`+rkey+
				`","record":{"$type":"app.bsky.feed.like","text":"hi","createdAt":"`+createdAt+`"}}`, bearer(access))
		}, status: 400, body: `{"error":"InvalidRequest","message":"Invalid $type: expected app.bsky.feed.post, got \"app.bsky.feed.like\""}`},
		{name: "a float", raw: p("hi", `"score":1.5`), status: 400, body: `{"error":"InvalidRequest","message":"Invalid record: number 1.5: the data model has integers only"}`},
		{name: "three langs", raw: p("hi", `"langs":["en","de-CH","zh-Hans"]`), status: 200},
		{name: "four langs", raw: p("hi", `"langs":["en","de","fr","it"]`), status: 400, body: invalidPost("array too big (maximum 3, got 4) at $.record.langs")},
		{name: "a language in upper case", raw: p("hi", `"langs":["EN"]`), status: 400, body: invalidPost(`Invalid language (got "EN") at $.record.langs[0]`)},
		{name: "tags", raw: p("hi", `"tags":["pitweet"]`), status: 200},
		{name: "a tag too long", raw: p("hi", `"tags":["`+strings.Repeat("t", 65)+`"]`), status: 400, body: invalidPost("grapheme too big (maximum 64, got 65) at $.record.tags[0]")},
		{name: "unknown fields pass", raw: p("hi", `"via":"pitweet"`), status: 200},
	})
}

// createdAt is a lexicon datetime (atproto.com/specs/lexicon "datetime").
func TestWireCreatedAt(t *testing.T) {
	for _, tt := range []struct {
		at string
		ok bool
	}{
		{"2026-05-01T12:00:00.000Z", true},
		{"2026-05-01T12:00:00Z", true},
		{"2026-05-01T12:00:00.123456789Z", true},
		{"2026-05-01T14:00:00.000+02:00", true},
		{"2026-05-01T12:00:00.000+00:00", true},
		{"2024-02-29T12:00:00Z", true},
		{"2026-05-01T12:00:00.000", false},       // no time zone
		{"2026-05-01T12:00:00.000z", false},      // lower-case z
		{"2026-05-01t12:00:00.000Z", false},      // lower-case t
		{"2026-05-01 12:00:00.000Z", false},      // space
		{"2026-05-01T12:00:00.000-00:00", false}, // negative zero
		{"2026-05-01T12:00:00.000+0000", false},
		{"2026-05-01T12:00Z", false},     // no seconds
		{"2026-02-30T12:00:00Z", false},  // no such day
		{"2026-05-01T12:00:60Z", false},  // leap second
		{"2026-05-01T12:00:00.Z", false}, // empty fraction
		{"1714564800", false},
	} {
		s, _ := newServer(t)
		access, _ := session(t, s, DemoAccount)
		raw := xrpc("com.atproto.repo.createRecord", `{"repo":"pitweet-demo.test","collection":"app.bsky.feed.post","rkey":"`+rkey+
			`","record":{"text":"hi","createdAt":"`+tt.at+`"}}`, bearer(access))
		a := send(t, s, raw)
		want := 400
		if tt.ok {
			want = 200
		}
		if a.status != want || !tt.ok && a.body != invalidPost(`Invalid datetime (got "`+tt.at+`") at $.record.createdAt`) {
			t.Errorf("createdAt %q: %d %s, want %d", tt.at, a.status, a.body, want)
		}
	}
}

// Link facets: the lexicon's shape (lexicons/app/bsky/richtext/facet.json:
// index byteStart and byteEnd integers ≥ 0, features a union, a link's uri
// a URI); then what the app needs: "Indices are zero-indexed, counting
// bytes of the UTF-8 encoded text", inside the text, on grapheme
// boundaries, not overlapping ("Facets can not overlap",
// docs.bsky.app/docs/advanced-guides/post-richtext), over the URL.
func TestWireFacets(t *testing.T) {
	text := "🐦 Door opened: https://example.com/door?id=42 #pitweet"
	start := strings.Index(text, "https://")
	end := start + len("https://example.com/door?id=42")
	link := func(s, e int, uri string) string {
		return fmt.Sprintf(`"facets":[{"index":{"byteStart":%d,"byteEnd":%d},"features":[{"$type":"app.bsky.richtext.facet#link","uri":%q}]}]`, s, e, uri)
	}
	p := func(text, extra string) func(string) string {
		return func(access string) string { return post(access, rkey, text, extra) }
	}
	emu := " (fakebsky checks this: a PDS stores the post and the app shows it broken)"
	// UTF-16 offsets, as JavaScript counts: the bird is 2 units, 4 bytes.
	u16start, u16end := start-2, end-2
	runWire(t, []wireTest{
		{name: "link", raw: p(text, link(start, end, "https://example.com/door?id=42")), status: 200},
		{name: "UTF-16 offsets", raw: p(text, link(u16start, u16end, "https://example.com/door?id=42")), status: 400,
			body: invalidPost(`the link's text ": https://example.com/door?id=" is not its uri "https://example.com/door?id=42", nor that uri shortened at $.record.facets[0].index` + emu)},
		{name: "code point offsets", raw: p(text, link(start-3, end-3, "https://example.com/door?id=42")), status: 400,
			body: invalidPost(`the link's text "d: https://example.com/door?id" is not its uri "https://example.com/door?id=42", nor that uri shortened at $.record.facets[0].index` + emu)},
		{name: "shortened link text", raw: p("see example.com/door… now", link(4, 4+len("example.com/door…"), "https://example.com/door?id=42")), status: 200},
		{name: "past the end", raw: p(text, link(start, len(text)+1, "https://example.com/door?id=42")), status: 400,
			body: invalidPost(fmt.Sprintf("byteEnd %d is past the end of the text (%d bytes of UTF-8) at $.record.facets[0].index", len(text)+1, len(text)) + emu)},
		{name: "empty", raw: p(text, link(start, start, "https://example.com/door?id=42")), status: 400,
			body: invalidPost(fmt.Sprintf("byteStart %d is not before byteEnd %d at $.record.facets[0].index", start, start) + emu)},
		{name: "inside a character", raw: p(text, link(1, 4, "https://example.com")), status: 400,
			body: invalidPost("byte range 1-4 cuts a UTF-8 character; count bytes of UTF-8, not UTF-16 units or code points at $.record.facets[0].index" + emu)},
		{name: "inside a grapheme", raw: p("Cafe\u0301 https://x.org", link(4, 6, "https://x.org")), status: 400,
			body: invalidPost("byte range 4-6 cuts a grapheme cluster at $.record.facets[0].index" + emu)},
		{name: "negative", raw: p(text, link(-1, end, "https://example.com/door?id=42")), status: 400,
			body: invalidPost("integer too small (minimum 0, got -1) at $.record.facets[0].index.byteStart")},
		{name: "not a URI", raw: p("example.com", link(0, 11, "example.com")), status: 400,
			body: invalidPost(`Invalid uri (got "example.com") at $.record.facets[0].features[0].uri`)},
		{name: "overlapping", raw: p(text, fmt.Sprintf(`"facets":[{"index":{"byteStart":%d,"byteEnd":%d},"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://example.com/door?id=42"}]},`+
			`{"index":{"byteStart":%d,"byteEnd":%d},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"x"}]}]`, start, end, end-3, end+2)), status: 400,
			body: invalidPost(fmt.Sprintf("byte range %d-%d overlaps %d-%d; facets can not overlap at $.record.facets[1].index", end-3, end+2, start, end) + emu)},
		{name: "link and tag", raw: p(text, fmt.Sprintf(`"facets":[{"index":{"byteStart":%d,"byteEnd":%d},"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://example.com/door?id=42"}]},`+
			`{"index":{"byteStart":%d,"byteEnd":%d},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"pitweet"}]}]`, start, end, len(text)-8, len(text))), status: 200},
		{name: "a feature without $type", raw: p(text, fmt.Sprintf(`"facets":[{"index":{"byteStart":%d,"byteEnd":%d},"features":[{"uri":"https://example.com"}]}]`, start, end)), status: 400,
			body: invalidPost(`Expected an object which includes the "$type" property value type (got object) at $.record.facets[0].features[0]`)},
		{name: "no index", raw: p(text, `"facets":[{"features":[]}]`), status: 400, body: invalidPost(`Missing required key "index" at $.record.facets[0]`)},
		{name: "a mention", raw: p("hi @other.test", `"facets":[{"index":{"byteStart":3,"byteEnd":14},"features":[{"$type":"app.bsky.richtext.facet#mention","did":"did:plc:otheraccountaaaaaaaaaaaa"}]}]`), status: 200},
		{name: "a mention of no DID", raw: p("hi @other.test", `"facets":[{"index":{"byteStart":3,"byteEnd":14},"features":[{"$type":"app.bsky.richtext.facet#mention","did":"other.test"}]}]`), status: 400,
			body: invalidPost(`Invalid DID (got "other.test") at $.record.facets[0].features[0].did`)},
	})
}

// Images (lexicons/app/bsky/embed/images.json: at most 4, each with image
// and alt, aspectRatio width and height ≥ 1; the blob image/* and at most
// ImageLimit bytes, "enforced when the reference is created",
// lexicons/com/atproto/repo/uploadBlob.json), each blob uploaded by the
// caller with the type and size it has (the PDS's verifyBlob).
func TestWireImages(t *testing.T) {
	small := pngImage(t, 40, 30, false)
	big := pngImage(t, 600, 600, true) // over 1,000,000 bytes
	if len(big) <= DocumentedImageLimit || len(big) > LexiconImageLimit {
		t.Fatalf("the big image is %d bytes", len(big))
	}
	embed := func(images ...string) string {
		return `"embed":{"$type":"app.bsky.embed.images","images":[` + strings.Join(images, ",") + `]}`
	}
	image := func(blob, extra string) string { return `{"image":` + blob + `,"alt":"A door"` + extra + `}` }
	// raw builds the post after uploading small (and big) as the demo
	// account; blob(i) is the i-th uploaded blob's object.
	type env struct{ small, big string }
	withUploads := func(build func(e env) string) func(*testing.T, *Server, string) string {
		return func(t *testing.T, s *Server, access string) string {
			e := env{small: upload(t, s, access, "image/png", small)}
			if strings.Contains(build(env{small: "S", big: "B"}), "B") {
				e.big = upload(t, s, access, "image/png", big)
			}
			return post(access, rkey, "pictures", build(e))
		}
	}
	smallCID := BlobCID(small)
	tests := []struct {
		name   string
		setup  func(s *Server)
		raw    func(*testing.T, *Server, string) string
		status int
		body   string
	}{
		{"an image", nil, withUploads(func(e env) string { return embed(image(e.small, `,"aspectRatio":{"width":4,"height":3}`)) }), 200, ""},
		{"empty alt text", nil, withUploads(func(e env) string { return embed(`{"image":` + e.small + `,"alt":""}`) }), 200, ""},
		{"no alt text", nil, withUploads(func(e env) string { return embed(`{"image":` + e.small + `}`) }), 400,
			invalidPost(`Missing required key "alt" at $.record.embed.images[0]`)},
		{"four", nil, withUploads(func(e env) string {
			return embed(image(e.small, ""), image(e.small, ""), image(e.small, ""), image(e.small, ""))
		}), 200, ""},
		{"five", nil, withUploads(func(e env) string {
			return embed(image(e.small, ""), image(e.small, ""), image(e.small, ""), image(e.small, ""), image(e.small, ""))
		}), 400, invalidPost("array too big (maximum 4, got 5) at $.record.embed.images")},
		{"aspect ratio 0", nil, withUploads(func(e env) string { return embed(image(e.small, `,"aspectRatio":{"width":0,"height":3}`)) }), 400,
			invalidPost("integer too small (minimum 1, got 0) at $.record.embed.images[0].aspectRatio.width")},
		{"over 1,000,000 bytes", nil, withUploads(func(e env) string { return embed(image(e.big, "")) }), 400,
			invalidPost(fmt.Sprintf("blob too big (maximum 1000000, got %d) at $.record.embed.images[0].image", len(big)))},
		{"under the lexicon's 2,000,000", func(s *Server) { s.ImageLimit = LexiconImageLimit },
			withUploads(func(e env) string { return embed(image(e.big, "")) }), 200, ""},
		{"never uploaded", nil, withUploads(func(e env) string {
			return embed(image(strings.Replace(e.small, smallCID, BlobCID([]byte("other")), 1), ""))
		}), 400, `{"error":"BlobNotFound","message":"Could not find blob: ` + BlobCID([]byte("other")) + `"}`},
		{"uploaded by another account", nil, func(t *testing.T, s *Server, access string) string {
			otherAccess, _ := session(t, s, other)
			blob := upload(t, s, otherAccess, "image/png", small)
			return post(access, rkey, "theirs", embed(image(blob, "")))
		}, 400, `{"error":"BlobNotFound","message":"Could not find blob: ` + smallCID + `"}`},
		{"another type than stored", nil, withUploads(func(e env) string {
			return embed(image(strings.Replace(e.small, "image/png", "image/jpeg", 1), ""))
		}), 400, `{"error":"InvalidMimeType","message":"Referenced Mimetype does not match stored blob. Expected: image/png, Got: image/jpeg"}`},
		{"another size than stored", nil, withUploads(func(e env) string {
			return embed(image(strings.Replace(e.small, fmt.Sprintf(`"size":%d`, len(small)), `"size":12`, 1), ""))
		}), 400, fmt.Sprintf(`{"error":"InvalidSize","message":"Referenced Size does not match stored blob. Expected: %d, Got: 12"}`, len(small))},
		{"not an image type", nil, withUploads(func(e env) string {
			return embed(image(strings.Replace(e.small, "image/png", "text/plain", 1), ""))
		}), 400, invalidPost(`Expected "image/*" (got "text/plain") at $.record.embed.images[0].image.mimeType`)},
		{"a legacy ref", nil, withUploads(func(e env) string {
			return embed(image(`{"cid":"`+smallCID+`","mimeType":"image/png"}`, ""))
		}), 400, invalidPost(`Expected blob value type (got legacy-blob); copy the blob object uploadBlob answered at $.record.embed.images[0].image`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newServer(t)
			if tt.setup != nil {
				tt.setup(s)
			}
			access, _ := session(t, s, DemoAccount)
			a := send(t, s, tt.raw(t, s, access))
			if a.status != tt.status || tt.body != "" && a.body != tt.body {
				t.Errorf("answer %d %s\nwant %d %s", a.status, a.body, tt.status, tt.body)
			}
		})
	}

	// A blob no record references is gone after BlobTTL.
	s, c := newServer(t)
	access, _ := session(t, s, DemoAccount)
	blob := upload(t, s, access, "image/png", small)
	c.Advance(time.Hour)
	if a := send(t, s, post(access, rkey, "late", embed(image(blob, "")))); a.status != 400 || field(t, a.body, "error") != "BlobNotFound" {
		t.Errorf("an hour after the upload: %d %s", a.status, a.body)
	}
	// Uploaded again, it is back, and the post keeps it.
	upload(t, s, access, "image/png", small)
	if a := send(t, s, post(access, rkey, "again", embed(image(blob, "")))); a.status != 200 {
		t.Errorf("after a new upload: %d %s", a.status, a.body)
	}
	if p := s.Posts(); len(p) != 1 || len(p[0].Images) != 1 || p[0].Images[0] != smallCID {
		t.Errorf("Posts() = %+v", p)
	}
}

// The rkey: record-key syntax, a TID for posts (lexicons/app/bsky/feed/
// post.json "key": "tid"; atproto.com/specs/tid); the repo the caller's.
func TestWireRecordKeyAndRepo(t *testing.T) {
	create := func(repo, collection, rkey, record string) func(string) string {
		return func(access string) string {
			body := `{"repo":"` + repo + `","collection":"` + collection + `"`
			if rkey != "" {
				body += `,"rkey":"` + rkey + `"`
			}
			return xrpc("com.atproto.repo.createRecord", body+`,"record":`+record+`}`, bearer(access))
		}
	}
	rec := `{"text":"hi","createdAt":"` + createdAt + `"}`
	const feed = "app.bsky.feed.post"
	runWire(t, []wireTest{
		{name: "a TID", raw: create(DemoAccount.DID, feed, "3jzfcijpj2z2a", rec), status: 200, contains: `/app.bsky.feed.post/3jzfcijpj2z2a"`},
		{name: "none: the PDS makes one", raw: create(DemoAccount.DID, feed, "", rec), status: 200, contains: `"uri":"at://did:plc:pitweetdemoaaaaaaaaaaaaa/app.bsky.feed.post/3`},
		{name: "a record key, not a TID", raw: create(DemoAccount.DID, feed, "self", rec), status: 400,
			body: `{"error":"InvalidRequest","message":"Invalid record key for app.bsky.feed.post: Invalid TID string (got \"self\") at $"}`},
		{name: "TID with a bad last digit", raw: create(DemoAccount.DID, feed, "3jzfcijpj2z21", rec), status: 400},
		{name: "TID in upper case", raw: create(DemoAccount.DID, feed, "3JZFCIJPJ2Z2A", rec), status: 400},
		{name: "not a record key", raw: create(DemoAccount.DID, feed, "a/b", rec), status: 400,
			body: `{"error":"InvalidRequest","message":"Invalid record key (got \"a/b\") at $.rkey"}`},
		{name: "repo by handle", raw: create("pitweet-demo.test", feed, rkey, rec), status: 200},
		{name: "someone else's repo", raw: create(other.DID, feed, rkey, rec), status: 401,
			body: `{"error":"AuthenticationRequired","message":"Authentication Required"}`},
		{name: "a repo not here", raw: create("nobody.test", feed, rkey, rec), status: 403, body: `{"error":"AccountNotFound","message":"Account not found"}`},
		{name: "not an identifier", raw: create("nobody", feed, rkey, rec), status: 400},
		{name: "another collection", raw: create(DemoAccount.DID, "com.example.note", "self", `{"anything":true}`), status: 200, contains: `"validationStatus":"unknown"`},
		{name: "another collection, validate: true", raw: func(access string) string {
			return xrpc("com.atproto.repo.createRecord", `{"repo":"`+DemoAccount.DID+`","collection":"com.example.note","validate":true,"record":{}}`, bearer(access))
		}, status: 400, body: `{"error":"InvalidRequest","message":"Unknown lexicon type: com.example.note"}`},
		{name: "validate: false skips the lexicon", raw: func(access string) string {
			return xrpc("com.atproto.repo.createRecord", `{"repo":"`+DemoAccount.DID+`","collection":"app.bsky.feed.post","rkey":"`+rkey+
				`","validate":false,"record":{"text":"`+strings.Repeat("a", 301)+`"}}`, bearer(access))
		}, status: 200},
		{name: "no record", raw: func(access string) string {
			return xrpc("com.atproto.repo.createRecord", `{"repo":"`+DemoAccount.DID+`","collection":"app.bsky.feed.post"}`, bearer(access))
		}, status: 400, body: `{"error":"InvalidRequest","message":"Missing required key \"record\" at $"}`},
		{name: "not JSON", raw: func(access string) string {
			return xrpc("com.atproto.repo.createRecord", `{"repo":`, bearer(access))
		}, status: 400, body: `{"error":"InvalidRequest","message":"Invalid JSON body"}`},
	})
}

// A second createRecord at the same rkey: 500 as the PDS today, 400
// RecordAlreadyExists as atproto PR #4728 proposes, or 409; getRecord tells
// whether the first one is there (docs/specs/bluesky.md 3.1, 4).
func TestWireDuplicateAndGetRecord(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
	}{
		{500, `{"error":"InternalServerError","message":"Internal Server Error"}`},
		{400, `{"error":"RecordAlreadyExists","message":"Record already exists: app.bsky.feed.post/3lq2xk5j4hc2a"}`},
		{409, `{"error":"RecordAlreadyExists","message":"Record already exists: app.bsky.feed.post/3lq2xk5j4hc2a"}`},
	} {
		s, _ := newServer(t)
		s.DuplicateStatus = tt.status
		access, _ := session(t, s, DemoAccount)
		first := send(t, s, post(access, rkey, "Door opened", ""))
		if first.status != 200 {
			t.Fatalf("first: %d %s", first.status, first.body)
		}
		if a := send(t, s, post(access, rkey, "Door opened", "")); a.status != tt.status || a.body != tt.body {
			t.Errorf("DuplicateStatus %d: %d %s", tt.status, a.status, a.body)
		}
		if n := len(s.Posts()); n != 1 {
			t.Errorf("%d posts", n)
		}
	}

	s, _ := newServer(t)
	access, _ := session(t, s, DemoAccount)
	first := send(t, s, post(access, rkey, "Door opened", `"langs":["en"]`))
	get := func(query string) answer {
		return send(t, s, request("GET", "/xrpc/com.atproto.repo.getRecord?"+query, ""))
	}
	a := get("repo=pitweet-demo.test&collection=app.bsky.feed.post&rkey=" + rkey)
	want := `{"cid":"` + field(t, first.body, "cid") + `","uri":"at://did:plc:pitweetdemoaaaaaaaaaaaaa/app.bsky.feed.post/3lq2xk5j4hc2a",` +
		`"value":{"$type":"app.bsky.feed.post","createdAt":"2026-05-01T12:00:00.000Z","langs":["en"],"text":"Door opened"}}`
	if a.status != 200 || a.body != want {
		t.Errorf("getRecord: %d %s\nwant %s", a.status, a.body, want)
	}
	if a := get("repo=" + DemoAccount.DID + "&collection=app.bsky.feed.post&rkey=3lq2xk5j4hc2b"); a.status != 400 ||
		a.body != `{"error":"RecordNotFound","message":"Could not locate record: at://did:plc:pitweetdemoaaaaaaaaaaaaa/app.bsky.feed.post/3lq2xk5j4hc2b"}` {
		t.Errorf("absent: %d %s", a.status, a.body)
	}
	if a := get("repo=" + DemoAccount.DID + "&collection=app.bsky.feed.post&rkey=" + rkey + "&cid=" + BlobCID(nil)); a.status != 400 || field(t, a.body, "error") != "RecordNotFound" {
		t.Errorf("other cid: %d %s", a.status, a.body)
	}
	if a := get("repo=" + DemoAccount.DID + "&collection=app.bsky.feed.post"); a.status != 400 || field(t, a.body, "error") != "InvalidRequest" {
		t.Errorf("no rkey: %d %s", a.status, a.body)
	}
	if a := get("repo=nobody.test&collection=app.bsky.feed.post&rkey=" + rkey); a.status != 400 || field(t, a.body, "message") != "Could not locate record" {
		t.Errorf("repo not here: %d %s", a.status, a.body)
	}
	// The record's CID is the one the PDS computes: the same record gives
	// the same CID, another record another.
	s2, _ := newServer(t)
	access2, _ := session(t, s2, DemoAccount)
	if a := send(t, s2, post(access2, rkey, "Door opened", `"langs":["en"]`)); field(t, a.body, "cid") != field(t, first.body, "cid") {
		t.Errorf("the same record on another server: cid %s, want %s", field(t, a.body, "cid"), field(t, first.body, "cid"))
	}
	if a := send(t, s2, post(access2, "3lq2xk5j4hc2b", "Door closed", `"langs":["en"]`)); field(t, a.body, "cid") == field(t, first.body, "cid") {
		t.Error("another record has the same cid")
	}
}

// uploadBlob: the raw bytes with a Content-Type; the answer's ref is the
// CID of the bytes (lexicons/com/atproto/repo/uploadBlob.json;
// atproto.com/specs/data-model "blob").
func TestWireUploadBlob(t *testing.T) {
	png := pngImage(t, 4, 3, false)
	up := func(ctype string, data []byte) func(string) string {
		return func(access string) string {
			h := []string{bearer(access)}
			if ctype != "" {
				h = append(h, "Content-Type: "+ctype)
			}
			return request("POST", "/xrpc/com.atproto.repo.uploadBlob", string(data), h...)
		}
	}
	runWire(t, []wireTest{
		{name: "a PNG", raw: up("image/png", png), status: 200,
			body: fmt.Sprintf(`{"blob":{"$type":"blob","mimeType":"image/png","ref":{"$link":"%s"},"size":%d}}`, BlobCID(png), len(png))},
		{name: "a PNG sent as JPEG is a PNG", raw: up("image/jpeg", png), status: 200, contains: `"mimeType":"image/png"`},
		{name: "not an image", raw: up("image/png", []byte("hello")), status: 400,
			body: `{"error":"InvalidRequest","message":"fakebsky: the body sent as image/png is no image format fakebsky knows (JPEG, PNG, GIF, WebP, AVIF, HEIC)"}`},
		{name: "a broken PNG", raw: up("image/png", png[:40]), status: 400, contains: `fakebsky: the body is not a image/png image that decodes`},
		{name: "text is text", raw: up("text/plain", []byte("hello")), status: 200, contains: `"mimeType":"text/plain"`},
		{name: "no Content-Type", raw: up("", png), status: 400,
			body: `{"error":"InvalidRequest","message":"Request encoding (Content-Type) required but not provided"}`},
		{name: "over the upload limit", setup: func(t *testing.T, s *Server, c *clock) { s.UploadLimit = 100 }, raw: up("image/png", pngImage(t, 40, 40, true)),
			status: 413, body: `{"error":"PayloadTooLarge","message":"request entity too large"}`},
		{name: "no token", raw: fixed(request("POST", "/xrpc/com.atproto.repo.uploadBlob", string(png), "Content-Type: image/png")), status: 401},
	})
}

func TestWireRateLimits(t *testing.T) {
	s, c := newServer(t)
	s.WriteLimit = 6 // two records an hour
	access, _ := session(t, s, DemoAccount)
	a := send(t, s, post(access, "3lq2xk5j4hc2a", "one", ""))
	reset := c.Now().Add(time.Hour).Unix()
	if a.status != 200 || a.header.Get("RateLimit-Limit") != "6" || a.header.Get("RateLimit-Remaining") != "3" ||
		a.header.Get("RateLimit-Reset") != fmt.Sprint(reset) || a.header.Get("RateLimit-Policy") != "6;w=3600" {
		t.Errorf("first record: %d %v", a.status, a.header)
	}
	c.Advance(10 * time.Minute)
	send(t, s, post(access, "3lq2xk5j4hc2b", "two", ""))
	a = send(t, s, post(access, "3lq2xk5j4hc2c", "three", ""))
	if a.status != 429 || a.body != `{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}` ||
		a.header.Get("RateLimit-Remaining") != "0" || a.header.Get("Retry-After") != "3000" {
		t.Errorf("third record: %d %s %v", a.status, a.body, a.header)
	}
	if n := len(s.Posts()); n != 2 {
		t.Errorf("%d posts, want 2", n)
	}
	c.Advance(50 * time.Minute)
	if a := send(t, s, post(access, "3lq2xk5j4hc2c", "three", "")); a.status != 200 {
		t.Errorf("after the window: %d", a.status)
	}

	s, _ = newServer(t)
	s.SessionLimit = 1
	session(t, s, DemoAccount)
	if a := send(t, s, xrpc("com.atproto.server.createSession", `{"identifier":"pitweet-demo.test","password":"pitw-demo-appp-assw"}`)); a.status != 429 {
		t.Errorf("second login: %d", a.status)
	}
	session(t, s, other) // per identifier
}

// Faults answer in XRPC shape; reset-after-accept stores the record and
// cuts the connection: the retry with the same rkey meets a duplicate,
// and getRecord shows the post was made.
func TestWireFaults(t *testing.T) {
	s, c := newServer(t)
	access, _ := session(t, s, DemoAccount)
	s.Script([]Fault{{Mode: Mode429, Count: 1, Reset: time.Minute}, {Mode: Mode503, Count: 1}, {Mode: Mode500, Count: 1}})
	a := send(t, s, post(access, rkey, "hi", ""))
	if a.status != 429 || field(t, a.body, "error") != "RateLimitExceeded" || a.header.Get("Retry-After") != "60" ||
		a.header.Get("RateLimit-Reset") != fmt.Sprint(c.Now().Add(time.Minute).Unix()) {
		t.Errorf("429 fault: %d %s %v", a.status, a.body, a.header)
	}
	if a := send(t, s, post(access, rkey, "hi", "")); a.status != 503 || a.body != `{"error":"NotEnoughResources","message":"Not Enough Resources"}` {
		t.Errorf("503 fault: %d %s", a.status, a.body)
	}
	if a := send(t, s, post(access, rkey, "hi", "")); a.status != 500 || a.body != `{"error":"InternalServerError","message":"Internal Server Error"}` {
		t.Errorf("500 fault: %d %s", a.status, a.body)
	}
	if len(s.Posts()) != 0 {
		t.Fatal("a post was stored under a fault")
	}

	s.SetFault(Fault{Mode: ModeResetAfterAccept, Count: 1})
	if a := send(t, s, post(access, rkey, "Door opened", "")); !a.reset {
		t.Fatalf("reset-after-accept answered %d %s", a.status, a.body)
	}
	if p := s.Posts(); len(p) != 1 || p[0].Text != "Door opened" {
		t.Fatalf("Posts() = %+v", p)
	}
	if a := send(t, s, post(access, rkey, "Door opened", "")); a.status != 500 {
		t.Errorf("retry: %d %s, want the PDS's 500", a.status, a.body)
	}
	a = send(t, s, request("GET", "/xrpc/com.atproto.repo.getRecord?repo="+DemoAccount.DID+"&collection=app.bsky.feed.post&rkey="+rkey, ""))
	if a.status != 200 || !strings.Contains(a.body, `"text":"Door opened"`) {
		t.Errorf("getRecord after the reset: %d %s", a.status, a.body)
	}

	// A fault for uploads leaves records alone.
	s.SetFault(Fault{Mode: Mode503, Path: "/xrpc/com.atproto.repo.uploadBlob"})
	if a := send(t, s, post(access, "3lq2xk5j4hc2b", "fine", "")); a.status != 200 {
		t.Errorf("record under an upload fault: %d", a.status)
	}
}

func TestWireInspectionAndRoutes(t *testing.T) {
	s, _ := newServer(t)
	access, _ := session(t, s, DemoAccount)
	send(t, s, post(access, rkey, "Door opened", ""))
	if a := send(t, s, request("GET", "/fakebsky/posts", "")); a.status != 200 || !strings.Contains(a.body, `"text": "Door opened"`) {
		t.Errorf("/fakebsky/posts: %d %s", a.status, a.body)
	}
	if a := send(t, s, request("GET", "/xrpc/app.bsky.feed.getTimeline", "", bearer(access))); a.status != 501 ||
		a.body != `{"error":"MethodNotImplemented","message":"Method Not Implemented"}` {
		t.Errorf("unknown method: %d %s", a.status, a.body)
	}
	if a := send(t, s, request("GET", "/xrpc/com.atproto.identity.resolveHandle?handle=pitweet-demo.test", "")); a.status != 200 || a.body != `{"did":"did:plc:pitweetdemoaaaaaaaaaaaaa"}` {
		t.Errorf("resolveHandle: %d %s", a.status, a.body)
	}
	if a := send(t, s, request("GET", "/xrpc/com.atproto.identity.resolveHandle?handle=nobody.test", "")); a.status != 400 || field(t, a.body, "error") != "HandleNotFound" {
		t.Errorf("resolveHandle of nobody: %d %s", a.status, a.body)
	}
	rs := s.Requests()
	if rs[0].Path != "/xrpc/com.atproto.server.createSession" || rs[0].Body != "" || rs[0].BodySize == 0 {
		t.Errorf("Requests()[0] = %+v, want the login without its password", rs[0])
	}
	if !strings.Contains(rs[1].Body, `"text":"Door opened"`) {
		t.Errorf("Requests()[1].Body = %q", rs[1].Body)
	}
	if rs[1].Account != DemoAccount.DID || rs[1].Header.Get("Authorization") != "Bearer ***" || rs[1].Status != 200 {
		t.Errorf("Requests()[1] = %+v", rs[1])
	}
}
