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

// AgentCLI describes the CLI an agent type needs, for a host image that
// holds it already (mngr azure bake --agent-type).
type AgentCLI struct {
	// Type is the agent type (claude, codex).
	Type string
	// Command is the program on PATH (claude, codex).
	Command string
	// Package is the npm package with its pinned version.
	Package string
	// Version is the pinned version ("<Command> --version" prints it).
	Version string
}

// BakeableCLI returns the CLI of an agent type mngr installs on remote
// hosts, or ok false for a type without one (command, or a type of your
// own from [agent_types]).
func BakeableCLI(agentType string) (AgentCLI, bool) {
	pkg := agentCLIPackage(agentType)
	if pkg == "" {
		return AgentCLI{}, false
	}
	return AgentCLI{Type: agentType, Command: requiredCLI(agentType), Package: pkg, Version: pinnedVersion(agentType)}, true
}

// BakeableTypes are the agent types whose CLI a host image can hold.
func BakeableTypes() []string { return []string{"claude", "codex"} }

// InstallCLIScript is the script that installs c the way an agent's start
// does on a host without it (scripts/install_cli.sh), with the env file
// envFile loaded and the package managers' output in logFile.
func InstallCLIScript(c AgentCLI, envFile, logFile string) string {
	return ScriptCall(installCLISh, envFile, "/dev/null", logFile, c.Package, c.Command)
}

// InstallerEnvAllowed says whether a variable reaches the CLI installer
// (install_cli.sh keeps the same list and drops every other variable, so
// that no secret meant for the agent reaches npm or a package's scripts).
func InstallerEnvAllowed(name string) bool {
	switch name {
	case "PATH", "HOME", "USER", "LOGNAME", "LANG", "TMPDIR", "TERM", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
		"no_proxy", "NO_PROXY", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR":
		return true
	}
	return strings.HasPrefix(name, "LC_") || strings.HasPrefix(name, "npm_config_") || strings.HasPrefix(name, "NPM_CONFIG_")
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
