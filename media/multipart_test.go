package media

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// uploadBody is X's one-request upload of a picture, with a fixed
// boundary.
func uploadBody(t *testing.T, content []byte) (*Multipart, string) {
	t.Helper()
	p := writeFile(t, t.TempDir(), "photo.jpg", content)
	m, err := NewMultipartBoundary("pitweet-explain", []Field{{"media_category", "tweet_image"}},
		[]FilePart{{Name: "media", Filename: "photo.jpg", ContentType: "image/jpeg", Path: p, Size: int64(len(content))}})
	if err != nil {
		t.Fatal(err)
	}
	return m, p
}

func readBody(t *testing.T, m *Multipart) []byte {
	t.Helper()
	r, err := m.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The bytes on the wire, exactly.
func TestMultipartWire(t *testing.T) {
	m, _ := uploadBody(t, []byte("\xff\xd8JPEG\r\n--pitweet-explai\xff\xd9"))
	want := "--pitweet-explain\r\n" +
		"Content-Disposition: form-data; name=\"media_category\"\r\n" +
		"\r\n" +
		"tweet_image\r\n" +
		"--pitweet-explain\r\n" +
		"Content-Disposition: form-data; name=\"media\"; filename=\"photo.jpg\"\r\n" +
		"Content-Type: image/jpeg\r\n" +
		"\r\n" +
		"\xff\xd8JPEG\r\n--pitweet-explai\xff\xd9\r\n" +
		"--pitweet-explain--\r\n"
	got := readBody(t, m)
	if string(got) != want {
		t.Errorf("body:\n%q\nwant\n%q", got, want)
	}
	if m.ContentLength() != int64(len(want)) {
		t.Errorf("ContentLength = %d, the body has %d bytes", m.ContentLength(), len(want))
	}
	if ct := m.ContentType(); ct != "multipart/form-data; boundary=pitweet-explain" {
		t.Errorf("ContentType = %q", ct)
	}
	var b bytes.Buffer
	if n, err := m.WriteTo(&b); err != nil || n != int64(len(want)) || b.String() != want {
		t.Errorf("WriteTo = %d, %v; %q", n, err, b.Bytes())
	}
}

// mime/multipart reads back what was laid out: several fields and files,
// with quotes and backslashes in their names, a field value with line
// breaks, and a file of a few MB read from disk.
func TestMultipartOracle(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // 4.8 MB
	small := []byte{0, 1, 2, 0xff, '\r', '\n', '-', '-'}
	bigPath := writeFile(t, dir, "big.jpg", big)
	smallPath := writeFile(t, dir, "small.bin", small)
	fields := []Field{{"media_category", "tweet_image"}, {`alt "text"`, "a line\r\nand another\n"}, {`back\slash`, ""}}
	files := []FilePart{
		{Name: "media", Filename: "dürer \"1\".jpg", ContentType: "image/jpeg", Path: bigPath, Size: int64(len(big))},
		{Name: "extra", Filename: "small.bin", Path: smallPath, Size: int64(len(small))},
	}
	m, err := NewMultipart(fields, files)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, m)
	if int64(len(body)) != m.ContentLength() {
		t.Fatalf("read %d bytes, ContentLength %d", len(body), m.ContentLength())
	}
	r := multipart.NewReader(bytes.NewReader(body), m.Boundary())
	for _, f := range fields {
		p, err := r.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		v, _ := io.ReadAll(p)
		if p.FormName() != f.Name || string(v) != f.Value || p.FileName() != "" {
			t.Errorf("field %q = %q, want %q = %q", p.FormName(), v, f.Name, f.Value)
		}
	}
	for _, f := range append(files, FilePart{}) {
		p, err := r.NextPart()
		if f.Name == "" {
			if err != io.EOF {
				t.Errorf("after the last part: %v, want io.EOF", err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		v, _ := io.ReadAll(p)
		want, _ := os.ReadFile(f.Path)
		ct := f.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		if p.FormName() != f.Name || p.FileName() != f.Filename || p.Header.Get("Content-Type") != ct || !bytes.Equal(v, want) {
			t.Errorf("file %q (%q, %q, %d bytes), want %q (%q, %q, %d bytes)", p.FormName(), p.FileName(), p.Header.Get("Content-Type"), len(v), f.Name, f.Filename, ct, len(want))
		}
	}
}

// A retry reads the same body again, from the disk.
func TestMultipartReplays(t *testing.T) {
	m, _ := uploadBody(t, bytes.Repeat([]byte{7}, 100_000))
	first, second := readBody(t, m), readBody(t, m)
	if !bytes.Equal(first, second) || int64(len(first)) != m.ContentLength() {
		t.Errorf("two reads differ (%d and %d bytes)", len(first), len(second))
	}
}

// A file that changed size since the body was laid out never yields a
// body of another length: Open refuses it, or reading fails.
func TestMultipartFileChanged(t *testing.T) {
	m, p := uploadBody(t, bytes.Repeat([]byte{7}, 100_000))
	os.WriteFile(p, bytes.Repeat([]byte{7}, 99_999), 0o644)
	if _, err := m.Open(); err == nil || !strings.Contains(err.Error(), "is now 99999 bytes, not the 100000") {
		t.Errorf("Open after the file shrank: %v", err)
	}
	os.Remove(p)
	if _, err := m.Open(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open after the file went: %v", err)
	}

	// Shrinking while the body is read: between Open and the file's turn.
	m, p = uploadBody(t, bytes.Repeat([]byte{7}, 100_000))
	r, err := m.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	head := make([]byte, 10)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, bytes.Repeat([]byte{7}, 50_000), 0o644)
	n, err := io.Copy(io.Discard, r)
	if err == nil || int64(n)+10 >= m.ContentLength() {
		t.Errorf("read %d more bytes (%v) from a body whose file shrank", n, err)
	}

	// Truncated after the file was opened: the read stops short.
	m, p = uploadBody(t, bytes.Repeat([]byte{7}, 100_000))
	r, _ = m.Open()
	defer r.Close()
	head = make([]byte, 300) // into the file
	io.ReadFull(r, head)
	os.Truncate(p, 1000)
	_, err = io.Copy(io.Discard, r)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "ended 99000 bytes early") {
		t.Errorf("reading a file truncated under it: %v", err)
	}
	// The stream stays broken: it does not go on to the closing boundary.
	if n, again := r.Read(make([]byte, 100)); n != 0 || again != err {
		t.Errorf("a Read after the error: %d bytes, %v", n, again)
	}
}

func TestMultipartRefuses(t *testing.T) {
	p := writeFile(t, t.TempDir(), "a", []byte("x"))
	file := FilePart{Name: "media", Filename: "a.jpg", ContentType: "image/jpeg", Path: p, Size: 1}
	for _, tt := range []struct {
		boundary string
		fields   []Field
		files    []FilePart
		want     string
	}{
		{"", nil, []FilePart{file}, `bad multipart boundary ""`},
		{strings.Repeat("b", 71), nil, []FilePart{file}, "bad multipart boundary"},
		{"with space", nil, []FilePart{file}, "bad multipart boundary"},
		{"b", []Field{{"a\r\nX-Injected: 1", "v"}}, nil, "contains a control character"},
		{"b", []Field{{"", "v"}}, nil, "field name is empty"},
		{"b", []Field{{"a", "x\r\n--b\r\n"}}, nil, "contains the multipart boundary"},
		{"b", nil, []FilePart{{Name: "m", Filename: "a\nb", Path: p, Size: 1}}, "file name"},
		{"b", nil, []FilePart{{Name: "m", ContentType: "image/jpeg\r\nX: 1", Path: p, Size: 1}}, "content type"},
		{"b", nil, []FilePart{{Name: "m", Path: "", Size: 1}}, "has no file"},
		{"b", nil, nil, "at least one part"},
	} {
		_, err := NewMultipartBoundary(tt.boundary, tt.fields, tt.files)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "media: ") {
			t.Errorf("NewMultipartBoundary(%q, %q, %v) = %v, want an error about %s", tt.boundary, tt.fields, tt.files, err, tt.want)
		}
	}
}

func TestMultipartRandomBoundary(t *testing.T) {
	p := writeFile(t, t.TempDir(), "a", []byte("x"))
	files := []FilePart{{Name: "media", Filename: "a.jpg", Path: p, Size: 1}}
	a, err := NewMultipart(nil, files)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewMultipart(nil, files)
	valid := regexp.MustCompile(`^pitweet-[A-Z2-7]{26}$`)
	if a.Boundary() == b.Boundary() || !valid.MatchString(a.Boundary()) {
		t.Errorf("boundaries %q and %q: want two different pitweet-<26 base32 characters>", a.Boundary(), b.Boundary())
	}
}

// The layout for pitweet explain: the lines as they go, the picture's
// bytes replaced by their count.
func TestMultipartLayout(t *testing.T) {
	m, p := uploadBody(t, bytes.Repeat([]byte{1}, 4_999_000))
	m2, err := NewMultipartBoundary("pitweet-explain", []Field{{"note", "tab\there\x00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "--pitweet-explain⏎\n" +
		"Content-Disposition: form-data; name=\"media_category\"⏎\n" +
		"⏎\n" +
		"tweet_image⏎\n" +
		"--pitweet-explain⏎\n" +
		"Content-Disposition: form-data; name=\"media\"; filename=\"photo.jpg\"⏎\n" +
		"Content-Type: image/jpeg⏎\n" +
		"⏎\n" +
		"[4,999,000 bytes of image/jpeg, read from " + p + " when sent]⏎\n" +
		"--pitweet-explain--⏎\n"
	if got := m.Layout(); got != want {
		t.Errorf("Layout:\n%s\nwant\n%s", got, want)
	}
	if got := m2.Layout(); !strings.Contains(got, "\ntab\\there\\x00⏎\n") {
		t.Errorf("Layout of a field with control characters:\n%s", got)
	}
	if filepath.Base(p) != "photo.jpg" {
		t.Fatal(p)
	}
}
