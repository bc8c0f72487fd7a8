package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pitweet/oauth"
)

const credsFile = `# keys from the X developer portal
api_key=ck
api_secret = cs

access_token= t
access_secret =ts
`

var credsWant = oauth.Credentials{ConsumerKey: "ck", ConsumerSecret: "cs", Token: "t", TokenSecret: "ts"}

func clearCredentialEnv(t *testing.T) {
	t.Helper()
	for _, k := range credentialKeys {
		t.Setenv(k.env, "")
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
}

func writeCreds(t *testing.T, dir, text string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, "credentials")
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask may have trimmed it
		t.Fatal(err)
	}
	return path
}

func TestLoadCredentials(t *testing.T) {
	clearCredentialEnv(t)
	path := writeCreds(t, t.TempDir(), credsFile, 0o640)
	got, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != credsWant {
		t.Errorf("got %+v, want %+v", got, credsWant)
	}
}

func TestLoadCredentialsRefusesOpenFile(t *testing.T) {
	clearCredentialEnv(t)
	for mode, want := range map[os.FileMode]string{
		0o644: "is readable by others (mode 0644); fix: sudo chmod 0640 ",
		0o606: "is readable and writable by others (mode 0606); fix: sudo chmod 0600 ",
		0o662: "is writable by others (mode 0662); fix: sudo chmod 0660 ",
	} {
		path := writeCreds(t, t.TempDir(), credsFile, mode)
		_, err := LoadCredentials(path)
		if err == nil || !strings.Contains(err.Error(), "credentials "+path+" "+want+path) {
			t.Errorf("mode %04o: err = %v", mode, err)
		}
	}
}

func TestLoadCredentialsSystemdDirectory(t *testing.T) {
	clearCredentialEnv(t)
	dir := t.TempDir()
	// systemd decides the modes in its credentials directory; 0644 is fine there.
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte(credsFile), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "x"), 0o644)
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	got, err := LoadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got != credsWant {
		t.Errorf("got %+v", got)
	}
	// The same file outside it is refused.
	t.Setenv("CREDENTIALS_DIRECTORY", t.TempDir())
	if _, err := LoadCredentials(dir); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("outside $CREDENTIALS_DIRECTORY: err = %v", err)
	}
}

func TestLoadCredentialsEnv(t *testing.T) {
	clearCredentialEnv(t)
	path := writeCreds(t, t.TempDir(), credsFile, 0o600)
	t.Setenv("PITWEET_ACCESS_SECRET", "from-env")
	got, err := LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := (oauth.Credentials{ConsumerKey: "ck", ConsumerSecret: "cs", Token: "t", TokenSecret: "from-env"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}

	// All four in the environment: no file needed.
	t.Setenv("PITWEET_API_KEY", "k")
	t.Setenv("PITWEET_API_SECRET", "s")
	t.Setenv("PITWEET_ACCESS_TOKEN", "at")
	got, info, err := LoadCredentialsInfo("/nonexistent/credentials")
	if err != nil {
		t.Fatal(err)
	}
	if want := (oauth.Credentials{ConsumerKey: "k", ConsumerSecret: "s", Token: "at", TokenSecret: "from-env"}); got != want || info.File != "" || len(info.Env) != 4 {
		t.Errorf("got %+v, %+v", got, info)
	}
}

func TestLoadCredentialsErrors(t *testing.T) {
	clearCredentialEnv(t)
	dir := t.TempDir()
	tests := []struct {
		name, text string
		want       string
	}{
		{"missing keys", "api_key=a\napi_secret=b\n", "lacks access_token, access_secret; add a line access_token=..."},
		{"empty value", "api_key=a\napi_secret=\naccess_token=c\naccess_secret=d\n", "lacks api_secret"},
		{"unknown key", "api_key=a\nconsumer_key=b\n", `:2: unknown key "consumer_key"`},
		{"no equals", "api_key=a\nsecretvalue\n", ":2: not a key=value line"},
		{"quoted", "api_key=\"a\"\n", ":1: api_key is in quotes"},
		{"twice", "api_key=a\napi_key=b\n", ":2: api_key is set twice (first on line 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeCreds(t, dir, tt.text, 0o600)
			_, err := LoadCredentials(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "secretvalue") {
				t.Errorf("error quotes the file's content: %v", err)
			}
		})
	}
	_, err := LoadCredentials(filepath.Join(dir, "absent"))
	if err == nil || !strings.Contains(err.Error(), "does not exist; create it") {
		t.Errorf("absent file: err = %v", err)
	}
}
