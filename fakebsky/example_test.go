package fakebsky_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"pitweet/fakebsky"
)

// A test starts the emulator, logs in with the app password, posts with a
// fixed rkey while the connection is reset after the record was stored,
// meets the PDS's 500 on the retry, and finds the post with getRecord.
func ExampleServer() {
	srv := fakebsky.New() // DemoAccount
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	call := func(method, nsid, token, body string) (string, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL()+"/xrpc/"+nsid, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return "no answer", nil
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.Status, out
	}

	_, sess := call("POST", "com.atproto.server.createSession", "",
		`{"identifier":"`+fakebsky.DemoAccount.Handle+`","password":"`+fakebsky.DemoAccount.AppPassword+`"}`)
	access := sess["accessJwt"].(string)

	srv.SetFault(fakebsky.Fault{Mode: fakebsky.ModeResetAfterAccept, Count: 1})
	post := `{"repo":"` + fakebsky.DemoAccount.DID + `","collection":"app.bsky.feed.post","rkey":"3lq2xk5j4hc2a",` +
		`"record":{"$type":"app.bsky.feed.post","text":"Door opened","createdAt":"2026-05-01T12:00:00.000Z"}}`
	for range 2 {
		status, out := call("POST", "com.atproto.repo.createRecord", access, post)
		fmt.Println(status, out["error"])
	}
	status, out := call("GET", "com.atproto.repo.getRecord?repo="+fakebsky.DemoAccount.DID+"&collection=app.bsky.feed.post&rkey=3lq2xk5j4hc2a", "", "")
	fmt.Println(status, out["value"].(map[string]any)["text"])

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	posts, _ := srv.WaitPosts(ctx, 1)
	fmt.Println(len(posts), "post:", posts[0].Text)
	// Output:
	// no answer <nil>
	// 500 Internal Server Error InternalServerError
	// 200 OK Door opened
	// 1 post: Door opened
}
