package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"pitweet/bluesky"
	"pitweet/config"
	"pitweet/media"
	"pitweet/statedir"
	"pitweet/textlen"
)

// explainBluesky prints the requests a post of the text in rest makes on
// Bluesky, masked: createSession (the app password), uploadBlob for each
// --image, createRecord (the access token). It sends nothing.
func explainBluesky(xf *xFlags, rest []string, imf imageFlags, asJSON bool, stdout io.Writer) error {
	if len(rest) == 0 {
		return usageError(`say what to explain: pitweet explain --to bluesky "hello"`)
	}
	text := strings.Join(rest, " ")
	if n := textlen.Bluesky(text); n > bluesky.MaxGraphemes {
		return fmt.Errorf("the text is %d characters as Bluesky counts them; the limit is %d (and 3000 bytes): shorten it by %d", n, bluesky.MaxGraphemes, n-bluesky.MaxGraphemes)
	}
	if err := imf.check(); err != nil {
		return err
	}
	cfg, err := xf.loadConfig()
	if err != nil {
		return err
	}
	if !slices.Contains(cfg.Destinations, "bluesky") {
		return fmt.Errorf("%s does not post to Bluesky; add a [bluesky] section with handle = \"name.bsky.social\"", cfg.Path)
	}
	password, where := "xxxx-xxxx-xxxx-xxxx", "no app password configured; pitweet check says how"
	if cfg.X.CredentialsConfigured() {
		creds, info, err := cfg.X.LoadCredentialsFor([]string{"bluesky"})
		if err != nil {
			return err
		}
		password, where = creds.BlueskyAppPassword, "the app password from "+credentialsWhere(info)
	}
	c, err := bluesky.New(bluesky.Config{Service: cfg.Bluesky.Service, Handle: cfg.Bluesky.Handle, AppPassword: password,
		Langs: cfg.Bluesky.Langs, CAFile: cfg.Bluesky.CAFile, UserAgent: userAgent()})
	if err != nil {
		return err
	}
	defer c.Close()
	now := time.Now()
	id := fmt.Sprint(now.UnixNano())
	p := bluesky.Post{Text: text, Created: now, Rkey: bluesky.RecordKey(id, now)}
	var notes []string
	for i, im := range imf.images {
		path := im.Path
		info, err := media.Probe(path)
		if err != nil {
			return fmt.Errorf("--image %s: %w", path, err)
		}
		if info.Size > media.BlueskyLimits().MaxBytes {
			notes = append(notes, fmt.Sprintf("picture %d is %d bytes: the daemon makes a version under %d bytes first, and uploads that", i+1, info.Size, media.BlueskyLimits().MaxBytes))
		}
		w, h := info.AspectRatio()
		p.Images = append(p.Images, bluesky.Image{Path: path, Type: info.Format.MIMEType(), Size: info.Size, Alt: im.Alt, Width: w, Height: h})
	}
	did := keptDID(cfg)
	e, err := c.Explain(p, did)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	}
	fmt.Fprintf(stdout, "Posting to Bluesky as %s through %s, with %s.\n", cfg.Bluesky.Handle, cfg.Bluesky.Service, where)
	step := 0
	section := func(title string) {
		step++
		fmt.Fprintf(stdout, "\n%d. %s\n", step, title)
	}
	section(fmt.Sprintf("Log in: createSession with the handle and app password (masked), sent once; the daemon keeps the session's refresh token in %s and renews the session with it (refreshSession)",
		filepath.Join(cfg.StateDir, bluesky.SessionFile)))
	printBytes(stdout, e.Dial, e.CreateSession)
	for i, b := range e.UploadBlob {
		section(fmt.Sprintf("Upload picture %d: uploadBlob, its raw bytes", i+1))
		printBytes(stdout, e.Dial, b)
	}
	repo := "the account's DID, as the last session of the daemon gave it"
	if did == "" {
		repo = "the handle; the daemon writes the account's DID there, known once logged in"
	}
	section(fmt.Sprintf("Post: createRecord of an app.bsky.feed.post under the record key %s, derived from the message so that a retry finds the post instead of making another; repo is %s. Sent to the account's PDS when the session names one, else as here", e.Rkey, repo))
	printBytes(stdout, e.Dial, e.CreateRecord)
	for _, f := range e.Facets {
		fmt.Fprintf(stdout, "   link: bytes %d to %d of the text's UTF-8, %q, to %s\n", f.Start, f.End, text[f.Start:f.End], f.URI)
	}
	for _, n := range notes {
		fmt.Fprintf(stdout, "   note: %s\n", n)
	}
	fmt.Fprintf(stdout, "\nNothing was sent. The post would be at %s\n", e.URL)
	return nil
}

// printBytes prints a request's bytes, \r\n shown as ⏎.
func printBytes(w io.Writer, dial, request string) {
	fmt.Fprintf(w, "   The exact bytes sent over TLS to %s (\\r\\n line ends shown as ⏎):\n", dial)
	for _, line := range strings.SplitAfter(request, "\r\n") {
		if line != "" {
			fmt.Fprintf(w, "   %s\n", strings.ReplaceAll(line, "\r\n", "⏎"))
		}
	}
}

// keptDID is the account's DID from the daemon's kept session, "" when it
// cannot be read (the state directory is the daemon's).
func keptDID(cfg *config.Config) string {
	d, err := statedir.Open(cfg.StateDir)
	if err != nil {
		return ""
	}
	defer d.Close()
	data, err := d.ReadFile(bluesky.SessionFile, 16<<10)
	if err != nil {
		return ""
	}
	var s struct {
		Service string `json:"service"`
		Handle  string `json:"handle"`
		DID     string `json:"did"`
	}
	if json.Unmarshal(data, &s) != nil || s.Service != cfg.Bluesky.Service || !strings.EqualFold(s.Handle, cfg.Bluesky.Handle) || !strings.HasPrefix(s.DID, "did:") {
		return ""
	}
	return s.DID
}
