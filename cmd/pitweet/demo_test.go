package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"pitweet/config"
	"pitweet/fakex"
	"pitweet/oauth"
)

// The demo's buttons give each press a text of its own, as check sees it.
func TestDemoTextsAreDistinct(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := writeCredentials(creds, fakex.DemoCredentials); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "pitweet.toml")
	text := fmt.Sprintf(demoConfig, filepath.Join(dir, "state"), "https://127.0.0.1:1", "", creds)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := config.Check(context.Background(), cfgPath, config.CheckOptions{})
	for _, r := range rep.Results {
		if r.Err != nil {
			t.Errorf("%s", r)
		}
	}
}

// writeCredentials writes creds as a credentials file readable by its
// owner only.
func writeCredentials(path string, c oauth.Credentials) error {
	text := fmt.Sprintf("api_key=%s\napi_secret=%s\naccess_token=%s\naccess_secret=%s\n",
		c.ConsumerKey, c.ConsumerSecret, c.Token, c.TokenSecret)
	return os.WriteFile(path, []byte(text), 0o600)
}

// TestDemo runs the demo: it logs in through fakex's PIN flow, then the
// daemon posts with the access token that login wrote.
func TestDemo(t *testing.T) {
	t.Parallel()
	code, out, errOut := runPitweet(t, "demo")
	if code != 0 {
		t.Fatalf("pitweet demo: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, re := range []string{
		`pitweet login: request token from POST /oauth/request_token \(oauth_callback="oob" signed\); authorize at\n    https://127\.0\.0\.1:\d+/oauth/authorize\?oauth_token=\w+\n`,
		`fakex approves at once, .* and shows PIN (\d{7})\n`,
		`pitweet login: POST /oauth/access_token with oauth_verifier=\d{7} signed: logged in as @pitweet_demo; the access token is in \S+/credentials\n`,
		`fakex accepted tweet \d+: Ding dong #1 at .* — signature verified\n`,
		`fakemastodon accepted status \d+ \(unlisted, image/jpeg 1280x720 with alt text, Idempotency-Key pitweet-\S+\): Ding dong #1 at .*\n`,
		`  mastodon: \d+ waiting; .*; limits: 500 characters; \d+ of \d+ requests left until`,
		`fakebsky accepted post https://bsky\.app/profile/pitweet-demo\.test/post/[2-7a-z]{13}: Ding dong #1 at .* — record checked against app\.bsky\.feed\.post\n`,
		`(?m)^accounts:\n  bluesky:  logged in as pitweet-demo\.test `,
		`On an MQTT broker .*: the demo starts none\.`,
		`fakex accepted tweet \d+: Ding dong #1 at .* — signature verified\n    with a picture: image/jpeg 1280x720, \d+ bytes, uploaded in one request, alt text "The doorstep when the doorbell rang \(press 1\)"\n`,
		`fakex accepted tweet \d+: Room report \d+ at .*\n    with a picture: image/png 1200x675, \d+ bytes, uploaded in one request, alt text "Line chart over the last 1 hour: room temperature`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("demo output lacks %s:\n%s", re, out)
		}
	}
}
