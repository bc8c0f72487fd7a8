package config

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
		0o644: "is readable by others (mode 0644); fix: sudo chmod 0600 ",
		0o606: "is readable and writable by others (mode 0606); fix: sudo chmod 0600 ",
		0o662: "is writable by others (mode 0662); fix: sudo chmod 0600 ",
		0o601: "is usable by others (mode 0601); fix: sudo chmod 0600 ",
		0o660: "is writable by its group (mode 0660); fix: sudo chmod 0600 ",
		0o620: "is writable by its group (mode 0620); fix: sudo chmod 0600 ",
	} {
		path := writeCreds(t, t.TempDir(), credsFile, mode)
		_, err := LoadCredentials(path)
		if err == nil || !strings.Contains(err.Error(), "credentials "+path+" "+want+path) {
			t.Errorf("mode %04o: err = %v", mode, err)
		}
	}
	// The owner's group may read a file of the owner's own.
	for _, mode := range []os.FileMode{0o600, 0o400, 0o640} {
		if _, err := LoadCredentials(writeCreds(t, t.TempDir(), credsFile, mode)); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
}

// systemdCredentials lays out what the unit gives the daemon: the source
// file with mode, and systemd's copy of it in $CREDENTIALS_DIRECTORY/x. It
// returns the source's path.
func systemdCredentials(t *testing.T, copy string, mode os.FileMode) string {
	t.Helper()
	clearCredentialEnv(t)
	src := writeCreds(t, t.TempDir(), credsFile, mode)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte(copy), 0o400); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	return src
}

func TestXConfigLoadCredentialsFromSystemd(t *testing.T) {
	// The copy is read; the source is only looked at.
	src := systemdCredentials(t, "api_key=ck\napi_secret=cs\naccess_token=t\naccess_secret=copy\n", 0o600)
	got, info, err := XConfig{Credentials: src}.LoadCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if got.TokenSecret != "copy" || info.File != filepath.Join(os.Getenv("CREDENTIALS_DIRECTORY"), "x") ||
		info.Source == nil || info.Source.Path != src || info.Source.Mode != 0o600 || info.Source.Unchecked != nil {
		t.Errorf("got %+v, info %+v %+v", got, info, info.Source)
	}

	// A source others than root may read: refused, though the copy is fine.
	for mode, want := range map[os.FileMode]string{
		0o640: "is readable by group ",
		0o660: "is readable and writable by group ",
		0o604: "is readable by others (mode 0604, ",
		0o610: "is usable by group ",
	} {
		src := systemdCredentials(t, credsFile, mode)
		_, _, err := XConfig{Credentials: src}.LoadCredentials()
		if err == nil || !strings.HasPrefix(err.Error(), "config: credentials "+src+", which systemd passes in, "+want) ||
			!strings.Contains(err.Error(), "sudo chown root:root "+src+" && sudo chmod 0600 "+src+"; the daemon does not start until then") {
			t.Errorf("source mode %04o: err = %v", mode, err)
		}
	}

	// A source that does not exist: the unit passes another file.
	src = systemdCredentials(t, credsFile, 0o600)
	_, _, err = XConfig{Credentials: src + ".other"}.LoadCredentials()
	if err == nil || !strings.Contains(err.Error(), src+".other, where they should come from, does not exist; set credentials in [x] to the file the unit's LoadCredential=x:... names") {
		t.Errorf("absent source: err = %v", err)
	}

	// An incomplete copy says which file to edit.
	src = systemdCredentials(t, "api_key=ck\n", 0o600)
	_, _, err = XConfig{Credentials: src}.LoadCredentials()
	if err == nil || !strings.Contains(err.Error(), "lacks api_secret") || !strings.Contains(err.Error(), "systemd's copy of "+src+": edit that file") {
		t.Errorf("incomplete copy: err = %v", err)
	}

	// All four keys in the environment: neither file matters.
	systemdCredentials(t, credsFile, 0o644)
	for _, k := range credentialKeys {
		t.Setenv(k.env, "from-env")
	}
	if got, _, err := (XConfig{Credentials: "/nonexistent"}).LoadCredentials(); err != nil || got.ConsumerKey != "from-env" {
		t.Errorf("from the environment: %+v, %v", got, err)
	}
}

func TestXConfigLoadCredentialsRefusesSourceOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the file to another user")
	}
	src := systemdCredentials(t, credsFile, 0o600)
	if err := os.Chown(src, 65534, 0); err != nil {
		t.Fatal(err)
	}
	_, _, err := XConfig{Credentials: src}.LoadCredentials()
	if err == nil || !strings.HasPrefix(err.Error(), "config: credentials "+src+", which systemd passes in, is owned by ") {
		t.Errorf("source of uid 65534: err = %v", err)
	}
}

func TestCredentialsConfigured(t *testing.T) {
	clearCredentialEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials")
	x := XConfig{Credentials: path}
	if x.CredentialsConfigured() {
		t.Error("configured with no file, no variable and no $CREDENTIALS_DIRECTORY")
	}
	// A link to nowhere is a file that is there, and does not load.
	if err := os.Symlink(filepath.Join(dir, "nowhere"), path); err != nil {
		t.Fatal(err)
	}
	if !x.CredentialsConfigured() {
		t.Error("not configured with a credentials file in place")
	}
	os.Remove(path)
	t.Setenv("PITWEET_API_KEY", "k")
	if !x.CredentialsConfigured() {
		t.Error("not configured with PITWEET_API_KEY set")
	}
	clearCredentialEnv(t)
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	if !x.CredentialsConfigured() {
		t.Error("not configured with $CREDENTIALS_DIRECTORY set")
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

// A destination's keys are required only when it is configured; every key
// is read when the file has it.
func TestLoadCredentialsForDestinations(t *testing.T) {
	clearCredentialEnv(t)
	dir := t.TempDir()
	all := credsFile + "mastodon_token=mt\nbluesky_app_password=abcd-efgh-ijkl-mnop\nmqtt_password=mp\n"
	path := writeCreds(t, dir, all, 0o600)
	got, _, err := readCredentials(path, []string{"x", "mastodon", "bluesky"})
	if err != nil {
		t.Fatal(err)
	}
	want := Credentials{APIKey: "ck", APISecret: "cs", AccessToken: "t", AccessSecret: "ts",
		MastodonToken: "mt", BlueskyAppPassword: "abcd-efgh-ijkl-mnop", MQTTPassword: "mp"}
	if got != want || got.X() != credsWant {
		t.Errorf("got %+v, want %+v", got, want)
	}

	// Mastodon alone needs no X keys.
	path = writeCreds(t, dir, "mastodon_token=mt\n", 0o600)
	if got, _, err := readCredentials(path, []string{"mastodon"}); err != nil || got.MastodonToken != "mt" {
		t.Errorf("mastodon alone: %+v, %v", got, err)
	}
	for _, tt := range []struct {
		dests []string
		want  string
	}{
		{[]string{"x", "bluesky"}, "lacks api_key, api_secret, access_token, access_secret, bluesky_app_password; add a line api_key=..."},
		{[]string{"bluesky"}, "lacks bluesky_app_password; add a line bluesky_app_password=... for each, an app password made in Bluesky's Settings"},
		{[]string{"forward"}, ""}, // a broker without accounts takes no password
		{[]string{"forward", "mqtt"}, "lacks mqtt_password; add a line mqtt_password=... for each, the password of [mqtt] username on the broker"},
	} {
		_, _, err := readCredentials(path, tt.dests)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%q: err = %v, want %q", tt.dests, err, tt.want)
		}
	}

	// An unknown key is still an error, and the message lists them all.
	path = writeCreds(t, dir, "mastodon_tokn=mt\n", 0o600)
	_, _, err = readCredentials(path, []string{"mastodon"})
	if err == nil || !strings.Contains(err.Error(), `unknown key "mastodon_tokn"; the keys are api_key, api_secret, access_token, access_secret, mastodon_token, bluesky_app_password, mqtt_password`) {
		t.Errorf("unknown key: %v", err)
	}

	// Every key needed in the environment: no file is read.
	t.Setenv("PITWEET_MASTODON_TOKEN", "from-env")
	if got, info, err := readCredentials("/nonexistent/credentials", []string{"mastodon"}); err != nil || got.MastodonToken != "from-env" || info.File != "" {
		t.Errorf("from the environment: %+v, %+v, %v", got, info, err)
	}
}
