//go:build !unix

package outbox

// lockDir does nothing where flock is missing; the spool is then not
// protected against a second process.
func lockDir(path string) (unlock func() error, err error) {
	return func() error { return nil }, nil
}
