package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A CredentialsFile is the credentials file as `pitweet login` changes
// it: read once to find the app's keys and to learn early whether this
// process may replace it, then rewritten with new keys by Update.
type CredentialsFile struct {
	// Path is the file itself: the configured path, path/x for a
	// directory, or the target of a symbolic link.
	Path   string
	Exists bool
	values map[string]string
}

// A KeyValue is one credentials key and its new value.
type KeyValue struct{ Key, Value string }

// OpenCredentialsFile reads the credentials file at path (or path/x when
// path is a directory) for changing it. The file need not exist yet; its
// directory must. It fails, saying what to do, when the file is not one
// pitweet reads (a line it would refuse), is systemd's copy in
// $CREDENTIALS_DIRECTORY, or cannot be replaced by this process: not
// root, and the file or its directory belongs to someone else.
func OpenCredentialsFile(path string) (*CredentialsFile, error) {
	return readCredentialsFileFor(path, mayReplace)
}

// ReadCredentialsFile is OpenCredentialsFile for reading only (explain
// --login): it does not check that the file could be replaced.
func ReadCredentialsFile(path string) (*CredentialsFile, error) {
	return readCredentialsFileFor(path, nil)
}

// readCredentialsFileFor finds the file, runs check on it (st is nil when
// it does not exist), and reads it.
func readCredentialsFileFor(path string, check func(path string, st fs.FileInfo) error) (*CredentialsFile, error) {
	if path == "" {
		return nil, errors.New("config: no credentials file configured; set credentials in [x] to the file that should hold the keys")
	}
	if underCredentialsDirectory(path) {
		return nil, fmt.Errorf("config: credentials %s is systemd's read-only copy; run pitweet login outside the service, as root, with the config that names the file itself (sudo pitweet login)", path)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "x")
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	f := &CredentialsFile{Path: path, values: map[string]string{}}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(path)
		dst, err := os.Stat(dir)
		if err != nil || !dst.IsDir() {
			return nil, fmt.Errorf("config: credentials %s: its directory %s does not exist; create it (sudo install -d -m 0755 %s) or set credentials in [x] to another file", path, dir, dir)
		}
	case err != nil:
		return nil, fmt.Errorf("config: credentials: %w", err)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("config: credentials %s is not a regular file; make it one, or set credentials in [x] to a file", path)
	default:
		f.Exists = true
	}
	if check != nil {
		if err := check(path, st); err != nil {
			return nil, err
		}
	}
	if !f.Exists {
		return f, nil
	}
	data, err := readCredentialsData(path)
	if err != nil {
		return nil, err
	}
	if err := parseCredentials(data, path, f.values); err != nil {
		return nil, err
	}
	return f, nil
}

// Get returns the file's value for key, "" when it has none.
func (f *CredentialsFile) Get(key string) string { return f.values[key] }

// AppKeys returns the app's API key and secret, which sign the login:
// PITWEET_API_KEY and PITWEET_API_SECRET when set, as everywhere, else the
// file's api_key and api_secret. env lists the variables that were used.
func (f *CredentialsFile) AppKeys() (key, secret string, env []string, err error) {
	key, secret = f.values["api_key"], f.values["api_secret"]
	if v := os.Getenv("PITWEET_API_KEY"); v != "" {
		key, env = v, append(env, "PITWEET_API_KEY")
	}
	if v := os.Getenv("PITWEET_API_SECRET"); v != "" {
		secret, env = v, append(env, "PITWEET_API_SECRET")
	}
	if key == "" || secret == "" {
		return "", "", env, fmt.Errorf("config: the app's api_key and api_secret are needed to log in: add both lines to %s (sudoedit %s), "+
			"copied from the X developer portal (Keys and tokens, Consumer Keys), or set PITWEET_API_KEY and PITWEET_API_SECRET", f.Path, f.Path)
	}
	return key, secret, env, nil
}

// mayReplace checks that this process can write a new file in path's
// directory and rename it over path: root can; another user only in a
// directory of its own, over a file of its own.
func mayReplace(path string, st fs.FileInfo) error {
	if os.Geteuid() == 0 {
		return nil
	}
	sudo := fmt.Errorf("config: credentials %s is root's; run pitweet login as root: sudo pitweet login", path)
	if st != nil {
		if uid, _, ok := fileIDs(st); ok && int(uid) != os.Geteuid() {
			return sudo
		}
	}
	if !canWriteDir(filepath.Dir(path)) {
		return sudo
	}
	return nil
}

// readCredentialsData reads the file, bounded: a credentials file is a
// few hundred bytes.
func readCredentialsData(path string) ([]byte, error) {
	const limit = 64 << 10
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("config: credentials %s: permission denied; the keys are root's: run this as root (sudo)", path)
	case err != nil:
		return nil, fmt.Errorf("config: credentials: %w", err)
	case len(data) > limit:
		return nil, fmt.Errorf("config: credentials %s is %d bytes, more than a credentials file holds (%d); check that credentials in [x] names the right file", path, len(data), limit)
	}
	return data, nil
}

// Update sets keys in the file and replaces it atomically: the file is
// read again (so an edit made meanwhile is kept), each key's line gets
// the new value, keys the file lacks are added at its end, and every
// other line (keys, comments, blank lines, line ends) stays byte for byte.
// The new file is written beside the old one, synced, renamed over it, and
// the directory is synced: a crash leaves the old file or the new one,
// never a mix. It is mode 0600, and owned by root:root when written as
// root (by the user who runs pitweet otherwise).
func (f *CredentialsFile) Update(keys []KeyValue) error {
	for _, kv := range keys {
		if !slices.ContainsFunc(credentialKeys, func(k struct{ key, env, dest string }) bool { return k.key == kv.Key }) {
			return fmt.Errorf("config: credentials: %q is not a credentials key", kv.Key)
		}
		if !plainValue(kv.Value) {
			return fmt.Errorf("config: credentials: the new %s is empty or holds a space, a quote or a control character; it cannot be written as a line of %s", kv.Key, f.Path)
		}
	}
	var data []byte
	if st, err := os.Stat(f.Path); err == nil {
		if !st.Mode().IsRegular() {
			return fmt.Errorf("config: credentials %s is no longer a regular file; nothing was written", f.Path)
		}
		if data, err = readCredentialsData(f.Path); err != nil {
			return err
		}
		if err := parseCredentials(data, f.Path, map[string]string{}); err != nil {
			return fmt.Errorf("%w (the file was changed meanwhile; nothing was written)", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config: credentials: %w", err)
	}
	if err := replaceFile(f.Path, setKeys(data, keys)); err != nil {
		return err
	}
	for _, kv := range keys {
		f.values[kv.Key] = kv.Value
	}
	f.Exists = true
	return nil
}

// plainValue reports whether v can stand as a value on a key=value line
// and be read back the same: not empty, no spaces or control characters,
// not in quotes.
func plainValue(v string) bool {
	if v == "" || v[0] == '"' || v[0] == '\'' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] == 0x7f {
			return false
		}
	}
	return true
}

// setKeys returns data with each key's line replaced by key=value, and
// the keys data lacks added at the end, in the file's own line ends.
func setKeys(data []byte, keys []KeyValue) []byte {
	eol := "\n"
	if bytes.Contains(data, []byte("\r\n")) {
		eol = "\r\n"
	}
	done := map[string]bool{}
	var out []byte
	for i, line := range bytes.SplitAfter(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		content := bytes.TrimRight(line, "\r\n")
		ending := line[len(content):]
		text := content
		var bom []byte
		if i == 0 && bytes.HasPrefix(text, []byte("\uFEFF")) {
			bom, text = []byte("\uFEFF"), text[len("\uFEFF"):]
		}
		key, _, ok := strings.Cut(strings.TrimSpace(string(text)), "=")
		key = strings.TrimSpace(key)
		j := slices.IndexFunc(keys, func(kv KeyValue) bool { return kv.Key == key })
		if !ok || j < 0 || done[key] {
			out = append(out, line...)
			continue
		}
		done[key] = true
		if len(ending) == 0 {
			ending = []byte(eol)
		}
		out = append(out, bom...)
		out = append(out, keys[j].Key+"="+keys[j].Value...)
		out = append(out, ending...)
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, eol...)
	}
	for _, kv := range keys {
		if !done[kv.Key] {
			out = append(out, kv.Key+"="+kv.Value+eol...)
		}
	}
	return out
}

// replaceFile writes data to a new file in path's directory, makes it
// 0600 (and root:root as root), syncs it, renames it over path, and syncs
// the directory.
func replaceFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("config: credentials %s is root's; run pitweet login as root: sudo pitweet login", path)
		}
		return fmt.Errorf("config: credentials: write beside %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("config: credentials: %w", err)
	}
	if os.Geteuid() == 0 {
		// Root's new file is root:root already, unless the directory
		// gives its own group (set-group-ID): then make it root's.
		st, err := tmp.Stat()
		if err != nil {
			return fmt.Errorf("config: credentials: %w", err)
		}
		if uid, gid, ok := fileIDs(st); !ok || uid != 0 || gid != 0 {
			if err := tmp.Chown(0, 0); err != nil {
				return fmt.Errorf("config: credentials: make %s root's: %w", tmp.Name(), err)
			}
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("config: credentials: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("config: credentials: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config: credentials: write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config: credentials: replace %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("config: credentials: %s was replaced, but syncing %s failed (a power cut now could lose the change): %w", path, dir, err)
	}
	return nil
}
