package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"pitweet/oauth"
)

// credentialKeys are the credentials file's keys (the names X's developer
// portal uses) and the environment variables that override them.
var credentialKeys = []struct{ key, env string }{
	{"api_key", "PITWEET_API_KEY"},
	{"api_secret", "PITWEET_API_SECRET"},
	{"access_token", "PITWEET_ACCESS_TOKEN"},
	{"access_secret", "PITWEET_ACCESS_SECRET"},
}

// CredentialsInfo says where LoadCredentials found the keys, for check.
type CredentialsInfo struct {
	File string      // the file read; "" when the environment gave all four
	Mode fs.FileMode // its permission bits
	Env  []string    // the environment variables that were used
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
// needed. Like ssh with a private key, it refuses a file that users other
// than its owner and group can read or write, except under
// $CREDENTIALS_DIRECTORY, which systemd protects.
func LoadCredentials(path string) (oauth.Credentials, error) {
	c, _, err := LoadCredentialsInfo(path)
	return c, err
}

// LoadCredentialsInfo is LoadCredentials that also says where the keys
// came from.
func LoadCredentialsInfo(path string) (oauth.Credentials, CredentialsInfo, error) {
	var info CredentialsInfo
	values := map[string]string{}
	for _, k := range credentialKeys {
		if v := os.Getenv(k.env); v != "" {
			values[k.key] = v
			info.Env = append(info.Env, k.env)
		}
	}
	if len(values) < len(credentialKeys) {
		file, mode, err := readCredentialsFile(path, values)
		if err != nil {
			return oauth.Credentials{}, info, err
		}
		info.File, info.Mode = file, mode
	}
	var missing []string
	for _, k := range credentialKeys {
		if values[k.key] == "" {
			missing = append(missing, k.key)
		}
	}
	if len(missing) > 0 {
		where := path
		if info.File != "" {
			where = info.File
		}
		return oauth.Credentials{}, info, fmt.Errorf("daemon: credentials %s lacks %s; add a line %s=... for each, copied from the X developer portal (Keys and tokens)",
			where, strings.Join(missing, ", "), missing[0])
	}
	return oauth.Credentials{
		ConsumerKey:    values["api_key"],
		ConsumerSecret: values["api_secret"],
		Token:          values["access_token"],
		TokenSecret:    values["access_secret"],
	}, info, nil
}

// readCredentialsFile adds the keys in the file at path (or path/x) to
// values, keeping those already there (from the environment).
func readCredentialsFile(path string, values map[string]string) (string, fs.FileMode, error) {
	if path == "" {
		return "", 0, errors.New("daemon: no credentials file configured; set credentials in [x] or the PITWEET_API_KEY, PITWEET_API_SECRET, PITWEET_ACCESS_TOKEN and PITWEET_ACCESS_SECRET variables")
	}
	st, err := os.Stat(path)
	if err == nil && st.IsDir() {
		path = filepath.Join(path, "x")
		st, err = os.Stat(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", 0, fmt.Errorf("daemon: credentials %s does not exist; create it with the four keys from the X developer portal: "+
			"sudo install -m 0640 -g pitweet /dev/null %s, then add lines api_key=..., api_secret=..., access_token=..., access_secret=...", path, path)
	}
	if err != nil {
		return "", 0, fmt.Errorf("daemon: credentials: %w", err)
	}
	mode := st.Mode().Perm()
	if mode&0o007 != 0 && !underCredentialsDirectory(path) {
		what := "readable"
		switch {
		case mode&0o006 == 0o006:
			what = "readable and writable"
		case mode&0o002 != 0:
			what = "writable"
		case mode&0o004 == 0:
			what = "usable"
		}
		return "", mode, fmt.Errorf("daemon: credentials %s is %s by others (mode %04o); fix: sudo chmod %04o %s", path, what, mode, mode&^0o007, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return "", mode, fmt.Errorf("daemon: credentials %s: permission denied; run as root or as the pitweet user (sudo -u pitweet), or add yourself to its group", path)
		}
		return "", mode, fmt.Errorf("daemon: credentials: %w", err)
	}
	if err := parseCredentials(data, path, values); err != nil {
		return "", mode, err
	}
	return path, mode, nil
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
			return fmt.Errorf("daemon: credentials %s:%d: not a key=value line; write api_key=..., api_secret=..., access_token=... and access_secret=...", path, line)
		}
		known := false
		for _, k := range credentialKeys {
			known = known || k.key == key
		}
		if !known {
			return fmt.Errorf("daemon: credentials %s:%d: unknown key %q; the keys are api_key, api_secret, access_token and access_secret", path, line, key)
		}
		if prev, dup := seen[key]; dup {
			return fmt.Errorf("daemon: credentials %s:%d: %s is set twice (first on line %d); keep one", path, line, key, prev)
		}
		seen[key] = line
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			return fmt.Errorf("daemon: credentials %s:%d: %s is in quotes; write the value without them", path, line, key)
		}
		if _, fromEnv := values[key]; !fromEnv {
			values[key] = value
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("daemon: credentials %s: %w", path, err)
	}
	return nil
}
