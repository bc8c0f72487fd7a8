package fakex

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// The /fakex/ endpoints let another process inspect and steer a running
// server: GET /fakex/tweets, GET /fakex/requests, GET /fakex/fault and
// POST /fakex/fault. They need no signature and are not logged in Requests.

func (s *Server) controlTweets(w http.ResponseWriter, r *http.Request) {
	t := s.Tweets()
	if t == nil {
		t = []Tweet{}
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) controlRequests(w http.ResponseWriter, r *http.Request) {
	rs := s.Requests()
	if rs == nil {
		rs = []Request{}
	}
	writeJSON(w, http.StatusOK, rs)
}

func (s *Server) controlGetFault(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, faultJSON(s.Fault()))
}

// controlSetFault sets the fault from a form (mode=429&count=1&reset=60s)
// or a JSON object ({"mode":"429","count":1,"reset":"60s"}). Durations are
// Go durations ("2s", "-10m"). An empty mode clears the fault.
func (s *Server) controlSetFault(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Mode  string `json:"mode"`
		Count int    `json:"count"`
		Reset string `json:"reset"`
		Delay string `json:"delay"`
		Skew  string `json:"skew"`
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "application/json" {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil {
			http.Error(w, "fakex: fault body is not JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "fakex: fault form: "+err.Error(), http.StatusBadRequest)
			return
		}
		in.Mode, in.Reset, in.Delay, in.Skew = r.Form.Get("mode"), r.Form.Get("reset"), r.Form.Get("delay"), r.Form.Get("skew")
		if c := r.Form.Get("count"); c != "" {
			n, err := strconv.Atoi(c)
			if err != nil {
				http.Error(w, fmt.Sprintf("fakex: fault count %q is not a number", c), http.StatusBadRequest)
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
			http.Error(w, fmt.Sprintf("fakex: fault %s %q is not a duration such as 30s", d.name, d.text), http.StatusBadRequest)
			return
		}
		*d.to = v
	}
	if err := s.SetFault(f); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.logger().Info("fakex fault set", "fault", f.String())
	writeJSON(w, http.StatusOK, faultJSON(s.Fault()))
}

func faultJSON(f Fault) map[string]any {
	return map[string]any{"mode": f.Mode, "count": f.Count, "reset": f.Reset.String(),
		"delay": f.Delay.String(), "skew": f.Skew.String()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "fakex: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
