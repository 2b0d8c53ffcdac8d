package vps

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
)

// uploadExcludes are never uploaded as part of a build context.
var uploadExcludes = []string{"__pycache__", ".venv", "node_modules", ".mypy_cache", ".ruff_cache",
	".pytest_cache", ".test_output", "htmlcov", ".test_durations"}

// transientUploadErrors are rsync/ssh failures worth another attempt.
var transientUploadErrors = []string{"Broken pipe", "Connection reset by peer", "Connection refused",
	"Connection timed out", "client_loop", "ssh: connect to host", "kex_exchange_identification", "Network is unreachable"}

// buildPlan is a parsed set of docker build args.
type buildPlan struct {
	// Context is the local build context ("" when none was given).
	Context string
	// GitDepth is --git-depth=N (0 when absent).
	GitDepth int
	// Args are the docker build args with the context removed.
	Args []string
}

// parseBuildPlan extracts --git-depth= and the context (the last arg that
// is not a flag and exists locally) from docker build args.
func parseBuildPlan(args []string, exists func(string) bool) (buildPlan, error) {
	var plan buildPlan
	var rest []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--git-depth="); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return plan, core.WithHint(fmt.Errorf("invalid --git-depth=%q: %w", v, core.ErrInvalidInput), "pass a positive number, e.g. -b --git-depth=1")
			}
			plan.GitDepth = n
			continue
		}
		rest = append(rest, a)
	}
	ctxIdx := -1
	for i, a := range rest {
		if !strings.HasPrefix(a, "-") && exists(a) {
			ctxIdx = i
		}
	}
	if ctxIdx >= 0 {
		plan.Context = rest[ctxIdx]
		rest = append(rest[:ctxIdx:ctxIdx], rest[ctxIdx+1:]...)
	}
	plan.Args = rest
	return plan, nil
}

// rewriteDockerfileArgs prefixes relative Dockerfile paths with remote.
func rewriteDockerfileArgs(args []string, remote string) []string {
	out := make([]string, 0, len(args))
	fix := func(v string) string {
		if v == "" || path.IsAbs(v) || v == "-" {
			return v
		}
		return path.Join(remote, v)
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-f" || a == "--file" || a == "--dockerfile":
			out = append(out, a)
			if i+1 < len(args) {
				out = append(out, fix(args[i+1]))
				i++
			}
		case strings.HasPrefix(a, "-f="), strings.HasPrefix(a, "--file="), strings.HasPrefix(a, "--dockerfile="):
			k, v, _ := strings.Cut(a, "=")
			out = append(out, k+"="+fix(v))
		default:
			out = append(out, a)
		}
	}
	return out
}

func localExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// buildImage uploads the build context and runs docker build on the VM.
func (p *Provider) buildImage(ctx context.Context, vm *sshx.Executor, keys *Keys, inst Instance, dockerArgs []string) (string, error) {
	plan, err := parseBuildPlan(dockerArgs, localExists)
	if err != nil {
		return "", err
	}
	tag := "mngr-build-" + string(inst.HostID)
	remote := "/tmp/mngr-build-" + inst.HostID.Hex()
	if _, err := run(ctx, vm, "create remote build dir", "rm -rf "+core.ShellQuote(remote)+" && mkdir -p "+core.ShellQuote(remote), probeTimeout, core.RunOptions{}); err != nil {
		return "", err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
		defer cancel()
		_, _ = vm.Run(cctx, "rm -rf "+core.ShellQuote(remote), core.RunOptions{})
	}()
	// A baked agent image lets Dockerfiles build FROM it without a registry.
	loadBaked := "if [ -f " + VMImageTar + " ] && ! docker image inspect " + BakedImage + " >/dev/null 2>&1; then docker load -i " + VMImageTar + " >/dev/null; fi"
	if _, err := run(ctx, vm, "load the baked agent image", loadBaked, p.cfg.ImageTimeout, core.RunOptions{}); err != nil {
		return "", err
	}
	if plan.Context != "" {
		src, cleanup, err := prepareContext(ctx, plan)
		if err != nil {
			return "", err
		}
		defer cleanup()
		if err := step(ctx, "uploading the build context", func() error {
			return uploadContext(ctx, src, vm.Target, remote)
		}); err != nil {
			return "", err
		}
	}
	args := append([]string{"docker", "build", "-t", tag}, rewriteDockerfileArgs(plan.Args, remote)...)
	args = append(args, remote)
	if _, err := run(ctx, vm, "remote docker build", core.ShellJoin(args)+" 2>&1", p.cfg.ImageTimeout, core.RunOptions{}); err != nil {
		return "", err
	}
	return tag, nil
}

// prepareContext returns the directory to upload: the context itself, or a
// clone of it (with the working tree synced over) when it is a git repo or
// --git-depth is given.
func prepareContext(ctx context.Context, plan buildPlan) (string, func(), error) {
	abs, err := filepath.Abs(plan.Context)
	if err != nil {
		return "", nil, fmt.Errorf("resolve build context %q: %w", plan.Context, err)
	}
	isGit := localExists(filepath.Join(abs, ".git"))
	if !isGit && plan.GitDepth == 0 {
		return abs, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "mngr-vps-build-*")
	if err != nil {
		return "", nil, fmt.Errorf("clone the build context: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	repo := filepath.Join(tmp, "repo")
	cargs := []string{"clone", "--quiet"}
	if plan.GitDepth > 0 {
		cargs = append(cargs, "--depth", strconv.Itoa(plan.GitDepth))
	}
	cargs = append(cargs, "file://"+abs, repo)
	cctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(cctx, "git", cargs...).CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("clone the build context %q: %w: %s", abs, err, strings.TrimSpace(string(out)))
	}
	if isGit {
		if out, err := exec.CommandContext(cctx, "rsync", "-a", "--exclude=.git", abs+"/", repo+"/").CombinedOutput(); err != nil { //nolint:gosec // G204: fixed program, paths are argv words
			cleanup()
			return "", nil, fmt.Errorf("copy the working tree of %q: %w: %s", abs, err, strings.TrimSpace(string(out)))
		}
	}
	return repo, cleanup, nil
}

// rsyncArgs returns the rsync argv that uploads src to remote on t.
func rsyncArgs(src string, t sshx.Target, remote string) []string {
	sshCmd := core.ShellJoin(append([]string{"ssh", "-i", t.KeyPath, "-p", strconv.Itoa(t.Port),
		"-o", "UserKnownHostsFile=" + t.KnownHostsPath, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=15",
		"-o", "ServerAliveInterval=20", "-o", "ServerAliveCountMax=10"}, core.NoForwardingSSHOptions...))
	args := []string{"-az", "--delete", "--partial-dir=/tmp/mngr-rsync-partial"}
	for _, e := range uploadExcludes {
		args = append(args, "--exclude="+e)
	}
	return append(args, "-e", sshCmd, strings.TrimSuffix(src, "/")+"/", t.User+"@"+hostForRsync(t.Host)+":"+remote+"/")
}

func hostForRsync(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// uploadContext rsyncs src to remote, retrying transient network failures.
func uploadContext(ctx context.Context, src string, t sshx.Target, remote string) error {
	const timeout = 900 * time.Second
	backoff := []time.Duration{5 * time.Second, 15 * time.Second}
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		cmd := exec.CommandContext(cctx, "rsync", rsyncArgs(src, t, remote)...) //nolint:gosec // G204: fixed program, args are argv words
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		timedOut := cctx.Err() != nil
		cancel()
		if err == nil {
			return nil
		}
		if timedOut && ctx.Err() == nil {
			return fmt.Errorf("upload the build context: timed out after %ds: %w", int(timeout.Seconds()), core.ErrTimeout)
		}
		msg := strings.TrimSpace(stderr.String())
		transient := false
		for _, s := range transientUploadErrors {
			if strings.Contains(msg, s) {
				transient = true
			}
		}
		if !transient || attempt >= len(backoff) {
			return fmt.Errorf("upload the build context: %w: %s", err, msg)
		}
		if err := core.Sleep(ctx, backoff[attempt]); err != nil {
			return fmt.Errorf("upload the build context: %w", err)
		}
	}
}
