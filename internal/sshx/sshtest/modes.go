package sshtest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// OpenUmask sets the process umask to 0 until t ends, so files and
// directories a test makes get the modes the code asks for and nothing
// masks them off. The umask is the process's: a test that calls it must not
// run in parallel.
func OpenUmask(t testing.TB) {
	t.Helper()
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
}

// WantMode reports an error on t unless path's permission bits are want.
func WantMode(t testing.TB, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s has mode %o, want %o", path, got, want)
	}
}

// WantDirModes checks WantMode(want) on dir and on every directory above it
// up to, not including, base: the levels code created on the way to dir.
func WantDirModes(t testing.TB, base, dir string, want os.FileMode) {
	t.Helper()
	base = filepath.Clean(base)
	for d := filepath.Clean(dir); d != base; d = filepath.Dir(d) {
		if filepath.Dir(d) == d {
			t.Fatalf("%s is not under %s", dir, base)
		}
		WantMode(t, d, want)
	}
}
