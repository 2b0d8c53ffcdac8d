package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// exitConfigChanged is the exit code of agent_config.sh claude-write when
// the file changed between reading and writing it.
const exitConfigChanged = 10

// configWriteTries bounds the read-merge-write rounds on a .claude.json
// that keeps changing under mngr (claude itself writes it).
const configWriteTries = 5

const markFile = "@@MNGR_FILE"

// claudeSettingsFile is the agent's own claude settings (its hooks), passed
// to claude with --settings; it holds no secret.
func claudeSettingsFile(h *Host, id AgentID) string {
	return path.Join(agentStateDir(h, id), "claude-settings.json")
}

// claudeConfigDir is the per-agent CLAUDE_CONFIG_DIR of an agent on a
// remote host.
func claudeConfigDir(h *Host, id AgentID) string {
	return path.Join(agentStateDir(h, id), "claude-config")
}

// codexHome is the per-agent CODEX_HOME of a codex agent.
func codexHome(h *Host, id AgentID) string { return path.Join(agentStateDir(h, id), "codex-home") }

// Agent state markers the hooks keep in the agent's state dir: active while
// claude works on a prompt, permissions_waiting while it waits on a
// permission dialog.
const (
	markerActive      = "active"
	markerPermissions = "permissions_waiting"
	// markerSubmitted is touched at every submitted prompt, so a sender
	// knows the state hooks have seen its message (see DeliverMessage).
	markerSubmitted = "prompt_submitted"
)

// claudeHookSettings renders the agent's claude settings: hooks that keep
// the state markers in sd and stamp sd/activity/agent (agent activity for
// the host's idle watcher) at every event.
func claudeHookSettings(sd string) string {
	q := ShellQuote
	active, perm, sub := q(path.Join(sd, markerActive)), q(path.Join(sd, markerPermissions)), q(path.Join(sd, markerSubmitted))
	stamp := fmt.Sprintf(`printf '{"time":%%s000}\n' "$(date +%%s)" > %s`, q(path.Join(sd, "activity", "agent")))
	cmd := func(body string) []map[string]any {
		return []map[string]any{{"hooks": []map[string]any{{"type": "command", "command": body + "; " + stamp + "; exit 0"}}}}
	}
	hooks := map[string]any{
		"UserPromptSubmit":  cmd("touch " + active + " " + sub + "; rm -f " + perm),
		"PermissionRequest": cmd("touch " + perm),
		"PostToolUse":       cmd("rm -f " + perm),
		"Stop":              cmd("rm -f " + active + " " + perm),
		"Notification": []map[string]any{{"matcher": "idle_prompt", "hooks": []map[string]any{{"type": "command",
			"command": "rm -f " + active + " " + perm + "; " + stamp + "; exit 0"}}}},
	}
	b, err := json.MarshalIndent(map[string]any{"hooks": hooks}, "", "  ")
	if err != nil {
		panic(err) // maps of strings always encode
	}
	return string(b) + "\n"
}

// agentConfigEnv loads the agent's env files for agent_config.sh, keeping
// the host's own PATH after the agent's: the config files are written with
// the system's tools whatever PATH the agent is given.
func agentConfigEnv(h *Host, id AgentID) string {
	return "mngr_sys_path=$PATH\n" + envPrefix(h, id) + "\nPATH=$PATH:$mngr_sys_path\n"
}

// claudeReadScript and friends are the calls of scripts/agent_config.sh.
func claudeReadScript(h *Host, rec AgentRecord) string {
	return agentConfigEnv(h, rec.ID) + ScriptCall(agentConfigSh, "claude-read", rec.WorkDir,
		claudeSettingsFile(h, rec.ID), claudeHookSettings(agentStateDir(h, rec.ID)))
}

// claudeState is what claude-read reports.
type claudeState struct {
	file, workDir, keySuffix, configDir string
	hasSettings, hasCredentials         bool
	cksum                               string
	content                             []byte
}

func parseClaudeState(out string) (claudeState, error) {
	head, body, ok := strings.Cut(out, markFile+"\n")
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	if !ok || len(lines) != 6 {
		return claudeState{}, fmt.Errorf("unexpected claude config report (%d lines)", len(lines))
	}
	sc := strings.Fields(lines[4])
	if len(sc) != 2 {
		return claudeState{}, fmt.Errorf("unexpected claude config report line %q", lines[4])
	}
	return claudeState{file: lines[0], workDir: lines[1], keySuffix: lines[2], configDir: lines[3],
		hasSettings: sc[0] == "1", hasCredentials: sc[1] == "1", cksum: lines[5], content: []byte(body)}, nil
}

// ClaudeFirstRunKeys are the keys of claude's state file that mngr sets so
// claude skips its first-run screens (onboarding, cost notice, effort
// callout); the trust of the work dir and the approved key are set apart.
var ClaudeFirstRunKeys = []string{"hasCompletedOnboarding", "hasAcknowledgedCostThreshold", "effortCalloutDismissed"}

// claudeCarriedKeys are the non-secret keys of the user's own .claude.json
// a per-agent config dir starts with (look and feel, never an account).
var claudeCarriedKeys = []string{"theme", "editorMode", "verbose", "autoCompactEnabled", "preferredNotifChannel", "diffTool"}

// mergeClaudeState returns content with the work dir trusted and the API
// key (by its last 20 characters) approved; with firstRun (or a key while
// onboarding is not done) also claude's first-run screens done, and when
// content is empty, carried as the start.
// changed is false when content already says all that. Every other key is
// kept as it was.
func mergeClaudeState(content []byte, workDir, keySuffix string, firstRun bool, carried map[string]json.RawMessage) (out []byte, changed bool, err error) {
	doc := map[string]json.RawMessage{}
	if len(strings.TrimSpace(string(content))) > 0 {
		if err := json.Unmarshal(content, &doc); err != nil {
			return nil, false, fmt.Errorf("read claude's state file: %w", err)
		}
	} else {
		for k, v := range carried {
			doc[k] = v
		}
		changed = len(carried) > 0
	}
	set := func(k string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if string(doc[k]) != string(b) {
			doc[k], changed = b, true
		}
		return nil
	}
	// A key given to an agent of a user who never finished claude's first
	// run: its screens would otherwise stop the agent.
	if keySuffix != "" && string(doc["hasCompletedOnboarding"]) != "true" {
		firstRun = true
	}
	if firstRun {
		for _, k := range ClaudeFirstRunKeys {
			if err := set(k, true); err != nil {
				return nil, false, err
			}
		}
	}
	projects := map[string]map[string]json.RawMessage{}
	if raw, ok := doc["projects"]; ok {
		if err := json.Unmarshal(raw, &projects); err != nil {
			return nil, false, fmt.Errorf("read claude's state file: projects: %w", err)
		}
	}
	p := projects[workDir]
	if p == nil {
		p = map[string]json.RawMessage{}
	}
	if string(p["hasTrustDialogAccepted"]) != "true" {
		p["hasTrustDialogAccepted"] = json.RawMessage("true")
		projects[workDir] = p
		b, err := json.Marshal(projects)
		if err != nil {
			return nil, false, err
		}
		doc["projects"], changed = b, true
	}
	if keySuffix != "" {
		var resp struct {
			Approved []string `json:"approved"`
			Rejected []string `json:"rejected"`
		}
		rest := map[string]json.RawMessage{}
		if raw, ok := doc["customApiKeyResponses"]; ok {
			if err := json.Unmarshal(raw, &resp); err != nil {
				return nil, false, fmt.Errorf("read claude's state file: customApiKeyResponses: %w", err)
			}
			_ = json.Unmarshal(raw, &rest)
		}
		approved := false
		for _, a := range resp.Approved {
			approved = approved || a == keySuffix
		}
		if !approved {
			resp.Approved = append(resp.Approved, keySuffix)
			var rejected []string
			for _, r := range resp.Rejected {
				if r != keySuffix {
					rejected = append(rejected, r)
				}
			}
			if rejected == nil {
				rejected = []string{}
			}
			rest["approved"], _ = json.Marshal(resp.Approved)
			rest["rejected"], _ = json.Marshal(rejected)
			b, err := json.Marshal(rest)
			if err != nil {
				return nil, false, err
			}
			doc["customApiKeyResponses"], changed = b, true
		}
	}
	if !changed {
		return content, false, nil
	}
	out, err = json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, false, err
	}
	return append(out, '\n'), true, nil
}

// userClaudeDir is the user's own claude config dir on this machine.
func userClaudeDir() string {
	if d := os.Getenv("CLAUDE_CONFIG_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".claude")
}

// userClaudeState is the user's own .claude.json on this machine.
func userClaudeState() string {
	if d := os.Getenv("CLAUDE_CONFIG_DIR"); d != "" {
		return filepath.Join(d, ".claude.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".claude.json")
}

// carriedClaudeKeys reads the non-secret keys of the user's .claude.json
// on this machine that a per-agent config dir starts with.
func carriedClaudeKeys() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	b, err := os.ReadFile(userClaudeState())
	if err != nil {
		return out
	}
	doc := map[string]json.RawMessage{}
	if json.Unmarshal(b, &doc) != nil {
		return out
	}
	for _, k := range claudeCarriedKeys {
		if v, ok := doc[k]; ok {
			out[k] = v
		}
	}
	return out
}

// provisionClaude prepares claude's config for the agent so that it opens
// at its input prompt: the hook settings, the work dir trusted, the key
// approved. With a per-agent config dir (a remote host) the first-run
// screens are marked done and the user's settings.json, the look-and-feel
// keys of their .claude.json and, when asked, their credentials are
// carried over. On this machine the user's own .claude.json gets the
// first-run state only when an API key is given and they never finished
// claude's first run. Every write is a locked, checked replace.
// hasCredentials is reported but the copy is copyClaudeCredentials's.
func provisionClaude(ctx context.Context, h *Host, rec AgentRecord) error {
	what := "prepare claude for agent " + strconv.Quote(rec.Name)
	var st claudeState
	for try := 0; ; try++ {
		res, err := h.mustRun(ctx, what, claudeReadScript(h, rec))
		if err != nil {
			return err
		}
		if st, err = parseClaudeState(res.Stdout); err != nil {
			return fmt.Errorf("%s on host %q: %w", what, h.Name, err)
		}
		perAgent := st.configDir != "-"
		firstRun := perAgent
		var carried map[string]json.RawMessage
		if perAgent && h.Remote {
			carried = carriedClaudeKeys()
		}
		out, changed, err := mergeClaudeState(st.content, st.workDir, st.keySuffix, firstRun, carried)
		if err != nil {
			return WithHint(fmt.Errorf("%s on host %q: %s: %w", what, h.Name, st.file, err),
				"claude's file %s is not valid JSON; fix or move it, then run mngr start %s", st.file, rec.Name)
		}
		if !changed {
			break
		}
		res, err = h.Exec.Run(ctx, ScriptCall(agentConfigSh, "claude-write", st.file, st.cksum, path.Join(h.HostDir, "claude-json.lock")),
			RunOptions{Stdin: strings.NewReader(string(out))})
		if err != nil {
			return fmt.Errorf("%s on host %q: %w", what, h.Name, err)
		}
		if res.OK() {
			break
		}
		if res.ExitCode != exitConfigChanged || try+1 >= configWriteTries {
			return fmt.Errorf("%s on host %q: write %s failed (exit %d): %s", what, h.Name, st.file, res.ExitCode, strings.TrimSpace(res.Stderr))
		}
	}
	if st.configDir == "-" || !h.Remote {
		return nil
	}
	if !st.hasSettings {
		if b, err := os.ReadFile(filepath.Join(userClaudeDir(), "settings.json")); err == nil {
			if _, err := h.mustRunInput(ctx, what, ScriptCall(agentConfigSh, "put-new", path.Join(st.configDir, "settings.json")), strings.NewReader(string(b))); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyClaudeCredentials copies the user's claude login on this machine
// (~/.claude/.credentials.json) into the agent's config dir on a remote
// host, 0600, on stdin only: never in an argument, a log or the output.
func copyClaudeCredentials(ctx context.Context, h *Host, rec AgentRecord) error {
	what := "copy claude credentials for agent " + strconv.Quote(rec.Name)
	src := filepath.Join(userClaudeDir(), ".credentials.json")
	b, err := os.ReadFile(src) //nolint:gosec // G304: the user's own claude login, which they asked to copy.
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return WithHint(fmt.Errorf("%s: no claude login to copy (%s): %w", what, src, ErrNotFound),
				"log in with claude on this machine first, or give an API key with --pass-env ANTHROPIC_API_KEY")
		}
		return fmt.Errorf("%s: read %s: %w", what, src, err)
	}
	dir := claudeConfigDir(h, rec.ID)
	script := "mkdir -p " + ShellQuote(dir) + " && chmod 700 " + ShellQuote(dir) + " && " +
		ScriptCall(agentConfigSh, "put-new", path.Join(dir, ".credentials.json"))
	_, err = h.mustRunInput(ctx, what, script, strings.NewReader(string(b)))
	return err
}

// provisionCodex prepares the agent's CODEX_HOME: the work dir trusted, the
// update check off, an API-key login from OPENAI_API_KEY. On this machine
// the user's codex config (and login, without a key) is the start.
func provisionCodex(ctx context.Context, h *Host, rec AgentRecord) error {
	script := agentConfigEnv(h, rec.ID) + ScriptCall(agentConfigSh, "codex", rec.WorkDir, flag(!h.Remote))
	_, err := h.mustRun(ctx, "prepare codex for agent "+strconv.Quote(rec.Name), script)
	return err
}

// provisionAgent prepares the agent's CLI config before it starts (claude
// and codex; nothing for other types).
func provisionAgent(ctx context.Context, h *Host, rec AgentRecord) error {
	switch rec.Type {
	case "claude":
		return provisionClaude(ctx, h, rec)
	case "codex":
		return provisionCodex(ctx, h, rec)
	}
	return nil
}

// agentTypeEnv is the env an agent of agentType gets from mngr before the
// user's own: a per-agent CLAUDE_CONFIG_DIR on a remote host, a per-agent
// CODEX_HOME, and the auto-updaters off (the versions are pinned).
func agentTypeEnv(h *Host, agentType string, id AgentID) [][2]string {
	switch agentType {
	case "claude":
		env := [][2]string{{"DISABLE_AUTOUPDATER", "1"}}
		if h.Remote {
			env = append(env, [2]string{"CLAUDE_CONFIG_DIR", claudeConfigDir(h, id)})
		}
		return env
	case "codex":
		return [][2]string{{"CODEX_HOME", codexHome(h, id)}}
	}
	return nil
}
