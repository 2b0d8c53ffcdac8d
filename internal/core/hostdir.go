package core

import (
	"fmt"
	"path"
	"strings"
)

// Layout of $MNGR_HOST_DIR on a host:
//
//	env                 KEY=VALUE lines every agent sources first
//	tmux.conf           sourced into each agent session
//	activity/           host activity files (boot, ssh, user)
//	idle_policy         the host's idle policy, KEY=VALUE lines (idle.go)
//	signals/, logs/     signal files and logs
//	work/<agent-id>/    work dirs mngr made for agents without one
//	agents/<agent-id>/  data.json, env, active, activity/, events/, status/

// agentStateDir is $MNGR_AGENT_STATE_DIR of the agent on h.
func agentStateDir(h *Host, id AgentID) string { return path.Join(h.HostDir, "agents", string(id)) }

// hostEnvFile is the env file every agent on h sources first.
func hostEnvFile(h *Host) string { return path.Join(h.HostDir, "env") }

// agentEnvFile is the env file of agent id on h, sourced after the host's.
func agentEnvFile(h *Host, id AgentID) string { return path.Join(agentStateDir(h, id), "env") }

// generatedWorkDir is the work dir mngr makes for an agent created without one.
func generatedWorkDir(h *Host, id AgentID) string { return path.Join(h.HostDir, "work", string(id)) }

// hostDirs are the directories of the host dir layout every agent needs.
func hostDirs(h *Host) []string {
	return []string{
		path.Join(h.HostDir, "activity"),
		path.Join(h.HostDir, "signals"),
		path.Join(h.HostDir, "logs"),
	}
}

// tmuxConf is the content of <host_dir>/tmux.conf.
const tmuxConf = "set -g status-left-length 20\nset -g set-titles on\n"

// SessionName is the tmux session of an agent.
func SessionName(prefix, agentName string) string { return prefix + agentName }

var envKeyRe = LazyRegexp(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseEnv checks K=V entries and returns them split, in order.
func parseEnv(vars []string) ([][2]string, error) {
	out := make([][2]string, 0, len(vars))
	for _, kv := range vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !envKeyRe().MatchString(k) {
			// Only the name is shown: the value may be a credential.
			shown := k
			if ok {
				shown += "=…"
			}
			return nil, WithHint(fmt.Errorf("invalid environment entry %q: %w", shown, ErrInvalidInput),
				"write it as NAME=VALUE, with a NAME of letters, digits and '_' not starting with a digit")
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// envFile renders KEY=VALUE lines that sh can source with `set -a; . file`:
// every value that is not a plain word is single-quoted.
func envFile(vars [][2]string) string {
	var b strings.Builder
	for _, kv := range vars {
		b.WriteString(kv[0])
		b.WriteByte('=')
		b.WriteString(ShellQuote(kv[1]))
		b.WriteByte('\n')
	}
	return b.String()
}

// writeFileScript writes content to p atomically on the host: a temp file
// beside it, then a rename; the temp file goes again when a step fails (a
// full disk).
func writeFileScript(p, content string) string {
	tmp := ShellQuote(p+".tmp") + `."$$"`
	return fmt.Sprintf("{ printf '%%s' %s > %s && mv -f %s %s; } || { rm -f %s; false; }", ShellQuote(content), tmp, tmp, ShellQuote(p), tmp)
}

// secretFileScript writes the script's stdin to p atomically, readable by
// its owner only (0600) from the moment it exists; the temp file goes again
// when a step fails.
func secretFileScript(p string) string {
	tmp := ShellQuote(p+".tmp") + `."$$"`
	return fmt.Sprintf("{ (umask 077 && cat > %s) && chmod 600 %s && mv -f %s %s; } || { rm -f %s; false; }", tmp, tmp, tmp, ShellQuote(p), tmp)
}

// stampScript writes the activity JSON {"time":<ms>} to p.
func stampScript(p string) string {
	return fmt.Sprintf(`printf '{"time":%%s000}\n' "$(date +%%s)" > %s`, ShellQuote(p))
}

// envPrefix sources the host and agent env files with every variable
// exported, as the agent's shell and `mngr exec` do.
func envPrefix(h *Host, id AgentID) string {
	he := ShellQuote(hostEnvFile(h))
	ae := ShellQuote(agentEnvFile(h, id))
	return fmt.Sprintf("set -a; if [ -f %s ]; then . %s; fi; if [ -f %s ]; then . %s; fi; set +a", he, he, ae, ae)
}
