package core

import (
	"regexp"
	"strings"
	"testing"
)

// TestInstallerEnvMatchesTheScript: InstallerEnvAllowed keeps exactly the
// variables install_cli.sh keeps, so mngr azure bake accepts for the
// installer what the installer uses and nothing it would drop.
func TestInstallerEnvMatchesTheScript(t *testing.T) {
	m := regexp.MustCompile(`(?m)^\s*(PATH\|[^)]*)\) ;;$`).FindStringSubmatch(installCLISh)
	if m == nil {
		t.Fatal("install_cli.sh has no case line of kept variables")
	}
	for _, pat := range strings.Split(m[1], "|") {
		name := strings.TrimSuffix(pat, "*")
		if pat != name {
			name += "X"
		}
		if !InstallerEnvAllowed(name) {
			t.Errorf("install_cli.sh keeps %s, InstallerEnvAllowed refuses %s", pat, name)
		}
	}
	if n := len(strings.Split(m[1], "|")); n != 19 {
		t.Errorf("install_cli.sh keeps %d patterns; update InstallerEnvAllowed and this count together", n)
	}
	for _, name := range []string{"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GITHUB_TOKEN", "AZURE_CLIENT_SECRET", "LD_PRELOAD", "NODE_OPTIONS"} {
		if InstallerEnvAllowed(name) {
			t.Errorf("%s reaches the installer", name)
		}
	}
}
