package core

import (
	"regexp"
	"sync"
)

// LazyRegexp returns a function that compiles expr on its first call and
// returns the same *regexp.Regexp after that. Package-level patterns use it
// instead of regexp.MustCompile so that a command that never validates
// anything (mngr --help, mngr list) does not pay for compiling them at start-up.
// A bad expr panics on first use, as MustCompile would at init.
func LazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
