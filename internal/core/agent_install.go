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

// installCLIScript installs the agent type's CLI with its usual installer at
// the pinned version: npm install -g, after installing nodejs and npm with
// apt-get when npm is missing. It runs with the agent's env files loaded (a
// proxy or npm registry set there applies), as root or through sudo -n.
// The package managers' output goes to the install log; on failure its last
// lines go to stderr.
func installCLIScript(h *Host, rec AgentRecord) string {
	cli := requiredCLI(rec.Type)
	lines := []string{
		envPrefix(h, rec.ID),
		"log=" + ShellQuote(installCLILog(h, cli)),
		"pkg=" + ShellQuote(agentCLIPackage(rec.Type)),
		"cli=" + ShellQuote(cli),
		"mkdir -p " + ShellQuote(path.Dir(installCLILog(h, cli))),
		`S=; [ "$(id -u)" = 0 ] || S="sudo -n"`,
		fmt.Sprintf(`fail() { printf '%%s; the last lines of %%s:\n' "$1" "$log" >&2; tail -n 20 "$log" >&2; exit %d; }`, exitInstallFailed),
		`if ! command -v npm >/dev/null 2>&1; then`,
		fmt.Sprintf(`  command -v apt-get >/dev/null 2>&1 || { echo 'npm is missing and this host has no apt-get to install it' >&2; exit %d; }`, exitInstallFailed),
		`  $S env DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$log" 2>&1 || fail 'apt-get update failed'`,
		`  $S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >>"$log" 2>&1 || fail 'apt-get install nodejs npm failed'`,
		`fi`,
		`$S npm install -g --no-fund --no-audit --no-update-notifier "$pkg" >>"$log" 2>&1 || fail "npm install -g $pkg failed"`,
		fmt.Sprintf(`command -v "$cli" >/dev/null 2>&1 || { echo "$pkg was installed but $cli is not on PATH" >&2; exit %d; }`, exitInstallFailed),
	}
	return strings.Join(lines, "\n") + "\n"
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
