package emulator

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"pitweet/httpd"
)

// start runs a Core named "fake" whose posting endpoint /post answers 201
// {"ok":true}, and whose /other answers 200; faults answer with their
// status and {"fault":STATUS,"reset":UNIX}.
func start(t *testing.T) (*Core, *http.Client) {
	t.Helper()
	c := &Core{Name: "fake", PostPath: "/post", Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	err := c.Start("127.0.0.1:0", 0, func(w *httpd.Response, r *httpd.Request) {
		if c.Control(w, r) {
			return
		}
		ex := c.Begin(w, r)
		if !ex.Before(func(status int, reset time.Time) {
			ex.JSON(status, map[string]int64{"fault": int64(status), "reset": reset.Unix()}, fmt.Sprintf("fault %d", status))
		}) {
			return
		}
		ex.SetAccount("alice")
		if r.Path == "/post" {
			ex.Reply(201, []byte(`{"ok":true}`), "made")
			return
		}
		ex.Reply(200, []byte(`{}`), "")
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return c, &http.Client{Transport: tr}
}

func get(t *testing.T, client *http.Client, method, url, ctype, body string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer secret-token")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestFaultsApplyToTheirPath(t *testing.T) {
	c, client := start(t)
	if err := c.Script([]Fault{{Mode: Mode503, Count: 1}, {Mode: Mode500, Path: "/other", Count: 1}, {Mode: Mode429, Path: AnyPath, Count: 1, Reset: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct {
		path   string
		status int
		body   string
	}{
		{"/other", 200, `{}`}, // the first fault is for /post only
		{"/post", 503, `{"fault":503,"reset":-62135596800}`},
		{"/post", 201, `{"ok":true}`}, // the next fault is for /other
		{"/other", 500, `{"fault":500,"reset":-62135596800}`},
		{"/other", 429, `{"fault":429,"reset":1800000060}`},
		{"/post", 201, `{"ok":true}`},
	} {
		status, body, err := get(t, client, "POST", c.URL()+tt.path, "", "")
		if err != nil || status != tt.status || body != tt.body {
			t.Errorf("request %d to %s: %d %s %v; want %d %s", i+1, tt.path, status, body, err, tt.status, tt.body)
		}
	}
	rs := c.Requests()
	if len(rs) != 6 || rs[1].Fault != Mode503 || rs[1].Status != 503 || rs[1].Reason != "fault 503" || rs[2].Fault != "" || rs[2].Account != "alice" {
		t.Errorf("Requests() = %+v", rs)
	}
	if got := rs[0].Header.Get("Authorization"); got != "Bearer ***" {
		t.Errorf("logged Authorization %q, want the token masked", got)
	}
}

func TestResetAfterAccept(t *testing.T) {
	c, client := start(t)
	if err := c.SetFault(Fault{Mode: ModeResetAfterAccept, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(t, client, "POST", c.URL()+"/post", "", ""); err == nil {
		t.Fatal("an answer came, want the connection reset")
	}
	if r := c.Requests()[0]; r.Status != 0 || r.Reason != "made; connection reset instead of the answer" {
		t.Errorf("Requests()[0] = %+v", r)
	}
	if status, _, err := get(t, client, "POST", c.URL()+"/post", "", ""); err != nil || status != 201 {
		t.Errorf("after the fault: %d, %v", status, err)
	}
}

func TestSlowAndHang(t *testing.T) {
	c, client := start(t)
	if err := c.SetFault(Fault{Mode: ModeSlow, Delay: time.Millisecond, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if status, _, err := get(t, client, "POST", c.URL()+"/post", "", ""); err != nil || status != 201 {
		t.Errorf("slow: %d, %v", status, err)
	}
	if err := c.SetFault(Fault{Mode: ModeHang}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, _, err := get(t, client, "POST", c.URL()+"/post", "", "")
		errc <- err
	}()
	if _, err := c.WaitRequests(ctx, 2); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-errc; err == nil {
		t.Error("a hung request got an answer")
	}
	err := c.WaitFor(ctx, "the hang to end", func() bool { return c.Requests()[1].Reason != "" })
	if err != nil || c.Requests()[1].Reason != "hung until server closed" {
		t.Errorf("hung request %+v, %v", c.Requests()[1], err)
	}
}

func TestControl(t *testing.T) {
	c, client := start(t)
	form := "application/x-www-form-urlencoded"
	status, body, _ := get(t, client, "POST", c.URL()+"/fake/fault", form, "mode=429&count=2&reset=90s&path=%2Fother")
	if status != 200 || c.Fault() != (Fault{Mode: Mode429, Count: 2, Reset: 90 * time.Second, Path: "/other"}) {
		t.Errorf("form fault: %d %s, fault %+v", status, body, c.Fault())
	}
	status, body, _ = get(t, client, "POST", c.URL()+"/fake/fault", "application/json", `{"mode":"slow","delay":"2s"}`)
	var f Fault
	if err := json.Unmarshal([]byte(body), &f); err != nil || status != 200 || f != (Fault{Mode: ModeSlow, Delay: 2 * time.Second}) {
		t.Errorf("JSON fault: %d %s (%v)", status, body, err)
	}
	if _, body, _ = get(t, client, "GET", c.URL()+"/fake/fault", "", ""); !strings.Contains(body, `"delay": "2s"`) {
		t.Errorf("GET fault: %s", body)
	}
	for _, bad := range []string{"mode=teapot", "mode=slow&delay=soon", "mode=503&count=x", "mode=503&path=relative"} {
		if status, _, _ := get(t, client, "POST", c.URL()+"/fake/fault", form, bad); status != 400 {
			t.Errorf("fault %q: status %d, want 400", bad, status)
		}
	}
	get(t, client, "POST", c.URL()+"/fake/fault", form, "mode=")
	get(t, client, "POST", c.URL()+"/post", "", "")
	var rs []Request
	_, body, _ = get(t, client, "GET", c.URL()+"/fake/requests", "", "")
	if err := json.Unmarshal([]byte(body), &rs); err != nil || len(rs) != 1 || rs[0].Status != 201 || rs[0].Path != "/post" {
		t.Errorf("GET requests: %s (%v)", body, err)
	}
}

func TestWindow(t *testing.T) {
	now := time.Unix(1_800_000_100, 0) // 100 s past a multiple of 300
	w := Window{Limit: 2, Period: 5 * time.Minute, Aligned: true}
	for i, want := range []struct {
		left int
		ok   bool
	}{{1, true}, {0, true}, {0, false}} {
		left, reset, ok := w.Take(now, 1)
		if left != want.left || ok != want.ok || !reset.Equal(time.Unix(1_800_000_300, 0)) {
			t.Errorf("take %d: %d %v %v", i+1, left, reset, ok)
		}
	}
	if left, reset := w.Peek(now.Add(200 * time.Second)); left != 2 || !reset.Equal(time.Unix(1_800_000_600, 0)) {
		t.Errorf("next aligned window: %d %v", left, reset)
	}
	u := Window{Limit: 5, Period: time.Hour}
	if left, reset, ok := u.Take(now, 3); left != 2 || !reset.Equal(now.Add(time.Hour)) || !ok {
		t.Errorf("unaligned: %d %v %v", left, reset, ok)
	}
}

func TestCheck(t *testing.T) {
	for _, f := range []Fault{{Mode: "teapot"}, {Mode: Mode503, Count: -1}, {Mode: ModeSlow, Delay: -1}, {Mode: Mode503, Path: "x"}} {
		if err := f.Check(); err == nil {
			t.Errorf("Check(%+v) = nil", f)
		}
	}
	if s := (Fault{Mode: Mode429, Count: 2, Path: "/p"}).String(); s != "429 reset=15m0s path=/p count=2" {
		t.Errorf("String() = %q", s)
	}
}

// Raw requests reach the handler through Server without a listener.
func TestServer(t *testing.T) {
	c := &Core{Name: "fake"}
	srv := c.Server(0, func(w *httpd.Response, r *httpd.Request) {
		c.Begin(w, r).Reply(200, []byte(`{"body":"`+string(r.Body)+`"}`), "")
	}, nil)
	client, server := net.Pipe()
	defer client.Close()
	go srv.ServeConn(server)
	io.WriteString(client, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	resp, err := http.ReadResponse(bufio.NewReader(client), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != `{"body":"{}"}` || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("answer %s %s %v", resp.Status, b, resp.Header)
	}
	if rs := c.Requests(); len(rs) != 1 || rs[0].Body != "{}" || rs[0].BodySize != 2 {
		t.Errorf("Requests() = %+v", rs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.WaitRequests(ctx, 2); !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "fake: ") {
		t.Errorf("WaitRequests on a cancelled context: %v", err)
	}
}
