package core

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"
)

// exitInstallFailed is the exit code of installCLIScript when a package
// manager failed.
const exitInstallFailed = 8

// agentCLIInstallTimeout bounds installing an agent CLI: apt-get update,
// nodejs and npm, then the npm package, on a slow mirror.
const agentCLIInstallTimeout = 10 * time.Minute

// installCLILog is where installCLIScript keeps the package managers' output.
func installCLILog(h *Host, cli string) string {
	return path.Join(h.HostDir, "logs", "install-"+cli+".log")
}

// installCLIScript (scripts/install_cli.sh) installs the agent type's CLI
// with its usual installer at the pinned version: npm install -g, after
// installing nodejs and npm with apt-get when npm is missing. It runs with
// the agent's env files loaded (a proxy or npm registry set there applies),
// as root or through sudo -n. The package managers' output goes to the
// install log; on failure its last lines go to stderr.
func installCLIScript(h *Host, rec AgentRecord) string {
	cli := requiredCLI(rec.Type)
	return ScriptCall(installCLISh, hostEnvFile(h), agentEnvFile(h, rec.ID),
		installCLILog(h, cli), agentCLIPackage(rec.Type), cli)
}

// installAgentCLI installs the CLI of rec's type on h (see installCLIScript),
// shown as a progress step.
func installAgentCLI(ctx context.Context, h *Host, rec AgentRecord) error {
	cli, pkg := requiredCLI(rec.Type), agentCLIPackage(rec.Type)
	ctx, cancel := context.WithTimeout(ctx, agentCLIInstallTimeout)
	defer cancel()
	done := ProgressFrom(ctx).Step(fmt.Sprintf("installing %s (%s) on host %s", cli, pkg, h.Name))
	res, err := h.run(ctx, "install "+cli, installCLIScript(h, rec))
	if err == nil && !res.OK() {
		err = WithHint(fmt.Errorf("install %s (%s) on host %q failed (exit %d): %s: %w", cli, pkg, h.Name, res.ExitCode, strings.TrimSpace(res.Stderr), ErrUnavailable),
			"the full log is %s on the host (mngr exec %s 'cat %s'); or bake the CLI into the host image", installCLILog(h, cli), rec.Name, installCLILog(h, cli))
	}
	done(err)
	return err
}
