package main

import (
	"errors"
	"io"
)

func cmdDemo(args []string, stdout, stderr io.Writer) error {
	return errors.New("not built yet")
}
