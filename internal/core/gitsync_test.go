package core

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The guard a remote rsync starts behind lets a path inside the work dir
// through and stops one that a symlink leads out of, resolved where it runs.
func TestRsyncGuard(t *testing.T) {
	wd := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(wd, "esc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", filepath.Join(wd, "in")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		passes bool
	}{
		{wd, true},
		{filepath.Join(wd, "new", "file"), true},
		{filepath.Join(wd, "in", "x"), true},
		{filepath.Join(wd, "esc"), false},
		{filepath.Join(wd, "esc", "passwd"), false},
		{filepath.Join(wd, "..", "other"), false},
	}
	for _, tt := range tests {
		// rsync --version stands in for the rsync the guard starts.
		script := rsyncGuard(wd, tt.path) + " --version >/dev/null"
		err := exec.CommandContext(context.Background(), "sh", "-c", script).Run()
		if (err == nil) != tt.passes {
			t.Errorf("%s: guard err %v, want passes=%v", tt.path, err, tt.passes)
		}
		rec := AgentRecord{Name: "a", WorkDir: wd}
		if err := checkInsideWorkDir(rec, tt.path); (err == nil) != tt.passes {
			t.Errorf("checkInsideWorkDir(%s) = %v, want passes=%v", tt.path, err, tt.passes)
		}
	}
}

func TestRepoName(t *testing.T) {
	for url, want := range map[string]string{
		"https://github.com/o/name.git": "name", "git@github.com:o/name": "name", "/srv/git/name.git/": "name",
		"ssh://git@host:22/o/n.git": "n", "": "", "name": "name",
	} {
		if got := repoName(url); got != want {
			t.Errorf("repoName(%q) = %q, want %q", url, got, want)
		}
	}
}
