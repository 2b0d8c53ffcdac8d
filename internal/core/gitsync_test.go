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

// A branch new to the repository counts only the commits no other local
// branch has, not the base history it shares with them.
func TestCountNewCommits(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	repo := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		out, err := runGit(context.Background(), repo, []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	git("init", "-q", "-b", "main")
	for _, m := range []string{"one", "two", "three"} {
		git("commit", "-q", "--allow-empty", "-m", m)
	}
	git("switch", "-q", "-c", "mngr/a")
	git("commit", "-q", "--allow-empty", "-m", "agent")
	git("switch", "-q", "main")
	tip := refCommit(context.Background(), repo, "refs/heads/mngr/a")
	if n := countNewCommits(context.Background(), repo, "refs/heads/mngr/a", tip); n != 1 {
		t.Errorf("countNewCommits = %d, want 1 (the base's 3 commits are not new)", n)
	}
}
