package fakex

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pitweet/oauth"
)

// maxBody bounds a request body; a tweet is far smaller.
const maxBody = 1 << 20

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

// Handler returns the server's HTTP handler, for use with net/http/httptest
// when a test has no need of StartTLS. Signatures are checked against
// "https://" + Host + request URI whatever the listener.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2/tweets", func(w http.ResponseWriter, r *http.Request) { s.post(w, r, "v2") })
	mux.HandleFunc("POST /1.1/statuses/update.json", func(w http.ResponseWriter, r *http.Request) { s.post(w, r, "v1.1") })
	mux.HandleFunc("GET /2/users/me", s.me)
	mux.HandleFunc("GET /fakex/tweets", s.controlTweets)
	mux.HandleFunc("GET /fakex/requests", s.controlRequests)
	mux.HandleFunc("GET /fakex/fault", s.controlGetFault)
	mux.HandleFunc("POST /fakex/fault", s.controlSetFault)
	mux.HandleFunc("/", s.notFound)
	return mux
}

// An exchange is one X API request being answered.
type exchange struct {
	w     http.ResponseWriter
	r     *http.Request
	api   string
	body  []byte
	at    int       // index in s.requests
	now   time.Time // the server's clock when it arrived, skew included
	fault Fault
	rate  *rateHeaders // nil: no rate-limit headers
}

// begin reads the body, takes the fault for a posting request and logs the
// arrival.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, api string, posting bool) (*exchange, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	s.mu.Lock()
	defer s.mu.Unlock()
	ex := &exchange{w: w, r: r, api: api, body: body}
	skew := s.skew()
	if posting {
		ex.fault = s.takeFault()
		skew = 0
		if ex.fault.Mode == ModeSkew {
			skew = ex.fault.Skew
		}
	}
	ex.now = s.now().Add(skew)
	ex.at = len(s.requests)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, API: api, At: ex.now, Fault: ex.fault.Mode})
	s.notify()
	if err == nil && len(body) > maxBody {
		err = errTooLarge
	}
	return ex, err
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
func (s *Server) post(w http.ResponseWriter, r *http.Request, api string) {
	ex, err := s.begin(w, r, api, true)
	if err != nil {
		s.unreadable(ex, err)
		return
	}
	f := ex.fault
	// Faults at X's edge come before authentication.
	switch f.Mode {
	case ModeHang:
		<-s.hold(ex, 0)
		_ = s.drop(ex, false)
		s.finish(ex, 0, "hung until "+s.holdEnd(ex))
		return
	case ModeSlow:
		if !s.wait(ex, f.Delay) {
			_ = s.drop(ex, false)
			s.finish(ex, 0, "slow answer abandoned: "+s.holdEnd(ex))
			return
		}
	case Mode503:
		s.unavailable(ex)
		return
	case Mode429:
		reset := ex.now.Add(f.reset())
		ex.rate = &rateHeaders{limit: s.RateLimit, remaining: 0, reset: reset,
			dayLimit: s.DailyLimit, dayRemaining: 0, dayReset: reset}
		s.tooMany(ex, "fault 429")
		return
	}
	if !s.authenticate(ex) {
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
		s.reply(ex, http.StatusForbidden, v1Errors(453, msgSubset), "fault 453")
		return
	case Mode403Dup:
		s.duplicate(ex, "fault 403dup")
		return
	}
	text, ok := s.text(ex)
	if !ok {
		return
	}
	t, dup := s.accept(ex, text)
	if dup {
		s.duplicate(ex, "duplicate of an accepted tweet")
		return
	}
	if f.Mode == ModeResetAfterAccept {
		s.reset(ex)
		return
	}
	if api == "v2" {
		s.reply(ex, http.StatusCreated, v2Tweet(t), "")
		return
	}
	s.reply(ex, http.StatusOK, v1Status(t, s.User), "")
}

// me serves GET /2/users/me.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	ex, err := s.begin(w, r, "v2", false)
	if err != nil {
		s.unreadable(ex, err)
		return
	}
	if !s.authenticate(ex) {
		return
	}
	w.Header().Set("x-access-level", "read-write")
	body, _ := json.Marshal(map[string]any{"data": map[string]string{
		"id": s.User.ID, "name": s.User.Name, "username": s.User.Username}})
	s.reply(ex, http.StatusOK, body, "")
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	api := "v2"
	if strings.HasPrefix(r.URL.Path, "/1.1/") {
		api = "v1.1"
	}
	ex, _ := s.begin(w, r, api, false)
	if api == "v1.1" {
		s.reply(ex, http.StatusNotFound, v1Errors(34, "Sorry, that page does not exist."), "no such endpoint")
		return
	}
	s.problem(ex, http.StatusNotFound, "Not Found Error", "Sorry, that page does not exist.", "no such endpoint")
}

// authenticate checks the Authorization header as X does: the account, the
// signature over the URL as the client addressed it, the timestamp window
// on the server's clock, and nonce reuse. On failure it answers and returns
// false.
func (s *Server) authenticate(ex *exchange) bool {
	r := ex.r
	h := r.Header.Get("Authorization")
	if h == "" {
		s.badAuth(ex, "no Authorization header")
		return false
	}
	params, err := oauth.ParseHeader(h)
	if err != nil {
		s.badAuth(ex, err.Error())
		return false
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
		return false
	}
	if token != s.creds.Token {
		s.unauthorized(ex, 89, v1MsgToken, "unknown access token")
		return false
	}
	var form []oauth.Param
	if isForm(r.Header.Get("Content-Type")) {
		form = oauth.ParseQuery(string(ex.body))
	}
	url := "https://" + r.Host + r.RequestURI
	res, err := oauth.Verify(r.Method, url, h, form, s.creds.ConsumerSecret, s.creds.TokenSecret)
	if errors.Is(err, oauth.ErrMalformed) {
		s.badAuth(ex, err.Error())
		return false
	}
	if err != nil {
		s.unauthorized(ex, 32, v1MsgAuth, "signature does not match (signed URL must be "+url+")")
		return false
	}
	if d := res.Timestamp.Sub(ex.now); d > s.Window || d < -s.Window {
		s.unauthorized(ex, 135, v1MsgTimestamp, "oauth_timestamp is "+d.Round(time.Second).String()+" from the server's clock")
		return false
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
		return false
	}
	return true
}

// isForm reports whether a Content-Type names a form body, whose
// parameters are signed.
func isForm(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mediaType), "application/x-www-form-urlencoded")
}

// text extracts the tweet text: the JSON "text" for v2, the status form
// parameter for v1.1. On failure it answers and returns false.
func (s *Server) text(ex *exchange) (string, bool) {
	if ex.api == "v2" {
		var req struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(ex.body, &req); err != nil {
			s.invalid(ex, "body is not JSON: "+err.Error())
			return "", false
		}
		if req.Text == nil || *req.Text == "" {
			s.invalid(ex, "no text")
			return "", false
		}
		return *req.Text, true
	}
	var params []oauth.Param
	if isForm(ex.r.Header.Get("Content-Type")) {
		params = oauth.ParseQuery(string(ex.body))
	}
	params = append(params, oauth.ParseQuery(ex.r.URL.RawQuery)...)
	for _, p := range params {
		if p.Name == "status" && p.Value != "" {
			return p.Value, true
		}
	}
	s.reply(ex, http.StatusBadRequest, v1Errors(170, v1MsgStatus), "no status parameter")
	return "", false
}

// accept records text as a new tweet, unless an accepted tweet already has
// that text.
func (s *Server) accept(ex *exchange, text string) (t Tweet, duplicate bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.texts[text] {
		return Tweet{}, true
	}
	s.texts[text] = true
	id := (ex.now.UnixMilli() - twitterEpoch) << 22
	id = max(id, 1_000_000_000_000_000_000, s.lastID+1)
	s.lastID = id
	t = Tweet{ID: strconv.FormatInt(id, 10), Text: text, API: ex.api, At: ex.now}
	s.tweets = append(s.tweets, t)
	s.notify()
	s.logger().Info("fakex accepted tweet", "id", t.ID, "api", t.API, "text", t.Text)
	return t, false
}

// hold returns a channel that is closed once d has passed (never, for
// d == 0), the client has gone, or the server is closing.
func (s *Server) hold(ex *exchange, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var timeout <-chan time.Time
		if d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-timeout:
		case <-ex.r.Context().Done():
		case <-s.closing:
		}
	}()
	return done
}

// wait waits d and reports whether the exchange should still be answered.
func (s *Server) wait(ex *exchange, d time.Duration) bool {
	<-s.hold(ex, d)
	return ex.r.Context().Err() == nil && !s.isClosing()
}

func (s *Server) holdEnd(ex *exchange) string {
	if s.isClosing() {
		return "server closed"
	}
	return "client went away"
}

func (s *Server) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// reset closes the connection abruptly: no answer, no TLS close_notify, and
// a TCP RST instead of a FIN.
func (s *Server) reset(ex *exchange) {
	if err := s.drop(ex, true); err != nil {
		// Only HTTP/1 connections can be taken over; say so loudly.
		s.problem(ex, http.StatusInternalServerError, "Internal Error", "fakex cannot reset this connection: "+err.Error(), "cannot reset")
		return
	}
	s.finish(ex, 0, "connection reset after accepting the tweet")
}

// drop takes the connection from net/http and closes it without an
// answer; with rst, the peer sees a TCP reset.
func (s *Server) drop(ex *exchange, rst bool) error {
	conn, _, err := http.NewResponseController(ex.w).Hijack()
	if err != nil {
		return err
	}
	raw := conn
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok && rst {
		_ = tcp.SetLinger(0)
	}
	return raw.Close()
}

// reply answers with status and a JSON body, the server's Date and the
// exchange's rate-limit headers, chunked when the chunked fault applies.
func (s *Server) reply(ex *exchange, status int, body []byte, reason string) {
	h := ex.w.Header()
	h.Set("Date", ex.now.UTC().Format(http.TimeFormat))
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	h.Set("x-transaction-id", transactionID())
	if ex.rate != nil {
		ex.rate.write(h)
	}
	if ex.fault.Mode == ModeChunked {
		ex.w.WriteHeader(status)
		half := len(body) / 2
		_, _ = ex.w.Write(body[:half])
		_ = http.NewResponseController(ex.w).Flush() // no Content-Length: the rest goes chunked
		_, _ = ex.w.Write(body[half:])
	} else {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		ex.w.WriteHeader(status)
		_, _ = ex.w.Write(body)
	}
	s.finish(ex, status, reason)
}

// unauthorized answers 401: v2's problem, or v1.1's error code.
func (s *Server) unauthorized(ex *exchange, v1code int, v1msg, reason string) {
	if ex.api == "v2" {
		s.problem(ex, http.StatusUnauthorized, "Unauthorized", "Unauthorized", reason)
		return
	}
	s.reply(ex, http.StatusUnauthorized, v1Errors(v1code, v1msg), reason)
}

// badAuth answers a missing or malformed Authorization header.
func (s *Server) badAuth(ex *exchange, reason string) {
	if ex.api == "v2" {
		s.unauthorized(ex, 0, "", reason)
		return
	}
	s.reply(ex, http.StatusBadRequest, v1Errors(215, v1MsgBadAuth), reason)
}

func (s *Server) duplicate(ex *exchange, reason string) {
	if ex.api == "v2" {
		s.problem(ex, http.StatusForbidden, "Forbidden", v2MsgDuplicate, reason)
		return
	}
	s.reply(ex, http.StatusForbidden, v1Errors(187, v1MsgDuplicate), reason)
}

func (s *Server) tooMany(ex *exchange, reason string) {
	if ex.api == "v2" {
		s.problem(ex, http.StatusTooManyRequests, "Too Many Requests", "Too Many Requests", reason)
		return
	}
	s.reply(ex, http.StatusTooManyRequests, v1Errors(88, v1MsgRate), reason)
}

func (s *Server) unavailable(ex *exchange) {
	if ex.api == "v2" {
		s.problem(ex, http.StatusServiceUnavailable, "Service Unavailable", "Service Unavailable", "fault 503")
		return
	}
	s.reply(ex, http.StatusServiceUnavailable, v1Errors(130, v1MsgCapacity), "fault 503")
}

var errTooLarge = errors.New("request body over 1 MiB")

// unreadable ends an exchange whose body could not be read: too large, or
// the client went away while sending it.
func (s *Server) unreadable(ex *exchange, err error) {
	if errors.Is(err, errTooLarge) {
		s.problem(ex, http.StatusRequestEntityTooLarge, "Request Entity Too Large", "Request Entity Too Large", err.Error())
		return
	}
	s.finish(ex, 0, "reading the body: "+err.Error())
}

// invalid answers a v2 tweet whose JSON body X could not use.
func (s *Server) invalid(ex *exchange, reason string) {
	body, _ := json.Marshal(map[string]any{
		"errors": []map[string]any{{"message": reason}},
		"title":  "Invalid Request",
		"detail": "One or more parameters to your request was invalid.",
		"type":   "https://api.twitter.com/2/problems/invalid-request",
	})
	ex.w.Header().Set("Content-Type", "application/problem+json")
	s.reply(ex, http.StatusBadRequest, body, reason)
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
	ex.w.Header().Set("Content-Type", "application/problem+json")
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
