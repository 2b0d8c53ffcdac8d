package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/mngr-azure/mngr/internal/core"
)

// dockerCLI runs the docker command-line client; every machine operation is
// a docker (or ip) command, so azsim needs no Docker SDK.
type dockerCLI struct {
	bin string
}

// run executes `docker ARGS…` and returns its trimmed stdout. A failure
// carries docker's stderr, which names the real cause.
func (d dockerCLI) run(ctx context.Context, args ...string) (string, error) {
	return runCommand(ctx, d.bin, args...)
}

// runInput is run with stdin read from in (docker cp - …).
func (d dockerCLI) runInput(ctx context.Context, in []byte, args ...string) (string, error) {
	return runCommandInput(ctx, in, d.bin, args...)
}

// runCommand executes a command and returns its trimmed stdout.
func runCommand(ctx context.Context, name string, args ...string) (string, error) {
	return runCommandInput(ctx, nil, name, args...)
}

// runCommandInput is runCommand with stdin read from in (none when nil).
func runCommandInput(ctx context.Context, in []byte, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...) //nolint:gosec // fixed binaries (docker, ip); arguments are built here, never by a shell
	if in != nil {
		cmd.Stdin = bytes.NewReader(in)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s %s: %w", name, firstArg(args), ctx.Err())
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			return "", core.WithHint(fmt.Errorf("%s %s: %w: %w", name, firstArg(args), err, core.ErrUnavailable),
				"install %s (Debian: apt-get install docker.io iproute2)", name)
		}
		return "", fmt.Errorf("%s %s: %w: %s", name, firstArg(args), err, msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// isNoSuchObject reports whether a docker error says the container or
// volume does not exist.
func isNoSuchObject(err error) bool {
	if err == nil {
		return false
	}
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "no such container") || strings.Contains(s, "no such object") ||
		strings.Contains(s, "no such volume") || strings.Contains(s, "no such image")
}
