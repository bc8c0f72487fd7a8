package fakebsky

import (
	"strings"
	"testing"
	"time"
)

// A wireTest sends the raw request raw(access token) after setup and wants
// status and, if set, exactly body, or a body holding contains.
type wireTest struct {
	name     string
	setup    func(t *testing.T, s *Server, c *clock)
	raw      func(access string) string
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
			access, _ := session(t, s, DemoAccount)
			a := send(t, s, tt.raw(access))
			if a.status != tt.status || (tt.body != "" && a.body != tt.body) || !strings.Contains(a.body, tt.contains) {
				t.Errorf("answer %d %s\nwant %d %s%s", a.status, a.body, tt.status, tt.body, tt.contains)
			}
		})
	}
}

func fixed(raw string) func(string) string { return func(string) string { return raw } }

// createSession takes a handle or DID and the app password
// (lexicons/com/atproto/server/createSession.json; a wrong one is 401
// AuthenticationRequired "Invalid identifier or password" in the PDS).
func TestWireCreateSession(t *testing.T) {
	login := func(body string) func(string) string {
		return fixed(xrpc("com.atproto.server.createSession", body))
	}
	const refused = `{"error":"AuthenticationRequired","message":"Invalid identifier or password"}`
	runWire(t, []wireTest{
		{name: "handle", raw: login(`{"identifier":"pitweet-demo.test","password":"pitw-demo-appp-assw"}`), status: 200,
			contains: `"did":"did:plc:pitweetdemoaaaaaaaaaaaaa"`},
		{name: "DID", raw: login(`{"identifier":"did:plc:pitweetdemoaaaaaaaaaaaaa","password":"pitw-demo-appp-assw"}`), status: 200},
		{name: "handle in upper case", raw: login(`{"identifier":"PITWEET-DEMO.test","password":"pitw-demo-appp-assw"}`), status: 200},
		{name: "didDoc names the PDS", raw: login(`{"identifier":"pitweet-demo.test","password":"pitw-demo-appp-assw"}`), status: 200,
			contains: `"service":[{"id":"#atproto_pds","serviceEndpoint":"https://bsky.example","type":"AtprotoPersonalDataServer"}]`},
		{name: "didDoc left out", setup: func(t *testing.T, s *Server, c *clock) { s.OmitDIDDoc = true },
			raw: login(`{"identifier":"pitweet-demo.test","password":"pitw-demo-appp-assw"}`), status: 200, contains: `"handle":"pitweet-demo.test"`},
		{name: "wrong password", raw: login(`{"identifier":"pitweet-demo.test","password":"pitw-demo-appp-assX"}`), status: 401, body: refused},
		{name: "another account's password", raw: login(`{"identifier":"pitweet-demo.test","password":"othe-rapp-pass-word"}`), status: 401, body: refused},
		{name: "unknown handle", raw: login(`{"identifier":"nobody.test","password":"pitw-demo-appp-assw"}`), status: 401, body: refused},
		{name: "no password", raw: login(`{"identifier":"pitweet-demo.test"}`), status: 400,
			body: `{"error":"InvalidRequest","message":"Missing required key \"password\" at $"}`},
		{name: "form, not JSON", raw: fixed(request("POST", "/xrpc/com.atproto.server.createSession", "identifier=a", "Content-Type: application/x-www-form-urlencoded")),
			status: 400, body: `{"error":"InvalidRequest","message":"Wrong request encoding (Content-Type): application/x-www-form-urlencoded"}`},
		{name: "GET", raw: fixed(request("GET", "/xrpc/com.atproto.server.createSession", "")), status: 400,
			body: `{"error":"InvalidRequest","message":"Incorrect HTTP method (GET) expected POST"}`},
	})

	s, _ := newServer(t)
	a := send(t, s, xrpc("com.atproto.server.createSession", `{"identifier":"pitweet-demo.test","password":"pitw-demo-appp-assw"}`))
	if strings.Contains(a.body, `"didDoc"`) == false {
		t.Errorf("no didDoc in %s", a.body)
	}
	access, refresh := field(t, a.body, "accessJwt"), field(t, a.body, "refreshJwt")
	if h := jwtPart(t, access, 0); h["typ"] != "at+jwt" || h["alg"] != "HS256" {
		t.Errorf("access header %v", h)
	}
	if h := jwtPart(t, refresh, 0); h["typ"] != "refresh+jwt" {
		t.Errorf("refresh header %v", h)
	}
	p := jwtPart(t, access, 1)
	if p["sub"] != DemoAccount.DID || p["scope"] != "com.atproto.appPass" || p["aud"] != "did:web:localhost" ||
		p["exp"].(float64)-p["iat"].(float64) != 7200 {
		t.Errorf("access claims %v", p)
	}
	if p := jwtPart(t, refresh, 1); p["scope"] != "com.atproto.refresh" || p["jti"] == "" || p["exp"].(float64)-p["iat"].(float64) != 90*86400 {
		t.Errorf("refresh claims %v", p)
	}
}

// Writes need the access token; an expired one is 400 ExpiredToken, not
// 401 (the PDS's auth-verifier.ts; docs/specs/bluesky.md 2.3).
func TestWireAccessToken(t *testing.T) {
	getSession := func(h string) func(string) string {
		return func(access string) string {
			return request("GET", "/xrpc/com.atproto.server.getSession", "", strings.ReplaceAll(h, "ACCESS", access))
		}
	}
	invalid := `{"error":"InvalidToken","message":"Token could not be verified"}`
	runWire(t, []wireTest{
		{name: "access token", raw: getSession("Authorization: Bearer ACCESS"), status: 200, contains: `"handle":"pitweet-demo.test"`},
		{name: "scheme in any case", raw: getSession("Authorization: bearer ACCESS"), status: 200},
		{name: "no Authorization", raw: getSession("X-Nothing: here"), status: 401, body: `{"error":"AuthMissing","message":"Authentication Required"}`},
		{name: "garbage", raw: getSession("Authorization: Bearer garbage"), status: 400, body: invalid},
		{name: "tampered", raw: func(access string) string {
			return getSession("Authorization: Bearer ACCESS")(access[:len(access)-2] + "AA")
		}, status: 400, body: invalid},
		{name: "Basic", raw: getSession("Authorization: Basic cGk6cGk="), status: 400, body: `{"error":"InvalidToken","message":"Unexpected authorization type"}`},
		{name: "unknown scheme", raw: getSession("Authorization: Token ACCESS"), status: 400, body: `{"error":"InvalidToken","message":"Unsupported authorization type: Token"}`},
		{name: "two spaces", raw: getSession("Authorization: Bearer  ACCESS"), status: 400, body: `{"error":"InvalidToken","message":"Malformed authorization header"}`},
		{name: "expired", raw: func(access string) string {
			return getSession("Authorization: Bearer ACCESS")(access)
		}, setup: func(t *testing.T, s *Server, c *clock) { s.AccessLifetime = -time.Second }, status: 400,
			body: `{"error":"ExpiredToken","message":"Token has expired"}`},
	})

	// The refresh token is not an access token.
	s, c := newServer(t)
	s.AccessLifetime = time.Minute
	access, refresh := session(t, s, DemoAccount)
	if a := send(t, s, getSession("Authorization: Bearer ACCESS")(refresh)); a.status != 400 || a.body != invalid {
		t.Errorf("refresh token as access: %d %s", a.status, a.body)
	}
	// A short lifetime: good for a minute, expired from then on.
	c.Advance(59 * time.Second)
	if a := send(t, s, getSession("Authorization: Bearer ACCESS")(access)); a.status != 200 {
		t.Errorf("after 59 s: %d %s", a.status, a.body)
	}
	c.Advance(time.Second)
	if a := send(t, s, getSession("Authorization: Bearer ACCESS")(access)); a.status != 400 || field(t, a.body, "error") != "ExpiredToken" {
		t.Errorf("after 60 s: %d %s", a.status, a.body)
	}
	// Every write checks it.
	if a := send(t, s, post(access, "", "late", "")); a.status != 400 || field(t, a.body, "error") != "ExpiredToken" {
		t.Errorf("createRecord with an expired token: %d %s", a.status, a.body)
	}
	if a := send(t, s, request("POST", "/xrpc/com.atproto.repo.uploadBlob", "x", bearer(access), "Content-Type: text/plain")); a.status != 400 || field(t, a.body, "error") != "ExpiredToken" {
		t.Errorf("uploadBlob with an expired token: %d %s", a.status, a.body)
	}
}

// refreshSession takes the refresh token and answers a new pair; a refresh
// token is single-use (or, behind RefreshGrace, reusable for a grace
// period with the same next token, as the reference PDS does).
func TestWireRefreshSession(t *testing.T) {
	refreshWith := func(token string) string {
		return request("POST", "/xrpc/com.atproto.server.refreshSession", "", bearer(token))
	}
	revoked := `{"error":"ExpiredToken","message":"Token has been revoked"}`

	s, c := newServer(t)
	access, refresh := session(t, s, DemoAccount)
	a := send(t, s, refreshWith(refresh))
	if a.status != 200 {
		t.Fatalf("refresh: %d %s", a.status, a.body)
	}
	access2, refresh2 := field(t, a.body, "accessJwt"), field(t, a.body, "refreshJwt")
	if refresh2 == refresh || field(t, a.body, "did") != DemoAccount.DID || !strings.Contains(a.body, `"didDoc"`) {
		t.Errorf("refresh answer %s", a.body)
	}
	if a := send(t, s, request("GET", "/xrpc/com.atproto.server.getSession", "", bearer(access2))); a.status != 200 {
		t.Errorf("new access token: %d", a.status)
	}
	// Used once: the second use is refused.
	if a := send(t, s, refreshWith(refresh)); a.status != 400 || a.body != revoked {
		t.Errorf("second use: %d %s", a.status, a.body)
	}
	// The new one works, once.
	if a := send(t, s, refreshWith(refresh2)); a.status != 200 {
		t.Errorf("the new refresh token: %d %s", a.status, a.body)
	}
	// An access token is not a refresh token; a body is not expected.
	if a := send(t, s, refreshWith(access)); a.status != 400 || a.body != `{"error":"InvalidToken","message":"Token could not be verified"}` {
		t.Errorf("access token on refresh: %d %s", a.status, a.body)
	}
	_, refresh3 := session(t, s, DemoAccount)
	if a := send(t, s, request("POST", "/xrpc/com.atproto.server.refreshSession", "{}", bearer(refresh3), jsonType)); a.status != 400 ||
		field(t, a.body, "message") != "A request body was provided when none was expected" {
		t.Errorf("with a body: %d %s", a.status, a.body)
	}
	// An expired refresh token.
	c.Advance(90 * 24 * time.Hour)
	if a := send(t, s, refreshWith(refresh3)); a.status != 400 || a.body != `{"error":"ExpiredToken","message":"Token has expired"}` {
		t.Errorf("after 90 days: %d %s", a.status, a.body)
	}

	// With the PDS's grace period, a reuse within it gets the same next
	// token id; after it, the token is revoked.
	s, c = newServer(t)
	s.RefreshGrace = 2 * time.Hour
	_, refresh = session(t, s, DemoAccount)
	first := send(t, s, refreshWith(refresh))
	c.Advance(time.Hour)
	again := send(t, s, refreshWith(refresh))
	if first.status != 200 || again.status != 200 ||
		jwtPart(t, field(t, first.body, "refreshJwt"), 1)["jti"] != jwtPart(t, field(t, again.body, "refreshJwt"), 1)["jti"] {
		t.Errorf("reuse within the grace period: %d %s / %d %s", first.status, first.body, again.status, again.body)
	}
	c.Advance(time.Hour)
	if a := send(t, s, refreshWith(refresh)); a.status != 400 || a.body != revoked {
		t.Errorf("reuse after the grace period: %d %s", a.status, a.body)
	}
}
