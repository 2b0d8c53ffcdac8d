// Package scripttest checks the syntax of the embedded shell scripts of a
// package (see core.ScriptCall) in that package's tests.
package scripttest

import (
	"context"
	"io/fs"
	"os/exec"
	"path"
	"testing"

	"github.com/mngr-azure/mngr/internal/testenv"
)

// Shells are the shells every script must parse in: the POSIX sh of the
// machine (dash on Debian, the strictest common one) and bash, which is
// sh on some hosts.
var Shells = []string{"sh", "bash"}

// CheckSyntax runs `SHELL -n` over every .sh file in fsys, for each of
// Shells, and fails t for each one that does not parse; it also fails when
// fsys holds no .sh file at all, so a moved directory cannot pass
// silently. It returns the names of the files it checked.
func CheckSyntax(t testing.TB, fsys fs.FS) []string {
	t.Helper()
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && path.Ext(p) == ".sh" {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list scripts: %v", err)
	}
	if len(names) == 0 {
		t.Fatal("no .sh script found")
	}
	for _, name := range names {
		text, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		for _, shell := range Shells {
			if msg, ok := Parses(t, shell, string(text)); !ok {
				t.Errorf("%s does not parse with %s -n: %s", name, shell, msg)
			}
		}
	}
	return names
}

// Parses reports whether script parses with `shell -n`, and the shell's
// complaint when it does not. A shell that is not installed skips t.
func Parses(t testing.TB, shell, script string) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath(shell)
	if err != nil {
		testenv.Missing(t, "%s is not installed", shell)
	}
	out, err := exec.CommandContext(context.Background(), bin, "-n", "-c", script).CombinedOutput() //nolint:gosec // G204: the shell is one of Shells
	return string(out), err == nil
}
