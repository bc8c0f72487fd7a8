package httpd

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"testing"
)

// upload is the media upload a Mastodon client sends, image bytes short.
const upload = "--pitweet4f1c\r\n" +
	"Content-Disposition: form-data; name=\"description\"\r\n" +
	"\r\n" +
	"A doorbell, pressed\r\n" +
	"--pitweet4f1c\r\n" +
	"Content-Disposition: form-data; name=\"file\"; filename=\"door.jpg\"\r\n" +
	"Content-Type: image/jpeg\r\n" +
	"\r\n" +
	"\xff\xd8\xff\xe0JFIF\r\n--pitweet4f1cX\r\n" +
	"--pitweet4f1c--\r\n"

const uploadType = "multipart/form-data; boundary=pitweet4f1c"

func TestParseMultipart(t *testing.T) {
	parts, err := ParseMultipart(uploadType, []byte(upload))
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts, want 2", len(parts))
	}
	if p := parts[0]; p.Name != "description" || p.Filename != "" || p.ContentType != "" || string(p.Body) != "A doorbell, pressed" {
		t.Errorf("part 1 = %+v", p)
	}
	// A line that starts like the boundary but is not one stays content.
	if p := parts[1]; p.Name != "file" || p.Filename != "door.jpg" || p.ContentType != "image/jpeg" ||
		string(p.Body) != "\xff\xd8\xff\xe0JFIF\r\n--pitweet4f1cX" {
		t.Errorf("part 2 = %+v", p)
	}

	for name, tt := range map[string]struct{ ctype, body string }{
		"preamble, padding and epilogue": {uploadType, "ignored\r\n--pitweet4f1c \t\r\n" +
			"Content-Disposition: form-data; name=a\r\n\r\n1\r\n--pitweet4f1c-- \r\nepilogue"},
		"quoted boundary":  {`multipart/form-data; boundary="a b:c"`, "--a b:c\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--a b:c--"},
		"empty content":    {uploadType, "--pitweet4f1c\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--pitweet4f1c--"},
		"RFC 2231 name":    {uploadType, "--pitweet4f1c\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%C3%A9t%C3%A9.png\r\n\r\n1\r\n--pitweet4f1c--"},
		"binary encoding":  {uploadType, "--pitweet4f1c\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: binary\r\n\r\n1\r\n--pitweet4f1c--"},
		"type in any case": {"Multipart/Form-Data; boundary=pitweet4f1c", "--pitweet4f1c\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--pitweet4f1c--"},
	} {
		if parts, err := ParseMultipart(tt.ctype, []byte(tt.body)); err != nil || len(parts) != 1 || parts[0].Name != "a" {
			t.Errorf("%s: %+v, %v", name, parts, err)
		}
	}
	if parts, _ := ParseMultipart(uploadType, []byte("--pitweet4f1c\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%C3%A9t%C3%A9.png\r\n\r\n1\r\n--pitweet4f1c--")); parts[0].Filename != "été.png" {
		t.Errorf("RFC 2231 filename %q", parts[0].Filename)
	}
}

func TestParseMultipartRefuses(t *testing.T) {
	const b = "--pitweet4f1c"
	const field = "Content-Disposition: form-data; name=a\r\n\r\n1\r\n"
	tests := []struct {
		name, ctype, body, want string
	}{
		{"not multipart", "application/json", "{}", "not multipart/form-data"},
		{"no boundary", "multipart/form-data", b + "\r\n" + field + b + "--", "boundary"},
		{"boundary too long", "multipart/form-data; boundary=" + strings.Repeat("b", 71), "", "1 to 70"},
		{"boundary character", `multipart/form-data; boundary="a{b"`, "", "does not allow"},
		{"boundary missing in body", uploadType, "hello", "has no boundary"},
		{"no close", uploadType, b + "\r\n" + field, "does not end with a boundary"},
		{"no parts", uploadType, b + "--\r\n", "no parts"},
		{"bare LF", uploadType, b + "\nContent-Disposition: form-data; name=a\n\n1\n" + b + "--", "CRLF"},
		{"no disposition", uploadType, b + "\r\nContent-Type: text/plain\r\n\r\n1\r\n" + b + "--", "no Content-Disposition"},
		{"no name", uploadType, b + "\r\nContent-Disposition: form-data; filename=x\r\n\r\n1\r\n" + b + "--", "has no name"},
		{"attachment", uploadType, b + "\r\nContent-Disposition: attachment; name=a\r\n\r\n1\r\n" + b + "--", "not form-data"},
		{"folded header", uploadType, b + "\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\n1\r\n" + b + "--", "folded"},
		{"header never ends", uploadType, b + "\r\nContent-Disposition: form-data; name=a\r\n", "do not end"},
		{"base64", uploadType, b + "\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: base64\r\n\r\nMQ==\r\n" + b + "--", "binary"},
		{"boundary as content", uploadType, b + "\r\n" + "Content-Disposition: form-data; name=a\r\n\r\n" + b + " \r\n" + field + b + "--", "begins with the boundary"},
		{"boundary in preamble", uploadType, "\n" + b + "\r\n" + b + "\r\n" + field + b + "--", "preamble has the boundary"},
		{"long preamble", uploadType, strings.Repeat("x", maxPreamble+1) + "\r\n" + b + "\r\n" + field + b + "--", "preamble over"},
		{"long padding", uploadType, b + strings.Repeat(" ", maxPadding+1) + "\r\n" + field + b + "--", "padding"},
		{"long padding on close", uploadType, b + "\r\n" + field + b + "--" + strings.Repeat("\t", maxPadding+1), "padding"},
		{"junk after close", uploadType, b + "\r\n" + field + b + "--junk", "close boundary"},
		{"too many parts", uploadType, strings.Repeat(b+"\r\n"+field, maxParts+1) + b + "--", "over 100 parts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := ParseMultipart(tt.ctype, []byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "httpd: ") {
				t.Errorf("ParseMultipart = %d parts, %v; want an httpd error containing %q", len(parts), err, tt.want)
			}
		})
	}
}

// FuzzParseMultipart reads the same body with ParseMultipart and
// mime/multipart. ParseMultipart may refuse what mime/multipart reads (it
// wants CRLF line ends, a name on every part and no folded header lines),
// but what it accepts, mime/multipart must read too, into the same parts.
func FuzzParseMultipart(f *testing.F) {
	f.Add("pitweet4f1c", []byte(upload))
	f.Add("b", []byte("pre\r\n--b \r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--b--\r\n"))
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b--"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		parts, err := ParseMultipart(`multipart/form-data; boundary="`+boundary+`"`, body)
		if err != nil {
			return
		}
		r := multipart.NewReader(bytes.NewReader(body), boundary)
		for i, want := range parts {
			p, err := r.NextRawPart()
			if err != nil {
				t.Fatalf("part %d: httpd read %+v, mime/multipart: %v", i+1, want, err)
			}
			got, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("part %d body: mime/multipart: %v", i+1, err)
			}
			if p.FormName() != want.Name || !bytes.Equal(got, want.Body) {
				t.Errorf("part %d: mime/multipart %q %q, httpd %q %q", i+1, p.FormName(), got, want.Name, want.Body)
			}
		}
		if _, err := r.NextRawPart(); !errors.Is(err, io.EOF) {
			t.Errorf("after %d parts mime/multipart finds more: %v", len(parts), err)
		}
	})
}
