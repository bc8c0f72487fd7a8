package fakex_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"time"

	"pitweet/fakex"
	"pitweet/oauth"
)

// A test starts the emulator, trusts its CA, posts a signed tweet and waits
// for it to arrive.
func ExampleServer() {
	srv := fakex.New(fakex.DemoCredentials)
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	// The next posting request gets a 503; the retry goes through.
	srv.SetFault(fakex.Fault{Mode: fakex.Mode503, Count: 1})

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	signer := &oauth.Signer{Credentials: fakex.DemoCredentials}
	for range 2 {
		url := srv.URL() + "/2/tweets"
		sig, _ := signer.Sign(oauth.Request{Method: "POST", URL: url})
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"text":"Door opened"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", sig.Header)
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tweets, err := srv.WaitTweets(ctx, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tweets[0].API, tweets[0].Text)
	// Output:
	// 503 Service Unavailable
	// 201 Created
	// v2 Door opened
}
