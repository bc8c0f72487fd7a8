package sender

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A hostile or broken server cannot make pitweet wait more than
// MaxRetryWait, and a reset on a server clock that is off is read from the
// server's own Date.
func TestRateLimitWaitIsBounded(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	date := func(t time.Time) string { return t.Format(time.RFC1123) }
	unix := func(t time.Time) string { return fmt.Sprint(t.Unix()) }
	year := 365 * 24 * time.Hour
	tests := []struct {
		name    string
		headers string
		want    time.Time     // RetryAt, on the same clock as now
		asked   time.Duration // the wait asked for, when capped
	}{
		{"reset a year away", "Date: " + date(now) + "\r\nx-rate-limit-reset: " + unix(now.Add(year)) + "\r\n",
			now.Add(MaxRetryWait), year},
		{"reset a year away, no Date", "x-rate-limit-reset: " + unix(now.Add(year)) + "\r\n",
			now.Add(MaxRetryWait), year},
		{"24-hour allowance reset a year away", "Date: " + date(now) + "\r\nx-rate-limit-reset: " + unix(now.Add(time.Minute)) +
			"\r\nx-user-limit-24hour-remaining: 0\r\nx-user-limit-24hour-reset: " + unix(now.Add(year)) + "\r\n",
			now.Add(MaxRetryWait), year},
		{"Retry-After date a year away", "Date: " + date(now) + "\r\nRetry-After: " + date(now.Add(year)) + "\r\n",
			now.Add(MaxRetryWait), year},
		{"Retry-After seconds, a year", "Retry-After: " + fmt.Sprint(int(year.Seconds())) + "\r\n",
			now.Add(MaxRetryWait), year},
		{"Retry-After seconds, more than an int64 holds", "Retry-After: 99999999999999999999999\r\n",
			now.Add(MaxRetryWait), time.Duration(math.MaxInt64)},
		{"server clock 2 h ahead, reset a minute after its Date", "Date: " + date(now.Add(2*time.Hour)) +
			"\r\nx-rate-limit-reset: " + unix(now.Add(2*time.Hour+time.Minute)) + "\r\n",
			now.Add(time.Minute), 0},
		{"server clock a day behind, reset a minute after its Date", "Date: " + date(now.Add(-24*time.Hour)) +
			"\r\nx-rate-limit-reset: " + unix(now.Add(-24*time.Hour+time.Minute)) + "\r\n",
			now.Add(time.Minute), 0},
		{"reset already past on the server's clock", "Date: " + date(now) + "\r\nx-rate-limit-reset: " + unix(now.Add(-time.Hour)) + "\r\n",
			now, 0},
		{"reset 15 minutes away", "Date: " + date(now) + "\r\nx-rate-limit-reset: " + unix(now.Add(15*time.Minute)) + "\r\n",
			now.Add(15 * time.Minute), 0},
		{"nothing said", "", now.Add(15 * time.Minute), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answer := "HTTP/1.1 429 Too Many Requests\r\n" + tt.headers + "Content-Length: 2\r\n\r\n{}"
			c, _ := newPipeClient(t, "v2", answer)
			c.now = func() time.Time { return now }
			_, err := c.Post(context.Background(), "hi")
			var ae *APIError
			if !errors.As(err, &ae) || ae.Kind != KindRateLimited {
				t.Fatalf("Post error %v; want a rate-limit APIError", err)
			}
			if !ae.RetryAt.Equal(tt.want) || ae.AskedWait != tt.asked {
				t.Errorf("RetryAt %v (asked %v); want %v (asked %v)", ae.RetryAt, ae.AskedWait, tt.want, tt.asked)
			}
			capped := strings.Contains(err.Error(), "capped at 24h")
			if capped != (tt.asked != 0) {
				t.Errorf("error %q: says capped %v, want %v", err, capped, tt.asked != 0)
			}
		})
	}
}

// A server that answers with interim responses and never a final one is
// refused after a few, not waited on until the request's deadline.
func TestEndlessInterimResponsesRefused(t *testing.T) {
	ca := newTestCA(t)
	sent := make(chan int, 1)
	addr := listen(t, func(c net.Conn) {
		defer c.Close()
		tc := tls.Server(c, ca.serverConfig())
		if _, err := http.ReadRequest(bufio.NewReader(tc)); err != nil {
			return
		}
		n := 0
		for ; n < 10000; n++ {
			if _, err := io.WriteString(tc, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
				break
			}
		}
		sent <- n
	})
	c := newLoopbackClient(t, addr, ca.caFile, Config{Timeout: time.Minute})
	_, err := c.Post(context.Background(), "hi")
	if !errors.Is(err, ErrProtocol) || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "interim") {
		t.Fatalf("Post error %v; want a protocol error about interim responses", err)
	}
	if n := <-sent; n >= 10000 {
		t.Errorf("the client read all %d interim responses", n)
	}
}
