package fakemastodon

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"pitweet/emulator"
	"pitweet/httpd"
)

// Error texts Mastodon sends, word for word where the documentation or
// Mastodon's source gives them.
const (
	// docs.joinmastodon.org/methods/statuses/ (401) and entities/Error/.
	msgToken = "The access token is invalid"
	// Mastodon's Api::BaseController for a token without the scope.
	msgScope = "This action is outside the authorized scopes"
	// docs.joinmastodon.org/entities/Error/ (404).
	msgNotFound = "Record not found"
	// Mastodon's config/locales/en.yml errors.429, rendered by rack-attack.
	msgRate = "Too many requests"
	// docs.joinmastodon.org/client/intro/ and entities/Error/ (503).
	msg503 = "There was a temporary problem serving your request, please try again"
	// Rails' rendering of an unhandled exception.
	msg500 = "We're sorry, but something went wrong."
)

// handle routes one request.
func (s *Server) handle(w *httpd.Response, r *httpd.Request) {
	if s.core.Control(w, r) || s.control(w, r) {
		return
	}
	method := r.Method
	if method == "HEAD" {
		method = "GET"
	}
	ex := s.core.Begin(w, r)
	if !ex.Before(func(status int, reset time.Time) { s.faultAnswer(ex, status, reset) }) {
		return
	}
	p := r.Path
	switch {
	case method == "GET" && p == "/api/v2/instance":
		s.instance(ex)
	case method == "GET" && p == "/api/v1/accounts/verify_credentials":
		s.verifyCredentials(ex)
	case method == "POST" && p == "/api/v1/statuses":
		s.postStatus(ex)
	case method == "GET" && strings.HasPrefix(p, "/api/v1/statuses/"):
		s.getStatus(ex, strings.TrimPrefix(p, "/api/v1/statuses/"))
	case method == "GET" && strings.HasPrefix(p, "/api/v1/accounts/") && strings.HasSuffix(p, "/statuses"):
		s.accountStatuses(ex, strings.TrimSuffix(strings.TrimPrefix(p, "/api/v1/accounts/"), "/statuses"))
	case method == "POST" && p == "/api/v2/media":
		s.postMedia(ex)
	case method == "GET" && strings.HasPrefix(p, "/api/v1/media/"):
		s.getMedia(ex, strings.TrimPrefix(p, "/api/v1/media/"))
	case method == "GET" && strings.HasPrefix(p, mediaFilesPath):
		s.mediaFile(ex, strings.TrimPrefix(p, mediaFilesPath))
	default:
		s.fail(ex, 404, msgNotFound, "no such endpoint")
	}
}

// control serves GET /fakemastodon/statuses and GET /fakemastodon/media.
func (s *Server) control(w *httpd.Response, r *httpd.Request) bool {
	switch r.Method + " " + r.Path {
	case "GET /fakemastodon/statuses":
		emulator.WriteJSON(w, 200, append([]Status{}, s.Statuses()...))
	case "GET /fakemastodon/media":
		emulator.WriteJSON(w, 200, append([]Media{}, s.Media()...))
	default:
		return false
	}
	return true
}

// refused answers a request that could not be read, in Mastodon's error
// shape.
func (s *Server) refused(w *httpd.Response, status int, reason string) {
	body, _ := json.Marshal(map[string]string{"error": reason})
	w.Header.Set("Content-Type", "application/json; charset=utf-8")
	w.Write(status, body)
}

// fail answers with Mastodon's error body {"error": msg}
// (docs.joinmastodon.org/entities/Error/) and records reason.
func (s *Server) fail(ex *emulator.Exchange, status int, msg, reason string) {
	if reason == "" {
		reason = msg
	}
	ex.JSON(status, map[string]string{"error": msg}, reason)
}

// faultAnswer answers a request under a 429, 500 or 503 fault.
func (s *Server) faultAnswer(ex *emulator.Exchange, status int, reset time.Time) {
	switch status {
	case 429:
		setRateHeaders(ex.W.Header, s.limitFor(ex.R.Path), 0, reset)
		s.fail(ex, 429, msgRate, "fault 429")
	case 500:
		s.fail(ex, 500, msg500, "fault 500")
	default:
		s.fail(ex, 503, msg503, "fault 503")
	}
}

// authenticate finds the account of the request's access token, sent as
// "Authorization: Bearer TOKEN" (docs.joinmastodon.org/methods/statuses/:
// "Provide this header with Bearer <user_token> to gain authorized access
// to this API method") or as the access_token parameter Doorkeeper also
// reads, and checks the token holds one of scopes. Otherwise it answers
// 401 "The access token is invalid" or 403 and returns false.
func (s *Server) authenticate(ex *emulator.Exchange, scopes ...string) (Account, bool) {
	token := ""
	if h := ex.R.Header.Get("Authorization"); len(h) > len("Bearer ") && strings.EqualFold(h[:len("Bearer ")], "Bearer ") {
		token = strings.TrimSpace(h[len("Bearer "):])
	} else if q := queryValue(ex.R.RawQuery, "access_token"); q != "" {
		token = q
	}
	for _, a := range s.accounts {
		if token != "" && token == a.Token {
			ex.SetAccount(a.Username)
			if !hasScope(a.Scopes, scopes) {
				s.fail(ex, 403, msgScope, "token lacks "+strings.Join(scopes, " or "))
				return Account{}, false
			}
			return a, true
		}
	}
	reason := "unknown access token"
	if token == "" {
		reason = "no Authorization: Bearer header"
	}
	ex.W.Header.Set("WWW-Authenticate", `Bearer realm="Doorkeeper", error="invalid_token", error_description="`+msgToken+`"`)
	s.fail(ex, 401, msgToken, reason)
	return Account{}, false
}

// hasScope reports whether granted (nil: everything) holds one of want; a
// top-level scope such as "write" holds its sub-scopes ("write:statuses").
func hasScope(granted, want []string) bool {
	if granted == nil || len(want) == 0 {
		return true
	}
	for _, w := range want {
		top, _, _ := strings.Cut(w, ":")
		for _, g := range granted {
			if g == w || g == top {
				return true
			}
		}
	}
	return false
}

// Rate limits (docs.joinmastodon.org/api/rate-limits/): "All endpoints and
// methods can be called 300 times within 5 minutes"; "POST /api/v1/media
// can be called 30 times within 30 minutes" (Mastodon applies it to
// /api/v2/media too); statuses: 300 per 3 hours (Mastodon's RateLimiter,
// undocumented). Headers X-RateLimit-Limit, -Remaining and -Reset, "the one
// you are closest to exceeding"; the reset time as Mastodon writes it, ISO
// 8601 with microseconds (the documentation says only "Timestamp").

// rateFamily is one limit's state for the headers.
type rateFamily struct {
	limit, left int
	reset       time.Time
}

func (s *Server) ratesFor(accountID string) *accountRates {
	r := s.rates[accountID]
	if r == nil {
		r = &accountRates{
			api:      emulator.Window{Limit: s.APILimit, Period: 5 * time.Minute, Aligned: true},
			media:    emulator.Window{Limit: s.MediaLimit, Period: 30 * time.Minute, Aligned: true},
			statuses: emulator.Window{Limit: s.StatusLimit, Period: 3 * time.Hour, Aligned: true},
		}
		s.rates[accountID] = r
	}
	return r
}

// limitFor returns the limit whose headers a path's answers carry.
func (s *Server) limitFor(path string) int {
	switch path {
	case "/api/v1/statuses":
		return s.StatusLimit
	case "/api/v2/media":
		return s.MediaLimit
	}
	return s.APILimit
}

// countRequest counts an authenticated request against the account's
// limits, sets the rate-limit headers, and answers 429 if a limit is
// exhausted. Statuses are counted when made (countStatus).
func (s *Server) countRequest(ex *emulator.Exchange, a Account) bool {
	s.mu.Lock()
	r := s.ratesFor(a.ID)
	left, reset, ok := r.api.Take(ex.Now, 1)
	f := rateFamily{s.APILimit, left, reset}
	if ex.R.Path == "/api/v2/media" && ex.R.Method == "POST" {
		mleft, mreset, mok := r.media.Take(ex.Now, 1)
		ok = ok && mok
		if mleft < left || !mok {
			f = rateFamily{s.MediaLimit, mleft, mreset}
		}
	}
	if ex.R.Path == "/api/v1/statuses" && ex.R.Method == "POST" {
		sleft, sreset := r.statuses.Peek(ex.Now)
		f = rateFamily{s.StatusLimit, sleft, sreset}
	}
	s.mu.Unlock()
	setRateHeaders(ex.W.Header, f.limit, f.left, f.reset)
	if !ok {
		s.fail(ex, 429, msgRate, "rate limit exhausted")
	}
	return ok
}

// takeStatus counts a status about to be made, sets the headers of the
// statuses limit, and reports whether the account is within it. s.mu must
// be held.
func (s *Server) takeStatus(ex *emulator.Exchange, a Account) bool {
	left, reset, ok := s.ratesFor(a.ID).statuses.Take(ex.Now, 1)
	setRateHeaders(ex.W.Header, s.StatusLimit, left, reset)
	return ok
}

func setRateHeaders(h httpd.Header, limit, left int, reset time.Time) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(left))
	h.Set("X-RateLimit-Reset", reset.UTC().Format("2006-01-02T15:04:05.000000Z"))
}

// instance serves GET /api/v2/instance (docs.joinmastodon.org/methods/instance/#v2,
// entities/Instance/): public, no token needed.
func (s *Server) instance(ex *emulator.Exchange) {
	host := ex.R.Host
	ex.JSON(200, map[string]any{
		"domain":      host,
		"title":       "fakemastodon",
		"version":     "4.4.0",
		"source_url":  "https://github.com/mastodon/mastodon",
		"description": "A local Mastodon emulator for pitweet's tests and demo.",
		"usage":       map[string]any{"users": map[string]int{"active_month": len(s.accounts)}},
		"thumbnail":   map[string]any{"url": "https://" + host + "/packs/media/images/preview.png"},
		"languages":   []string{"en"},
		"configuration": map[string]any{
			"urls":     map[string]any{"streaming": "wss://" + host, "status": nil},
			"accounts": map[string]int{"max_featured_tags": 10, "max_pinned_statuses": 5},
			"statuses": map[string]int{
				"max_characters":              s.MaxCharacters,
				"max_media_attachments":       s.MaxMediaAttachments,
				"characters_reserved_per_url": s.CharactersPerURL,
			},
			"media_attachments": map[string]any{
				"supported_mime_types":   s.SupportedMIMETypes,
				"description_limit":      s.DescriptionLimit,
				"image_size_limit":       s.ImageSizeLimit,
				"image_matrix_limit":     s.ImageMatrixLimit,
				"video_size_limit":       99 << 20,
				"video_frame_rate_limit": 120,
				"video_matrix_limit":     8294400,
			},
			"polls":       map[string]int{"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300, "max_expiration": 2629746},
			"translation": map[string]bool{"enabled": false},
		},
		"registrations": map[string]any{"enabled": false, "approval_required": false, "message": nil},
		"contact":       map[string]any{"email": "", "account": nil},
		"rules":         []any{},
	}, "")
}

// verifyCredentials serves GET /api/v1/accounts/verify_credentials
// (docs.joinmastodon.org/methods/accounts/#verify_credentials: "User token
// + profile or read:accounts").
func (s *Server) verifyCredentials(ex *emulator.Exchange) {
	a, ok := s.authenticate(ex, "profile", "read:accounts")
	if !ok || !s.countRequest(ex, a) {
		return
	}
	s.mu.Lock()
	n := 0
	for _, st := range s.statuses {
		if st.Account == a.Username {
			n++
		}
	}
	s.mu.Unlock()
	acct := accountJSON(a, ex.R.Host, n)
	acct["source"] = map[string]any{"privacy": "public", "sensitive": false, "language": "", "note": "", "fields": []any{}}
	ex.JSON(200, acct, "")
}

// accountJSON is the Account entity (docs.joinmastodon.org/entities/Account/).
func accountJSON(a Account, host string, statuses int) map[string]any {
	return map[string]any{
		"id":              a.ID,
		"username":        a.Username,
		"acct":            a.Username,
		"display_name":    a.Username,
		"locked":          false,
		"bot":             true,
		"created_at":      "2026-01-01T00:00:00.000Z",
		"note":            "",
		"url":             "https://" + host + "/@" + a.Username,
		"avatar":          "https://" + host + "/avatars/original/missing.png",
		"header":          "https://" + host + "/headers/original/missing.png",
		"followers_count": 0,
		"following_count": 0,
		"statuses_count":  statuses,
		"emojis":          []any{},
		"fields":          []any{},
	}
}

// queryValue returns the first value of name in a raw query, or "".
func queryValue(rawQuery, name string) string {
	q, _ := url.ParseQuery(rawQuery)
	return q.Get(name)
}
