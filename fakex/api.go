package fakex

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"pitweet/httpd"
	"pitweet/oauth"
)

// twitterEpoch is the origin of snowflake ids, in Unix milliseconds.
const twitterEpoch = 1288834974657

// Bodies X sends, word for word.
const (
	v1MsgAuth      = "Could not authenticate you."
	v1MsgToken     = "Invalid or expired token."
	v1MsgTimestamp = "Timestamp out of bounds."
	v1MsgBadAuth   = "Bad Authentication data."
	v1MsgDuplicate = "Status is a duplicate."
	v1MsgRate      = "Rate limit exceeded"
	v1MsgCapacity  = "Over capacity"
	v1MsgStatus    = "Missing required parameter: status."
	msgSubset      = "You currently have access to a subset of X API V2 endpoints and limited v1.1 endpoints (e.g. media post, oauth) only. If you need access to this endpoint, you may need a different access level. You can learn more here: https://developer.x.com/en/portal/product"
	v2MsgDuplicate = "You are not allowed to create a Tweet with duplicate content."
)

// handle hands a request to its handler, HEAD to GET's.
func (s *Server) handle(w *httpd.Response, r *httpd.Request) {
	method := r.Method
	if method == "HEAD" { // HEAD is GET without the body
		method = "GET"
	}
	switch method + " " + r.Path {
	case "POST /2/tweets":
		s.post(w, r, "v2")
	case "POST /1.1/statuses/update.json":
		s.post(w, r, "v1.1")
	case "GET /2/users/me":
		s.me(w, r)
	case "POST /oauth/request_token":
		s.requestTokenEndpoint(w, r)
	case "GET /oauth/authorize":
		s.authorizePage(w, r)
	case "POST /oauth/access_token":
		s.accessTokenEndpoint(w, r)
	case "POST /2/media/upload":
		s.mediaUpload(w, r)
	case "GET /2/media/upload":
		s.mediaStatus(w, r)
	case "POST /2/media/upload/initialize":
		s.mediaInit(w, r)
	case "POST /2/media/metadata":
		s.mediaMetadata(w, r)
	case "GET /fakex/tweets":
		s.controlTweets(w, r)
	case "GET /fakex/requests":
		s.controlRequests(w, r)
	case "GET /fakex/fault":
		s.controlGetFault(w, r)
	case "POST /fakex/fault":
		s.controlSetFault(w, r)
	default:
		if rest, ok := strings.CutPrefix(r.Path, "/2/media/upload/"); ok && method == "POST" {
			if id, ok := strings.CutSuffix(rest, "/append"); ok && validID(id) {
				s.mediaAppend(w, r, id)
				return
			}
			if id, ok := strings.CutSuffix(rest, "/finalize"); ok && validID(id) {
				s.mediaFinalize(w, r, id)
				return
			}
		}
		s.notFound(w, r)
	}
}

// An exchange is one X API request being answered.
type exchange struct {
	w     *httpd.Response
	r     *httpd.Request
	api   string    // "v2", "v1.1", or "oauth" for the login endpoints
	at    int       // index in s.requests
	now   time.Time // the server's clock when it arrived, skew included
	fault Fault
	rate  *rateHeaders // nil: no rate-limit headers
	token string       // the access token the request was signed with, once authenticated
}

// begin takes the fault for a request of kind k, if the fault in force
// applies to it, and logs the arrival.
func (s *Server) begin(w *httpd.Response, r *httpd.Request, api string, k kind) *exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	ex := &exchange{w: w, r: r, api: api}
	skew := s.skew()
	if ex.fault = s.takeFault(k); k == kindPosting {
		skew = 0
		if ex.fault.Mode == ModeSkew {
			skew = ex.fault.Skew
		}
	}
	ex.now = s.now().Add(skew)
	ex.at = len(s.requests)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.Path, API: api, At: ex.now, Fault: ex.fault.Mode})
	s.notify()
	return ex
}

// finish records how the exchange ended.
func (s *Server) finish(ex *exchange, status int, reason string) {
	s.mu.Lock()
	s.requests[ex.at].Status = status
	s.requests[ex.at].Reason = reason
	req := s.requests[ex.at]
	s.notify()
	s.mu.Unlock()
	s.logger().Debug("fakex request", "method", req.Method, "path", req.Path, "status", status,
		"fault", req.Fault, "reason", reason)
}

// post serves POST /2/tweets (api "v2") and POST /1.1/statuses/update.json
// (api "v1.1").
func (s *Server) post(w *httpd.Response, r *httpd.Request, api string) {
	ex := s.begin(w, r, api, kindPosting)
	f := ex.fault
	// Faults at X's edge come before authentication.
	switch f.Mode {
	case ModeHang:
		<-ex.r.Hold(0)
		ex.w.Drop(false)
		s.finish(ex, 0, "hung until "+ex.r.Abandoned())
		return
	case ModeSlow:
		if <-ex.r.Hold(f.Delay); ex.r.Abandoned() != "" {
			ex.w.Drop(false)
			s.finish(ex, 0, "slow answer abandoned: "+ex.r.Abandoned())
			return
		}
	case Mode503:
		s.unavailable(ex)
		return
	case Mode429:
		reset := ex.now.Add(f.reset())
		ex.rate = &rateHeaders{limit: s.RateLimit, remaining: 0, reset: reset,
			dayLimit: s.DailyLimit, dayRemaining: 0, dayReset: reset, noDay: s.NoDayHeaders}
		s.tooMany(ex, "fault 429")
		return
	}
	grant, ok := s.authenticate(ex)
	if !ok {
		return
	}
	if f.Mode == ModeCredits {
		s.creditsDepleted(ex)
		return
	}
	if !s.countRate(ex) {
		s.tooMany(ex, "rate limit exhausted")
		return
	}
	switch f.Mode {
	case Mode401:
		s.unauthorized(ex, 32, v1MsgAuth, "fault 401")
		return
	case Mode453:
		s.reply(ex, 403, v1Errors(453, msgSubset), "fault 453")
		return
	case Mode403Dup:
		s.duplicate(ex, "fault 403dup")
		return
	}
	if grant.readOnly {
		ex.w.Header.Set("x-access-level", "read")
		s.forbiddenReadOnly(ex)
		return
	}
	text, mediaIDs, ok := s.text(ex)
	if !ok {
		return
	}
	var pics []Picture
	if mediaIDs != nil {
		if pics, ok = s.attach(ex, mediaIDs, f.Mode == ModeMediaExpired); !ok {
			return
		}
	}
	t, dup := s.accept(ex, text, pics)
	if dup {
		s.duplicate(ex, "duplicate of an accepted tweet")
		return
	}
	if f.Mode == ModeResetAfterAccept {
		s.reset(ex)
		return
	}
	if api == "v2" {
		s.reply(ex, 201, v2Tweet(t), "")
		return
	}
	s.reply(ex, 200, v1Status(t, s.User), "")
}

// me serves GET /2/users/me.
func (s *Server) me(w *httpd.Response, r *httpd.Request) {
	ex := s.begin(w, r, "v2", kindOther)
	grant, ok := s.authenticate(ex)
	if !ok {
		return
	}
	if ex.fault.Mode == ModeCredits {
		s.creditsDepleted(ex)
		return
	}
	w.Header.Set("x-access-level", "read-write")
	if grant.readOnly {
		w.Header.Set("x-access-level", "read")
	}
	body, _ := json.Marshal(map[string]any{"data": map[string]string{
		"id": s.User.ID, "name": s.User.Name, "username": s.User.Username}})
	s.reply(ex, 200, body, "")
}

func (s *Server) notFound(w *httpd.Response, r *httpd.Request) {
	api := "v2"
	if strings.HasPrefix(r.Path, "/1.1/") {
		api = "v1.1"
	}
	ex := s.begin(w, r, api, kindOther)
	if api == "v1.1" {
		s.reply(ex, 404, v1Errors(34, "Sorry, that page does not exist."), "no such endpoint")
		return
	}
	s.problem(ex, 404, "Not Found Error", "Sorry, that page does not exist.", "no such endpoint")
}

// authenticate checks an API request's Authorization header: signed with
// the account's access token or one issued by POST /oauth/access_token
// (see verify). It returns what the token may do. On failure it answers
// and returns false.
func (s *Server) authenticate(ex *exchange) (accessGrant, bool) {
	var grant accessGrant
	_, ok := s.verify(ex, func(token string) (string, bool) {
		ex.token = token
		if token == s.creds.Token {
			grant = accessGrant{secret: s.creds.TokenSecret}
			return grant.secret, true
		}
		s.mu.Lock()
		g, issued := s.accessTokens[token]
		s.mu.Unlock()
		if !issued {
			s.unauthorized(ex, 89, v1MsgToken, "unknown access token")
			return "", false
		}
		grant = g
		return g.secret, true
	})
	return grant, ok
}

// verify checks the Authorization header as X does: the app's consumer
// key, the token (tokenSecret returns the secret of the token the header
// names, or answers itself and returns false when the token will not do),
// the signature over the URL as the client addressed it with every signed
// parameter (oauth_callback and oauth_verifier included, wherever the
// client put them), the timestamp window on the server's clock, and nonce
// reuse. On failure it answers and returns false.
func (s *Server) verify(ex *exchange, tokenSecret func(token string) (string, bool)) (*oauth.VerifyResult, bool) {
	r := ex.r
	h := r.Header.Get("Authorization")
	if h == "" {
		s.badAuth(ex, "no Authorization header")
		return nil, false
	}
	params, err := oauth.ParseHeader(h)
	if err != nil {
		s.badAuth(ex, err.Error())
		return nil, false
	}
	var key, token string
	for _, p := range params {
		switch p.Name {
		case "oauth_consumer_key":
			key = p.Value
		case "oauth_token":
			token = p.Value
		}
	}
	if key != s.creds.ConsumerKey {
		s.unauthorized(ex, 32, v1MsgAuth, "unknown consumer key")
		return nil, false
	}
	secret, ok := tokenSecret(token)
	if !ok {
		return nil, false
	}
	var form []oauth.Param
	if httpd.MediaType(r.Header.Get("Content-Type")) == "application/x-www-form-urlencoded" {
		form = oauth.ParseQuery(string(r.Body))
	}
	url := "https://" + r.Host + r.Target
	res, err := oauth.Verify(r.Method, url, h, form, s.creds.ConsumerSecret, secret)
	if errors.Is(err, oauth.ErrMalformed) {
		s.badAuth(ex, err.Error())
		return nil, false
	}
	if err != nil {
		s.unauthorized(ex, 32, v1MsgAuth, "signature does not match (signed URL must be "+url+")")
		return nil, false
	}
	if d := res.Timestamp.Sub(ex.now); d > s.Window || d < -s.Window {
		s.unauthorized(ex, 135, v1MsgTimestamp, "oauth_timestamp is "+d.Round(time.Second).String()+" from the server's clock")
		return nil, false
	}
	s.mu.Lock()
	if ex.now.Sub(s.pruned) > s.Window || ex.now.Before(s.pruned) {
		// A nonce older than the window can only come back with an old
		// timestamp, which is refused anyway.
		for n, ts := range s.nonces {
			if ex.now.Sub(ts) > 2*s.Window {
				delete(s.nonces, n)
			}
		}
		s.pruned = ex.now
	}
	_, reused := s.nonces[res.Nonce]
	if !reused {
		s.nonces[res.Nonce] = res.Timestamp
	}
	s.mu.Unlock()
	if reused {
		s.unauthorized(ex, 32, v1MsgAuth, "nonce reused")
		return nil, false
	}
	return res, true
}

// text extracts the tweet text: the JSON "text" for v2, the status form
// parameter for v1.1; and for v2 the media ids of "media", nil when it
// has none. The text may be left out when media is given ("Required
// unless media is provided", OpenAPI TweetCreateRequest). On failure it
// answers and returns false.
func (s *Server) text(ex *exchange) (string, []string, bool) {
	if ex.api == "v2" {
		var req struct {
			Text  *string `json:"text"`
			Media *struct {
				MediaIDs []string `json:"media_ids"`
			} `json:"media"`
		}
		if err := json.Unmarshal(ex.r.Body, &req); err != nil {
			s.invalid(ex, "body is not JSON: "+err.Error())
			return "", nil, false
		}
		var ids []string
		if req.Media != nil {
			ids = req.Media.MediaIDs
			if ids == nil {
				ids = []string{}
			}
		}
		if (req.Text == nil || *req.Text == "") && ids == nil {
			s.invalid(ex, "no text")
			return "", nil, false
		}
		if req.Text == nil {
			return "", ids, true
		}
		return *req.Text, ids, true
	}
	for _, p := range form(ex.r) {
		if p.Name == "status" && p.Value != "" {
			return p.Value, nil, true
		}
	}
	s.reply(ex, 400, v1Errors(170, v1MsgStatus), "no status parameter")
	return "", nil, false
}

// accept records text as a new tweet, unless an accepted tweet already has
// that text.
func (s *Server) accept(ex *exchange, text string, pics []Picture) (t Tweet, duplicate bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if text != "" && s.texts[text] {
		return Tweet{}, true
	}
	if text != "" {
		s.texts[text] = true
	}
	id := (ex.now.UnixMilli() - twitterEpoch) << 22
	id = max(id, 1_000_000_000_000_000_000, s.lastID+1)
	s.lastID = id
	t = Tweet{ID: strconv.FormatInt(id, 10), Text: text, API: ex.api, At: ex.now, Media: pics}
	s.tweets = append(s.tweets, t)
	s.notify()
	s.logger().Info("fakex accepted tweet", "id", t.ID, "api", t.API, "text", t.Text, "pictures", len(pics))
	return t, false
}

// reset closes the connection abruptly: no answer, no TLS close_notify, and
// a TCP RST instead of a FIN.
func (s *Server) reset(ex *exchange) {
	ex.w.Drop(true)
	s.finish(ex, 0, "connection reset after accepting the tweet")
}

// reply answers with status and a JSON body, the server's Date and the
// exchange's rate-limit headers, chunked when the chunked fault applies.
func (s *Server) reply(ex *exchange, status int, body []byte, reason string) {
	h := ex.w.Header
	h.Set("Date", ex.now.UTC().Format(httpd.TimeFormat))
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	h.Set("x-transaction-id", transactionID())
	if ex.rate != nil {
		ex.rate.write(h)
	}
	// Recorded first, so that a client holding the answer finds it in
	// Requests.
	s.finish(ex, status, reason)
	if ex.fault.Mode == ModeChunked {
		half := len(body) / 2
		ex.w.WriteChunked(status, body[:half], body[half:])
	} else {
		ex.w.Write(status, body)
	}
}

// unauthorized answers 401: v2's problem, or v1.1's error code.
func (s *Server) unauthorized(ex *exchange, v1code int, v1msg, reason string) {
	if ex.api == "v2" {
		s.problem(ex, 401, "Unauthorized", "Unauthorized", reason)
		return
	}
	s.reply(ex, 401, v1Errors(v1code, v1msg), reason)
}

// badAuth answers a missing or malformed Authorization header.
func (s *Server) badAuth(ex *exchange, reason string) {
	if ex.api == "v2" {
		s.unauthorized(ex, 0, "", reason)
		return
	}
	s.reply(ex, 400, v1Errors(215, v1MsgBadAuth), reason)
}

// forbiddenReadOnly answers a post signed with a read-only access token.
func (s *Server) forbiddenReadOnly(ex *exchange) {
	if ex.api == "v2" {
		body, _ := json.Marshal(map[string]any{"title": msgPermissionsTitle, "type": typePermissions, "status": 403, "detail": msgPermissions})
		ex.w.Header.Set("Content-Type", "application/problem+json")
		s.reply(ex, 403, body, "read-only access token")
		return
	}
	body, _ := json.Marshal(map[string]string{"request": ex.r.Path, "error": "Read-only application cannot POST."})
	s.reply(ex, 401, body, "read-only access token")
}

func (s *Server) duplicate(ex *exchange, reason string) {
	if ex.api == "v2" {
		s.problem(ex, 403, "Forbidden", v2MsgDuplicate, reason)
		return
	}
	s.reply(ex, 403, v1Errors(187, v1MsgDuplicate), reason)
}

func (s *Server) tooMany(ex *exchange, reason string) {
	if ex.api == "v2" {
		s.problem(ex, 429, "Too Many Requests", "Too Many Requests", reason)
		return
	}
	s.reply(ex, 429, v1Errors(88, v1MsgRate), reason)
}

// creditsDepleted answers as X does for an account whose pay-per-use
// credits are used up. X does not document it; this is the answer clients
// have reported (docs/specs/x.md b.2): 402, application/json (not
// problem+json), a problem on the api.twitter.com host, the same for v2
// and v1.1.
func (s *Server) creditsDepleted(ex *exchange) {
	body := `{"account_id":` + creditsAccount + `,"title":"CreditsDepleted","detail":"Your enrolled account [` + creditsAccount +
		`] does not have any credits to fulfill this request.","type":"https://api.twitter.com/2/problems/credits"}`
	s.reply(ex, 402, []byte(body), "fault credits")
}

// creditsAccount is the enrolled account a credits answer names.
const creditsAccount = "1243608864848629761"

func (s *Server) unavailable(ex *exchange) {
	if ex.api == "v2" {
		s.problem(ex, 503, "Service Unavailable", "Service Unavailable", "fault 503")
		return
	}
	s.reply(ex, 503, v1Errors(130, v1MsgCapacity), "fault 503")
}

// invalid answers a v2 tweet whose JSON body X could not use.
func (s *Server) invalid(ex *exchange, reason string) {
	body, _ := json.Marshal(map[string]any{
		"errors": []map[string]any{{"message": reason}},
		"title":  "Invalid Request",
		"detail": "One or more parameters to your request was invalid.",
		"type":   "https://api.twitter.com/2/problems/invalid-request",
	})
	ex.w.Header.Set("Content-Type", "application/problem+json")
	s.reply(ex, 400, body, reason)
}

// problem answers with a v2 problem body such as
// {"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}.
func (s *Server) problem(ex *exchange, status int, title, detail, reason string) {
	body, _ := json.Marshal(struct {
		Title  string `json:"title"`
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{title, "about:blank", status, detail})
	ex.w.Header.Set("Content-Type", "application/problem+json")
	s.reply(ex, status, body, reason)
}

// v1Errors returns a v1.1 error body such as
// {"errors":[{"code":187,"message":"Status is a duplicate."}]}.
func v1Errors(code int, message string) []byte {
	type entry struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	body, _ := json.Marshal(struct {
		Errors []entry `json:"errors"`
	}{[]entry{{code, message}}})
	return body
}

func v2Tweet(t Tweet) []byte {
	body, _ := json.Marshal(map[string]any{"data": map[string]any{
		"id": t.ID, "text": t.Text, "edit_history_tweet_ids": []string{t.ID}}})
	return body
}

func v1Status(t Tweet, u User) []byte {
	id, _ := strconv.ParseInt(t.ID, 10, 64)
	uid, _ := strconv.ParseInt(u.ID, 10, 64)
	body, _ := json.Marshal(map[string]any{
		"created_at": t.At.UTC().Format(time.RubyDate),
		"id":         id,
		"id_str":     t.ID,
		"text":       t.Text,
		"truncated":  false,
		"source":     `<a href="https://github.com/pitweet" rel="nofollow">pitweet</a>`,
		"user":       map[string]any{"id": uid, "id_str": u.ID, "name": u.Name, "screen_name": u.Username},
	})
	return body
}

func transactionID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
