//go:build !unix

package config

// canWriteDir cannot tell here; the write itself will say.
func canWriteDir(dir string) bool { return true }

// syncDir has nothing to sync here: a directory cannot be opened for it.
func syncDir(dir string) error { return nil }
