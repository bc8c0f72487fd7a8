//go:build !unix

package sender

import "errors"

func mkfifo(string) error { return errors.ErrUnsupported }
