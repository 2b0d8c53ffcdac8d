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
	HostID    HostID
}

// Exit codes the agent scripts use to tell the Go side what went wrong.
const (
	exitNoTmux      = 3
	exitNoCLI       = 4
	exitNoWorkDir   = 5
	exitProcsRemain = 6
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
		return res, fmt.Errorf("%s on host %q failed (exit %d): %s", what, h.Name, res.ExitCode, strings.TrimSpace(res.Stderr+" "+res.Stdout))
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
	}, userEnv...)
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

// StartAgent starts the agent in window 0 of tmux session <prefix><name>:
// an interactive shell with the env files loaded, into which the command is
// typed, so a shell remains when it exits. It does nothing when the session
// exists. On a remote host (h.Remote) a missing claude or codex CLI is
// installed first at its pinned version; on this machine it is an error
// with a hint. A claude agent resumes its session (see agentCommandLine).
func StartAgent(ctx context.Context, h *Host, prefix string, rec AgentRecord) error {
	sess := SessionName(prefix, rec.Name)
	s := ShellQuote("=" + sess)
	w0 := ShellQuote("=" + sess + ":0")
	sd := agentStateDir(h, rec.ID)
	shell := "bash -c " + ShellQuote(envPrefix(h, rec.ID)+"; exec ${SHELL:-bash}")
	conf := ShellQuote(path.Join(h.HostDir, "tmux.conf"))
	wd := ShellQuote(rec.WorkDir)
	width, height := rec.Tmux.Width, rec.Tmux.Height
	if width <= 0 {
		width = DefaultTmuxWidth
	}
	if height <= 0 {
		height = DefaultTmuxHeight
	}
	var b strings.Builder
	fmt.Fprintf(&b, "command -v tmux >/dev/null 2>&1 || { echo 'tmux is not installed on this host' >&2; exit %d; }\n", exitNoTmux)
	fmt.Fprintf(&b, "if tmux has-session -t %s 2>/dev/null; then exit 0; fi\n", s)
	b.WriteString("unset HISTFILE\n")
	fmt.Fprintf(&b, "cd %s || { printf 'work dir %%s is missing\\n' %s >&2; exit %d; }\n", wd, wd, exitNoWorkDir)
	if cli := requiredCLI(rec.Type); cli != "" {
		fmt.Fprintf(&b, "( %s; command -v %s ) >/dev/null 2>&1 || { echo '%s is not installed on this host' >&2; exit %d; }\n",
			envPrefix(h, rec.ID), ShellQuote(cli), cli, exitNoCLI)
	}
	b.WriteString("set -e\n")
	fmt.Fprintf(&b, "tmux new-session -d -s %s -x %d -y %d -c %s %s\n", ShellQuote(sess), width, height, wd, ShellQuote(shell))
	// Keep the agent in window 0 even when the user's tmux base-index differs.
	fmt.Fprintf(&b, "w=$(tmux display-message -p -t %s '#{window_index}')\n", ShellQuote("="+sess+":"))
	fmt.Fprintf(&b, "[ \"$w\" = 0 ] || tmux move-window -s %s\"$w\" -t %s\n", ShellQuote("="+sess+":"), w0)
	fmt.Fprintf(&b, "tmux source-file %s >/dev/null 2>&1 || true\n", conf)
	for _, wc := range rec.AdditionalCommands {
		target := ShellQuote("=" + sess + ":" + wc.WindowName)
		fmt.Fprintf(&b, "tmux new-window -d -t %s -n %s -c %s %s\n", s, ShellQuote(wc.WindowName), wd, ShellQuote(shell))
		fmt.Fprintf(&b, "tmux send-keys -t %s -l -- %s\ntmux send-keys -t %s Enter\n", target, ShellQuote(wc.Command), target)
	}
	fmt.Fprintf(&b, "tmux send-keys -t %s -l -- %s\ntmux send-keys -t %s Enter\n", w0, ShellQuote(agentCommandLine(rec)), w0)
	b.WriteString(stampScript(sd+"/activity/start") + "\n")
	// The command is typed into a shell that may still be starting: wait,
	// bounded (3 s), until its process shows in the pane, so a list right
	// after start does not read the lone shell as DONE. A command that ends
	// at once just uses up the wait.
	if want := expectedProcess(rec.Type, rec.Command); want != "" {
		if len(want) > commMax {
			want = want[:commMax]
		}
		fmt.Fprintf(&b, `set +e
want=%s; i=0
while [ $i -lt 30 ]; do
  set -- $(tmux list-panes -t %s -F '#{pane_pid} #{pane_current_command}' 2>/dev/null | head -n 1)
  [ "${2:-}" = "$want" ] && break
  [ -n "${1:-}" ] && pgrep -x -P "$1" -- "$want" >/dev/null 2>&1 && break
  sleep 0.1; i=$((i+1))
done
set -e
`, ShellQuote(want), w0)
	}
	// Record process activity every 5 s while the pane lives, for at most a week.
	watch := fmt.Sprintf(`i=0; while [ $i -lt 120960 ] && [ "$(tmux list-panes -t %s -F '#{pane_dead}' 2>/dev/null | head -n 1)" = 0 ]; do %s; sleep 5; i=$((i+1)); done`,
		w0, stampScript(sd+"/activity/process"))
	fmt.Fprintf(&b, "(nohup sh -c %s </dev/null >/dev/null 2>&1 &)\n", ShellQuote(watch))

	res, err := h.run(ctx, "start agent "+strconv.Quote(rec.Name), b.String())
	if err != nil {
		return err
	}
	if res.ExitCode == exitNoCLI && h.Remote && agentCLIPackage(rec.Type) != "" {
		// A remote host gets the CLI installed, then the start runs again.
		if err := installAgentCLI(ctx, h, rec); err != nil {
			return err
		}
		if res, err = h.run(ctx, "start agent "+strconv.Quote(rec.Name), b.String()); err != nil {
			return err
		}
	}
	if res.OK() {
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
	case exitNoWorkDir:
		return WithHint(fmt.Errorf("%w: %w", err, ErrNotFound), "recreate the agent: mngr destroy %s, then mngr create", rec.Name)
	}
	return err
}

// stopScript ends session sess: TERM to its pane processes, their
// descendants and any process carrying the agent's MNGR_AGENT_ID (but never
// the script's own ancestors), KILL to survivors after 1 s, then
// kill-session. It fails with exitProcsRemain listing any survivor.
func stopScript(sess string, id AgentID) string {
	return fmt.Sprintf(`S=%s
roots=$(tmux list-panes -s -t "$S" -F '#{pane_pid}' 2>/dev/null || true)
tagged=$(grep -lzx -- %s /proc/[0-9]*/environ 2>/dev/null | sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p' || true)
victims=$(ps -e -o pid=,ppid= | awk -v roots="$roots $tagged" -v self=$$ '
  { pp[$1] = $2; kids[$2] = kids[$2] " " $1 }
  END {
    a = self
    for (i = 0; i < 256 && a > 1; i++) { anc[a] = 1; a = pp[a] }
    n = split(roots, r, " "); tail = 0
    for (i = 1; i <= n; i++) if ((r[i] in pp) && !(r[i] in mark)) { mark[r[i]] = 1; q[++tail] = r[i] }
    for (head = 1; head <= tail; head++) {
      m = split(kids[q[head]], c, " ")
      for (j = 1; j <= m; j++) if (!(c[j] in mark)) { mark[c[j]] = 1; q[++tail] = c[j] }
    }
    for (p in mark) if (!(p in anc)) print p
  }')
alive=""
if [ -n "$victims" ]; then
  kill -TERM $victims 2>/dev/null || true
  i=0
  while [ $i -lt 10 ]; do
    alive=$(ps -o pid=,stat= -p "$(echo $victims | tr ' ' ,)" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }')
    [ -z "$alive" ] && break
    sleep 0.1; i=$((i+1))
  done
  if [ -n "$alive" ]; then
    kill -KILL $alive 2>/dev/null || true
    i=0
    while [ $i -lt 20 ]; do
      alive=$(ps -o pid=,stat= -p "$(echo $alive | tr ' ' ,)" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }')
      [ -z "$alive" ] && break
      sleep 0.1; i=$((i+1))
    done
  fi
fi
tmux kill-session -t "=$S" 2>/dev/null || true
if [ -n "$alive" ]; then echo "processes remain:" $alive >&2; exit %d; fi
exit 0`, ShellQuote(sess), ShellQuote("MNGR_AGENT_ID="+string(id)), exitProcsRemain)
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
	targets := []string{agentStateDir(h, rec.ID)}
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
	_, err := h.mustRun(ctx, "remove agent "+strconv.Quote(rec.Name), script+"rm -rf -- "+ShellJoin(targets))
	return err
}

// ExecScript is the script that runs command (a shell command line) in the
// agent's work dir with its environment.
func ExecScript(h *Host, rec AgentRecord, command string) string {
	return fmt.Sprintf("cd %s || exit 1\n%s\n%s", ShellQuote(rec.WorkDir), envPrefix(h, rec.ID), command)
}

// AttachScript is the script connect runs on the host to attach the agent's
// tmux session.
func AttachScript(_ *Host, prefix string, rec AgentRecord) string {
	return "exec tmux attach-session -t " + ShellQuote("="+SessionName(prefix, rec.Name))
}
