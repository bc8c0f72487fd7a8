package fakebsky

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"pitweet/emulator"
	"pitweet/httpd"
)

// XRPC error bodies (atproto.com/specs/xrpc): "The Content-Type should be
// application/json, and the payload should be a JSON object with the
// following fields: error (string, required): type name of the error
// (generic ASCII constant, no whitespace); message (string, optional)".

// genericNames are the error names a PDS gives a status when the handler
// gives none (packages/xrpc ResponseType), and their messages.
var genericNames = map[int][2]string{
	400: {"InvalidRequest", "Invalid Request"},
	401: {"AuthenticationRequired", "Authentication Required"},
	403: {"Forbidden", "Forbidden"},
	404: {"XRPCNotSupported", "XRPC Not Supported"},
	413: {"PayloadTooLarge", "Payload Too Large"},
	415: {"UnsupportedMediaType", "Unsupported Media Type"},
	429: {"RateLimitExceeded", "Rate Limit Exceeded"},
	500: {"InternalServerError", "Internal Server Error"},
	501: {"MethodNotImplemented", "Method Not Implemented"},
	502: {"UpstreamFailure", "Upstream Failure"},
	503: {"NotEnoughResources", "Not Enough Resources"},
	504: {"UpstreamTimeout", "Upstream Timeout"},
}

// fail answers with an XRPC error body and records reason (message if "").
func (s *Server) fail(ex *emulator.Exchange, status int, name, message, reason string) {
	if reason == "" {
		reason = name + ": " + message
	}
	ex.JSON(status, map[string]string{"error": name, "message": message}, reason)
}

// invalid answers 400 InvalidRequest with message.
func (s *Server) invalid(ex *emulator.Exchange, message string) {
	s.fail(ex, 400, "InvalidRequest", message, "")
}

// refused answers a request that could not be read, in XRPC shape.
func (s *Server) refused(w *httpd.Response, status int, reason string) {
	name := genericNames[status][0]
	if name == "" {
		name = "InvalidRequest"
	}
	if status == 413 {
		reason = "request entity too large"
	}
	body, _ := json.Marshal(map[string]string{"error": name, "message": reason})
	w.Header.Set("Content-Type", "application/json; charset=utf-8")
	w.Write(status, body)
}

// A method is an XRPC method the server serves.
type method struct {
	http   string // GET for a query, POST for a procedure
	handle func(s *Server, ex *emulator.Exchange)
	limit  string // the rate limit whose headers its answers carry
}

var methods = map[string]method{
	"com.atproto.server.createSession":   {"POST", (*Server).createSession, limitSession},
	"com.atproto.server.refreshSession":  {"POST", (*Server).refreshSession, ""},
	"com.atproto.server.getSession":      {"GET", (*Server).getSession, ""},
	"com.atproto.repo.createRecord":      {"POST", (*Server).createRecord, limitWrite},
	"com.atproto.repo.getRecord":         {"GET", (*Server).getRecord, ""},
	"com.atproto.repo.uploadBlob":        {"POST", (*Server).uploadBlob, limitUpload},
	"com.atproto.identity.resolveHandle": {"GET", (*Server).resolveHandle, ""},
	"_health":                            {"GET", (*Server).health, ""},
}

// handle routes one request: "The HTTP request path starts with /xrpc/,
// followed by an NSID" (atproto.com/specs/xrpc); queries are GET,
// procedures POST.
func (s *Server) handle(w *httpd.Response, r *httpd.Request) {
	if s.core.Control(w, r) || s.control(w, r) {
		return
	}
	ex := s.core.Begin(w, r)
	if !ex.Before(func(status int, reset time.Time) { s.faultAnswer(ex, status, reset) }) {
		return
	}
	nsid, ok := strings.CutPrefix(r.Path, "/xrpc/")
	if !ok {
		s.fail(ex, 404, "NotFound", "Not Found", "not an /xrpc/ path")
		return
	}
	m, ok := methods[nsid]
	verb := r.Method
	if verb == "HEAD" {
		verb = "GET"
	}
	switch {
	case !ok:
		s.fail(ex, 501, "MethodNotImplemented", "Method Not Implemented", "fakebsky does not serve "+nsid)
	case verb != m.http:
		s.invalid(ex, fmt.Sprintf("Incorrect HTTP method (%s) expected %s", r.Method, m.http))
	default:
		m.handle(s, ex)
	}
}

// control serves GET /fakebsky/posts, /fakebsky/records and /fakebsky/blobs.
func (s *Server) control(w *httpd.Response, r *httpd.Request) bool {
	switch r.Method + " " + r.Path {
	case "GET /fakebsky/posts":
		emulator.WriteJSON(w, 200, append([]Record{}, s.Posts()...))
	case "GET /fakebsky/records":
		emulator.WriteJSON(w, 200, append([]Record{}, s.Records()...))
	case "GET /fakebsky/blobs":
		emulator.WriteJSON(w, 200, append([]Blob{}, s.Blobs()...))
	default:
		return false
	}
	return true
}

// faultAnswer answers a request under a 429, 500 or 503 fault.
func (s *Server) faultAnswer(ex *emulator.Exchange, status int, reset time.Time) {
	if status == 429 {
		nsid := strings.TrimPrefix(ex.R.Path, "/xrpc/")
		limit, window := s.limitOf(methods[nsid].limit)
		setRateHeaders(ex.W.Header, limit, 0, window, ex.Now, reset, true)
	}
	n := genericNames[status]
	s.fail(ex, status, n[0], n[1], fmt.Sprintf("fault %d", status))
}

// Rate limits (docs.bsky.app/docs/advanced-guides/rate-limits: "Many HTTP
// API services return rate limit headers (draft-polli-ratelimit-headers-02)
// on responses"; "Requests that cross a limit usually receive an HTTP
// 429"). As the PDS writes them: RateLimit-Limit, -Remaining, -Reset (Unix
// epoch seconds), -Policy "LIMIT;w=SECONDS", and Retry-After on a 429.

const (
	limitWrite   = "repo-write-hour"
	limitSession = "createSession"
	limitUpload  = "uploadBlob"
)

func (s *Server) limitOf(name string) (int, time.Duration) {
	switch name {
	case limitWrite:
		return s.WriteLimit, time.Hour
	case limitSession:
		return s.SessionLimit, 5 * time.Minute
	case limitUpload:
		return s.UploadsPerDay, 24 * time.Hour
	}
	return 0, 0
}

// spend spends points of the named limit for key, sets the headers, and
// answers 429 if the limit is crossed.
func (s *Server) spend(ex *emulator.Exchange, name, key string, points int) bool {
	limit, period := s.limitOf(name)
	s.mu.Lock()
	w := s.windows[name+" "+key]
	if w == nil {
		w = &emulator.Window{Limit: limit, Period: period}
		s.windows[name+" "+key] = w
	}
	left, reset, ok := w.Take(ex.Now, points)
	s.mu.Unlock()
	setRateHeaders(ex.W.Header, limit, left, period, ex.Now, reset, !ok)
	if !ok {
		s.fail(ex, 429, "RateLimitExceeded", "Rate Limit Exceeded", name+" limit crossed")
	}
	return ok
}

func setRateHeaders(h httpd.Header, limit, left int, period time.Duration, now, reset time.Time, refused bool) {
	h.Set("RateLimit-Limit", strconv.Itoa(limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(left))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-Policy", fmt.Sprintf("%d;w=%d", limit, int(period/time.Second)))
	if refused {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(reset.Sub(now).Seconds()))))
	}
}

// Authentication (atproto.com/specs/xrpc "Authentication"; the PDS's
// auth-verifier.ts for the answers).

// bearer returns the token of an "Authorization: Bearer TOKEN" header, or
// answers as the PDS does and returns false: 401 AuthMissing without the
// header, 400 InvalidToken for a malformed one or another scheme.
func (s *Server) bearer(ex *emulator.Exchange) (string, bool) {
	h := ex.R.Header.Get("Authorization")
	if h == "" {
		ex.W.Header.Set("WWW-Authenticate", "Bearer")
		s.fail(ex, 401, "AuthMissing", "Authentication Required", "")
		return "", false
	}
	parts := strings.Split(h, " ")
	if len(parts) != 2 {
		s.fail(ex, 400, "InvalidToken", "Malformed authorization header", "")
		return "", false
	}
	switch strings.ToUpper(parts[0]) {
	case "BEARER":
		return parts[1], true
	case "BASIC", "DPOP":
		s.fail(ex, 400, "InvalidToken", "Unexpected authorization type", "")
	default:
		s.fail(ex, 400, "InvalidToken", "Unsupported authorization type: "+parts[0], "")
	}
	return "", false
}

// accessScopes are the scopes an access token may carry for the methods
// served here (ACCESS_STANDARD).
var accessScopes = []string{"com.atproto.access", "com.atproto.appPassPrivileged", scopeAppPass}

// access checks the request's access token: "Most requests should be
// authenticated using an access JWT" (atproto.com/specs/xrpc). An expired
// one is 400 ExpiredToken, not 401.
func (s *Server) access(ex *emulator.Exchange) (Account, bool) {
	token, ok := s.bearer(ex)
	if !ok {
		return Account{}, false
	}
	c, terr := verifyJWT(s.secret, token, typAccess, s.ServiceDID, accessScopes, ex.Now)
	if terr != nil {
		s.fail(ex, 400, terr.name, terr.message, "access token: "+terr.message)
		return Account{}, false
	}
	a, ok := s.account(c.Sub)
	if !ok {
		s.fail(ex, 403, "AccountNotFound", "Account not found", "")
		return Account{}, false
	}
	ex.SetAccount(a.DID)
	return a, true
}

// account finds an account by DID or handle, in any case.
func (s *Server) account(id string) (Account, bool) {
	for _, a := range s.accounts {
		if strings.EqualFold(id, a.DID) || strings.EqualFold(id, a.Handle) {
			return a, true
		}
	}
	return Account{}, false
}

// jsonLimit bounds a JSON body, as the PDS's createRecord (jsonLimit:
// 1_000_000).
const jsonLimit = 1_000_000

// jsonInput reads a procedure's JSON body as the PDS's input verifier
// does: a body is required, Content-Type application/json, within
// jsonLimit, an object. Numbers are json.Number.
func (s *Server) jsonInput(ex *emulator.Exchange) (map[string]any, bool) {
	r := ex.R
	if r.Header.Get("Content-Length") == "" && r.Header.Get("Transfer-Encoding") == "" {
		s.invalid(ex, "A request body is expected but none was provided")
		return nil, false
	}
	ctype := r.Header.Get("Content-Type")
	if ctype == "" {
		s.invalid(ex, "Request encoding (Content-Type) required but not provided")
		return nil, false
	}
	if mt := httpd.MediaType(ctype); mt != "application/json" {
		s.invalid(ex, "Wrong request encoding (Content-Type): "+mt)
		return nil, false
	}
	if len(r.Body) > jsonLimit {
		s.fail(ex, 413, "PayloadTooLarge", "request entity too large", "")
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		s.invalid(ex, "Invalid JSON body")
		return nil, false
	}
	obj, ok := v.(map[string]any)
	if !ok {
		s.invalid(ex, "Expected object value type (got "+stringify(v)+") at $")
		return nil, false
	}
	return obj, true
}

// noInput refuses a body on a procedure that takes none.
func (s *Server) noInput(ex *emulator.Exchange) bool {
	if len(ex.R.Body) > 0 {
		s.invalid(ex, "A request body was provided when none was expected")
		return false
	}
	return true
}

// inputString returns a required or optional string field of an input.
func inputString(in map[string]any, key string, required bool) (string, string) {
	v, ok := in[key]
	if !ok {
		if required {
			return "", `Missing required key "` + key + `" at $`
		}
		return "", ""
	}
	str, ok := v.(string)
	if !ok {
		return "", "Expected string value type (got " + stringify(v) + ") at $." + key
	}
	return str, ""
}

// Sessions (atproto.com/specs/xrpc: "Initial login uses the
// com.atproto.server.createSession endpoint … This returns a refreshJwt (as
// well as an initial accessJwt)"; "a new access JWT can be requested by
// hitting the com.atproto.server.refreshSession endpoint, using the
// refresh JWT instead of an access JWT").

// createSession serves com.atproto.server.createSession: identifier (a
// handle or DID, in any case) and the account's app password.
func (s *Server) createSession(ex *emulator.Exchange) {
	in, ok := s.jsonInput(ex)
	if !ok {
		return
	}
	identifier, msg := inputString(in, "identifier", true)
	password, msg2 := inputString(in, "password", true)
	if msg == "" {
		msg = msg2
	}
	if msg != "" {
		s.invalid(ex, msg)
		return
	}
	if !s.spend(ex, limitSession, strings.ToLower(identifier), 1) {
		return
	}
	a, found := s.account(strings.ToLower(identifier))
	if !found || !(validHandle(identifier) || validDID(identifier)) || password != a.AppPassword {
		s.fail(ex, 401, "AuthenticationRequired", "Invalid identifier or password", "login refused for "+strconv.Quote(identifier))
		return
	}
	ex.SetAccount(a.DID)
	s.mu.Lock()
	jti := s.newTokenID()
	s.sessions[jti] = &refreshToken{did: a.DID, expiresAt: ex.Now.Add(s.RefreshLifetime)}
	s.mu.Unlock()
	ex.JSON(200, s.sessionJSON(ex, a, jti), "session for "+a.Handle)
}

// refreshSession serves com.atproto.server.refreshSession: authenticated
// with the refresh token, it answers a new access token and a new refresh
// token. The used refresh token is revoked at once (RefreshGrace 0), or,
// as the reference PDS does, kept for RefreshGrace, in which it yields the
// same next token; then 400 ExpiredToken "Token has been revoked".
func (s *Server) refreshSession(ex *emulator.Exchange) {
	token, ok := s.bearer(ex)
	if !ok {
		return
	}
	c, terr := verifyJWT(s.secret, token, typRefresh, s.ServiceDID, []string{scopeRefresh}, ex.Now)
	if terr != nil {
		s.fail(ex, 400, terr.name, terr.message, "refresh token: "+terr.message)
		return
	}
	if c.Jti == "" {
		s.fail(ex, 401, "MissingTokenId", "Unexpected missing refresh token id", "")
		return
	}
	if !s.noInput(ex) {
		return
	}
	a, found := s.account(c.Sub)
	if !found {
		s.invalid(ex, "Could not find user info for account: "+c.Sub)
		return
	}
	ex.SetAccount(a.DID)
	s.mu.Lock()
	old := s.sessions[c.Jti]
	var next string
	switch {
	case old == nil || !ex.Now.Before(old.expiresAt):
	case old.nextID == "":
		next = s.newTokenID()
		old.nextID = next
		if grace := ex.Now.Add(s.RefreshGrace); grace.Before(old.expiresAt) {
			old.expiresAt = grace // now, without grace: revoked
		}
		s.sessions[next] = &refreshToken{did: a.DID, expiresAt: ex.Now.Add(s.RefreshLifetime)}
	default: // reused within its grace period: the same next token id
		next = old.nextID
	}
	s.mu.Unlock()
	if next == "" {
		s.fail(ex, 400, "ExpiredToken", "Token has been revoked", "refresh token used again or revoked")
		return
	}
	ex.JSON(200, s.sessionJSON(ex, a, next), "session refreshed")
}

// getSession serves com.atproto.server.getSession.
func (s *Server) getSession(ex *emulator.Exchange) {
	a, ok := s.access(ex)
	if !ok {
		return
	}
	v := map[string]any{"handle": a.Handle, "did": a.DID, "emailConfirmed": false, "active": true}
	if !s.OmitDIDDoc {
		v["didDoc"] = s.didDoc(ex, a)
	}
	ex.JSON(200, v, "")
}

// newTokenID returns a fresh refresh token id. s.mu must be held.
func (s *Server) newTokenID() string {
	for {
		id := fmt.Sprintf("%x", randomBytes(16))
		if s.sessions[id] == nil {
			return id
		}
	}
}

// sessionJSON is createSession's and refreshSession's output: accessJwt,
// refreshJwt, handle, did, and didDoc unless OmitDIDDoc.
func (s *Server) sessionJSON(ex *emulator.Exchange, a Account, jti string) map[string]any {
	now := ex.Now.Unix()
	access := signJWT(s.secret, typAccess, claims{Scope: scopeAppPass, Aud: s.ServiceDID, Sub: a.DID,
		Iat: now, Exp: ex.Now.Add(s.AccessLifetime).Unix()})
	refresh := signJWT(s.secret, typRefresh, claims{Scope: scopeRefresh, Aud: s.ServiceDID, Sub: a.DID,
		Jti: jti, Iat: now, Exp: ex.Now.Add(s.RefreshLifetime).Unix()})
	v := map[string]any{"accessJwt": access, "refreshJwt": refresh, "handle": a.Handle, "did": a.DID,
		"emailConfirmed": false, "active": true}
	if !s.OmitDIDDoc {
		v["didDoc"] = s.didDoc(ex, a)
	}
	return v
}

// didDoc is the account's DID document: "The PDS service network location
// for the account is found under the service array, with id ending
// #atproto_pds, and type matching AtprotoPersonalDataServer"
// (atproto.com/specs/did).
func (s *Server) didDoc(ex *emulator.Exchange, a Account) map[string]any {
	endpoint := s.ServiceEndpoint
	if endpoint == "" {
		endpoint = "https://" + ex.R.Host
	}
	return map[string]any{
		"@context":    []string{"https://www.w3.org/ns/did/v1"},
		"id":          a.DID,
		"alsoKnownAs": []string{"at://" + a.Handle},
		"service": []map[string]string{{
			"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": endpoint,
		}},
	}
}

// resolveHandle serves com.atproto.identity.resolveHandle.
func (s *Server) resolveHandle(ex *emulator.Exchange) {
	h := queryParam(ex.R.RawQuery, "handle")
	if h == "" {
		s.invalid(ex, `Invalid com.atproto.identity.resolveHandle params: Missing required key "handle"`)
		return
	}
	a, ok := s.account(h)
	if !ok || !strings.EqualFold(a.Handle, h) {
		s.fail(ex, 400, "HandleNotFound", "Unable to resolve handle", "")
		return
	}
	ex.JSON(200, map[string]string{"did": a.DID}, "")
}

// health serves /xrpc/_health.
func (s *Server) health(ex *emulator.Exchange) {
	ex.JSON(200, map[string]string{"version": "fakebsky"}, "")
}
