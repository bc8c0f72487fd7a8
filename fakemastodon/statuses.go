package fakemastodon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"pitweet/emulator"
	"pitweet/httpd"
)

// Validation messages of POST /api/v1/statuses, all answered 422
// {"error": "..."}: Mastodon renders ActiveRecord::RecordInvalid and
// Mastodon::ValidationError as 422 with the error's text.
const (
	// docs.joinmastodon.org/methods/statuses/#create, 422 example.
	msgBlank = "Validation failed: Text can't be blank"
	// Mastodon's StatusLengthValidator (statuses.over_character_limit).
	msgTooLong = "Validation failed: Text character limit of %d exceeded"
	// Mastodon's media_attachments.validations.* (PostStatusService#validate_media!).
	msgTooMany  = "Cannot attach more than %d files"
	msgMissing  = "Media %s not found or already attached to another post"
	msgNotReady = "Cannot attach files that have not finished processing. Try again in a moment!"
	// Mastodon answers an unknown visibility with 422 (mastodon#31571).
	msgVisibility = "Validation failed: Visibility is not included in the list"
	// Rails, for a body it cannot parse.
	msgParse = "Error occurred while parsing request parameters"
)

// visibilities are the values docs.joinmastodon.org/methods/statuses/#create
// lists: "Sets the visibility of the posted status to public, unlisted,
// private, direct."
var visibilities = []string{"public", "unlisted", "private", "direct"}

// statusParams are the parameters of POST /api/v1/statuses.
type statusParams struct {
	status      string
	mediaIDs    []string
	visibility  string
	language    string
	spoiler     string
	sensitive   bool
	inReplyToID string
	poll        bool // a poll[...] parameter was sent
	scheduledAt string
	notes       []string // parameters dropped as Rails drops them
}

// parseStatusParams reads the parameters from the query and from the body
// in any of the encodings docs.joinmastodon.org/client/intro/ lists:
// "Query strings, form data, and JSON submitted via POST body are equally
// understood by the API". Arrays are "bracket notation" in forms
// (media_ids[]=1) and arrays in JSON. As in Rails, the body's values win
// over the query's, and a parameter of the wrong shape (media_ids without
// brackets, a JSON object where a string belongs) is dropped, not refused.
func parseStatusParams(r *httpd.Request) (statusParams, error) {
	var p statusParams
	query, err := url.ParseQuery(r.RawQuery)
	if err != nil {
		return p, fmt.Errorf("query: %w", err)
	}
	p.fromForm(query)
	switch mt := httpd.MediaType(r.Header.Get("Content-Type")); {
	case len(bytes.TrimSpace(r.Body)) == 0:
	case mt == "application/json":
		var body map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			return p, fmt.Errorf("JSON body: %w", err)
		}
		if dec.More() {
			return p, fmt.Errorf("JSON body: data after the object")
		}
		if err := p.fromJSON(body); err != nil {
			return p, err
		}
	case mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return p, fmt.Errorf("form body: %w", err)
		}
		p.fromForm(form)
	case mt == "multipart/form-data":
		parts, err := r.Multipart()
		if err != nil {
			return p, err
		}
		form := url.Values{}
		for _, part := range parts {
			form.Add(part.Name, string(part.Body))
		}
		p.fromForm(form)
	}
	return p, nil
}

// fromForm takes the parameters present in form.
func (p *statusParams) fromForm(form url.Values) {
	set := func(name string, to *string) {
		if v, ok := form[name]; ok && len(v) > 0 {
			*to = v[len(v)-1]
		}
	}
	set("status", &p.status)
	set("visibility", &p.visibility)
	set("language", &p.language)
	set("spoiler_text", &p.spoiler)
	set("in_reply_to_id", &p.inReplyToID)
	set("scheduled_at", &p.scheduledAt)
	if v, ok := form["sensitive"]; ok && len(v) > 0 {
		p.sensitive = railsTrue(v[len(v)-1])
	}
	if ids, ok := form["media_ids[]"]; ok {
		p.mediaIDs = ids
	}
	if _, ok := form["media_ids"]; ok {
		p.notes = append(p.notes, "media_ids without brackets dropped, as Rails drops it; send media_ids[]=")
	}
	for name := range form {
		if strings.HasPrefix(name, "poll[") {
			p.poll = true
		}
	}
}

// fromJSON takes the parameters present in a JSON body.
func (p *statusParams) fromJSON(body map[string]json.RawMessage) error {
	scalar := func(name string, to *string) {
		raw, ok := body[name]
		if !ok {
			return
		}
		var v any
		json.Unmarshal(raw, &v)
		switch v := v.(type) {
		case string:
			*to = v
		case float64, bool:
			*to = strings.TrimSpace(string(raw))
		case nil:
			*to = ""
		default:
			p.notes = append(p.notes, name+" is not a string; dropped, as Rails drops it")
		}
	}
	scalar("status", &p.status)
	scalar("visibility", &p.visibility)
	scalar("language", &p.language)
	scalar("spoiler_text", &p.spoiler)
	scalar("in_reply_to_id", &p.inReplyToID)
	scalar("scheduled_at", &p.scheduledAt)
	if _, ok := body["sensitive"]; ok {
		var v string
		scalar("sensitive", &v)
		p.sensitive = railsTrue(v)
	}
	if raw, ok := body["media_ids"]; ok {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // ids are 64-bit: no float64 on the way
		var ids []any
		if err := dec.Decode(&ids); err != nil {
			p.notes = append(p.notes, "media_ids is not an array; dropped, as Rails drops it")
		} else {
			p.mediaIDs = []string{}
			for _, id := range ids {
				switch id := id.(type) {
				case string:
					p.mediaIDs = append(p.mediaIDs, id)
				case json.Number:
					p.mediaIDs = append(p.mediaIDs, id.String())
				default:
					return fmt.Errorf("media_ids holds %s; send ids as strings", strings.TrimSpace(string(raw)))
				}
			}
		}
	}
	if raw, ok := body["poll"]; ok && string(raw) != "null" {
		p.poll = true
	}
	return nil
}

// railsTrue casts a parameter to a boolean as ActiveModel does: false for
// "", "0", "f", "false", "off" (any case), true for anything else.
func railsTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "f", "false", "off":
		return false
	}
	return true
}

// postStatus serves POST /api/v1/statuses (docs.joinmastodon.org/methods/statuses/#create).
func (s *Server) postStatus(ex *emulator.Exchange) {
	a, ok := s.authenticate(ex, "write:statuses")
	if !ok || !s.countRequest(ex, a) {
		return
	}
	p, err := parseStatusParams(ex.R)
	if err != nil {
		s.fail(ex, 400, msgParse, err.Error())
		return
	}
	status, v, msg, reason := s.makeStatus(ex, a, p)
	if note := strings.Join(p.notes, "; "); note != "" {
		reason += " (" + note + ")"
	}
	if msg != "" {
		s.fail(ex, status, msg, reason)
		return
	}
	ex.JSON(status, v, reason)
}

// makeStatus validates and makes the status, and returns the answer: the
// status and entity, or the status and error message; reason for the log.
func (s *Server) makeStatus(ex *emulator.Exchange, a Account, p statusParams) (status int, v any, msg, reason string) {
	// Idempotency-Key (docs.joinmastodon.org/methods/statuses/#create:
	// "Provide this header with any arbitrary string to prevent duplicate
	// submissions of the same status ... Idempotency keys are stored for up
	// to 1 hour"). As Mastodon's PostStatusService: per account, looked up
	// before anything is validated, stored only once a status is made, for
	// 3600 s; a repeat gets the original status back, whatever it says.
	key := ex.R.Header.Get("Idempotency-Key")
	s.mu.Lock()
	defer s.mu.Unlock()
	if key != "" {
		if k, ok := s.keys[a.ID+"\n"+key]; ok && ex.Now.Sub(k.at) < s.IdempotencyTTL {
			st := s.status(k.statusID)
			return 200, s.statusJSON(st, ex.R.Host), "", "repeat of Idempotency-Key " + strconv.Quote(key) + ": status " + st.ID
		}
	}

	if p.poll || p.scheduledAt != "" {
		return 422, nil, "fakemastodon does not emulate polls or scheduled statuses", "poll or scheduled_at"
	}
	if p.inReplyToID != "" && s.status(p.inReplyToID).ID == "" {
		return 404, nil, msgNotFound, "in_reply_to_id " + p.inReplyToID + " is no status"
	}
	visibility := p.visibility
	if visibility == "" {
		visibility = "public" // the account's default privacy
	}
	if !slices.Contains(visibilities, visibility) {
		return 422, nil, msgVisibility, "visibility " + strconv.Quote(p.visibility)
	}
	media, m := s.attachable(a, p.mediaIDs, ex.Now)
	if m != "" {
		return 422, nil, m, m
	}

	// Mastodon strips the text, then validates: blank without media, and
	// the length (docs.joinmastodon.org/methods/statuses/#create: "status:
	// ... If media_ids is provided, this becomes optional"; user/posting/
	// for the limit and how links count).
	text, spoiler := rubyStrip(p.status), rubyStrip(p.spoiler)
	if strings.TrimSpace(text) == "" && len(media) == 0 {
		return 422, nil, msgBlank, msgBlank
	}
	if n := StatusLength(text, spoiler, s.CharactersPerURL); n > s.MaxCharacters {
		return 422, nil, fmt.Sprintf(msgTooLong, s.MaxCharacters), fmt.Sprintf("%d characters over the limit of %d", n, s.MaxCharacters)
	}
	if !s.takeStatus(ex, a) {
		return 429, nil, msgRate, "status limit exhausted"
	}

	st := Status{ID: s.nextID(ex.Now), Account: a.Username, Text: text, SpoilerText: spoiler, Visibility: visibility,
		Language: p.language, Sensitive: p.sensitive, InReplyToID: p.inReplyToID, IdempotencyKey: key, CreatedAt: ex.Now}
	for _, m := range media {
		m.StatusID = st.ID
		st.MediaIDs = append(st.MediaIDs, m.ID)
	}
	s.statuses = append(s.statuses, st)
	if key != "" {
		s.keys[a.ID+"\n"+key] = idempotent{st.ID, ex.Now}
	}
	s.core.Notify()
	s.core.Log().Info("fakemastodon made status", "id", st.ID, "account", a.Username, "text", st.Text, "media", len(media))
	return 200, s.statusJSON(st, ex.R.Host), "", "status " + st.ID
}

// attachable returns the media ids name, as PostStatusService#validate_media!
// checks them: at most MaxMediaAttachments; each the caller's, not yet
// attached, and processed. Otherwise it returns the 422 message.
// s.mu must be held.
func (s *Server) attachable(a Account, ids []string, now time.Time) ([]*Media, string) {
	if len(ids) == 0 {
		return nil, ""
	}
	if len(ids) > s.MaxMediaAttachments {
		return nil, fmt.Sprintf(msgTooMany, s.MaxMediaAttachments)
	}
	var found []*Media
	var missing []string
	for _, id := range ids {
		m := s.mediaByID(id)
		switch {
		case m == nil || m.Account != a.Username || m.StatusID != "":
			missing = append(missing, strconv.FormatInt(rubyToI(id), 10))
		case !slices.Contains(found, m):
			found = append(found, m)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Sprintf(msgMissing, strings.Join(missing, ", "))
	}
	for _, m := range found {
		if now.Before(m.ReadyAt) {
			return nil, msgNotReady
		}
	}
	return found, ""
}

// rubyToI is Ruby's String#to_i: the leading decimal digits, 0 if none.
func rubyToI(s string) int64 {
	s = strings.TrimLeft(s, " \t\n")
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	for end < len(s) && isDigit(s[end]) {
		end++
	}
	n, _ := strconv.ParseInt(s[:end], 10, 64)
	return n
}

// mediaByID finds an upload by id as Mastodon does, by the id's integer
// value. s.mu must be held.
func (s *Server) mediaByID(id string) *Media {
	n := rubyToI(id)
	for _, m := range s.media {
		if mid, _ := strconv.ParseInt(m.ID, 10, 64); mid == n {
			return m
		}
	}
	return nil
}

// status returns the status with id, or the zero Status. s.mu must be held.
func (s *Server) status(id string) Status {
	for _, st := range s.statuses {
		if st.ID == id {
			return st
		}
	}
	return Status{}
}

// getStatus serves GET /api/v1/statuses/:id.
func (s *Server) getStatus(ex *emulator.Exchange, id string) {
	a, ok := s.authenticate(ex)
	if !ok || !s.countRequest(ex, a) {
		return
	}
	s.mu.Lock()
	st := s.status(id)
	var v map[string]any
	if st.ID != "" {
		v = s.statusJSON(st, ex.R.Host)
	}
	s.mu.Unlock()
	if v == nil {
		s.fail(ex, 404, msgNotFound, "")
		return
	}
	ex.JSON(200, v, "")
}

// accountStatuses serves GET /api/v1/accounts/:id/statuses, newest first,
// limit (default 20, at most 40) of them
// (docs.joinmastodon.org/methods/accounts/#statuses).
func (s *Server) accountStatuses(ex *emulator.Exchange, id string) {
	a, ok := s.authenticate(ex)
	if !ok || !s.countRequest(ex, a) {
		return
	}
	var acct Account
	for _, x := range s.accounts {
		if x.ID == id {
			acct = x
		}
	}
	if acct.ID == "" {
		s.fail(ex, 404, msgNotFound, "")
		return
	}
	limit := 20
	if n, err := strconv.Atoi(queryValue(ex.R.RawQuery, "limit")); err == nil && n > 0 {
		limit = min(n, 40)
	}
	s.mu.Lock()
	out := []map[string]any{}
	for i := len(s.statuses) - 1; i >= 0 && len(out) < limit; i-- {
		if s.statuses[i].Account == acct.Username {
			out = append(out, s.statusJSON(s.statuses[i], ex.R.Host))
		}
	}
	s.mu.Unlock()
	ex.JSON(200, out, "")
}

// statusJSON is the Status entity (docs.joinmastodon.org/entities/Status/).
// s.mu must be held.
func (s *Server) statusJSON(st Status, host string) map[string]any {
	var acct Account
	count := 0
	for _, a := range s.accounts {
		if a.Username == st.Account {
			acct = a
		}
	}
	for _, x := range s.statuses {
		if x.Account == st.Account {
			count++
		}
	}
	media := []map[string]any{}
	for _, id := range st.MediaIDs {
		if m := s.mediaByID(id); m != nil {
			media = append(media, mediaJSON(m, host, st.CreatedAt))
		}
	}
	var lang, reply any
	if st.Language != "" {
		lang = st.Language
	}
	if st.InReplyToID != "" {
		reply = st.InReplyToID
	}
	return map[string]any{
		"id":                     st.ID,
		"created_at":             st.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
		"in_reply_to_id":         reply,
		"in_reply_to_account_id": nil,
		"sensitive":              st.Sensitive,
		"spoiler_text":           st.SpoilerText,
		"visibility":             st.Visibility,
		"language":               lang,
		"uri":                    "https://" + host + "/users/" + st.Account + "/statuses/" + st.ID,
		"url":                    "https://" + host + "/@" + st.Account + "/" + st.ID,
		"replies_count":          0,
		"reblogs_count":          0,
		"favourites_count":       0,
		"edited_at":              nil,
		"content":                htmlContent(st.Text),
		"reblog":                 nil,
		"application":            map[string]any{"name": "pitweet", "website": nil},
		"account":                accountJSON(acct, host, count),
		"media_attachments":      media,
		"mentions":               []any{},
		"tags":                   []any{},
		"emojis":                 []any{},
		"card":                   nil,
		"poll":                   nil,
	}
}

// htmlContent renders text as Mastodon's plain-text formatter does, in
// outline: escaped, paragraphs at blank lines, <br /> at line breaks.
func htmlContent(text string) string {
	var b strings.Builder
	for _, para := range strings.Split(text, "\n\n") {
		b.WriteString("<p>")
		b.WriteString(strings.ReplaceAll(html.EscapeString(para), "\n", "<br />"))
		b.WriteString("</p>")
	}
	return b.String()
}
