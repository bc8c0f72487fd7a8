package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"pitweet/fakemastodon"
)

// demoMastodon is the demo's Mastodon server: fakemastodon on loopback,
// posted to beside fakex.
type demoMastodon struct {
	srv *fakemastodon.Server
	ca  string
}

// startDemoMastodon starts fakemastodon with its CA written in dir.
func startDemoMastodon(dir string) (*demoMastodon, error) {
	srv := fakemastodon.New()
	if err := srv.StartTLS("127.0.0.1:0"); err != nil {
		return nil, err
	}
	m := &demoMastodon{srv: srv, ca: filepath.Join(dir, "fakemastodon-ca.pem")}
	if err := srv.WriteCA(m.ca); err != nil {
		srv.Close()
		return nil, err
	}
	return m, nil
}

func (m *demoMastodon) Close() error { return m.srv.Close() }

// config is the demo config's [mastodon] section.
func (m *demoMastodon) config() string {
	return fmt.Sprintf("\n[mastodon]\nserver = %q\nca_file = %q\nvisibility = \"unlisted\"\n", m.srv.URL(), m.ca)
}

// addToken writes the demo account's token into the credentials file.
func (m *demoMastodon) addToken(creds string) error {
	f, err := os.OpenFile(creds, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "mastodon_token=%s\n", fakemastodon.DemoAccount.Token); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// wait prints the first n statuses as fakemastodon made them.
func (m *demoMastodon) wait(ctx context.Context, stdout io.Writer, texts []string) error {
	var sts []fakemastodon.Status
	idx, err := waitSame(ctx, texts, func(ctx context.Context, n int) ([]string, error) {
		var err error
		sts, err = m.srv.WaitStatuses(ctx, n)
		var got []string
		for _, s := range sts {
			got = append(got, s.Text)
		}
		return got, err
	})
	if err != nil {
		return fmt.Errorf("fakemastodon: %w; run 'pitweet demo -v' to see the daemon's log", err)
	}
	for _, i := range idx {
		s := sts[i]
		pics := ""
		for _, id := range s.MediaIDs {
			for _, md := range m.srv.Media() {
				if md.ID == id {
					pics += fmt.Sprintf(", %s %dx%d", md.MIMEType, md.Width, md.Height)
					if md.Description != "" {
						pics += " with alt text"
					}
				}
			}
		}
		fmt.Fprintf(stdout, "fakemastodon accepted status %s (%s%s, Idempotency-Key %s): %s\n", s.ID, s.Visibility, pics, s.IdempotencyKey, s.Text)
	}
	return nil
}
