package main

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The pitweet binary writes and reads HTTP itself (package sender), and so
// do the service emulators it links for `pitweet demo` (package httpd):
// neither the binary nor any emulator may link net/http or net/textproto,
// even through another package.
//
// go list gives every package linked; the test then reads the source of
// each of pitweet's own packages, which also makes go test's cache notice
// an import added later.
func TestNoHTTPLibraryLinked(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	forbidden := func(path string) bool {
		return path == "net/http" || strings.HasPrefix(path, "net/http/") || path == "net/textproto"
	}
	roots := []string{"pitweet/cmd/pitweet", "pitweet/httpd", "pitweet/emulator", "pitweet/fakex", "pitweet/fakemastodon", "pitweet/fakebsky"}
	args := append([]string{"list", "-deps", "-f", `{{.ImportPath}}	{{.Standard}}	{{.Dir}}`}, roots...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var linked []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, rest, _ := strings.Cut(line, "\t")
		standard, dir, _ := strings.Cut(rest, "\t")
		linked = append(linked, pkg)
		if forbidden(pkg) {
			t.Errorf("%s is linked", pkg)
		}
		if standard == "true" || !strings.HasPrefix(pkg, "pitweet/") {
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				if path, _ := strconv.Unquote(imp.Path.Value); forbidden(path) {
					t.Errorf("%s/%s imports %s", pkg, name, path)
				}
			}
		}
	}
	// The check looked where it should.
	for _, want := range append(roots, "pitweet/sender") {
		if !slices.Contains(linked, want) {
			t.Errorf("go list did not list %s; the check missed it", want)
		}
	}
}
