package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDiskFull marks a write that failed because the file system holding it
// has no space (or quota) left.
var ErrDiskFull = errors.New("no space left")

// DiskFull wraps err, when it is ENOSPC or EDQUOT, into an error naming dir
// as the full one, with the next step; any other err is returned as it is.
func DiskFull(err error, dir string) error {
	if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
		return err
	}
	return WithHint(fmt.Errorf("the file system holding %s is full: %w", dir, ErrDiskFull),
		"free some space there (df -h %s shows how much is left) and run the command again", dir)
}

// WriteFileAtomic writes data to path with mode: into a temporary file
// beside it, synced, then renamed over path, so readers see the old
// content or the new, never a part. On any failure the temporary file is
// removed; a full disk is ErrDiskFull naming the directory.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, DiskFull(err, dir))
	}
	name := tmp.Name()
	fail := func(what string, err error) error {
		_ = tmp.Close()
		_ = os.Remove(name)
		return fmt.Errorf("%s %s: %w", what, path, DiskFull(err, dir))
	}
	if err := tmp.Chmod(mode); err != nil {
		return fail("chmod", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail("write", err)
	}
	if err := tmp.Sync(); err != nil {
		return fail("sync", err)
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("close %s: %w", path, DiskFull(err, dir))
	}
	if err := os.Rename(name, path); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return nil
}

// noSpaceOnHost is the error for a script on h that failed because the
// file system of the host dir is full: its stderr says so, or (shells'
// printf says only "I/O error") a write failed and df finds less than
// 1 MiB left there. nil otherwise.
func noSpaceOnHost(ctx context.Context, h *Host, what string, stderr string) error {
	switch {
	case strings.Contains(stderr, "No space left on device"), strings.Contains(stderr, "Disk quota exceeded"):
	case strings.Contains(stderr, "I/O error"), strings.Contains(stderr, "write error"):
		res, err := h.Exec.Run(ctx, "df -Pk -- "+ShellQuote(h.HostDir)+" | awk 'NR==2 {print $4}'", RunOptions{})
		if err != nil || !res.OK() {
			return nil
		}
		if kb, err := strconv.Atoi(strings.TrimSpace(res.Stdout)); err != nil || kb >= 1024 {
			return nil
		}
	default:
		return nil
	}
	return WithHint(fmt.Errorf("%s on host %q: the file system holding %s is full: %w", what, h.Name, h.HostDir, ErrDiskFull),
		"free some space there (df -h %s on host %s shows how much is left) and run the command again", h.HostDir, h.Name)
}
