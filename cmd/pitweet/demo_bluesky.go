package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"pitweet/fakebsky"
)

// startDemoBluesky starts fakebsky, a local Bluesky PDS, beside fakex, and
// returns it with the [bluesky] section and the credentials line that post
// to it.
func startDemoBluesky(dir string) (srv *fakebsky.Server, section, creds string, err error) {
	srv = fakebsky.New()
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		return nil, "", "", err
	}
	ca := filepath.Join(dir, "fakebsky-ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		srv.Close()
		return nil, "", "", err
	}
	section = fmt.Sprintf("\n[bluesky]\nservice = %q\nhandle = %q\nca_file = %q\nlangs = [\"en\"]\n", srv.URL(), fakebsky.DemoAccount.Handle, ca)
	return srv, section, "bluesky_app_password=" + fakebsky.DemoAccount.AppPassword + "\n", nil
}

// appendToFile adds text to the end of the file at path.
func appendToFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// printDemoBluesky waits for n posts on fakebsky and prints them.
func printDemoBluesky(ctx context.Context, stdout io.Writer, srv *fakebsky.Server, texts []string) error {
	var posts []fakebsky.Record
	idx, err := waitSame(ctx, texts, func(ctx context.Context, n int) ([]string, error) {
		var err error
		posts, err = srv.WaitPosts(ctx, n)
		var got []string
		for _, p := range posts {
			got = append(got, p.Text)
		}
		return got, err
	})
	if err != nil {
		return fmt.Errorf("fakebsky: %w; run 'pitweet demo -v' to see the daemon's log", err)
	}
	for _, i := range idx {
		p := posts[i]
		with := ""
		if len(p.Images) > 0 {
			with = fmt.Sprintf(" (with %d picture%s)", len(p.Images), map[bool]string{true: "s"}[len(p.Images) > 1])
		}
		fmt.Fprintf(stdout, "fakebsky accepted post https://bsky.app/profile/%s/post/%s: %s%s — record checked against app.bsky.feed.post\n",
			fakebsky.DemoAccount.Handle, p.Rkey, p.Text, with)
	}
	return nil
}
