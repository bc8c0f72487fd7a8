// Package emulator holds what the service emulators fakemastodon and
// fakebsky share: HTTPS on loopback through package httpd, the log of the
// requests they saw, faults on request (rate limits, server errors, slow
// and hung answers, a connection reset after the post was made), and the
// control endpoints through which another process inspects and steers a
// running emulator.
//
// An emulator embeds a *Core, hands each API request to Begin, and answers
// through the returned Exchange, which records the outcome and applies the
// fault that was taken for the request.
package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"pitweet/httpd"
)

// A Request is one request to an emulated API, as the emulator saw it.
type Request struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query,omitempty"`
	// Account is who the request authenticated as (a username or DID),
	// "" before or without authentication.
	Account string    `json:"account,omitempty"`
	At      time.Time `json:"at"` // arrival, by the emulator's clock
	// Header holds the request's header fields, the credentials in
	// Authorization masked.
	Header httpd.Header `json:"header"`
	// Body is the request body when it is text (JSON, a form) of at most
	// 64 KiB and holds no password; BodySize is its size in bytes in any
	// case.
	Body     string `json:"body,omitempty"`
	BodySize int    `json:"body_size"`
	// Status is the HTTP status answered; 0 while the request is being
	// handled, and for a reset or hung connection.
	Status int    `json:"status"`
	Fault  string `json:"fault,omitempty"`  // fault mode applied, if any
	Reason string `json:"reason,omitempty"` // why it was refused or cut, or what was made
}

// maxLoggedBody bounds the body kept in a Request.
const maxLoggedBody = 64 << 10

// A Core is the shared part of an emulator. Set its exported fields
// before Start; they must not change while it serves.
type Core struct {
	// Name names the emulator in errors, logs, the certificate and the
	// control endpoints (/NAME/requests, /NAME/fault).
	Name string
	// PostPath is the path a Fault with no Path applies to: the
	// emulator's posting endpoint.
	PostPath string
	// Logger receives one line per request at debug level; nil discards.
	Logger *slog.Logger
	// Now is the emulator's clock; nil means time.Now.
	Now func() time.Time
	// SecretBody reports whether the body of a request to path holds a
	// secret (a password), so that Requests does not keep it.
	SecretBody func(path string) bool

	http httpd.Server

	mu       sync.Mutex
	requests []Request
	faults   []Fault
	changed  chan struct{} // closed and replaced on every change a waiter may want
}

// Start serves handler over HTTPS on addr (such as "127.0.0.1:0") with a
// freshly generated certificate authority. maxBody bounds a request body
// (0: httpd.DefaultMaxBody); refused answers requests that could not be
// read, in the service's own error format (nil: plain text).
func (c *Core) Start(addr string, maxBody int, handler func(*httpd.Response, *httpd.Request), refused func(*httpd.Response, int, string)) error {
	c.setup(maxBody, handler, refused)
	if err := c.http.StartTLS(addr); err != nil {
		return err
	}
	c.Log().Info(c.Name+" listening", "url", c.URL())
	return nil
}

// Server returns the HTTP server set up as Start would set it up, without
// listening: tests serve raw requests with its ServeConn.
func (c *Core) Server(maxBody int, handler func(*httpd.Response, *httpd.Request), refused func(*httpd.Response, int, string)) *httpd.Server {
	c.setup(maxBody, handler, refused)
	return &c.http
}

func (c *Core) setup(maxBody int, handler func(*httpd.Response, *httpd.Request), refused func(*httpd.Response, int, string)) {
	c.http.Name = c.Name
	c.http.Logger = c.Logger
	c.http.MaxBody = maxBody
	c.http.Handler = handler
	c.http.Refused = refused
}

// URL returns the base URL to give clients, such as https://127.0.0.1:43117,
// or "" before Start.
func (c *Core) URL() string { return c.http.URL() }

// CAPEM returns the PEM certificate of the authority that signed the
// server's certificate (nil before Start).
func (c *Core) CAPEM() []byte { return c.http.CAPEM() }

// WriteCA writes CAPEM to path, for clients that take a CA file.
func (c *Core) WriteCA(path string) error { return c.http.WriteCA(path) }

// Close stops the server: it closes the listener and every connection,
// releases requests held by ModeHang or ModeSlow, and returns once every
// connection is done with.
func (c *Core) Close() error { return c.http.Close() }

// Log returns the logger, never nil.
func (c *Core) Log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Clock returns the emulator's time now.
func (c *Core) Clock() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// Requests returns every API request seen so far, refused ones included,
// oldest first. Requests to the control endpoints are not listed.
func (c *Core) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

// WaitRequests waits until at least n API requests have arrived (their
// Status may still be 0: being handled) and returns them all, or returns
// ctx's error.
func (c *Core) WaitRequests(ctx context.Context, n int) ([]Request, error) {
	var rs []Request
	err := c.WaitFor(ctx, fmt.Sprintf("%d requests", n), func() bool {
		rs = c.Requests()
		return len(rs) >= n
	})
	return rs, err
}

// WaitFor waits until cond reports true, evaluating it after every change
// the emulator announces with Notify, or returns ctx's error. what names
// the wait in that error.
func (c *Core) WaitFor(ctx context.Context, what string, cond func() bool) error {
	for {
		// Taken before cond runs: a change after cond looked closes it.
		changed := c.changes()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %s: %w", c.Name, what, ctx.Err())
		}
	}
}

func (c *Core) changes() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

// Notify wakes every WaitFor, to look again.
func (c *Core) Notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notify()
}

// notify wakes every waiter. c.mu must be held.
func (c *Core) notify() {
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
}

// An Exchange is one API request being answered.
type Exchange struct {
	W     *httpd.Response
	R     *httpd.Request
	Now   time.Time // the emulator's clock when the request arrived
	Fault Fault     // the fault taken for this request; the zero Fault for none

	core *Core
	at   int // index in core.requests
}

// Begin records the arrival of an API request and takes the fault that
// applies to it, if any.
func (c *Core) Begin(w *httpd.Response, r *httpd.Request) *Exchange {
	now := c.Clock()
	logged := Request{Method: r.Method, Path: r.Path, Query: r.RawQuery, At: now,
		Header: maskedHeader(r.Header), BodySize: len(r.Body)}
	switch httpd.MediaType(r.Header.Get("Content-Type")) {
	case "application/json", "application/x-www-form-urlencoded", "text/plain":
		if len(r.Body) <= maxLoggedBody && (c.SecretBody == nil || !c.SecretBody(r.Path)) {
			logged.Body = string(r.Body)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ex := &Exchange{W: w, R: r, Now: now, core: c, at: len(c.requests)}
	ex.Fault = c.takeFault(r.Path)
	logged.Fault = ex.Fault.Mode
	c.requests = append(c.requests, logged)
	c.notify()
	return ex
}

// maskedHeader copies h with the credentials in Authorization replaced by
// "***", keeping the scheme.
func maskedHeader(h httpd.Header) httpd.Header {
	out := httpd.Header{}
	for name, values := range h {
		for _, v := range values {
			if name == "Authorization" {
				scheme, _, _ := strings.Cut(v, " ")
				v = scheme + " ***"
			}
			out[name] = append(out[name], v)
		}
	}
	return out
}

// SetAccount records who the request authenticated as.
func (ex *Exchange) SetAccount(account string) {
	ex.core.mu.Lock()
	ex.core.requests[ex.at].Account = account
	ex.core.mu.Unlock()
}

// finish records how the exchange ended.
func (ex *Exchange) finish(status int, reason string) {
	c := ex.core
	c.mu.Lock()
	c.requests[ex.at].Status = status
	c.requests[ex.at].Reason = reason
	req := c.requests[ex.at]
	c.notify()
	c.mu.Unlock()
	c.Log().Debug(c.Name+" request", "method", req.Method, "path", req.Path, "status", status,
		"fault", req.Fault, "reason", reason)
}

// Reply answers with status and body (JSON unless the handler set another
// Content-Type) and the emulator's Date, and records the outcome with
// reason. Under ModeResetAfterAccept a 2xx answer is not sent: the
// connection is reset instead, after whatever the request made was kept.
func (ex *Exchange) Reply(status int, body []byte, reason string) {
	h := ex.W.Header
	h.Set("Date", ex.Now.UTC().Format(httpd.TimeFormat))
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	if ex.Fault.Mode == ModeResetAfterAccept && status >= 200 && status < 300 {
		if reason == "" {
			reason = "accepted"
		}
		ex.finish(0, reason+"; connection reset instead of the answer")
		ex.W.Drop(true)
		return
	}
	// Recorded first, so that a client holding the answer finds it in
	// Requests.
	ex.finish(status, reason)
	ex.W.Write(status, body)
}

// JSON answers with status and v as JSON through Reply.
func (ex *Exchange) JSON(status int, v any, reason string) {
	body, err := json.Marshal(v)
	if err != nil {
		ex.core.Log().Error(ex.core.Name+": encoding an answer", "err", err)
		status, body = 500, []byte(`{"error":"encoding the answer failed"}`)
	}
	ex.Reply(status, body, reason)
}

// Before applies the faults that act before the emulator looks at the
// request: ModeHang holds it until the client or the server gives up;
// ModeSlow waits Delay; Mode429, Mode500 and Mode503 call answer with the
// status (and, for 429, when the limit resets), which must answer through
// Reply. It reports whether the request should still be handled.
func (ex *Exchange) Before(answer func(status int, reset time.Time)) bool {
	switch ex.Fault.Mode {
	case ModeHang:
		<-ex.R.Hold(0)
		ex.W.Drop(false)
		ex.finish(0, "hung until "+ex.R.Abandoned())
		return false
	case ModeSlow:
		if <-ex.R.Hold(ex.Fault.Delay); ex.R.Abandoned() != "" {
			ex.W.Drop(false)
			ex.finish(0, "slow answer abandoned: "+ex.R.Abandoned())
			return false
		}
	case Mode429:
		answer(429, ex.Now.Add(ex.Fault.reset()))
		return false
	case Mode500:
		answer(500, time.Time{})
		return false
	case Mode503:
		answer(503, time.Time{})
		return false
	}
	return true
}

// Control serves the control endpoints, GET /NAME/requests, GET /NAME/fault
// and POST /NAME/fault, and reports whether r was for one of them. They
// need no credentials and are not logged in Requests.
func (c *Core) Control(w *httpd.Response, r *httpd.Request) bool {
	switch r.Method + " " + r.Path {
	case "GET /" + c.Name + "/requests":
		rs := c.Requests()
		if rs == nil {
			rs = []Request{}
		}
		WriteJSON(w, 200, rs)
	case "GET /" + c.Name + "/fault":
		WriteJSON(w, 200, c.Fault())
	case "POST /" + c.Name + "/fault":
		c.controlSetFault(w, r)
	default:
		return false
	}
	return true
}

// WriteJSON answers a control request with v as indented JSON.
func WriteJSON(w *httpd.Response, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		TextError(w, 500, err.Error())
		return
	}
	w.Header.Set("Content-Type", "application/json; charset=utf-8")
	w.Write(status, append(body, '\n'))
}

// TextError answers a control request with status and a line of plain
// text.
func TextError(w *httpd.Response, status int, text string) {
	w.Header.Set("Content-Type", "text/plain; charset=utf-8")
	w.Header.Set("X-Content-Type-Options", "nosniff")
	w.Write(status, []byte(text+"\n"))
}
