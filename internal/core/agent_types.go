package core

import (
	"fmt"
	"path"
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

// Pinned versions of the agent CLIs that StartAgent installs on a remote
// host without them (npm packages @anthropic-ai/claude-code and
// @openai/codex). Pinned so that every host of a fleet runs the same CLI and
// a new release never changes an agent unannounced; raise them deliberately
// (latest releases as of this writing).
const (
	ClaudeCodeVersion = "2.1.143"
	CodexVersion      = "0.153.3"
)

// pinnedVersion is the version mngr pins for an agent type's CLI, or "".
func pinnedVersion(agentType string) string {
	switch agentType {
	case "claude":
		return ClaudeCodeVersion
	case "codex":
		return CodexVersion
	}
	return ""
}

// agentCLIPackage is the npm package (with its pinned version) that provides
// an agent type's CLI, or "" for a type mngr does not install.
func agentCLIPackage(agentType string) string {
	switch agentType {
	case "claude":
		return "@anthropic-ai/claude-code@" + ClaudeCodeVersion
	case "codex":
		return "@openai/codex@" + CodexVersion
	}
	return ""
}

// ClaudeSessionID is the claude session id of an agent: its id's 32 hex
// digits as a UUID (8-4-4-4-12), so the session survives a stop and start.
func ClaudeSessionID(id AgentID) string {
	h := strings.TrimPrefix(string(id), "agent-")
	if len(h) != 32 {
		return h
	}
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// agentCommandLine is the line StartAgent types into the agent's shell. A
// claude agent resumes its session when claude has a transcript of it
// (<config dir>/projects/…/<session>.jsonl, the config dir being
// CLAUDE_CONFIG_DIR or ~/.claude), else starts that session, with the
// agent's hook settings (see claudeHookSettings):
//
//	( find "${CLAUDE_CONFIG_DIR:-$HOME/.claude}/projects" -name 'SID.jsonl' | grep -q . ) && claude --settings F --resume SID ARGS || claude --settings F --session-id SID ARGS
//
// The flags go right after the word that runs claude, so a prompt or other
// arguments after them stay where the user put them. Other types run their
// command as it is.
func agentCommandLine(h *Host, rec AgentRecord) string {
	if rec.Type != "claude" {
		return rec.Command
	}
	settings := "--settings " + ShellQuote(claudeSettingsFile(h, rec.ID)) + " "
	sid := ClaudeSessionID(rec.ID)
	with := func(flag string) string {
		words := strings.Split(rec.Command, " ")
		for i, w := range words {
			if path.Base(strings.Trim(w, `'"`)) == "claude" {
				return strings.Join(append(append(append([]string{}, words[:i+1]...), settings+flag, sid), words[i+1:]...), " ")
			}
		}
		return rec.Command + " " + settings + flag + " " + sid
	}
	return fmt.Sprintf(`( find "${CLAUDE_CONFIG_DIR:-$HOME/.claude}/projects" -name %s 2>/dev/null | grep -q . ) && %s || %s`,
		ShellQuote(sid+".jsonl"), with("--resume"), with("--session-id"))
}

// AgentCLIPackage is the npm package, at its pinned version, of an agent
// type's CLI ("" for a type mngr does not install).
func AgentCLIPackage(agentType string) string { return agentCLIPackage(agentType) }
