package fakex

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"pitweet/httpd"
	"pitweet/oauth"
)

// The /fakex/ endpoints let another process inspect and steer a running
// server: GET /fakex/tweets, GET /fakex/requests, GET /fakex/fault and
// POST /fakex/fault. They need no signature and are not logged in Requests.

func (s *Server) controlTweets(w *httpd.Response, r *httpd.Request) {
	t := s.Tweets()
	if t == nil {
		t = []Tweet{}
	}
	writeJSON(w, 200, t)
}

func (s *Server) controlRequests(w *httpd.Response, r *httpd.Request) {
	rs := s.Requests()
	if rs == nil {
		rs = []Request{}
	}
	writeJSON(w, 200, rs)
}

func (s *Server) controlGetFault(w *httpd.Response, r *httpd.Request) {
	writeJSON(w, 200, faultJSON(s.Fault()))
}

// controlSetFault sets the fault from a form (mode=429&count=1&reset=60s)
// or a JSON object ({"mode":"429","count":1,"reset":"60s"}). Durations are
// Go durations ("2s", "-10m"). An empty mode clears the fault.
func (s *Server) controlSetFault(w *httpd.Response, r *httpd.Request) {
	var in struct {
		Mode  string `json:"mode"`
		Count int    `json:"count"`
		Reset string `json:"reset"`
		Delay string `json:"delay"`
		Skew  string `json:"skew"`
	}
	if httpd.MediaType(r.Header.Get("Content-Type")) == "application/json" {
		if err := json.Unmarshal(r.Body, &in); err != nil {
			textError(w, 400, "fakex: fault body is not JSON: "+err.Error())
			return
		}
	} else {
		form := form(r)
		in.Mode, in.Reset, in.Delay, in.Skew = formValue(form, "mode"), formValue(form, "reset"), formValue(form, "delay"), formValue(form, "skew")
		if c := formValue(form, "count"); c != "" {
			n, err := strconv.Atoi(c)
			if err != nil {
				textError(w, 400, fmt.Sprintf("fakex: fault count %q is not a number", c))
				return
			}
			in.Count = n
		}
	}
	f := Fault{Mode: in.Mode, Count: in.Count}
	for _, d := range []struct {
		name string
		text string
		to   *time.Duration
	}{{"reset", in.Reset, &f.Reset}, {"delay", in.Delay, &f.Delay}, {"skew", in.Skew, &f.Skew}} {
		if d.text == "" {
			continue
		}
		v, err := time.ParseDuration(d.text)
		if err != nil {
			textError(w, 400, fmt.Sprintf("fakex: fault %s %q is not a duration such as 30s", d.name, d.text))
			return
		}
		*d.to = v
	}
	if err := s.SetFault(f); err != nil {
		textError(w, 400, err.Error())
		return
	}
	s.logger().Info("fakex fault set", "fault", f.String())
	writeJSON(w, 200, faultJSON(s.Fault()))
}

// form returns the parameters of an application/x-www-form-urlencoded body
// followed by those of the query, decoded.
func form(r *httpd.Request) []oauth.Param {
	var params []oauth.Param
	if httpd.MediaType(r.Header.Get("Content-Type")) == "application/x-www-form-urlencoded" {
		params = oauth.ParseQuery(string(r.Body))
	}
	return append(params, oauth.ParseQuery(r.RawQuery)...)
}

// formValue returns the first value of the named parameter, or "".
func formValue(params []oauth.Param, name string) string {
	for _, p := range params {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

func faultJSON(f Fault) map[string]any {
	return map[string]any{"mode": f.Mode, "count": f.Count, "reset": f.Reset.String(),
		"delay": f.Delay.String(), "skew": f.Skew.String()}
}

func writeJSON(w *httpd.Response, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		textError(w, 500, "fakex: "+err.Error())
		return
	}
	w.Header.Set("Content-Type", "application/json; charset=utf-8")
	w.Write(status, append(body, '\n'))
}

// textError answers with status and a line of plain text.
func textError(w *httpd.Response, status int, text string) {
	w.Header.Set("Content-Type", "text/plain; charset=utf-8")
	w.Header.Set("X-Content-Type-Options", "nosniff")
	w.Write(status, []byte(text+"\n"))
}
