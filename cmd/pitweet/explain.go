package main

import (
	"encoding/json"
	"fmt"
	"io"
	"pitweet/config"
	"strings"

	"pitweet/oauth"
	"pitweet/sender"
)

// exampleCredentials are the keys of X's "Creating a signature" guide,
// used when no credentials are configured, so anyone can follow along.
var exampleCredentials = oauth.Credentials{
	ConsumerKey:    "xvz1evFS4wEEPTGEFPHBog",
	ConsumerSecret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
	Token:          "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
	TokenSecret:    "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
}

// explanation is what `pitweet explain --json` prints.
type explanation struct {
	Credentials      string        `json:"credentials"` // where the keys came from
	Method           string        `json:"method"`
	URL              string        `json:"url"`
	Body             string        `json:"body"`
	BodySigned       bool          `json:"body_signed"`
	Params           []oauth.Param `json:"parameters"`
	Encoded          []oauth.Param `json:"encoded_parameters"`
	NormalizedParams string        `json:"normalized_parameters"`
	BaseStringURI    string        `json:"base_string_uri"`
	BaseString       string        `json:"base_string"`
	SigningKey       string        `json:"signing_key"`
	Signature        string        `json:"signature"`
	Authorization    string        `json:"authorization"`
	Request          string        `json:"request"`
	Dial             string        `json:"dial"`
}

// cmdExplain prints every step of signing TEXT and the exact request bytes.
// It sends nothing.
func cmdExplain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("explain", stderr)
	var xf xFlags
	xf.register(fs)
	nonce := fs.String("nonce", "", "use this oauth_nonce instead of a random one")
	timestamp := fs.String("timestamp", "", "use this oauth_timestamp (Unix seconds) instead of now")
	asJSON := fs.Bool("json", false, "print one JSON object")
	showSecrets := fs.Bool("show-secrets", false, "print the signing key in full (it holds your two secrets)")
	login := fs.Bool("login", false, "explain pitweet login's requests instead of a post: the request token, the authorize page, the access token")
	var imf imageFlags
	imf.register(fs)
	boundary := fs.String("boundary", "", "with --image, use this multipart boundary instead of a random one")
	to := fs.String("to", "x", "explain the post to this destination: x, mastodon or bluesky")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch *to {
	case "mastodon":
		if *login {
			return usageError("--login explains X's login; it takes no --to")
		}
		return explainMastodon(&xf, rest, &imf, *boundary, *asJSON, *showSecrets, stdout)
	case "bluesky":
		if *login {
			return usageError("--login explains X's login; it takes no --to")
		}
		return explainBluesky(&xf, rest, imf, *asJSON, stdout)
	case "x":
	default:
		return usageError("--to %q: explain knows x, mastodon and bluesky", *to)
	}
	if *login {
		if len(rest) > 0 || len(imf.images) > 0 {
			return usageError("--login explains the login's own requests; it takes no TEXT and no --image")
		}
		return explainLogin(&xf, *nonce, *timestamp, *asJSON, *showSecrets, stdout)
	}
	text, cfg, err := xf.textAndConfig(rest, `say what to explain: pitweet explain "hello"`)
	if err != nil {
		return err
	}
	// The example keys only when no credentials are configured at all:
	// keys that are configured but do not load are the same error as for
	// tweet, never a quiet switch to keys that X refuses.
	creds, source, example := exampleCredentials, "the example keys of X's \"Creating a signature\" guide (no credentials configured; pitweet check says how)", true
	if cfg.X.CredentialsConfigured() {
		var info config.CredentialsInfo
		if creds, info, err = cfg.X.LoadCredentials(); err != nil {
			return err
		}
		source, example = "yours, from "+credentialsWhere(info), false
	}
	client, err := newClient(cfg, creds)
	if err != nil {
		return err
	}
	if len(imf.images) > 0 {
		if err := imf.check(); err != nil {
			return err
		}
		var images []sender.Image
		for _, im := range imf.images {
			si, err := sender.ImageFile(im.Path, im.Alt)
			if err != nil {
				return err
			}
			images = append(images, si)
		}
		return explainUpload(stdout, client, cfg.X.BaseURL, source, text, images, *nonce, *timestamp, *boundary, *asJSON, !example && !*showSecrets)
	}
	p, err := client.BuildPost(text, *nonce, *timestamp)
	if err != nil {
		return err
	}
	e := explain(cfg.X.BaseURL, source, p, cfg.X.API == "v1.1")
	if !example && !*showSecrets {
		e.SigningKey = maskKey(e.SigningKey)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	}
	printExplanation(stdout, e)
	if !example {
		fmt.Fprintln(stdout, "\nThis request is signed with your keys: anyone who has these bytes can send them to X within a few minutes (X's timestamp window). Share them after that, or explain with --timestamp set in the past.")
	}
	return nil
}

// credentialsWhere says where the keys came from: a file, the
// environment, or both.
func credentialsWhere(info config.CredentialsInfo) string {
	var where []string
	if info.File != "" {
		where = append(where, info.File)
	}
	if len(info.Env) > 0 {
		where = append(where, strings.Join(info.Env, ", "))
	}
	return strings.Join(where, " and ")
}

// explain lays out the signing of the prepared request p, sent to
// baseURL with the keys source names.
func explain(baseURL, source string, p *sender.Prepared, bodySigned bool) explanation {
	b := p.Breakdown
	head, body, _ := strings.Cut(string(p.Request), "\r\n\r\n")
	return explanation{
		Credentials:      source,
		Method:           b.Method,
		URL:              baseURL + requestTarget(head),
		Body:             body,
		BodySigned:       bodySigned,
		Params:           b.Params,
		Encoded:          b.Encoded,
		NormalizedParams: b.NormalizedParams,
		BaseStringURI:    b.BaseStringURI,
		BaseString:       b.BaseString,
		SigningKey:       b.SigningKey,
		Signature:        b.Signature,
		Authorization:    b.Header,
		Request:          string(p.Request),
		Dial:             p.Addr,
	}
}

// requestTarget returns the path of a request's first line.
func requestTarget(head string) string {
	line, _, _ := strings.Cut(head, "\r\n")
	f := strings.Fields(line)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// maskKey hides both secrets of a signing key but their first 4 characters.
func maskKey(key string) string {
	cs, ts, _ := strings.Cut(key, "&")
	mask := func(s string) string {
		if len(s) <= 4 {
			return strings.Repeat("*", len(s))
		}
		return s[:4] + strings.Repeat("*", len(s)-4)
	}
	return mask(cs) + "&" + mask(ts)
}

func printExplanation(w io.Writer, e explanation) {
	fmt.Fprintf(w, "Signing a post with OAuth 1.0a HMAC-SHA1 (RFC 5849 section 3.4).\nCredentials: %s\n", e.Credentials)
	body := "The body is JSON: it is not signed, only the method, URL and oauth_* parameters are."
	if e.BodySigned {
		body = "The body is a form (application/x-www-form-urlencoded): its parameters are signed."
	}
	printSteps(w, e, "", body, "API key secret", "access token secret")
	fmt.Fprintln(w, "\nNothing was sent. `pitweet tweet` sends the same request with a fresh nonce and timestamp.")
}

// printSteps prints the signing steps of one request, numbered under
// prefix ("" or "1."), with a note on its body and the names of the two
// secrets its signing key is made of.
func printSteps(w io.Writer, e explanation, prefix, bodyNote, secret1, secret2 string) {
	step := 0
	section := func(title string) {
		step++
		fmt.Fprintf(w, "\n%s%d. %s\n", prefix, step, title)
	}

	section("The request")
	fmt.Fprintf(w, "   %s %s\n", e.Method, e.URL)
	if e.Body != "" {
		fmt.Fprintf(w, "   body: %s\n", e.Body)
	}
	fmt.Fprintf(w, "   %s\n", bodyNote)

	section("Collect the parameters (query, form body, oauth_*), decoded")
	for _, p := range e.Params {
		fmt.Fprintf(w, "   %s = %q\n", p.Name, p.Value)
	}

	section("Percent-encode each name and value (RFC 3986: all but A-Z a-z 0-9 - . _ ~), sort by name, then value")
	for _, p := range e.Encoded {
		fmt.Fprintf(w, "   %s=%s\n", p.Name, p.Value)
	}

	section("Join them with & into the parameter string")
	fmt.Fprintf(w, "   %s\n", e.NormalizedParams)

	section("Base string URI: scheme and host in lower case, no default port, no query")
	fmt.Fprintf(w, "   %s\n", e.BaseStringURI)

	section("Signature base string: METHOD & encode(URI) & encode(parameter string)")
	fmt.Fprintf(w, "   %s\n", e.BaseString)

	section(fmt.Sprintf("Signing key: encode(%s) & encode(%s)", secret1, secret2))
	fmt.Fprintf(w, "   %s\n", e.SigningKey)

	section("Signature: base64(HMAC-SHA1(signing key, base string))")
	fmt.Fprintf(w, "   %s\n", e.Signature)

	section("Authorization header: the oauth_* parameters and the signature, each percent-encoded and quoted")
	fmt.Fprintf(w, "   %s\n", e.Authorization)

	section(fmt.Sprintf("The exact bytes sent over TLS to %s (\\r\\n line ends shown as ⏎)", e.Dial))
	for _, line := range strings.SplitAfter(e.Request, "\r\n") {
		if line != "" {
			fmt.Fprintf(w, "   %s\n", strings.ReplaceAll(line, "\r\n", "⏎"))
		}
	}
}
