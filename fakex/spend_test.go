package fakex

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// startWith is start with setup applied to the server before it serves.
func startWith(t *testing.T, setup func(*Server)) *harness {
	t.Helper()
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := New(testCreds)
	s.Now = c.Now
	setup(s)
	if err := s.StartTLS("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &harness{t: t, srv: s, clock: c, client: &http.Client{Transport: tr}}
}

// The credits fault answers as clients report X does for an account
// without credits (docs/specs/x.md b.2), on posts of either API and on GET
// /2/users/me, and accepts nothing.
func TestCreditsDepleted(t *testing.T) {
	const body = `{"account_id":1243608864848629761,"title":"CreditsDepleted","detail":"Your enrolled account [1243608864848629761] does not have any credits to fulfill this request.","type":"https://api.twitter.com/2/problems/credits"}`
	h := start(t)
	setFault(t, h.srv, Fault{Mode: ModeCredits, Count: 3})
	for _, api := range []string{"v2", "v1.1", "me"} {
		a := h.do(h.request(t.Context(), h.signer(testCreds), api, "hello"))
		a.want(t, http.StatusPaymentRequired, body)
		if ct := a.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q; X sends application/json here, not problem+json", api, ct)
		}
	}
	if n := len(h.srv.Tweets()); n != 0 {
		t.Fatalf("%d tweets accepted without credits", n)
	}
	// Credits added: posting works again.
	h.post("v2", "hello").want(t, http.StatusCreated, "")
	// A bad signature is refused before the credits are looked at.
	setFault(t, h.srv, Fault{Mode: ModeCredits})
	wrong := testCreds
	wrong.TokenSecret = "wrong"
	h.do(h.request(t.Context(), h.signer(wrong), "v2", "x")).want(t, http.StatusUnauthorized, "")
}

// The three families of rate-limit headers, the app's 24-hour one
// included; NoDayHeaders leaves out both 24-hour families (as X's
// pay-per-use tier was seen to) while the limit still holds.
func TestDayHeaders(t *testing.T) {
	h := startWith(t, func(s *Server) { s.DailyLimit, s.AppDailyLimit = 3, 10000 })
	a := h.post("v2", "one")
	a.want(t, http.StatusCreated, "")
	for k, v := range map[string]string{
		"x-user-limit-24hour-limit": "3", "x-user-limit-24hour-remaining": "2",
		"x-app-limit-24hour-limit": "10000", "x-app-limit-24hour-remaining": "9999",
		"x-app-limit-24hour-reset": strconv.FormatInt(h.clock.Now().Add(24*time.Hour).Unix(), 10),
	} {
		if got := a.header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	h.post("v2", "two").want(t, http.StatusCreated, "")
	if a := h.post("v2", "three"); a.header.Get("x-user-limit-24hour-remaining") != "0" {
		t.Errorf("the last post of the day: remaining %q, want 0", a.header.Get("x-user-limit-24hour-remaining"))
	}
	h.post("v2", "four").want(t, http.StatusTooManyRequests, "")

	h = startWith(t, func(s *Server) { s.DailyLimit, s.NoDayHeaders = 1, true })
	a = h.post("v2", "one")
	a.want(t, http.StatusCreated, "")
	for _, k := range []string{"x-user-limit-24hour-limit", "x-user-limit-24hour-remaining", "x-user-limit-24hour-reset", "x-app-limit-24hour-limit"} {
		if v, ok := a.header[http.CanonicalHeaderKey(k)]; ok {
			t.Errorf("%s: %q sent with NoDayHeaders", k, v)
		}
	}
	if a.header.Get("x-rate-limit-remaining") == "" {
		t.Error("x-rate-limit-* left out too")
	}
	a = h.post("v2", "two")
	a.want(t, http.StatusTooManyRequests, "")
	if _, ok := a.header[http.CanonicalHeaderKey("x-user-limit-24hour-remaining")]; ok {
		t.Error("the 429 carries the 24-hour headers with NoDayHeaders")
	}
}
