package core

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
)

// AgentSpec is what the user asked for when creating an agent.
type AgentSpec struct {
	Name string
	Type string
	// Command is the fully resolved shell command the agent runs.
	Command string
	// WorkDir is where the agent runs; "" makes <host_dir>/work/<agent-id>.
	WorkDir string
	// Env holds KEY=VALUE entries added to the agent's env file, in order.
	Env        []string
	Labels     map[string]string
	Windows    []WindowCommand
	TmuxWidth  int
	TmuxHeight int
	// ID is the agent's id when it was drawn before (a transfer names its
	// work dir after it); "" draws a new one.
	ID AgentID
	// Origin is where the work dir came from; zero when nothing was
	// transferred.
	Origin AgentOrigin
	// ReadyTimeoutSeconds is how long the agent may take to be ready for a
	// message (agent_ready_timeout); 0 means 10 s.
	ReadyTimeoutSeconds float64
	// CopyClaudeCredentials copies the user's claude login on this machine
	// (~/.claude/.credentials.json) into a remote claude agent's config
	// dir (--copy-claude-credentials, claude_copy_credentials).
	CopyClaudeCredentials bool
	// Uploads are files copied into the host before the agent starts
	// (--upload-file).
	Uploads []FileUpload
	// ProvisionCommands run in the work dir with the agent's environment,
	// in order, after the uploads and before the start
	// (--extra-provision-command).
	ProvisionCommands []string
}

// AgentOrigin is the part of an agent's record that says where its work dir
// came from.
type AgentOrigin struct {
	SourcePath     string
	Transfer       TransferMode
	BaseBranch     string
	Branch         string
	WorkDirCreated bool
}

// AgentStatus is an agent record with the state computed on its host.
type AgentStatus struct {
	Record    AgentRecord
	State     AgentState
	StartTime *time.Time
	// LastActivity is the newest mtime of the agent's and its host's
	// activity files; nil when there is none.
	LastActivity *time.Time
	HostID       HostID
}

// Exit codes the agent scripts use to tell the Go side what went wrong.
const (
	exitNoTmux      = 3
	exitNoCLI       = 4
	exitNoWorkDir   = 5
	exitProcsRemain = 6
	// exitWrongVersion: the agent CLI on a remote host is not the pinned
	// version (start_agent.sh).
	exitWrongVersion = 9
)

func (h *Host) run(ctx context.Context, what, script string) (RunResult, error) {
	if h.Exec == nil {
		return RunResult{}, fmt.Errorf("%s on host %q: %w", what, h.Name, ErrHostOffline)
	}
	res, err := h.Exec.Run(ctx, script, RunOptions{})
	if err != nil {
		return res, fmt.Errorf("%s on host %q: %w", what, h.Name, err)
	}
	return res, nil
}

func (h *Host) mustRun(ctx context.Context, what, script string) (RunResult, error) {
	return h.mustRunInput(ctx, what, script, nil)
}

// mustRunInput is mustRun with stdin on the script's standard input.
func (h *Host) mustRunInput(ctx context.Context, what, script string, stdin io.Reader) (RunResult, error) {
	if h.Exec == nil {
		return RunResult{}, fmt.Errorf("%s on host %q: %w", what, h.Name, ErrHostOffline)
	}
	res, err := h.Exec.Run(ctx, script, RunOptions{Stdin: stdin})
	if err != nil {
		return res, fmt.Errorf("%s on host %q: %w", what, h.Name, err)
	}
	if !res.OK() {
		if err := noSpaceOnHost(ctx, h, what, res.Stderr); err != nil {
			return res, err
		}
		return res, fmt.Errorf("%s on host %q failed (exit %d): %s", what, h.Name, res.ExitCode, lastLine(res.Stderr+"\n"+res.Stdout))
	}
	return res, nil
}

// CreateAgent writes a new agent's state on the host (agents/<id>/data.json
// and env, the host dir layout, and a work dir when spec.WorkDir is empty)
// and returns its record. It refuses a name already used on the host.
func CreateAgent(ctx context.Context, h *Host, prefix string, spec AgentSpec) (AgentRecord, error) {
	if err := ValidateName("agent", spec.Name); err != nil {
		return AgentRecord{}, err
	}
	userEnv, err := parseEnv(spec.Env)
	if err != nil {
		return AgentRecord{}, err
	}
	if err := CheckAgentName(ctx, h, prefix, spec.Name); err != nil {
		return AgentRecord{}, err
	}
	id := spec.ID
	if id == "" {
		id = NewAgentID()
	}
	workDir := spec.WorkDir
	if workDir == "" {
		workDir = generatedWorkDir(h, id)
	}
	w, ht := spec.TmuxWidth, spec.TmuxHeight
	if w <= 0 {
		w = DefaultTmuxWidth
	}
	if ht <= 0 {
		ht = DefaultTmuxHeight
	}
	ready := spec.ReadyTimeoutSeconds
	if ready <= 0 {
		ready = 10
	}
	o := spec.Origin
	rec := AgentRecord{
		ID: id, Name: spec.Name, Type: spec.Type, WorkDir: workDir, CreateTime: time.Now().UTC(),
		Command: spec.Command, AdditionalCommands: spec.Windows, ReadyTimeoutSeconds: ready,
		Labels: spec.Labels, Tmux: TmuxSize{Width: w, Height: ht},
		CreatedBranchName: o.Branch, SourcePath: o.SourcePath, Transfer: o.Transfer, BaseBranch: o.BaseBranch,
		WorkDirCreated: o.WorkDirCreated,
	}
	if rec.AdditionalCommands == nil {
		rec.AdditionalCommands = []WindowCommand{}
	}
	if rec.Labels == nil {
		rec.Labels = map[string]string{}
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return AgentRecord{}, fmt.Errorf("encode agent %q: %w", spec.Name, err)
	}
	sd := agentStateDir(h, id)
	env := append([][2]string{
		{"MNGR_HOST_DIR", h.HostDir},
		{"MNGR_AGENT_ID", string(id)},
		{"MNGR_AGENT_NAME", spec.Name},
		{"MNGR_AGENT_STATE_DIR", sd},
		{"MNGR_AGENT_WORK_DIR", workDir},
	}, append(agentTypeEnv(h, spec.Type, id), userEnv...)...)
	dirs := append([]string{sd + "/activity", sd + "/events", sd + "/status", workDir}, hostDirs(h)...)
	conf := path.Join(h.HostDir, "tmux.conf")
	script := strings.Join([]string{
		"set -e",
		"mkdir -p " + ShellJoin(dirs),
		fmt.Sprintf("[ -f %s ] || { %s; }", ShellQuote(conf), writeFileScript(conf, tmuxConf)),
		secretFileScript(sd + "/env"),
		writeFileScript(sd+"/data.json", string(data)+"\n"),
		stampScript(sd + "/activity/create"),
	}, "\n")
	// The env file comes on stdin: its values may be credentials, which must
	// not show in the host's process list or any log of the script.
	if _, err := h.mustRunInput(ctx, "create agent "+strconv.Quote(spec.Name), script, strings.NewReader(envFile(env))); err != nil {
		return AgentRecord{}, err
	}
	if spec.CopyClaudeCredentials && spec.Type == "claude" && h.Remote {
		if err := copyClaudeCredentials(ctx, h, rec); err != nil {
			return AgentRecord{}, err
		}
	}
	return rec, nil
}

// CheckAgentName refuses a name an agent or a tmux session on h already has.
func CheckAgentName(ctx context.Context, h *Host, prefix, name string) error {
	// The session check needs tmux's table even on a host without agents.
	l, err := h.listing(ctx, true)
	if err != nil {
		return err
	}
	for _, r := range l.records {
		if r.rec.Name == name {
			return WithHint(fmt.Errorf("agent %q already exists on host %q: %w", name, h.Name, ErrConflict),
				"pick another name, or remove the old agent first: mngr destroy %s", name)
		}
	}
	if _, ok := l.panes[SessionName(prefix, name)]; ok {
		return WithHint(fmt.Errorf("tmux session %q already exists on host %q: %w", SessionName(prefix, name), h.Name, ErrConflict),
			"pick another name, or end that session: tmux kill-session -t %s", ShellQuote("="+SessionName(prefix, name)))
	}
	return nil
}

// startScript is the script StartAgent runs (see scripts/start_agent.sh).
func startScript(h *Host, prefix string, rec AgentRecord) string {
	width, height := rec.Tmux.Width, rec.Tmux.Height
	if width <= 0 {
		width = DefaultTmuxWidth
	}
	if height <= 0 {
		height = DefaultTmuxHeight
	}
	want := expectedProcess(rec.Type, rec.Command)
	if len(want) > commMax {
		want = want[:commMax]
	}
	args := []string{
		SessionName(prefix, rec.Name), rec.WorkDir,
		"bash -c " + ShellQuote(envPrefix(h, rec.ID)+"; exec ${SHELL:-bash}"),
		path.Join(h.HostDir, "tmux.conf"), strconv.Itoa(width), strconv.Itoa(height),
		requiredCLI(rec.Type), hostEnvFile(h), agentEnvFile(h, rec.ID),
		agentCommandLine(h, rec), agentStateDir(h, rec.ID), want,
		pinnedVersion(rec.Type), flag(h.Remote),
	}
	for _, wc := range rec.AdditionalCommands {
		args = append(args, wc.WindowName, wc.Command)
	}
	return ScriptCall(startAgentSh, args...)
}

// StartAgent starts the agent in window 0 of tmux session <prefix><name>:
// an interactive shell with the env files loaded, into which the command is
// typed, so a shell remains when it exits. It does nothing when the session
// exists. On a remote host (h.Remote) a missing claude or codex CLI is
// installed first at its pinned version; on this machine it is an error
// with a hint. A claude agent resumes its session (see agentCommandLine).
// Before the start, a claude or codex agent's CLI config is prepared so it
// opens at its prompt (see provisionAgent), and the CLI's version is
// checked against the pinned one: a remote host gets the pinned version
// installed, this machine a warning.
func StartAgent(ctx context.Context, h *Host, prefix string, rec AgentRecord) error {
	if err := provisionAgent(ctx, h, rec); err != nil {
		return err
	}
	script := startScript(h, prefix, rec)
	res, err := h.run(ctx, "start agent "+strconv.Quote(rec.Name), script)
	if err != nil {
		return err
	}
	if (res.ExitCode == exitNoCLI || res.ExitCode == exitWrongVersion) && h.Remote && agentCLIPackage(rec.Type) != "" {
		// A remote host gets the CLI installed, then the start runs again.
		if err := installAgentCLI(ctx, h, rec); err != nil {
			return err
		}
		if res, err = h.run(ctx, "start agent "+strconv.Quote(rec.Name), script); err != nil {
			return err
		}
	}
	if res.OK() {
		for _, line := range strings.Split(res.Stderr, "\n") {
			if w, ok := strings.CutPrefix(line, "warning: "); ok {
				ProgressFrom(ctx).Warn(w)
			}
		}
		return nil
	}
	err = fmt.Errorf("start agent %q on host %q failed (exit %d): %s", rec.Name, h.Name, res.ExitCode, strings.TrimSpace(res.Stderr))
	switch res.ExitCode {
	case exitNoTmux:
		return WithHint(err, "install tmux on the host (apt-get install tmux)")
	case exitNoCLI:
		if h.Remote && agentCLIPackage(rec.Type) != "" {
			return WithHint(fmt.Errorf("%w: %w", err, ErrUnavailable), "mngr installed %s but the agent's PATH does not find it: check PATH in its env files", requiredCLI(rec.Type))
		}
		return WithHint(fmt.Errorf("%w: %w", err, ErrUnavailable), "install the %s CLI on the host, or create the agent with --type command", requiredCLI(rec.Type))
	case exitWrongVersion:
		return WithHint(fmt.Errorf("%w: %w", err, ErrUnavailable), "mngr installed %s but another version comes first on the agent's PATH: check PATH in its env files", agentCLIPackage(rec.Type))
	case exitNoWorkDir:
		return WithHint(fmt.Errorf("%w: %w", err, ErrNotFound), "recreate the agent: mngr destroy %s, then mngr create", rec.Name)
	}
	return err
}

// stopScript ends session sess and the processes of agent id (see
// scripts/stop_agent.sh). It fails with exitProcsRemain listing any
// survivor.
func stopScript(sess string, id AgentID) string {
	return ScriptCall(stopAgentSh, sess, string(id))
}

// StopAgent ends the agent: TERM to its pane processes and their
// descendants (and anything carrying its MNGR_AGENT_ID), KILL after 1 s,
// then the tmux session goes. Stopping a stopped agent is a no-op.
func StopAgent(ctx context.Context, h *Host, prefix string, rec AgentRecord) error {
	res, err := h.mustRun(ctx, "stop agent "+strconv.Quote(rec.Name), stopScript(SessionName(prefix, rec.Name), rec.ID))
	if err != nil && res.ExitCode == exitProcsRemain {
		return WithHint(fmt.Errorf("%w: %w", err, ErrProcessesRemain),
			"find them with ps on host %s and end them by hand, then run the command again", h.Name)
	}
	return err
}

// DestroyAgent stops the agent and removes its state dir, and its work dir
// when mngr made it.
func DestroyAgent(ctx context.Context, h *Host, prefix string, rec AgentRecord) error {
	if err := StopAgent(ctx, h, prefix, rec); err != nil {
		return err
	}
	sd := agentStateDir(h, rec.ID)
	var targets []string
	script := ""
	if rec.WorkDir == generatedWorkDir(h, rec.ID) || (rec.WorkDirCreated && rec.Transfer != TransferGitWorktree) {
		targets = append(targets, rec.WorkDir)
	}
	if rec.WorkDirCreated && rec.Transfer == TransferGitWorktree {
		// The worktree goes; its branch, with the agent's commits, stays
		// in the user's repository.
		src, wd := ShellQuote(rec.SourcePath), ShellQuote(rec.WorkDir)
		script = fmt.Sprintf("git -C %s worktree remove --force %s 2>/dev/null || rm -rf -- %s\ngit -C %s worktree prune 2>/dev/null || true\n", src, wd, wd, src)
	}
	// The record (data.json) goes last: a destroy stopped half-way leaves
	// an agent that lists and that destroy removes when run again. The name
	// claim is released once everything else is gone.
	if len(targets) > 0 {
		script += "rm -rf -- " + ShellJoin(targets) + " || exit 1\n"
	}
	q := ShellQuote(sd)
	script += fmt.Sprintf("[ ! -d %s ] || find %s -mindepth 1 -maxdepth 1 ! -name data.json -exec rm -rf -- {} + || exit 1\nrm -rf -- %s || exit 1\n", q, q, q) +
		releaseNameScript(h, rec)
	res, err := h.mustRun(ctx, "remove agent "+strconv.Quote(rec.Name), script)
	if err != nil && h.Exec != nil && res.ExitCode != 0 {
		// The tool ran and could not remove them: a read-only or full
		// disk, or files of another owner.
		return WithHint(fmt.Errorf("could not remove the files of agent %q on host %q (%s): %w", rec.Name, h.Name, lastLine(res.Stderr+"\n"+res.Stdout), ErrStateRemains),
			"make %s writable (or free some space), then run: mngr destroy %s", sd, rec.Name)
	}
	return err
}

// lastLine is the last non-empty line of a tool's output, the one that
// usually says what went wrong.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// ExecScript is the script that runs command (a shell command line) in the
// agent's work dir with its environment.
func ExecScript(h *Host, rec AgentRecord, command string) string {
	return fmt.Sprintf("cd %s || exit 1\n%s%s\n%s", ShellQuote(rec.WorkDir), userActivity(h), envPrefix(h, rec.ID), command)
}

// AttachScript is the script connect runs on the host to attach the agent's
// tmux session. On a remote host it also stamps the host's ssh activity
// every 5 s while attached (the idle watcher's ssh source); the stamping
// loop ends within 5 s of the attaching shell, however that ends.
func AttachScript(h *Host, prefix string, rec AgentRecord) string {
	attach := "tmux attach-session -t " + ShellQuote("="+SessionName(prefix, rec.Name))
	if h == nil || !h.Remote {
		return "exec " + attach
	}
	stamp := StampHostActivityScript(h, SourceSSH)
	return "(while kill -0 $$ 2>/dev/null; do " + stamp + "; sleep 5; done) </dev/null >/dev/null 2>&1 &\n" +
		"mngr_stamp=$!\n" + attach + "\nmngr_rc=$?\nkill $mngr_stamp 2>/dev/null\nexit $mngr_rc"
}
