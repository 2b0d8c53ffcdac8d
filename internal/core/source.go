package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Source is the user's project on this machine: what create transfers into
// an agent's work dir, and where `mngr git pull` brings work back to.
type Source struct {
	// Dir is the directory transferred: the git root when Git is set.
	Dir string `json:"path"`
	// Git says whether Dir is the root of a git work tree.
	Git bool `json:"git"`
	// Branch is the checked-out branch ("" when HEAD is detached).
	Branch string `json:"branch,omitempty"`
	// Head is the commit HEAD points at ("" in a repository without commits).
	Head string `json:"head,omitempty"`
}

// FindSource describes dir as a transfer source: the root of the git work
// tree holding it, or dir itself when it is in none.
func FindSource(ctx context.Context, dir string) (Source, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Source{}, fmt.Errorf("resolve source %q: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return Source{}, WithHint(fmt.Errorf("source directory %s does not exist: %w", abs, ErrInvalidInput),
			"pass an existing directory with --source DIR, or run mngr create from inside your project")
	}
	if err != nil {
		return Source{}, fmt.Errorf("read source %s: %w", abs, err)
	}
	if !st.IsDir() {
		return Source{}, WithHint(fmt.Errorf("source %s is not a directory: %w", abs, ErrInvalidInput),
			"pass a directory with --source DIR")
	}
	if _, err := exec.LookPath("git"); err != nil {
		return Source{Dir: abs}, nil
	}
	top, err := runGit(ctx, abs, nil, "rev-parse", "--show-toplevel")
	if err != nil {
		// Not in a git work tree (or inside a .git dir): a plain directory.
		return Source{Dir: abs}, nil //nolint:nilerr // "not a repository" is an answer, not a failure.
	}
	s := Source{Dir: strings.TrimSpace(top), Git: true}
	if b, err := runGit(ctx, s.Dir, nil, "symbolic-ref", "-q", "--short", "HEAD"); err == nil {
		s.Branch = strings.TrimSpace(b)
	}
	if h, err := runGit(ctx, s.Dir, nil, "rev-parse", "-q", "--verify", "HEAD^{commit}"); err == nil {
		s.Head = strings.TrimSpace(h)
	}
	return s, nil
}

// GitRoot is the root of the git work tree holding dir, with one git call
// (no branch or commit lookups, for commands that only need the repository).
func GitRoot(ctx context.Context, dir string) (string, error) {
	top, err := runGit(ctx, dir, nil, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", WithHint(fmt.Errorf("%s is not in a git repository: %w", dir, ErrInvalidInput), "run this inside your repository (cd into it first)")
	}
	return strings.TrimSpace(top), nil
}

// Dirty lists the source's uncommitted changes as `git status --porcelain`
// prints them (untracked files included, ignored ones not); empty when clean.
func (s Source) Dirty(ctx context.Context) (string, error) {
	if !s.Git {
		return "", nil
	}
	out, err := runGit(ctx, s.Dir, nil, "status", "--porcelain", "--untracked-files=normal")
	if err != nil {
		return "", fmt.Errorf("check for uncommitted changes in %s: %w", s.Dir, err)
	}
	return strings.TrimRight(out, "\n"), nil
}

// GitError is a git (or rsync) command that failed: its arguments, exit
// code and what it printed on stderr.
type GitError struct {
	Tool   string
	Args   []string
	Code   int
	Stderr string
}

// Error names the command and quotes its last stderr lines.
func (e *GitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if lines := strings.Split(msg, "\n"); len(lines) > 6 {
		msg = strings.Join(lines[len(lines)-6:], "\n")
	}
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", e.Code)
	}
	return fmt.Sprintf("%s %s: %s", e.Tool, firstWord(e.Args), msg)
}

func firstWord(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}

// toolRun says how to run a git or rsync command on this machine.
type toolRun struct {
	dir string
	env []string
	// stdin feeds the command; nil is empty.
	stdin io.Reader
	// progress, when set, receives the tool's stderr as it runs (the
	// user's terminal); stderr is kept for the error either way.
	progress io.Writer
}

// runTool runs tool with args on this machine and returns its stdout; a
// non-zero exit is a *GitError carrying stderr.
func runTool(ctx context.Context, tool string, r toolRun, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, tool, args...) //nolint:gosec // G204: tool is "git" or "rsync", args are built by mngr and passed without a shell.
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), r.env...)
	cmd.Env = append(cmd.Env, "LC_ALL=C", "GIT_TERMINAL_PROMPT=0")
	cmd.Stdin = r.stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if r.progress != nil {
		cmd.Stderr = io.MultiWriter(&stderr, r.progress)
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), nil
	case errors.As(err, &ee):
		return stdout.String(), &GitError{Tool: tool, Args: args, Code: ee.ExitCode(), Stderr: stderr.String()}
	case errors.Is(err, exec.ErrNotFound):
		return "", WithHint(fmt.Errorf("%s is not installed on this machine: %w", tool, ErrUnavailable), "install it (apt-get install %s)", tool)
	default:
		return "", fmt.Errorf("run %s: %w", tool, err)
	}
}

// runGit runs git in dir on this machine and returns its stdout.
func runGit(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	return runTool(ctx, "git", toolRun{dir: dir, env: env}, args...)
}

// ProjectName is the project an agent made from dir belongs to (its
// "project" label, the PROJECT column of mngr list): the repository name of
// the origin remote when dir is in a git work tree that has one, else the
// name of the work tree's root, else of dir.
func ProjectName(ctx context.Context, dir string) string {
	root := dir
	if out, err := runGit(ctx, dir, nil, "rev-parse", "--show-toplevel"); err == nil && strings.TrimSpace(out) != "" {
		root = strings.TrimSpace(out)
		if url, err := runGit(ctx, dir, nil, "remote", "get-url", "origin"); err == nil {
			if name := repoName(strings.TrimSpace(url)); name != "" {
				return name
			}
		}
	}
	return filepath.Base(filepath.Clean(root))
}

// repoName is the repository name at the end of a git remote URL
// (https://host/o/name.git, git@host:o/name, /path/name), "" for none.
func repoName(url string) string {
	url = strings.TrimRight(url, "/")
	if i := strings.LastIndexAny(url, "/:"); i >= 0 {
		url = url[i+1:]
	}
	url = strings.TrimSuffix(url, ".git")
	if url == "" || url == "." || url == ".." {
		return ""
	}
	return url
}
