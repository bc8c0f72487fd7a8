package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"pitweet/daemon"
	"pitweet/fakex"
)

// The demo's buttons give each press a text of its own, as check sees it.
func TestDemoTextsAreDistinct(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := writeCredentials(creds, fakex.DemoCredentials); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "pitweet.toml")
	text := fmt.Sprintf(demoConfig, filepath.Join(dir, "state"), "https://127.0.0.1:1", "", creds)
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := daemon.Check(context.Background(), config, daemon.CheckOptions{})
	for _, r := range rep.Results {
		if r.Err != nil {
			t.Errorf("%s", r)
		}
	}
}
