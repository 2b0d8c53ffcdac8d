package azsim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // the data dir the user named
	if err != nil {
		return nil, fmt.Errorf("open lock %q: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(p) //nolint:gosec // the lock file just opened
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = "azsim pid " + strconv.Itoa(pid)
			}
			return nil, fmt.Errorf("data dir %s is served by %s (stop it first, or pass another --data-dir): %w", dir, holder, ErrDataDirBusy)
		}
		return nil, fmt.Errorf("lock %q: %w", p, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { _ = f.Close() }, nil
}
