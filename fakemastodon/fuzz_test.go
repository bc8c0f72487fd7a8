package fakemastodon

import (
	"strings"
	"testing"
)

// FuzzPostStatus sends POST /api/v1/statuses with any body in each of the
// encodings the server reads, and checks the answer is one Mastodon gives
// (200, 400, 404 or 422: never a 500 or no answer), that a 200 made
// exactly one status within the length limit, and a refusal none.
func FuzzPostStatus(f *testing.F) {
	types := []string{"application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "text/plain"}
	f.Add(uint8(0), []byte(`{"status":"Hello","visibility":"unlisted","media_ids":["1"]}`))
	f.Add(uint8(0), []byte(`{"status":12,"sensitive":"off","media_ids":[116499205324800000],"language":"en"}`))
	f.Add(uint8(0), []byte(`{"status":"https://example.com @a@b.c","spoiler_text":"cw","poll":null}`))
	f.Add(uint8(1), []byte("status=hi%20there&media_ids[]=116499205324800000&visibility=direct"))
	f.Add(uint8(1), []byte("status=x&media_ids=1&poll[options][]=a"))
	f.Add(uint8(2), []byte("--b\r\nContent-Disposition: form-data; name=\"status\"\r\n\r\nhi\r\n--b--\r\n"))
	f.Add(uint8(3), []byte("status=hi"))
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		s, _ := newServer(t)
		// One processed upload, so media ids can be valid.
		if a := send(t, s, upload(demoAuth, "a.png", "image/png", pngImage(t, 2, 2), "")); a.status != 200 {
			t.Fatalf("upload: %d", a.status)
		}
		ctype := types[int(kind)%len(types)]
		a := send(t, s, request("POST", "/api/v1/statuses", string(body), demoAuth, "Content-Type: "+ctype))
		made := len(s.Statuses())
		switch a.status {
		case 200:
			if made != 1 {
				t.Fatalf("200 but %d statuses for %q", made, body)
			}
			st := s.Statuses()[0]
			if n := StatusLength(st.Text, st.SpoilerText, 23); n > 500 || strings.TrimSpace(st.Text) == "" && len(st.MediaIDs) == 0 {
				t.Errorf("made a status of length %d with %d media: %+v", n, len(st.MediaIDs), st)
			}
		case 400, 404, 422:
			if made != 0 {
				t.Errorf("%d but %d statuses for %q", a.status, made, body)
			}
			if !strings.HasPrefix(a.body, `{"error":"`) {
				t.Errorf("error body %q", a.body)
			}
		default:
			t.Errorf("answer %d %q (reset %v) for %s %q", a.status, a.body, a.reset, ctype, body)
		}
	})
}
