package azsim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"
)

// ErrDataDirBusy is returned by Run when another azsim serves the data dir.
var ErrDataDirBusy = errors.New("data dir in use")

// lockDataDir takes DIR/azsim.lock (flock, exclusive, not waiting) for as
// long as this azsim runs and writes its pid in it. A data dir another
// azsim holds is refused with that azsim's pid, before anything in the dir
// is touched. The kernel drops the lock when the process ends, however it
// ends, so a killed azsim leaves no stale lock.
func lockDataDir(dir string) (unlock func(), err error) {
	p := filepath.Join(dir, "azsim.lock")
	lock := flock.New(p)
	ok, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %q: %w", p, err)
	}
	if !ok {
		b, _ := os.ReadFile(p) //nolint:gosec // the lock file of the data dir the user named
		holder := "another process"
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
			holder = "azsim pid " + strconv.Itoa(pid)
		}
		return nil, fmt.Errorf("data dir %s is served by %s (stop it first, or pass another --data-dir): %w", dir, holder, ErrDataDirBusy)
	}
	// The lock is on the file's inode, so writing the pid through another
	// descriptor keeps it.
	_ = os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	return func() { _ = lock.Unlock() }, nil
}
