package core

import (
	"fmt"
	"sort"
	"strings"
)

// AgentTypeConfig is an [agent_types.NAME] block: the command a type runs and
// arguments always added to it.
type AgentTypeConfig struct {
	Command string   `toml:"command" json:"command"`
	CLIArgs []string `toml:"cli_args" json:"cli_args"`
}

// builtinTypes are the agent types mngr knows without configuration. The
// command type has no command of its own: it runs what the user gives.
var builtinTypes = map[string]AgentTypeConfig{
	"command": {},
	"claude":  {Command: "claude"},
	"codex":   {Command: "codex"},
}

// KnownAgentTypes lists built-in and configured type names, sorted.
func KnownAgentTypes(types map[string]AgentTypeConfig) []string {
	seen := map[string]bool{}
	for n := range builtinTypes {
		seen[n] = true
	}
	for n := range types {
		seen[n] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ResolveAgentCommand builds the shell command an agent of agentType runs:
// the override (--command) or the type's command, then the type's cli_args,
// then the quoted agent args (the words after --).
func ResolveAgentCommand(agentType, override string, args []string, types map[string]AgentTypeConfig) (string, error) {
	tc, ok := types[agentType]
	if !ok {
		tc, ok = builtinTypes[agentType]
	}
	if !ok {
		return "", WithHint(fmt.Errorf("unknown agent type %q: %w", agentType, ErrInvalidInput),
			"known types: %s (or define [agent_types.%s] with a command)", strings.Join(KnownAgentTypes(types), ", "), agentType)
	}
	base := tc.Command
	if override != "" {
		base = override
	}
	parts := []string{}
	if base != "" {
		parts = append(parts, base)
	}
	if len(tc.CLIArgs) > 0 {
		parts = append(parts, ShellJoin(tc.CLIArgs))
	}
	if len(args) > 0 {
		parts = append(parts, ShellJoin(args))
	}
	cmd := strings.Join(parts, " ")
	if strings.TrimSpace(cmd) == "" {
		return "", WithHint(fmt.Errorf("agent type %q needs a command: %w", agentType, ErrInvalidInput),
			"pass it after --, as in: mngr create NAME --type command -- sleep 600, or use --command 'CMD'")
	}
	return cmd, nil
}

// IsBuiltinAgentType reports whether mngr knows agentType without configuration.
func IsBuiltinAgentType(agentType string) bool {
	_, ok := builtinTypes[agentType]
	return ok
}

// requiredCLI is the program an agent type needs on the host ("" for none).
func requiredCLI(agentType string) string {
	if agentType == "command" {
		return ""
	}
	return builtinTypes[agentType].Command
}
