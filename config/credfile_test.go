//go:build unix

package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

var newTokens = []KeyValue{{"access_token", "1790-newtoken"}, {"access_secret", "new-secret"}}

func TestUpdateKeepsTheRest(t *testing.T) {
	for _, c := range []struct{ name, before, after string }{
		{
			name: "keys replaced in place",
			before: "# X keys for the kitchen Pi\n\napi_key = ak\napi_secret=as   \n# the bot account\naccess_token = old-token\n" +
				"access_secret=old-secret\n\n# end\n",
			after: "# X keys for the kitchen Pi\n\napi_key = ak\napi_secret=as   \n# the bot account\naccess_token=1790-newtoken\n" +
				"access_secret=new-secret\n\n# end\n",
		},
		{
			name:   "keys added",
			before: "api_key=ak\n# comment\napi_secret=as\n",
			after:  "api_key=ak\n# comment\napi_secret=as\naccess_token=1790-newtoken\naccess_secret=new-secret\n",
		},
		{
			name:   "no final newline",
			before: "api_key=ak\napi_secret=as",
			after:  "api_key=ak\napi_secret=as\naccess_token=1790-newtoken\naccess_secret=new-secret\n",
		},
		{
			name:   "last line replaced, no final newline",
			before: "api_key=ak\napi_secret=as\naccess_token=old",
			after:  "api_key=ak\napi_secret=as\naccess_token=1790-newtoken\naccess_secret=new-secret\n",
		},
		{
			name:   "CRLF and a byte-order mark",
			before: "\uFEFFaccess_token=old\r\napi_key=ak\r\napi_secret=as\r\n",
			after:  "\uFEFFaccess_token=1790-newtoken\r\napi_key=ak\r\napi_secret=as\r\naccess_secret=new-secret\r\n",
		},
		{
			name:   "empty file, as the package installs it",
			before: "",
			after:  "access_token=1790-newtoken\naccess_secret=new-secret\n",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "credentials")
			if err := os.WriteFile(path, []byte(c.before), 0o640); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Stat(path)
			f, err := OpenCredentialsFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Update(newTokens); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.after {
				t.Errorf("file\n got %q\nwant %q", got, c.after)
			}
			after, _ := os.Stat(path)
			if after.Mode().Perm() != 0o600 {
				t.Errorf("mode %04o, want 0600", after.Mode().Perm())
			}
			if os.SameFile(before, after) {
				t.Error("the file was written in place, not replaced by a new one")
			}
			if uid, _, ok := fileIDs(after); ok && int(uid) != os.Geteuid() {
				t.Errorf("owner %d, want %d", uid, os.Geteuid())
			}
			if os.Geteuid() == 0 {
				if gid := after.Sys().(*syscall.Stat_t).Gid; gid != 0 {
					t.Errorf("group %d, want root", gid)
				}
			}
			// What the daemon reads back.
			creds, err := LoadCredentials(path)
			if c.name != "empty file, as the package installs it" {
				if err != nil || creds.Token != "1790-newtoken" || creds.TokenSecret != "new-secret" || creds.ConsumerKey != "ak" {
					t.Errorf("LoadCredentials = %+v, %v", creds, err)
				}
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want the file alone (no temporary left)", len(entries))
			}
		})
	}
}

func TestUpdateNewFileAndLinks(t *testing.T) {
	dir := t.TempDir()
	// A file that does not exist yet.
	path := filepath.Join(dir, "credentials")
	f, err := OpenCredentialsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Exists || f.Path != path {
		t.Errorf("new file: %+v", f)
	}
	if err := f.Update(append([]KeyValue{{"api_key", "ak"}, {"api_secret", "as"}}, newTokens...)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "api_key=ak\napi_secret=as\naccess_token=1790-newtoken\naccess_secret=new-secret\n" {
		t.Errorf("new file holds %q", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %04o", st.Mode().Perm())
	}

	// A symbolic link: the file it points to is replaced, the link kept.
	link := filepath.Join(t.TempDir(), "credentials")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	f, err = OpenCredentialsFile(link)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != path || f.Get("api_key") != "ak" {
		t.Errorf("through a link: %+v", f)
	}
	if err := f.Update([]KeyValue{{"access_token", "via-link"}}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v", err)
	}
	if got, _ := os.ReadFile(path); !strings.Contains(string(got), "access_token=via-link\n") {
		t.Errorf("target holds %q", got)
	}

	// A directory, as systemd's credentials directory is laid out: dir/x.
	cdir := t.TempDir()
	f, err = OpenCredentialsFile(cdir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != filepath.Join(cdir, "x") {
		t.Errorf("directory: file %s", f.Path)
	}
}

// TestUpdateKeepsAnEditMadeMeanwhile edits the file between Open (before
// the user types the PIN) and Update: the edit survives.
func TestUpdateKeepsAnEditMadeMeanwhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(path, []byte("api_key=ak\napi_secret=as\n"), 0o600)
	f, err := OpenCredentialsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("api_key=ak\napi_secret=as\n# added while waiting\n"), 0o600)
	if err := f.Update(newTokens); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "api_key=ak\napi_secret=as\n# added while waiting\naccess_token=1790-newtoken\naccess_secret=new-secret\n" {
		t.Errorf("file %q", got)
	}
	// An edit that breaks the file: nothing is written.
	broken := "api_key=ak\nnot a key line\n"
	os.WriteFile(path, []byte(broken), 0o600)
	if err := f.Update(newTokens); err == nil || !strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("Update over a broken file: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != broken {
		t.Errorf("broken file was changed to %q", got)
	}
}

func TestOpenCredentialsFileRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials")
	for _, c := range []struct {
		name, content, want string
	}{
		{"not key=value", "api_key=ak\nsecretpastedalone\n", "credentials.*:2: not a key=value line"},
		{"unknown key", "api_kee=ak\n", `unknown key "api_kee"`},
		{"twice", "api_key=a\napi_key=b\n", "api_key is set twice"},
	} {
		os.WriteFile(path, []byte(c.content), 0o600)
		_, err := OpenCredentialsFile(path)
		if err == nil || !matches(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secretpastedalone") {
			t.Errorf("%s: the error quotes the line: %v", c.name, err)
		}
	}

	if _, err := OpenCredentialsFile(filepath.Join(dir, "missing", "credentials")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing directory: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCredentialsFile(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO: %v", err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	if _, err := OpenCredentialsFile(filepath.Join(dir, "x")); err == nil || !strings.Contains(err.Error(), "systemd's read-only copy") {
		t.Errorf("systemd's copy: %v", err)
	}
}

func TestUpdateRefusesBadValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(path, []byte("api_key=ak\n"), 0o600)
	f, err := OpenCredentialsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range []KeyValue{{"access_token", ""}, {"access_token", "a\nb"}, {"access_token", "a b"}, {"access_token", `"q"`}, {"mastodon", "x"}} {
		if err := f.Update([]KeyValue{kv}); err == nil {
			t.Errorf("Update(%q) wrote it", kv)
		}
	}
	if got, _ := os.ReadFile(path); string(got) != "api_key=ak\n" {
		t.Errorf("file changed to %q", got)
	}
}

func TestAppKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(path, []byte("api_key=file-key\napi_secret=file-secret\n"), 0o600)
	f, err := OpenCredentialsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PITWEET_API_KEY", "")
	t.Setenv("PITWEET_API_SECRET", "")
	if k, s, env, err := f.AppKeys(); k != "file-key" || s != "file-secret" || env != nil || err != nil {
		t.Errorf("from the file: %q %q %v %v", k, s, env, err)
	}
	t.Setenv("PITWEET_API_KEY", "env-key")
	if k, s, env, err := f.AppKeys(); k != "env-key" || s != "file-secret" || len(env) != 1 || err != nil {
		t.Errorf("key from the environment: %q %q %v %v", k, s, env, err)
	}
	os.WriteFile(path, nil, 0o600)
	f, _ = OpenCredentialsFile(path)
	if _, _, _, err := f.AppKeys(); err == nil || !strings.Contains(err.Error(), "api_key and api_secret are needed") {
		t.Errorf("no secret: %v", err)
	}
}

func matches(s, pattern string) bool {
	before, after, ok := strings.Cut(pattern, ".*")
	if !ok {
		return strings.Contains(s, pattern)
	}
	i := strings.Index(s, before)
	return i >= 0 && strings.Contains(s[i+len(before):], after)
}

// TestUpdateInASetGIDDirectory writes as root in a directory whose
// set-group-ID bit would give new files its group: the file is made
// root:root all the same.
func TestUpdateInASetGIDDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	if err := os.Chown(dir, 0, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "credentials")
	f, err := OpenCredentialsFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Update(newTokens); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Sys().(*syscall.Stat_t); s.Uid != 0 || s.Gid != 0 || st.Mode().Perm() != 0o600 {
		t.Errorf("file %d:%d mode %04o, want root:root 0600", s.Uid, s.Gid, st.Mode().Perm())
	}
}
