package fakex

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitRequest waits until request i has been answered (or cut) and returns
// it.
func waitRequest(t *testing.T, s *Server, i int) Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		s.mu.Lock()
		if i < len(s.requests) && (s.requests[i].Status != 0 || s.requests[i].Reason != "") {
			r := s.requests[i]
			s.mu.Unlock()
			return r
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("request %d never finished", i)
		}
	}
}

func setFault(t *testing.T, s *Server, f Fault) {
	t.Helper()
	if err := s.SetFault(f); err != nil {
		t.Fatal(err)
	}
}

func TestFaultAnswers(t *testing.T) {
	tests := []struct {
		mode   string
		api    string
		status int
		body   string
	}{
		{Mode429, "v2", 429, `{"title":"Too Many Requests","type":"about:blank","status":429,"detail":"Too Many Requests"}`},
		{Mode429, "v1.1", 429, `{"errors":[{"code":88,"message":"Rate limit exceeded"}]}`},
		{Mode403Dup, "v2", 403, v2Duplicate},
		{Mode403Dup, "v1.1", 403, v1Duplicate},
		{Mode401, "v2", 401, v2Unauthorized},
		{Mode401, "v1.1", 401, v1Auth},
		{Mode503, "v2", 503, `{"title":"Service Unavailable","type":"about:blank","status":503,"detail":"Service Unavailable"}`},
		{Mode503, "v1.1", 503, `{"errors":[{"code":130,"message":"Over capacity"}]}`},
		{Mode453, "v2", 403, `{"errors":[{"code":453,"message":"` + msgSubset + `"}]}`},
		{Mode453, "v1.1", 403, `{"errors":[{"code":453,"message":"` + msgSubset + `"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.mode+" "+tt.api, func(t *testing.T) {
			h := start(t)
			setFault(t, h.srv, Fault{Mode: tt.mode, Count: 1})
			h.post(tt.api, "hello").want(t, tt.status, tt.body)
			if n := len(h.srv.Tweets()); n != 0 {
				t.Errorf("%d tweets accepted under fault %s, want none", n, tt.mode)
			}
			if rs := h.srv.Requests(); rs[0].Fault != tt.mode || rs[0].Status != tt.status {
				t.Errorf("Requests()[0] = %+v", rs[0])
			}
			// Count 1: the next request is served normally.
			h.post(tt.api, "hello").want(t, okStatus(tt.api), "")
			if f := h.srv.Fault(); f.Mode != ModeNone {
				t.Errorf("fault after its count = %v, want none", f)
			}
		})
	}
}

func TestFault429Headers(t *testing.T) {
	h := start(t)
	setFault(t, h.srv, Fault{Mode: Mode429, Reset: 90 * time.Second})
	a := h.post("v2", "hello")
	a.want(t, http.StatusTooManyRequests, "")
	reset := strconv.FormatInt(h.clock.Now().Add(90*time.Second).Unix(), 10)
	for name, want := range map[string]string{
		"x-rate-limit-remaining":        "0",
		"x-rate-limit-reset":            reset,
		"x-user-limit-24hour-remaining": "0",
		"x-user-limit-24hour-reset":     reset,
	} {
		if got := a.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// Count 0: the fault stays until cleared.
	h.post("v2", "hello").want(t, http.StatusTooManyRequests, "")
	setFault(t, h.srv, Fault{})
	h.post("v2", "hello").want(t, http.StatusCreated, "")
}

func TestFaultSkew(t *testing.T) {
	for _, api := range []string{"v2", "v1.1"} {
		t.Run(api, func(t *testing.T) {
			h := start(t)
			setFault(t, h.srv, Fault{Mode: ModeSkew, Skew: 10 * time.Minute})
			sg := h.signer(testCreds)
			a := h.do(h.request(context.Background(), sg, api, "on time"))
			want := v2Unauthorized
			if api == "v1.1" {
				want = v1Timestamp
			}
			a.want(t, http.StatusUnauthorized, want)
			date, err := http.ParseTime(a.header.Get("Date"))
			if err != nil {
				t.Fatal(err)
			}
			offset := date.Sub(h.clock.Now())
			if offset != 10*time.Minute {
				t.Fatalf("Date is %v from the true clock, want 10m", offset)
			}
			// A client that corrects its clock from Date gets through.
			sg.Now = func() time.Time { return h.clock.Now().Add(offset) }
			h.do(h.request(context.Background(), sg, api, "on time")).want(t, okStatus(api), "")
			// The skewed clock is the server's: GET /2/users/me sees it too.
			a = h.do(h.request(context.Background(), sg, "me", ""))
			a.want(t, http.StatusOK, "")
			if a.header.Get("Date") != date.UTC().Format(http.TimeFormat) {
				t.Errorf("users/me Date = %s, want %s", a.header.Get("Date"), date)
			}
		})
	}
}

func TestFaultSkewAlias(t *testing.T) {
	s := New(testCreds)
	if err := s.SetFault(Fault{Mode: "401skew", Skew: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if f := s.Fault(); f.Mode != ModeSkew {
		t.Errorf("401skew became %q, want %q", f.Mode, ModeSkew)
	}
}

func TestFaultChunked(t *testing.T) {
	for _, api := range []string{"v2", "v1.1"} {
		t.Run(api, func(t *testing.T) {
			h := start(t)
			setFault(t, h.srv, Fault{Mode: ModeChunked})
			a := h.post(api, "in pieces")
			a.want(t, okStatus(api), "")
			if !a.chunked || a.header.Get("Content-Length") != "" {
				t.Errorf("answer not chunked: chunked=%v Content-Length=%q", a.chunked, a.header.Get("Content-Length"))
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(a.body), &v); err != nil {
				t.Errorf("chunked body %q: %v", a.body, err)
			}
			if n := len(h.srv.Tweets()); n != 1 {
				t.Errorf("%d tweets, want 1", n)
			}
		})
	}
}

func TestFaultResetAfterAccept(t *testing.T) {
	for _, api := range []string{"v2", "v1.1"} {
		t.Run(api, func(t *testing.T) {
			h := start(t)
			setFault(t, h.srv, Fault{Mode: ModeResetAfterAccept, Count: 1})
			resp, err := h.client.Do(h.request(context.Background(), h.signer(testCreds), api, "lost answer"))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got an answer %s, want the connection reset", resp.Status)
			}
			if tw := h.srv.Tweets(); len(tw) != 1 || tw[0].Text != "lost answer" {
				t.Fatalf("Tweets() = %+v, want the tweet accepted", tw)
			}
			if r := waitRequest(t, h.srv, 0); r.Status != 0 || !strings.Contains(r.Reason, "reset") {
				t.Errorf("Requests()[0] = %+v", r)
			}
			// The retry is a duplicate, as on X.
			want := v2Duplicate
			if api == "v1.1" {
				want = v1Duplicate
			}
			h.post(api, "lost answer").want(t, http.StatusForbidden, want)
		})
	}
}

func TestFaultSlow(t *testing.T) {
	h := start(t)
	setFault(t, h.srv, Fault{Mode: ModeSlow, Delay: time.Millisecond, Count: 1})
	h.post("v2", "eventually").want(t, http.StatusCreated, "")
	if r := h.srv.Requests()[0]; r.Fault != ModeSlow {
		t.Errorf("fault logged %q, want slow", r.Fault)
	}

	// A client that gives up first gets nothing, and nothing is posted.
	setFault(t, h.srv, Fault{Mode: ModeSlow, Delay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		resp, err := h.client.Do(h.request(ctx, h.signer(testCreds), "v2", "too late"))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if _, err := h.srv.WaitRequests(waitCtx, 2); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v, want context.Canceled", err)
	}
	if r := waitRequest(t, h.srv, 1); r.Status != 0 || r.Reason != "slow answer abandoned: client went away" {
		t.Errorf("Requests()[1] = %+v", r)
	}
	if n := len(h.srv.Tweets()); n != 1 {
		t.Errorf("%d tweets, want only the first", n)
	}
}

func TestFaultHang(t *testing.T) {
	h := start(t)
	setFault(t, h.srv, Fault{Mode: ModeHang})
	waitCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()

	// Released when the client gives up.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 2)
	send := func(ctx context.Context) {
		resp, err := h.client.Do(h.request(ctx, h.signer(testCreds), "v2", "into the void"))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}
	go send(ctx)
	if _, err := h.srv.WaitRequests(waitCtx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v, want context.Canceled", err)
	}
	if r := waitRequest(t, h.srv, 0); r.Reason != "hung until client went away" {
		t.Errorf("Requests()[0] = %+v", r)
	}

	// Released when the server closes.
	go send(context.Background())
	if _, err := h.srv.WaitRequests(waitCtx, 2); err != nil {
		t.Fatal(err)
	}
	h.srv.Close()
	if err := <-errc; err == nil {
		t.Error("client got an answer from a hung server")
	}
	if r := waitRequest(t, h.srv, 1); r.Reason != "hung until server closed" {
		t.Errorf("Requests()[1] = %+v", r)
	}
	if n := len(h.srv.Tweets()); n != 0 {
		t.Errorf("%d tweets, want none", n)
	}
}

func TestScript(t *testing.T) {
	h := start(t)
	if err := h.srv.Script([]Fault{{Mode: Mode503, Count: 2}, {Mode: Mode429, Count: 1}}); err != nil {
		t.Fatal(err)
	}
	// Only posting requests count against a fault.
	h.do(h.request(context.Background(), h.signer(testCreds), "me", "")).want(t, http.StatusOK, "")
	for i, want := range []int{503, 503, 429, 201} {
		if a := h.post("v2", "scripted"); a.status != want {
			t.Errorf("post %d: status %d, want %d", i, a.status, want)
		}
	}
}

func TestSetFaultRefusesUnknownMode(t *testing.T) {
	s := New(testCreds)
	if err := s.SetFault(Fault{Mode: "teapot"}); err == nil || !strings.HasPrefix(err.Error(), "fakex: ") {
		t.Errorf("SetFault(teapot) = %v, want a fakex error", err)
	}
	if err := s.SetFault(Fault{Mode: Mode503, Count: -1}); err == nil {
		t.Error("SetFault with a negative count succeeded")
	}
}

func TestControlEndpoints(t *testing.T) {
	h := start(t)
	control := func(method, path, ctype, body string) answer {
		t.Helper()
		req, err := http.NewRequest(method, h.srv.URL()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		return h.do(req)
	}
	form := "application/x-www-form-urlencoded"
	control("POST", "/fakex/fault", form, "mode=503&count=1").want(t, http.StatusOK, "")
	h.post("v2", "first").want(t, http.StatusServiceUnavailable, "")
	h.post("v2", "first").want(t, http.StatusCreated, "")

	var tweets []Tweet
	if err := json.Unmarshal([]byte(control("GET", "/fakex/tweets", "", "").body), &tweets); err != nil {
		t.Fatal(err)
	}
	if len(tweets) != 1 || tweets[0].Text != "first" || tweets[0].API != "v2" {
		t.Errorf("/fakex/tweets = %+v", tweets)
	}
	var reqs []Request
	if err := json.Unmarshal([]byte(control("GET", "/fakex/requests", "", "").body), &reqs); err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0].Status != 503 || reqs[0].Fault != Mode503 || reqs[1].Status != 201 {
		t.Errorf("/fakex/requests = %+v", reqs)
	}

	control("POST", "/fakex/fault", "application/json", `{"mode":"skew","skew":"-10m"}`).want(t, http.StatusOK, "")
	if f := h.srv.Fault(); f != (Fault{Mode: ModeSkew, Skew: -10 * time.Minute}) {
		t.Errorf("fault after JSON control = %+v", f)
	}
	a := control("GET", "/fakex/fault", "", "")
	a.want(t, http.StatusOK, "")
	if !strings.Contains(a.body, `"skew": "-10m0s"`) {
		t.Errorf("/fakex/fault = %s", a.body)
	}
	control("POST", "/fakex/fault", form, "mode=teapot").want(t, http.StatusBadRequest, "")
	control("POST", "/fakex/fault", form, "mode=slow&delay=soon").want(t, http.StatusBadRequest, "")
	control("POST", "/fakex/fault", form, "mode=").want(t, http.StatusOK, "")
	if f := h.srv.Fault(); f.Mode != ModeNone {
		t.Errorf("fault after clearing = %+v", f)
	}
	if n := len(h.srv.Requests()); n != 2 {
		t.Errorf("control requests were logged: %d requests, want 2", n)
	}
}
