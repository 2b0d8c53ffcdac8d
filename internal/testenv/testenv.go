// Package testenv decides what a test does when something it needs from the
// machine (a tool, dockerd, the simulated-VM images, the real agent CLIs) is
// missing. Under scripts/test.sh (MNGR_TEST_REQUIRE_ALL=1) a missing
// prerequisite fails the test: scripts/setup.sh should have provided it, and a
// green run that skipped the docker-backed tests would hide what a newcomer
// meets. Anywhere else (a plain `go test` on a laptop) the test skips. Either
// way the reason is appended to $MNGR_TEST_SKIP_LOG when set, so the test
// script can count the skips and say why.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequireAllVar is the variable that, set to 1, turns a missing prerequisite
// into a failure.
const RequireAllVar = "MNGR_TEST_REQUIRE_ALL"

// SkipLogVar names a file that collects one line per missing prerequisite.
const SkipLogVar = "MNGR_TEST_SKIP_LOG"

// Missing reports that the test cannot run because a prerequisite is
// missing: it fails under MNGR_TEST_REQUIRE_ALL=1 and skips otherwise.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	logSkip(t.Name(), reason)
	if os.Getenv(RequireAllVar) == "1" {
		t.Fatalf("prerequisite missing: %s (scripts/setup.sh provides it; MNGR_TEST_ALLOW_SKIP=1 scripts/test.sh lets such tests skip)", reason)
	}
	t.Skip(reason)
}

// NeedTools calls Missing for the first of tools not on PATH.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			Missing(t, "%s is not installed", tool)
		}
	}
}

// logSkip appends "test: reason" to $MNGR_TEST_SKIP_LOG; a failure to write
// is ignored (the log is a summary, not the verdict).
func logSkip(name, reason string) {
	path := os.Getenv(SkipLogVar)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600) //nolint:gosec // G304: the path is the test script's own log
	if err != nil {
		return
	}
	defer f.Close() //nolint:errcheck // append-only log; the write's error is what matters
	_, _ = fmt.Fprintf(f, "%s: %s\n", name, strings.ReplaceAll(reason, "\n", " "))
}
