package sshtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// errRecorder keeps the errors a helper reports instead of failing the test.
type errRecorder struct {
	testing.TB
	errs []string
}

func (r *errRecorder) Helper() {}

func (r *errRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestWantDirModesChecksLevelsBelowBase checks that WantDirModes looks at
// dir and each directory above it up to base, and not at base itself.
func TestWantDirModesChecksLevelsBelowBase(t *testing.T) {
	base := t.TempDir()
	a := filepath.Join(base, "a")
	b := filepath.Join(a, "b")
	if err := os.MkdirAll(b, 0o700); err != nil {
		t.Fatal(err)
	}
	for p, m := range map[string]os.FileMode{base: 0o755, a: 0o700, b: 0o750} {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	r := &errRecorder{TB: t}
	WantDirModes(r, base, b, 0o700)
	if len(r.errs) != 1 || !strings.HasPrefix(r.errs[0], b+" has mode 750") {
		t.Errorf("WantDirModes reported %q, want only %s as mode 750", r.errs, b)
	}
	r.errs = nil
	WantDirModes(r, base, a, 0o700)
	if len(r.errs) != 0 {
		t.Errorf("WantDirModes on a 0700 level reported %q", r.errs)
	}
}
