package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"pitweet/config"
	"pitweet/mastodon"
	"pitweet/media"
)

// Explaining Mastodon's requests without a token configured uses this
// one, and a config without [mastodon] this server.
const (
	exampleMastodonToken  = "YOUR-ACCESS-TOKEN"
	exampleMastodonServer = "https://mastodon.example"
	explainBoundary       = "pitweet-EXPLAINED-BOUNDARY"
)

// mastodonExplanation is what `pitweet explain --to mastodon --json` prints.
type mastodonExplanation struct {
	Server      string             `json:"server"`
	Credentials string             `json:"credentials"`
	Length      string             `json:"length"`
	Requests    []explainedRequest `json:"requests"`
}

type explainedRequest struct {
	What    string `json:"what"`
	Request string `json:"request"`          // the header block exactly; the body when it is text
	Body    string `json:"layout,omitempty"` // a multipart body's layout, files not shown
}

// explainMastodon prints the exact requests that post text (with pics)
// to Mastodon. It sends nothing.
func explainMastodon(xf *xFlags, rest []string, imf *imageFlags, boundary string, asJSON, showSecrets bool, stdout io.Writer) error {
	if len(rest) == 0 {
		return usageError(`say what to explain: pitweet explain --to mastodon "hello"`)
	}
	text := strings.Join(rest, " ")
	cfg, err := xf.loadConfig()
	if err != nil {
		return err
	}
	e := mastodonExplanation{Server: cfg.Mastodon.Server}
	mc := cfg.Mastodon
	if !slices.Contains(cfg.Destinations, "mastodon") {
		mc = config.MastodonConfig{Server: exampleMastodonServer, Visibility: "public"}
		e.Server = exampleMastodonServer + " (an example: " + cfg.Path + " has no [mastodon] section)"
	}
	token, example := exampleMastodonToken, true
	e.Credentials = "an example token (no mastodon_token configured; pitweet check says how)"
	if creds, info, err := cfg.X.LoadCredentialsFor([]string{"mastodon"}); err == nil && creds.MastodonToken != "" {
		token, example = creds.MastodonToken, false
		e.Credentials = "yours, from " + credentialsWhere(info)
	}
	rule := config.MastodonTextRule(mastodon.DefaultInstance().MaxCharacters, mastodon.DefaultInstance().CharactersPerURL)
	n := rule.Length(text)
	if n > rule.Max {
		return fmt.Errorf("the text counts %d characters as Mastodon counts them (%s); the limit is %d unless the server says more: shorten it by %d",
			n, rule.Counts, rule.Max, n-rule.Max)
	}
	e.Length = fmt.Sprintf("%d of %d characters as Mastodon counts them (each link %d); pitweet reads the server's own limit before it posts", n, rule.Max, mastodon.DefaultInstance().CharactersPerURL)
	c, err := mastodon.New(mastodon.Config{Server: mc.Server, Token: token, CAFile: mc.CAFile, Visibility: mc.Visibility, Language: mc.Language, UserAgent: userAgent()})
	if err != nil {
		return err
	}
	mask := func(s string) string {
		if example || showSecrets {
			return s
		}
		return strings.ReplaceAll(s, "Bearer "+token, "Bearer "+maskSecret(token))
	}
	if err := imf.check(); err != nil {
		return err
	}
	if boundary == "" {
		boundary = explainBoundary
	}
	var ids []string
	for i, p := range imf.images {
		info, err := media.Probe(p.Path)
		if err != nil {
			return fmt.Errorf("--image %s: %w", p.Path, err)
		}
		req, mp, err := c.UploadRequest(mastodon.Image{Path: p.Path, Size: info.Size, Type: info.Format.MIMEType(),
			Filename: "picture" + info.Format.Ext(), Description: p.Alt}, boundary)
		if err != nil {
			return err
		}
		raw, err := c.Transport().Render(req)
		if err != nil {
			return err
		}
		head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
		e.Requests = append(e.Requests, explainedRequest{
			What:    fmt.Sprintf("Upload picture %d (%s, %d×%d, %d bytes) with its alt text as description; a 202 answer is polled with GET /api/v1/media/ID until processed", i+1, info.Format, info.Width, info.Height, info.Size),
			Request: mask(head + "\r\n\r\n"),
			Body:    mp.Layout(),
		})
		ids = append(ids, fmt.Sprintf("ID%d", i+1))
	}
	key := mastodon.IdempotencyKey(fmt.Sprint(time.Now().UnixNano()))
	req, err := c.StatusRequest(mastodon.NewStatus{Text: text, MediaIDs: ids, IdempotencyKey: key})
	if err != nil {
		return err
	}
	raw, err := c.Transport().Render(req)
	if err != nil {
		return err
	}
	what := "The status, as JSON, with an Idempotency-Key the same for every attempt at one message (the daemon's is pitweet-<outbox id>), so a retry after a lost answer gets the first status back"
	if len(ids) > 0 {
		what += "; media_ids are the ids the uploads answered"
	}
	e.Requests = append(e.Requests, explainedRequest{What: what, Request: mask(string(raw))})

	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	}
	fmt.Fprintf(stdout, "Posting to Mastodon at %s with a bearer token (OAuth 2.0): nothing is signed.\nToken: %s\nLength: %s\n", e.Server, e.Credentials, e.Length)
	for i, r := range e.Requests {
		fmt.Fprintf(stdout, "\n%d. %s\n   The exact bytes sent over TLS to %s (\\r\\n line ends shown as ⏎):\n", i+1, r.What, c.Transport().Addr())
		for _, line := range strings.SplitAfter(r.Request, "\r\n") {
			if line != "" {
				fmt.Fprintf(stdout, "   %s\n", strings.ReplaceAll(line, "\r\n", "⏎"))
			}
		}
		if r.Body != "" {
			fmt.Fprintf(stdout, "   The body (multipart/form-data; pitweet picks a random boundary for each upload unless --boundary):\n")
			for _, line := range strings.Split(strings.TrimSuffix(r.Body, "\n"), "\n") {
				fmt.Fprintf(stdout, "   %s\n", line)
			}
		}
	}
	fmt.Fprintln(stdout, "\nNothing was sent. `pitweet post --to mastodon` sends the same requests.")
	if !example && showSecrets {
		fmt.Fprintln(stdout, "These bytes hold your token in full: whoever has them can post as the account until you revoke the token.")
	}
	return nil
}

// maskSecret hides a secret but its first 4 characters.
func maskSecret(s string) string {
	if len(s) <= 4 {
		return strings.Repeat("*", len(s))
	}
	return s[:4] + strings.Repeat("*", len(s)-4)
}
