package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	te := newTestEnv(t)
	for _, c := range []struct{ shell, want string }{
		{"bash", "__start_mngr"},
		{"zsh", "#compdef mngr"},
		{"fish", "complete -c mngr"},
	} {
		out := te.mustRun("completion", c.shell)
		if !strings.Contains(out, c.want) {
			t.Errorf("%s script lacks %q", c.shell, c.want)
		}
		if c.shell != "bash" {
			continue
		}
		bash, err := exec.LookPath("bash")
		if err != nil {
			t.Log("no bash: the script is not parsed")
			continue
		}
		file := filepath.Join(t.TempDir(), "mngr.bash")
		if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.CommandContext(t.Context(), bash, "-n", file).CombinedOutput(); err != nil {
			t.Errorf("bash -n: %v\n%s", err, b)
		}
	}
}

// completions runs cobra's hidden __complete command and returns the offered
// words (the last line is the directive).
func completions(t *testing.T, te *testEnv, args ...string) []string {
	t.Helper()
	out := te.mustRun(append([]string{"__complete"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("__complete %v: no directive in %q", args, out)
	}
	words := lines[:len(lines)-1]
	slices.Sort(words)
	return words
}

func TestAgentNameCompletion(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "alpha", "command", "--", "sleep", "60")
	te.mustRun("create", "beta", "command", "--provider", "fakecloud", "--", "sleep", "60")
	for _, verb := range []string{"exec", "connect", "stop", "start", "destroy", "ssh-config"} {
		if got := completions(t, te, verb, ""); strings.Join(got, " ") != "alpha beta" {
			t.Errorf("%s: completions = %q, want alpha beta", verb, got)
		}
		if got := completions(t, te, verb, "b"); strings.Join(got, " ") != "beta" {
			t.Errorf("%s b: completions = %q, want beta", verb, got)
		}
	}
	// Agents already named are not offered again; connect takes one only.
	if got := completions(t, te, "stop", "alpha", ""); strings.Join(got, " ") != "beta" {
		t.Errorf("stop alpha: completions = %q", got)
	}
	if got := completions(t, te, "connect", "alpha", ""); len(got) != 0 {
		t.Errorf("connect alpha: completions = %q, want none", got)
	}
}
