package mastodon

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"pitweet/sender"
)

// FuzzDecode feeds answers to every decoder of the server's answers and
// to the classification of refusals: none may panic, a success decoder
// returns a value or an *APIError, and a refusal always has a kind and a
// one-line message.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{\"id\":\"1\",\"url\":\"https://m.example/@a/1\"}",
		"HTTP/1.1 200 OK\r\nContent-Length: 68\r\n\r\n{\"configuration\":{\"statuses\":{\"max_characters\":1000},\"media_attachments\":{}}}",
		"HTTP/1.1 202 Accepted\r\nContent-Length: 24\r\n\r\n{\"id\":\"5\",\"url\":null}  ",
		"HTTP/1.1 422 Unprocessable Content\r\nContent-Length: 59\r\n\r\n{\"error\":\"Validation failed: Text character limit of 500 exceeded\"}",
		"HTTP/1.1 422 Unprocessable Content\r\nContent-Length: 84\r\n\r\n{\"error\":\"Cannot attach files that have not finished processing. Try again in a moment!\"}",
		"HTTP/1.1 429 Too Many Requests\r\nX-RateLimit-Reset: 2026-01-02T03:05:00.000000Z\r\nDate: Fri, 02 Jan 2026 03:00:00 GMT\r\nContent-Length: 30\r\n\r\n{\"error\":\"Too many requests\"}",
		"HTTP/1.1 401 Unauthorized\r\nContent-Length: 41\r\n\r\n{\"error\":\"The access token is invalid\"}",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
		"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>",
	} {
		f.Add([]byte(seed))
	}
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := sender.ReadResponse(bufio.NewReader(strings.NewReader(string(data))))
		if err != nil {
			return
		}
		for _, decode := range []func(*sender.Response) error{
			func(r *sender.Response) error { _, err := decodeStatus(r); return err },
			func(r *sender.Response) error { _, err := decodeAccount(r); return err },
			func(r *sender.Response) error { _, err := decodeAttachment(r); return err },
			func(r *sender.Response) error { _, err := decodeInstance(r); return err },
		} {
			if err := decode(resp); err != nil {
				if _, ok := err.(*sender.APIError); !ok {
					t.Fatalf("decoder error %T %v", err, err)
				}
			}
		}
		if in, err := decodeInstance(resp); err == nil && (in.MaxCharacters <= 0 || in.CharactersPerURL <= 0 || in.MaxMediaAttachments <= 0) {
			t.Fatalf("instance with a limit of nothing: %+v", in)
		}
		e := classify(resp, now)
		msg := e.Error()
		if !strings.HasPrefix(msg, "sender: Mastodon answered ") {
			t.Fatalf("message %q", msg)
		}
		if e.Kind == sender.KindRateLimited && (e.RetryAt.Before(now) || e.RetryAt.After(now.Add(sender.MaxRetryWait))) {
			t.Fatalf("retry at %v", e.RetryAt)
		}
		PlainText(string(resp.Body))
	})
}
