package fakemastodon_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"pitweet/fakemastodon"
)

// A test starts the emulator, trusts its CA, posts a status whose answer
// is lost (the connection is reset after the status was made), retries
// with the same Idempotency-Key, and finds one status.
func ExampleServer() {
	srv := fakemastodon.New() // DemoAccount
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.SetFault(fakemastodon.Fault{Mode: fakemastodon.ModeResetAfterAccept, Count: 1})

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for attempt := 1; attempt <= 2; attempt++ {
		req, _ := http.NewRequest("POST", srv.URL()+"/api/v1/statuses", strings.NewReader(`{"status":"Door opened"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+fakemastodon.DemoAccount.Token)
		req.Header.Set("Idempotency-Key", "pitweet-1")
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println("attempt", attempt, "lost its answer")
			continue
		}
		var st struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		fmt.Println("attempt", attempt, resp.Status, st.ID == srv.Statuses()[0].ID)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sts, err := srv.WaitStatuses(ctx, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(srv.Statuses()), "status:", sts[0].Text)
	// Output:
	// attempt 1 lost its answer
	// attempt 2 200 OK true
	// 1 status: Door opened
}
