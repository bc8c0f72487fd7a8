package fakemastodon

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A wireTest sends raw (after setup, if any) and wants status and, if
// body is set, exactly that body, or if contains is set, a body holding it.
type wireTest struct {
	name     string
	setup    func(t *testing.T, s *Server, c *clock)
	raw      string
	status   int
	body     string
	contains string
}

func runWire(t *testing.T, tests []wireTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := newServer(t)
			if tt.setup != nil {
				tt.setup(t, s, c)
			}
			a := send(t, s, tt.raw)
			if a.status != tt.status || (tt.body != "" && a.body != tt.body) || !strings.Contains(a.body, tt.contains) {
				t.Errorf("answer %d %s\nwant %d %s%s", a.status, a.body, tt.status, tt.body, tt.contains)
			}
		})
	}
}

const (
	tokenInvalid = `{"error":"The access token is invalid"}`
	hello        = `{"status":"Hello from the Pi"}`
)

// Every call but the instance needs a bearer token
// (docs.joinmastodon.org/methods/statuses/#create, 401 "The access token
// is invalid"), with the scope the method documents.
func TestWireToken(t *testing.T) {
	runWire(t, []wireTest{
		{name: "no Authorization", raw: request("POST", "/api/v1/statuses", hello, jsonType), status: 401, body: tokenInvalid},
		{name: "unknown token", raw: postJSON("Authorization: Bearer nope", hello), status: 401, body: tokenInvalid},
		{name: "not Bearer", raw: postJSON("Authorization: Basic cGl0d2VldA==", hello), status: 401, body: tokenInvalid},
		{name: "token", raw: postJSON(demoAuth, hello), status: 200, contains: `"content":"\u003cp\u003eHello from the Pi\u003c/p\u003e"`},
		{name: "scheme in any case", raw: postJSON("Authorization: bearer bob-token", hello), status: 200},
		{name: "access_token parameter", raw: request("GET", "/api/v1/accounts/verify_credentials?access_token=bob-token", ""), status: 200, contains: `"username":"bob"`},
		{name: "read-only token may not post", raw: postJSON("Authorization: Bearer alice-token", hello), status: 403,
			body: `{"error":"This action is outside the authorized scopes"}`},
		{name: "read-only token may verify", raw: request("GET", "/api/v1/accounts/verify_credentials", "", "Authorization: Bearer alice-token"),
			status: 200, contains: `"acct":"alice"`},
		{name: "instance needs none", raw: request("GET", "/api/v2/instance", ""), status: 200, contains: `"max_characters":500`},
	})
	s, _ := newServer(t)
	a := send(t, s, postJSON("Authorization: Bearer nope", hello))
	if got := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="Doorkeeper", error="invalid_token"`) {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

// The status length is counted as Mastodon counts it against
// max_characters (docs.joinmastodon.org/user/posting/: links count 23,
// only the username part of a mention counts; grapheme clusters, as
// Mastodon's StatusLengthValidator).
func TestWireLength(t *testing.T) {
	longURL := "https://example.com/" + strings.Repeat("p", 200)
	status := func(text string) string { return fmt.Sprintf(`{"status":%q}`, text) }
	tooLong := `{"error":"Validation failed: Text character limit of 500 exceeded"}`
	family := "👨‍👩‍👧"
	runWire(t, []wireTest{
		{name: "500 characters", raw: postJSON(demoAuth, status(strings.Repeat("a", 500))), status: 200},
		{name: "501 characters", raw: postJSON(demoAuth, status(strings.Repeat("a", 501))), status: 422, body: tooLong},
		{name: "a long URL counts 23", raw: postJSON(demoAuth, status(strings.Repeat("a", 476)+" "+longURL)), status: 200},
		{name: "one more is over", raw: postJSON(demoAuth, status(strings.Repeat("a", 477)+" "+longURL)), status: 422, body: tooLong},
		{name: "a bare domain counts as it is", raw: postJSON(demoAuth, status(strings.Repeat("a", 476)+" example.com/"+strings.Repeat("p", 20))), status: 422, body: tooLong},
		{name: "500 emoji families are 500 graphemes", raw: postJSON(demoAuth, status(strings.Repeat(family, 500))), status: 200},
		{name: "501 emoji families", raw: postJSON(demoAuth, status(strings.Repeat(family, 501))), status: 422, body: tooLong},
		{name: "a remote mention counts its username", raw: postJSON(demoAuth, status(strings.Repeat("a", 490)+" @pitweet@"+strings.Repeat("d", 40)+".example")), status: 200},
		{name: "spoiler text counts", raw: postJSON(demoAuth, fmt.Sprintf(`{"status":%q,"spoiler_text":"0123456789"}`, strings.Repeat("a", 491))), status: 422, body: tooLong},
		{name: "white space around is stripped", raw: postJSON(demoAuth, status("  \n"+strings.Repeat("a", 500)+"\n\t ")), status: 200},
		{name: "a lower limit", setup: func(t *testing.T, s *Server, c *clock) { s.MaxCharacters = 10 },
			raw: postJSON(demoAuth, status("12345678901")), status: 422, body: `{"error":"Validation failed: Text character limit of 10 exceeded"}`},
		{name: "blank", raw: postJSON(demoAuth, status(" \n ")), status: 422, body: `{"error":"Validation failed: Text can't be blank"}`},
		{name: "missing", raw: postJSON(demoAuth, `{"visibility":"public"}`), status: 422, body: `{"error":"Validation failed: Text can't be blank"}`},
	})
}

// Parameters come as JSON, a form (arrays in bracket notation) or
// multipart (docs.joinmastodon.org/client/intro/); visibility is one of
// public, unlisted, private, direct (methods/statuses/#create).
func TestWireParameters(t *testing.T) {
	uploaded := func(t *testing.T, s *Server, c *clock) {
		if a := send(t, s, upload(demoAuth, "door.png", "image/png", pngImage(t, 4, 3), "")); a.status != 200 {
			t.Fatalf("upload: %d %s", a.status, a.body)
		}
	}
	multipart := "--b0\r\nContent-Disposition: form-data; name=\"status\"\r\n\r\nfrom a form\r\n" +
		"--b0\r\nContent-Disposition: form-data; name=\"visibility\"\r\n\r\nunlisted\r\n--b0--\r\n"
	runWire(t, []wireTest{
		{name: "form", raw: request("POST", "/api/v1/statuses", "status="+url.QueryEscape("100% sure & done")+"&visibility=private", demoAuth, formType),
			status: 200, contains: `"content":"\u003cp\u003e100% sure \u0026amp; done\u003c/p\u003e"`},
		{name: "form with media_ids[]", setup: uploaded,
			raw:    request("POST", "/api/v1/statuses", "status=door&media_ids[]=116499205324800000", demoAuth, formType),
			status: 200, contains: `"media_attachments":[{`},
		{name: "multipart", raw: request("POST", "/api/v1/statuses", multipart, demoAuth, "Content-Type: multipart/form-data; boundary=b0"),
			status: 200, contains: `"visibility":"unlisted"`},
		{name: "query", raw: request("POST", "/api/v1/statuses?status=in+the+query", "", demoAuth), status: 200, contains: `in the query`},
		{name: "JSON media_ids as numbers", setup: uploaded,
			raw: postJSON(demoAuth, `{"status":"door","media_ids":[116499205324800000]}`), status: 200, contains: `"id":"116499205324800000"`},
		{name: "bad JSON", raw: postJSON(demoAuth, `{"status":`), status: 400, body: `{"error":"Error occurred while parsing request parameters"}`},
		{name: "bad form", raw: request("POST", "/api/v1/statuses", "status=%zz", demoAuth, formType), status: 400},
		{name: "direct", raw: postJSON(demoAuth, `{"status":"hi","visibility":"direct"}`), status: 200, contains: `"visibility":"direct"`},
		{name: "default public", raw: postJSON(demoAuth, hello), status: 200, contains: `"visibility":"public"`},
		{name: "unknown visibility", raw: postJSON(demoAuth, `{"status":"hi","visibility":"friends"}`), status: 422,
			body: `{"error":"Validation failed: Visibility is not included in the list"}`},
		{name: "language", raw: postJSON(demoAuth, `{"status":"hallo","language":"de"}`), status: 200, contains: `"language":"de"`},
		{name: "reply to nothing", raw: postJSON(demoAuth, `{"status":"hi","in_reply_to_id":"1"}`), status: 404, body: `{"error":"Record not found"}`},
	})

	// media_ids without brackets is dropped as Rails drops it: the status
	// is made without the picture, and the log says why.
	s, _ := newServer(t)
	uploaded(t, s, nil)
	a := send(t, s, request("POST", "/api/v1/statuses", "status=door&media_ids=116499205324800000", demoAuth, formType))
	if a.status != 200 || !strings.Contains(a.body, `"media_attachments":[]`) {
		t.Errorf("media_ids without brackets: %d %s", a.status, a.body)
	}
	if r := s.Requests()[1]; !strings.Contains(r.Reason, "media_ids without brackets dropped") {
		t.Errorf("reason %q", r.Reason)
	}
}

// media_ids must exist, be the caller's and unattached, have finished
// processing, and number at most max_media_attachments (Mastodon's
// PostStatusService#validate_media!; docs.joinmastodon.org/methods/statuses/#create).
func TestWireMediaIDs(t *testing.T) {
	const id = "116499205324800000" // the first id on the test clock
	up := func(auth string, data func(testing.TB) []byte) func(*testing.T, *Server, *clock) {
		return func(t *testing.T, s *Server, c *clock) {
			if a := send(t, s, upload(auth, "x.png", "image/png", data(t), "")); a.status/100 != 2 {
				t.Fatalf("upload: %d %s", a.status, a.body)
			}
		}
	}
	png := func(t testing.TB) []byte { return pngImage(t, 2, 2) }
	gifv := func(t testing.TB) []byte { return animatedGIF(t) }
	withMedia := func(ids ...string) string {
		return postJSON(demoAuth, `{"status":"pictures","media_ids":["`+strings.Join(ids, `","`)+`"]}`)
	}
	runWire(t, []wireTest{
		{name: "own, processed", setup: up(demoAuth, png), raw: withMedia(id), status: 200, contains: `"type":"image"`},
		{name: "media only, no text", setup: up(demoAuth, png), raw: postJSON(demoAuth, `{"media_ids":["`+id+`"]}`), status: 200},
		{name: "unknown", raw: withMedia("12"), status: 422, body: `{"error":"Media 12 not found or already attached to another post"}`},
		{name: "someone else's", setup: up(bobAuth, png), raw: withMedia(id), status: 422,
			body: `{"error":"Media ` + id + ` not found or already attached to another post"}`},
		{name: "already attached", setup: func(t *testing.T, s *Server, c *clock) {
			up(demoAuth, png)(t, s, c)
			send(t, s, withMedia(id))
		}, raw: withMedia(id), status: 422, body: `{"error":"Media ` + id + ` not found or already attached to another post"}`},
		{name: "still processing", setup: up(demoAuth, gifv), raw: withMedia(id), status: 422,
			body: `{"error":"Cannot attach files that have not finished processing. Try again in a moment!"}`},
		{name: "processed by now", setup: func(t *testing.T, s *Server, c *clock) {
			up(demoAuth, gifv)(t, s, c)
			c.Advance(s.ProcessingTime)
		}, raw: withMedia(id), status: 200, contains: `"type":"gifv"`},
		{name: "five", raw: withMedia("1", "2", "3", "4", "5"), status: 422, body: `{"error":"Cannot attach more than 4 files"}`},
		{name: "four", setup: func(t *testing.T, s *Server, c *clock) {
			for range 4 {
				up(demoAuth, png)(t, s, c)
			}
		}, raw: withMedia(id, "116499205324800001", "116499205324800002", "116499205324800003"), status: 200},
	})
}

// Idempotency-Key: per account, kept 3600 s after the status it made, a
// repeat answered with the original status
// (docs.joinmastodon.org/methods/statuses/#create; Mastodon's
// PostStatusService).
func TestWireIdempotency(t *testing.T) {
	s, c := newServer(t)
	key := "Idempotency-Key: pitweet-42"
	first := send(t, s, postJSON(demoAuth, hello, key))
	if first.status != 200 {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	id := field(t, first.body, "id")
	// A repeat, even with other text, is the same status.
	again := send(t, s, postJSON(demoAuth, `{"status":"something else entirely"}`, key))
	if again.status != 200 || field(t, again.body, "id") != id || !strings.Contains(again.body, "Hello from the Pi") {
		t.Errorf("repeat: %d %s, want status %s again", again.status, again.body, id)
	}
	// Another account's key is its own.
	bobs := send(t, s, postJSON(bobAuth, hello, key))
	if bobs.status != 200 || field(t, bobs.body, "id") == id {
		t.Errorf("bob with the same key: %d %s, want a new status", bobs.status, bobs.body)
	}
	// Another key makes another status.
	other := send(t, s, postJSON(demoAuth, hello, "Idempotency-Key: pitweet-43"))
	if other.status != 200 || field(t, other.body, "id") == id {
		t.Errorf("other key: %d %s", other.status, other.body)
	}
	// Within the hour: still the same; after it, a new status.
	c.Advance(3599 * time.Second)
	if a := send(t, s, postJSON(demoAuth, hello, key)); field(t, a.body, "id") != id {
		t.Errorf("after 3599 s: %s, want status %s", a.body, id)
	}
	c.Advance(time.Second)
	if a := send(t, s, postJSON(demoAuth, hello, key)); a.status != 200 || field(t, a.body, "id") == id {
		t.Errorf("after 3600 s: %d %s, want a new status", a.status, a.body)
	}
	if n := len(s.Statuses()); n != 4 {
		t.Errorf("%d statuses, want 4", n)
	}

	// A failed request stores nothing: its retry is made.
	s, _ = newServer(t)
	if a := send(t, s, postJSON(demoAuth, `{"status":" "}`, key)); a.status != 422 {
		t.Fatalf("blank: %d", a.status)
	}
	if a := send(t, s, postJSON(demoAuth, hello, key)); a.status != 200 || len(s.Statuses()) != 1 {
		t.Errorf("retry after a 422: %d %s", a.status, a.body)
	}
}

// POST /api/v2/media (docs.joinmastodon.org/methods/media/#v2): a file
// with a MIME type the instance supports, within image_size_limit and
// image_matrix_limit, that decodes; description within description_limit.
func TestWireMedia(t *testing.T) {
	png := pngImage(t, 40, 30)
	fileType := `{"error":"Validation failed: File content type is invalid, File is invalid"}`
	runWire(t, []wireTest{
		{name: "PNG", raw: upload(demoAuth, "door.png", "image/png", png, "A red dot"), status: 200,
			contains: `"url":"https://mastodon.example/system/media_attachments/files/116499205324800000/original/door.png"`},
		{name: "alt text kept", raw: upload(demoAuth, "door.png", "image/png", png, "A red dot"), status: 200, contains: `"description":"A red dot"`},
		{name: "sent as octet-stream, is a PNG", raw: upload(demoAuth, "door.png", "application/octet-stream", png, ""), status: 200},
		{name: "no MIME type", raw: upload(demoAuth, "door.png", "", png, ""), status: 422, body: fileType},
		{name: "not an image", raw: upload(demoAuth, "door.png", "image/png", []byte("hello"), ""), status: 422, body: fileType},
		{name: "a PNG that does not decode", raw: upload(demoAuth, "door.png", "image/png", png[:60], ""), status: 422, body: fileType},
		{name: "WebP is not supported here", raw: upload(demoAuth, "x.webp", "image/webp", []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), ""), status: 422, body: fileType},
		{name: "no file", raw: request("POST", "/api/v2/media", "--b\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nx\r\n--b--",
			demoAuth, "Content-Type: multipart/form-data; boundary=b"), status: 422, body: `{"error":"Validation failed: File can't be blank"}`},
		{name: "JSON, not multipart", raw: request("POST", "/api/v2/media", `{"file":"x"}`, demoAuth, jsonType), status: 422,
			body: `{"error":"Validation failed: File can't be blank"}`},
		{name: "bad multipart", raw: request("POST", "/api/v2/media", "nothing", demoAuth, "Content-Type: multipart/form-data; boundary=b"), status: 400},
		{name: "over the size limit", setup: func(t *testing.T, s *Server, c *clock) {
			s.ImageSizeLimit = 1 << 20
			s.SupportedMIMETypes = []string{"image/png"}
		},
			raw: upload(demoAuth, "big.png", "image/png", append(png, make([]byte, 1<<20)...), ""), status: 422,
			body: `{"error":"Validation failed: File file size must be less than 1 MB"}`},
		{name: "over the pixel limit", setup: func(t *testing.T, s *Server, c *clock) { s.ImageMatrixLimit = 1000 },
			raw: upload(demoAuth, "door.png", "image/png", png, ""), status: 422, body: `{"error":"40x30 images are not supported"}`},
		{name: "at the pixel limit", setup: func(t *testing.T, s *Server, c *clock) { s.ImageMatrixLimit = 1200 },
			raw: upload(demoAuth, "door.png", "image/png", png, ""), status: 200},
		{name: "description too long", raw: upload(demoAuth, "door.png", "image/png", png, strings.Repeat("é", 1501)), status: 422,
			body: `{"error":"Validation failed: Description is too long (maximum is 1500 characters)"}`},
		{name: "description at the limit", raw: upload(demoAuth, "door.png", "image/png", png, strings.Repeat("é", 1500)), status: 200},
		{name: "animated GIF processes", raw: upload(demoAuth, "a.gif", "image/gif", animatedGIF(t), ""), status: 202, contains: `"url":null`},
		{name: "large image processes", setup: func(t *testing.T, s *Server, c *clock) { s.AsyncOver = 10 },
			raw: upload(demoAuth, "door.png", "image/png", png, ""), status: 202, contains: `"preview_url":"https://`},
		{name: "no token", raw: upload("X-No: auth", "door.png", "image/png", png, ""), status: 401, body: tokenInvalid},
	})
}

// GET /api/v1/media/:id: 206 while processing, 200 done, 404 for another
// account's (docs.joinmastodon.org/methods/media/#get).
func TestWireMediaPolling(t *testing.T) {
	s, c := newServer(t)
	a := send(t, s, upload(demoAuth, "a.gif", "image/gif", animatedGIF(t), "spinning"))
	id := field(t, a.body, "id")
	get := func(auth string) answer { return send(t, s, request("GET", "/api/v1/media/"+id, "", auth)) }
	if a := get(demoAuth); a.status != 206 || field(t, a.body, "url") != "null" {
		t.Errorf("while processing: %d %s", a.status, a.body)
	}
	if a := get(bobAuth); a.status != 404 || a.body != `{"error":"Record not found"}` {
		t.Errorf("bob's view: %d %s", a.status, a.body)
	}
	if a := send(t, s, request("GET", "/system/media_attachments/files/"+id+"/original/a.gif", "")); a.status != 404 {
		t.Errorf("file while processing: %d", a.status)
	}
	c.Advance(2 * time.Second)
	if a := get(demoAuth); a.status != 200 || !strings.HasSuffix(field(t, a.body, "url"), "/original/a.gif") {
		t.Errorf("processed: %d %s", a.status, a.body)
	}
	if a := send(t, s, request("GET", "/system/media_attachments/files/"+id+"/original/a.gif", "")); a.status != 200 ||
		a.header.Get("Content-Type") != "image/gif" || a.body != string(animatedGIF(t)) {
		t.Errorf("file: %d %s", a.status, a.header)
	}
}

// Rate limits (docs.joinmastodon.org/api/rate-limits/): X-RateLimit-Limit,
// -Remaining, and -Reset as an ISO 8601 time; 429 once exhausted.
func TestWireRateLimits(t *testing.T) {
	s, c := newServer(t)
	s.StatusLimit, s.MediaLimit = 2, 1
	// The clock is at 12:00, a multiple of 3 hours since the epoch: the
	// statuses window is [12:00, 15:00).
	a := send(t, s, postJSON(demoAuth, hello))
	if a.status != 200 || a.header.Get("X-RateLimit-Limit") != "2" || a.header.Get("X-RateLimit-Remaining") != "1" ||
		a.header.Get("X-RateLimit-Reset") != "2026-05-01T15:00:00.000000Z" {
		t.Errorf("first status: %d %v", a.status, a.header)
	}
	send(t, s, postJSON(demoAuth, hello))
	a = send(t, s, postJSON(demoAuth, hello))
	if a.status != 429 || a.body != `{"error":"Too many requests"}` || a.header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("third status: %d %s %v", a.status, a.body, a.header)
	}
	if n := len(s.Statuses()); n != 2 {
		t.Errorf("%d statuses, want 2", n)
	}
	// A refused status does not count; bob has his own limits.
	if a := send(t, s, postJSON(bobAuth, hello)); a.status != 200 {
		t.Errorf("bob: %d", a.status)
	}
	c.Advance(3 * time.Hour)
	if a := send(t, s, postJSON(demoAuth, hello)); a.status != 200 {
		t.Errorf("after the window: %d", a.status)
	}

	png := pngImage(t, 2, 2)
	if a := send(t, s, upload(demoAuth, "a.png", "image/png", png, "")); a.status != 200 || a.header.Get("X-RateLimit-Limit") != "1" {
		t.Errorf("first upload: %d %v", a.status, a.header)
	}
	if a := send(t, s, upload(demoAuth, "a.png", "image/png", png, "")); a.status != 429 {
		t.Errorf("second upload: %d", a.status)
	}
	s.APILimit = 0
	s.rates = map[string]*accountRates{}
	if a := send(t, s, request("GET", "/api/v1/accounts/verify_credentials", "", demoAuth)); a.status != 429 {
		t.Errorf("over the API limit: %d", a.status)
	}
}

// Faults answer as Mastodon would; reset-after-accept makes the status and
// cuts the connection, and the retry with the same Idempotency-Key is
// answered with that status.
func TestWireFaults(t *testing.T) {
	s, c := newServer(t)
	if err := s.Script([]Fault{{Mode: Mode429, Count: 1, Reset: time.Minute}, {Mode: Mode503, Count: 1}, {Mode: Mode500, Count: 1}}); err != nil {
		t.Fatal(err)
	}
	a := send(t, s, postJSON(demoAuth, hello))
	if a.status != 429 || a.header.Get("X-RateLimit-Remaining") != "0" || a.header.Get("X-RateLimit-Reset") != c.Now().Add(time.Minute).Format("2006-01-02T15:04:05.000000Z") {
		t.Errorf("429 fault: %d %v", a.status, a.header)
	}
	if a := send(t, s, postJSON(demoAuth, hello)); a.status != 503 || a.body != `{"error":"`+msg503+`"}` {
		t.Errorf("503 fault: %d %s", a.status, a.body)
	}
	if a := send(t, s, postJSON(demoAuth, hello)); a.status != 500 {
		t.Errorf("500 fault: %d %s", a.status, a.body)
	}
	if len(s.Statuses()) != 0 {
		t.Fatal("a status was made under a fault")
	}

	key := "Idempotency-Key: pitweet-7"
	s.SetFault(Fault{Mode: ModeResetAfterAccept, Count: 1})
	if a := send(t, s, postJSON(demoAuth, hello, key)); !a.reset {
		t.Fatalf("reset-after-accept answered %d %s", a.status, a.body)
	}
	sts := s.Statuses()
	if len(sts) != 1 {
		t.Fatalf("%d statuses after the reset, want 1", len(sts))
	}
	retry := send(t, s, postJSON(demoAuth, hello, key))
	if retry.status != 200 || field(t, retry.body, "id") != sts[0].ID || len(s.Statuses()) != 1 {
		t.Errorf("retry: %d %s; want status %s and no second one", retry.status, retry.body, sts[0].ID)
	}

	// A fault on the media endpoint leaves statuses alone.
	s.SetFault(Fault{Mode: Mode503, Path: "/api/v2/media"})
	if a := send(t, s, postJSON(demoAuth, `{"status":"still fine"}`)); a.status != 200 {
		t.Errorf("status under a media fault: %d", a.status)
	}
	if a := send(t, s, upload(demoAuth, "a.png", "image/png", pngImage(t, 2, 2), "")); a.status != 503 {
		t.Errorf("upload under a media fault: %d", a.status)
	}
}

func TestWireInspection(t *testing.T) {
	s, _ := newServer(t)
	send(t, s, upload(demoAuth, "door.png", "image/png", pngImage(t, 2, 2), "Door"))
	send(t, s, postJSON(demoAuth, `{"status":"  Door opened ","media_ids":["116499205324800000"],"language":"en","sensitive":true}`, "Idempotency-Key: k1"))
	sts := s.Statuses()
	if len(sts) != 1 {
		t.Fatalf("Statuses() = %+v", sts)
	}
	st := sts[0]
	if st.Text != "Door opened" || st.Account != "pitweet_demo" || st.Language != "en" || !st.Sensitive ||
		st.IdempotencyKey != "k1" || len(st.MediaIDs) != 1 || st.Visibility != "public" {
		t.Errorf("status %+v", st)
	}
	m := s.Media()
	if len(m) != 1 || m[0].StatusID != st.ID || m[0].Description != "Door" || m[0].Width != 2 || m[0].MIMEType != "image/png" {
		t.Errorf("Media() = %+v", m)
	}
	if got := s.MediaData(m[0].ID); string(got) != string(pngImage(t, 2, 2)) {
		t.Error("MediaData differs from the upload")
	}
	a := send(t, s, request("GET", "/api/v1/accounts/"+DemoAccount.ID+"/statuses?limit=5", "", demoAuth))
	if a.status != 200 || !strings.Contains(a.body, `"id":"`+st.ID+`"`) {
		t.Errorf("account statuses: %d %s", a.status, a.body)
	}
	if a := send(t, s, request("GET", "/api/v1/statuses/"+st.ID, "", demoAuth)); a.status != 200 || field(t, a.body, "id") != st.ID {
		t.Errorf("GET status: %d %s", a.status, a.body)
	}
	if a := send(t, s, request("GET", "/api/v1/statuses/1", "", demoAuth)); a.status != 404 {
		t.Errorf("GET unknown status: %d", a.status)
	}
	if a := send(t, s, request("GET", "/fakemastodon/statuses", "")); a.status != 200 || !strings.Contains(a.body, `"text": "Door opened"`) {
		t.Errorf("/fakemastodon/statuses: %d %s", a.status, a.body)
	}
	if a := send(t, s, request("DELETE", "/api/v1/statuses/"+st.ID, "", demoAuth)); a.status != 404 {
		t.Errorf("unemulated endpoint: %d", a.status)
	}
	rs := s.Requests()
	if rs[1].Account != "pitweet_demo" || rs[1].Header.Get("Idempotency-Key") != "k1" || rs[1].Header.Get("Authorization") != "Bearer ***" {
		t.Errorf("Requests()[1] = %+v", rs[1])
	}
}
