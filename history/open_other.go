//go:build !unix

package history

// Elsewhere the history directory is opened plainly; pitweet runs on
// Linux.
const (
	oNoFollow  = 0
	oDirectory = 0
	oNonblock  = 0
)

func isLinkErr(err error) bool { return false }
