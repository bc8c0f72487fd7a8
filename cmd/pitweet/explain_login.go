package main

import (
	"encoding/json"
	"fmt"
	"io"
	"pitweet/config"
	"strings"

	"pitweet/sender"
)

// exampleRequestToken and examplePIN are the request token and PIN of X's
// "Obtaining user access tokens" guide. explain --login sends nothing, so
// it has no real request token: the authorize page and the access token
// step are shown with these.
var exampleRequestToken = sender.RequestToken{Token: "Z6eEdO8MOmk394WozF5oKyuAv855l4Mlqo7hhlSLik", Secret: "Kd75W4OQfb2oJTV0vzGzeXftVAwgMnEK9MumzYcM"}

const examplePIN = "4868795"

// loginExplanation is what `pitweet explain --login --json` prints: the
// three steps of pitweet login.
type loginExplanation struct {
	Credentials  string      `json:"credentials"`
	RequestToken explanation `json:"request_token"`
	AuthorizeURL string      `json:"authorize_url"`
	AccessToken  explanation `json:"access_token"`
}

// explainLogin prints the signing of pitweet login's two requests and the
// page between them. It sends nothing. The app's keys come from where
// login takes them; with none configured, from X's signature guide.
func explainLogin(xf *xFlags, nonce, timestamp string, asJSON, showSecrets bool, stdout io.Writer) error {
	if xf.api != "" {
		return usageError("--api does not apply to --login: the login's requests are the same for both")
	}
	cfg, err := xf.loadConfig()
	if err != nil {
		return err
	}
	key, secret := exampleCredentials.ConsumerKey, exampleCredentials.ConsumerSecret
	source := "the example keys of X's \"Creating a signature\" guide (no credentials configured)"
	example := true
	if cfg.X.CredentialsConfigured() {
		file, err := config.ReadCredentialsFile(cfg.X.Credentials)
		if err != nil {
			return err
		}
		var env []string
		if key, secret, env, err = file.AppKeys(); err != nil {
			return err
		}
		source, example = "yours, from "+file.Path, false
		if len(env) > 0 {
			source = "yours, from " + strings.Join(env, " and ")
			if len(env) < 2 {
				source += " and " + file.Path
			}
		}
	}
	login, err := sender.NewLogin(sender.Config{BaseURL: cfg.X.BaseURL, CAFile: cfg.X.CAFile, UserAgent: "pitweet/" + version}, key, secret)
	if err != nil {
		return err
	}
	rt := &exampleRequestToken
	steps := make([]explanation, 2)
	for i, build := range []func() (*sender.Prepared, error){
		func() (*sender.Prepared, error) { return login.BuildRequestToken(nonce, timestamp) },
		func() (*sender.Prepared, error) { return login.BuildAccessToken(rt, examplePIN, nonce, timestamp) },
	} {
		p, err := build()
		if err != nil {
			return err
		}
		steps[i] = explain(cfg.X.BaseURL, source, p, false)
		if !example && !showSecrets {
			steps[i].SigningKey = maskKey(steps[i].SigningKey)
		}
	}
	e := loginExplanation{Credentials: source, RequestToken: steps[0], AuthorizeURL: login.AuthorizeURL(rt), AccessToken: steps[1]}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	}
	printLoginExplanation(stdout, e)
	return nil
}

func printLoginExplanation(w io.Writer, e loginExplanation) {
	fmt.Fprintf(w, "pitweet login: X's PIN-based OAuth 1.0a flow (RFC 5849 section 2), three steps.\nCredentials: %s\n", e.Credentials)

	fmt.Fprintln(w, "\n1. Ask for a request token, signed with the app's keys alone.")
	fmt.Fprintln(w, "   oauth_callback=\"oob\" (out of band: the user will type a PIN, no web site is called back) is the one")
	fmt.Fprintln(w, "   time oauth_callback is sent, and it is signed like every oauth_* parameter; there is no oauth_token yet,")
	fmt.Fprintln(w, "   so the token secret in the signing key is empty.")
	printSteps(w, e.RequestToken, "1.", "No body (Content-Length: 0).", "API key secret", "nothing: no token yet")
	fmt.Fprintln(w, "\n   X answers 200 with a form: oauth_token=…&oauth_token_secret=…&oauth_callback_confirmed=true.")

	fmt.Fprintln(w, "\n2. The user opens the authorize page in a browser, signs in as the account to post as, authorizes the app,")
	fmt.Fprintln(w, "   and is shown a PIN. No signature: the page is addressed by the request token alone. With the request")
	fmt.Fprintf(w, "   token of X's guide (%s):\n", exampleRequestToken.Token)
	fmt.Fprintf(w, "   %s\n", e.AuthorizeURL)

	fmt.Fprintln(w, "\n3. Exchange the request token for the account's access token, signed with the request token and its")
	fmt.Fprintf(w, "   secret, the PIN (here X's example, %s) as oauth_verifier, signed too.\n", examplePIN)
	printSteps(w, e.AccessToken, "3.", "No body (Content-Length: 0).", "API key secret", "request token secret")
	fmt.Fprintln(w, "\n   X answers 200 with a form: oauth_token=…&oauth_token_secret=…&user_id=…&screen_name=…;")
	fmt.Fprintln(w, "   pitweet login writes the token and its secret into the credentials file as access_token and access_secret.")

	fmt.Fprintln(w, "\nNothing was sent. `pitweet login` sends these requests with a fresh nonce and timestamp, and the request token and PIN X gives.")
}
