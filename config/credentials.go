package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"pitweet/mastodon"
	"slices"
	"strconv"
	"strings"

	"pitweet/oauth"
)

// credentialKeys are the credentials file's keys, the environment
// variables that override them, and the destination that needs each ("":
// none needs it; the MQTT broker may take no password).
var credentialKeys = []struct{ key, env, dest string }{
	// The names X's developer portal uses.
	{"api_key", "PITWEET_API_KEY", "x"},
	{"api_secret", "PITWEET_API_SECRET", "x"},
	{"access_token", "PITWEET_ACCESS_TOKEN", "x"},
	{"access_secret", "PITWEET_ACCESS_SECRET", "x"},
	{"mastodon_token", "PITWEET_MASTODON_TOKEN", "mastodon"},
	{"bluesky_app_password", "PITWEET_BLUESKY_APP_PASSWORD", "bluesky"},
	{"mqtt_password", "PITWEET_MQTT_PASSWORD", "mqtt"},
}

// sameKeysAs names, for a destination that uses another's keys, that
// other destination; only test builds have one (testdest.go).
var sameKeysAs = map[string]string{}

// Credentials are the keys of every destination; those of a destination
// that is not configured may be empty.
type Credentials struct {
	APIKey             string // X's API key (consumer key)
	APISecret          string
	AccessToken        string
	AccessSecret       string
	MastodonToken      string // an access token of the Mastodon account
	BlueskyAppPassword string // an app password of the Bluesky account
	MQTTPassword       string // the MQTT broker's password for [mqtt] username
}

// X returns the keys X's requests are signed with.
func (c Credentials) X() oauth.Credentials {
	return oauth.Credentials{ConsumerKey: c.APIKey, ConsumerSecret: c.APISecret, Token: c.AccessToken, TokenSecret: c.AccessSecret}
}

// keyHint says where the keys of a destination come from.
func keyHint(dest string) string {
	switch dest {
	case "mastodon":
		return "an access token made in the Mastodon server's Preferences, Development, with the scopes " + mastodon.Scopes
	case "bluesky":
		return "an app password made in Bluesky's Settings, Privacy and security, App passwords"
	case "mqtt":
		return "the password of [mqtt] username on the broker (mosquitto_passwd sets it)"
	}
	return "copied from the X developer portal (Keys and tokens)"
}

// CredentialsInfo says where the keys were found, for check and explain.
type CredentialsInfo struct {
	File  string      // the file read; "" when the environment gave all four
	Mode  fs.FileMode // its permission bits
	Owner string      // its owner and group, as "root:root"
	// Source is set when File is systemd's copy in $CREDENTIALS_DIRECTORY:
	// the file it was copied from, which was checked with stat.
	Source *CredentialsSource
	Env    []string // the environment variables that were used
}

// CredentialsSource is the file systemd copies the keys from
// (LoadCredential=), as XConfig.LoadCredentials checked it.
type CredentialsSource struct {
	Path  string
	Mode  fs.FileMode
	Owner string
	// Unchecked, when not nil, says why the file could not be checked (a
	// directory on its path keeps the daemon's user out); the keys were
	// loaded all the same.
	Unchecked error
}

// LoadCredentials loads the keys x names. Under systemd the unit passes the
// credentials file in with LoadCredential=x:FILE, as root, and the daemon
// (as user pitweet) reads systemd's copy, $CREDENTIALS_DIRECTORY/x; then
// x.Credentials names FILE, the copy's source, which is checked with stat:
// unless it is root's alone (owned by root, or by the user the daemon runs
// as, with no access for group or others), the keys are refused and the
// daemon does not start. Without such a copy the keys are read from
// x.Credentials itself (see LoadCredentialsInfo). The PITWEET_* variables
// override either.
func (x XConfig) LoadCredentials() (oauth.Credentials, CredentialsInfo, error) {
	c, info, err := x.LoadCredentialsFor([]string{"x"})
	return c.X(), info, err
}

// LoadCredentialsFor is LoadCredentials for the destinations dests (and
// "mqtt", see Config.CredentialUsers): it requires the keys each of them
// needs (X's four for "x", mastodon_token for "mastodon",
// bluesky_app_password for "bluesky", mqtt_password for "mqtt"), and
// reads the others the file has.
func (x XConfig) LoadCredentialsFor(dests []string) (Credentials, CredentialsInfo, error) {
	copied := systemdCopy()
	if copied == "" || allInEnvironment(dests) {
		return readCredentials(x.Credentials, dests)
	}
	path := x.Credentials
	if path == "" || underCredentialsDirectory(path) {
		path = defaultCredentials
	}
	src, err := checkCredentialsSource(path)
	if err != nil {
		return Credentials{}, CredentialsInfo{}, err
	}
	creds, info, err := readCredentials(copied, dests)
	if err != nil {
		return creds, info, fmt.Errorf("%w (systemd's copy of %s: edit that file, then systemctl restart pitweet)", err, src.Path)
	}
	if info.File != "" {
		info.Source = src
	}
	return creds, info, nil
}

// CredentialsConfigured reports whether x's keys are meant to be loaded:
// the credentials file exists (or cannot be looked at), a PITWEET_*
// variable is set (not empty), or systemd passes credentials
// ($CREDENTIALS_DIRECTORY). Only when none holds does explain sign with
// the example keys.
func (x XConfig) CredentialsConfigured() bool {
	for _, k := range credentialKeys {
		if os.Getenv(k.env) != "" {
			return true
		}
	}
	if os.Getenv("CREDENTIALS_DIRECTORY") != "" {
		return true
	}
	_, err := os.Lstat(x.Credentials)
	return x.Credentials != "" && !errors.Is(err, fs.ErrNotExist)
}

// systemdCopy is systemd's copy of the credentials file,
// $CREDENTIALS_DIRECTORY/x, or "" when there is none.
func systemdCopy() string {
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return ""
	}
	path := filepath.Join(dir, "x")
	if _, err := os.Lstat(path); err != nil {
		return ""
	}
	return path
}

// allInEnvironment reports whether the environment gives every key the
// destinations dests need.
func allInEnvironment(dests []string) bool {
	for _, k := range credentialKeys {
		if k.dest != "" && slices.Contains(dests, k.dest) && os.Getenv(k.env) == "" {
			return false
		}
	}
	return true
}

// checkCredentialsSource checks, with stat only, the file systemd copies
// the keys from.
func checkCredentialsSource(path string) (*CredentialsSource, error) {
	st, err := os.Stat(path)
	if err == nil && st.IsDir() {
		path = filepath.Join(path, "x")
		st, err = os.Stat(path)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("config: systemd passed credentials in $CREDENTIALS_DIRECTORY, but %s, where they should come from, does not exist; "+
			"set credentials in [x] to the file the unit's LoadCredential=x:... names (systemctl cat pitweet)", path)
	case errors.Is(err, fs.ErrPermission):
		// A directory keeps the daemon's user out, and so its group, which
		// the control socket's users share; the keys are loaded from
		// systemd's copy all the same.
		return &CredentialsSource{Path: path, Unchecked: fmt.Errorf("config: cannot check the mode of %s, which systemd passes in as the keys: %w; "+
			"a directory on its path keeps this user out; check it with sudo pitweet check", path, err)}, nil
	case err != nil:
		return nil, fmt.Errorf("config: check the credentials systemd passes in: %w", err)
	}
	if what := exposure(st); what != "" {
		return nil, fmt.Errorf("config: credentials %s, which systemd passes in, is %s: whoever can read it posts as the account; "+
			"make the keys root's alone: sudo chown root:root %s && sudo chmod 0600 %s; the daemon does not start until then", path, what, path, path)
	}
	return &CredentialsSource{Path: path, Mode: st.Mode().Perm(), Owner: fileOwner(st)}, nil
}

// exposure says how a credentials file is open to others than root, as
// "readable by group pitweet (mode 0640, root:pitweet)", or "" when it is
// root's alone: owned by root (or by the user pitweet runs as), with no
// access for its group or others.
func exposure(st fs.FileInfo) string {
	uid, _, known := fileIDs(st)
	mode := st.Mode().Perm()
	var what []string
	if known && uid != 0 && int(uid) != os.Geteuid() {
		what = append(what, "owned by "+fileOwner(st))
	}
	if g := mode >> 3 & 7; g != 0 {
		what = append(what, access(g)+" by group "+fileGroup(st))
	}
	if o := mode & 7; o != 0 {
		what = append(what, access(o)+" by others")
	}
	if len(what) == 0 {
		return ""
	}
	return fmt.Sprintf("%s (mode %04o, %s)", strings.Join(what, " and "), mode, fileOwner(st))
}

// access says what the permission bits rwx of one class allow.
func access(bits fs.FileMode) string {
	switch bits & 6 {
	case 6:
		return "readable and writable"
	case 4:
		return "readable"
	case 2:
		return "writable"
	}
	return "usable"
}

// fileOwner is the owner and group of a file, as "root:pitweet", with
// numbers for names that are not known.
func fileOwner(st fs.FileInfo) string {
	uid, _, known := fileIDs(st)
	if !known {
		return "owner unknown"
	}
	name := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return name + ":" + fileGroup(st)
}

// fileGroup is the group of a file, by name if it has one.
func fileGroup(st fs.FileInfo) string {
	_, gid, known := fileIDs(st)
	if !known {
		return "unknown"
	}
	name := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(name); err == nil {
		name = g.Name
	}
	return name
}

// LoadCredentials reads X's four keys from path, a file of lines
//
//	api_key=...
//	api_secret=...
//	access_token=...
//	access_secret=...
//
// (blank lines and lines starting with # are ignored, spaces around = are
// allowed) or, when path is a directory such as systemd's
// $CREDENTIALS_DIRECTORY, from the file "x" in it. The environment variables
// PITWEET_API_KEY, PITWEET_API_SECRET, PITWEET_ACCESS_TOKEN and
// PITWEET_ACCESS_SECRET override the file; with all four set no file is
// needed. Like ssh with a private key, it refuses a file that its group
// may write or that others may use at all, except under
// $CREDENTIALS_DIRECTORY, which systemd protects.
func LoadCredentials(path string) (oauth.Credentials, error) {
	c, _, err := LoadCredentialsInfo(path)
	return c, err
}

// LoadCredentialsInfo is LoadCredentials that also says where the keys
// came from.
func LoadCredentialsInfo(path string) (oauth.Credentials, CredentialsInfo, error) {
	c, info, err := readCredentials(path, []string{"x"})
	return c.X(), info, err
}

// readCredentials reads the keys from path as LoadCredentials does and
// requires those the destinations dests need: X's four for "x",
// mastodon_token for "mastodon", bluesky_app_password for "bluesky". The
// other keys are read when the file has them. When the environment gives
// every key needed, no file is read.
func readCredentials(path string, dests []string) (Credentials, CredentialsInfo, error) {
	for _, d := range dests {
		if other, ok := sameKeysAs[d]; ok {
			dests = append(slices.Clip(dests), other)
		}
	}
	var info CredentialsInfo
	values := map[string]string{}
	for _, k := range credentialKeys {
		if v := os.Getenv(k.env); v != "" {
			values[k.key] = v
			info.Env = append(info.Env, k.env)
		}
	}
	needed := func(k string) bool {
		for _, c := range credentialKeys {
			if c.key == k {
				return c.dest != "" && slices.Contains(dests, c.dest)
			}
		}
		return false
	}
	var missing []string
	missingDest := ""
	check := func() {
		missing, missingDest = nil, ""
		for _, k := range credentialKeys {
			if needed(k.key) && values[k.key] == "" {
				missing = append(missing, k.key)
				if missingDest == "" {
					missingDest = k.dest
				}
			}
		}
	}
	if check(); len(missing) > 0 {
		file, st, err := readCredentialsFile(path, values)
		if err != nil {
			return Credentials{}, info, err
		}
		info.File, info.Mode, info.Owner = file, st.Mode().Perm(), fileOwner(st)
		check()
	}
	if len(missing) > 0 {
		where := path
		if info.File != "" {
			where = info.File
		}
		return Credentials{}, info, fmt.Errorf("config: credentials %s lacks %s; add a line %s=... for each, %s",
			where, strings.Join(missing, ", "), missing[0], keyHint(missingDest))
	}
	return Credentials{
		APIKey:             values["api_key"],
		APISecret:          values["api_secret"],
		AccessToken:        values["access_token"],
		AccessSecret:       values["access_secret"],
		MastodonToken:      values["mastodon_token"],
		BlueskyAppPassword: values["bluesky_app_password"],
		MQTTPassword:       values["mqtt_password"],
	}, info, nil
}

// readCredentialsFile adds the keys in the file at path (or path/x) to
// values, keeping those already there (from the environment).
func readCredentialsFile(path string, values map[string]string) (string, fs.FileInfo, error) {
	if path == "" {
		return "", nil, errors.New("config: no credentials file configured; set credentials in [x] or the PITWEET_API_KEY, PITWEET_API_SECRET, PITWEET_ACCESS_TOKEN and PITWEET_ACCESS_SECRET variables")
	}
	st, err := os.Stat(path)
	if err == nil && st.IsDir() {
		path = filepath.Join(path, "x")
		st, err = os.Stat(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("config: credentials %s does not exist; create it with the four keys from the X developer portal: "+
			"sudo install -m 0600 /dev/null %s, then add lines api_key=..., api_secret=..., access_token=..., access_secret=...", path, path)
	}
	if err != nil {
		return "", nil, fmt.Errorf("config: credentials: %w", err)
	}
	mode := st.Mode().Perm()
	if !underCredentialsDirectory(path) {
		switch {
		case mode&0o007 != 0:
			return "", nil, fmt.Errorf("config: credentials %s is %s by others (mode %04o); fix: sudo chmod 0600 %s", path, access(mode&7), mode, path)
		case mode&0o020 != 0:
			return "", nil, fmt.Errorf("config: credentials %s is writable by its group (mode %04o); fix: sudo chmod 0600 %s", path, mode, path)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return "", nil, fmt.Errorf("config: credentials %s: permission denied; the keys are root's: run this as root (sudo)", path)
		}
		return "", nil, fmt.Errorf("config: credentials: %w", err)
	}
	if err := parseCredentials(data, path, values); err != nil {
		return "", nil, err
	}
	return path, st, nil
}

// underCredentialsDirectory reports whether path is inside systemd's
// $CREDENTIALS_DIRECTORY.
func underCredentialsDirectory(path string) bool {
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func parseCredentials(data []byte, path string, values map[string]string) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	seen := map[string]int{}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok {
			// Never quote the line: it may be a secret pasted on its own.
			return fmt.Errorf("config: credentials %s:%d: not a key=value line; write api_key=..., api_secret=..., access_token=... and access_secret=...", path, line)
		}
		known := false
		for _, k := range credentialKeys {
			known = known || k.key == key
		}
		if !known {
			var keys []string
			for _, k := range credentialKeys {
				keys = append(keys, k.key)
			}
			return fmt.Errorf("config: credentials %s:%d: unknown key %q; the keys are %s", path, line, key, strings.Join(keys, ", "))
		}
		if prev, dup := seen[key]; dup {
			return fmt.Errorf("config: credentials %s:%d: %s is set twice (first on line %d); keep one", path, line, key, prev)
		}
		seen[key] = line
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			return fmt.Errorf("config: credentials %s:%d: %s is in quotes; write the value without them", path, line, key)
		}
		if _, fromEnv := values[key]; !fromEnv {
			values[key] = value
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("config: credentials %s: %w", path, err)
	}
	return nil
}
