//go:build !unix

package hw_test

import "errors"

func mkfifo(string) error { return errors.ErrUnsupported }
