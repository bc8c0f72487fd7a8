package sender

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

const updated = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 34\r\n\r\n" + `{"id_str":"42","text":"Room 21.5"}`

// benchServer answers every connection on loopback TLS with answer, after
// reading the whole request.
func benchServer(b *testing.B, cfg *tls.Config, answer string) string {
	return listen(b, func(c net.Conn) {
		defer c.Close()
		tc := tls.Server(c, cfg)
		req, err := http.ReadRequest(bufio.NewReader(tc))
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(tc, answer)
	})
}

// BenchmarkPostLoopbackTLS is one whole post: dial, TLS handshake
// (resumed after the first), sign, write, read, decode.
func BenchmarkPostLoopbackTLS(b *testing.B) {
	for _, tt := range []struct{ api, answer string }{{"v2", created}, {"v1.1", updated}} {
		b.Run(tt.api, func(b *testing.B) {
			ca := newTestCA(b)
			addr := benchServer(b, ca.serverConfig(), tt.answer)
			c := newLoopbackClient(b, addr, ca.caFile, Config{API: tt.api})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Post(ctx, "Room 21.5 °C, 48 %"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPostLoopbackTLSFullHandshake is the same without session
// resumption: the cost of the first post after start-up.
func BenchmarkPostLoopbackTLSFullHandshake(b *testing.B) {
	ca := newTestCA(b)
	addr := benchServer(b, ca.serverConfig(), created)
	c := newLoopbackClient(b, addr, ca.caFile, Config{})
	c.tr.tls.ClientSessionCache = nil
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Post(ctx, "Room 21.5 °C, 48 %"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildPost is signing plus writing the request bytes.
func BenchmarkBuildPost(b *testing.B) {
	for _, api := range []string{"v2", "v1.1"} {
		b.Run(api, func(b *testing.B) {
			c, err := New(Config{API: api, Proxy: "none"}, testCreds)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.BuildPost(goldenText, goldenNonce, goldenTimestamp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadResponse(b *testing.B) {
	for _, tt := range []struct{ name, raw string }{
		{"content-length", readResponseTests[0].raw},
		{"chunked", readResponseTests[3].raw},
	} {
		b.Run(tt.name, func(b *testing.B) {
			r := strings.NewReader(tt.raw)
			br := bufio.NewReader(r)
			b.SetBytes(int64(len(tt.raw)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(tt.raw)
				br.Reset(r)
				if _, err := ReadResponse(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
