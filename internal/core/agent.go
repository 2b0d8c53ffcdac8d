package core

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AgentSpec is what the user asked for when creating an agent.
type AgentSpec struct {
	Name    string
	Type    string
	Command string
	// WorkDir is where the agent runs; "" makes <host_dir>/work/<agent-id>.
	WorkDir    string
	Env        []string
	Labels     map[string]string
	Windows    []WindowCommand
	TmuxWidth  int
	TmuxHeight int
}

// AgentStatus is an agent record with the state computed on its host.
type AgentStatus struct {
	Record    AgentRecord
	State     AgentState
	StartTime *time.Time
	HostID    HostID
}

func agentStateDir(h *Host, id AgentID) string { return path.Join(h.HostDir, "agents", string(id)) }

// SessionName is the tmux session of an agent.
func SessionName(prefix, agentName string) string { return prefix + agentName }

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
	res, err := h.run(ctx, what, script)
	if err != nil {
		return res, err
	}
	if !res.OK() {
		return res, fmt.Errorf("%s on host %q failed (exit %d): %s", what, h.Name, res.ExitCode, strings.TrimSpace(res.Stderr+" "+res.Stdout))
	}
	return res, nil
}

// envFile renders KEY=VALUE lines that sh can source.
func envFile(vars []string) string {
	var b strings.Builder
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "%s=%s\n", k, ShellQuote(v))
	}
	return b.String()
}

// writeFileScript writes content to p atomically on the host.
func writeFileScript(p, content string) string {
	return fmt.Sprintf("printf '%%s' %s > %s.tmp && mv -f %s.tmp %s", ShellQuote(content), ShellQuote(p), ShellQuote(p), ShellQuote(p))
}

// CreateAgent writes a new agent's state (data.json, env) on the host and
// returns its record. It refuses a name already used on the host.
func CreateAgent(ctx context.Context, h *Host, prefix string, spec AgentSpec) (AgentRecord, error) {
	if err := ValidateName("agent", spec.Name); err != nil {
		return AgentRecord{}, err
	}
	existing, err := readAgentRecords(ctx, h)
	if err != nil {
		return AgentRecord{}, err
	}
	for _, r := range existing {
		if r.Name == spec.Name {
			return AgentRecord{}, WithHint(fmt.Errorf("agent %q already exists on host %q: %w", spec.Name, h.Name, ErrConflict),
				"pick another name, or remove it first with: mngr destroy %s", spec.Name)
		}
	}
	id := NewAgentID()
	workDir := spec.WorkDir
	if workDir == "" {
		workDir = path.Join(h.HostDir, "work", string(id))
	}
	w, hgt := spec.TmuxWidth, spec.TmuxHeight
	if w <= 0 {
		w = 200
	}
	if hgt <= 0 {
		hgt = 50
	}
	labels := spec.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	rec := AgentRecord{
		ID: id, Name: spec.Name, Type: spec.Type, WorkDir: workDir, CreateTime: time.Now().UTC(),
		Command: spec.Command, AdditionalCommands: spec.Windows, ReadyTimeoutSeconds: 10,
		Labels: labels, Tmux: TmuxSize{Width: w, Height: hgt},
	}
	if rec.AdditionalCommands == nil {
		rec.AdditionalCommands = []WindowCommand{}
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return AgentRecord{}, fmt.Errorf("encode agent %q: %w", spec.Name, err)
	}
	sd := agentStateDir(h, id)
	env := append([]string{
		"MNGR_HOST_DIR=" + h.HostDir,
		"MNGR_AGENT_ID=" + string(id),
		"MNGR_AGENT_NAME=" + spec.Name,
		"MNGR_AGENT_STATE_DIR=" + sd,
		"MNGR_AGENT_WORK_DIR=" + workDir,
	}, spec.Env...)
	script := strings.Join([]string{
		"set -e",
		"mkdir -p " + ShellJoin([]string{sd + "/activity", sd + "/events", sd + "/status", workDir, h.HostDir + "/activity", h.HostDir + "/signals", h.HostDir + "/logs"}),
		writeFileScript(sd+"/env", envFile(env)),
		writeFileScript(sd+"/data.json", string(data)+"\n"),
		fmt.Sprintf("printf '{\"time\":%%s000}' \"$(date +%%s)\" > %s", ShellQuote(sd+"/activity/create")),
	}, "\n")
	if _, err := h.mustRun(ctx, "create agent "+strconv.Quote(spec.Name), script); err != nil {
		return AgentRecord{}, err
	}
	return rec, nil
}

// envPrefix sources the host and agent env files, as every agent command does.
func envPrefix(h *Host, rec AgentRecord) string {
	sd := agentStateDir(h, rec.ID)
	return fmt.Sprintf("set -a; [ -f %s ] && . %s || true; [ -f %s ] && . %s || true; set +a",
		ShellQuote(h.HostDir+"/env"), ShellQuote(h.HostDir+"/env"), ShellQuote(sd+"/env"), ShellQuote(sd+"/env"))
}

// StartAgent starts the agent in window 0 of tmux session <prefix><name>,
// typing its command into an interactive shell. It does nothing when the
// session exists.
func StartAgent(ctx context.Context, h *Host, prefix string, rec AgentRecord) error {
	s := "=" + SessionName(prefix, rec.Name)
	sd := agentStateDir(h, rec.ID)
	shell := "bash -c " + ShellQuote(envPrefix(h, rec)+"; exec ${SHELL:-bash}")
	tmuxConf := h.HostDir + "/tmux.conf"
	lines := []string{
		fmt.Sprintf("tmux has-session -t %s 2>/dev/null && exit 0", ShellQuote(s)),
		"unset HISTFILE",
		"command -v tmux >/dev/null || { echo 'tmux is not installed on this host' >&2; exit 3; }",
		fmt.Sprintf("[ -f %s ] || printf 'set -g status-left-length 20\\nset -g set-titles on\\n' > %s", ShellQuote(tmuxConf), ShellQuote(tmuxConf)),
		fmt.Sprintf("cd %s", ShellQuote(rec.WorkDir)),
		fmt.Sprintf("tmux new-session -d -s %s -x %d -y %d -c %s %s", ShellQuote(SessionName(prefix, rec.Name)), rec.Tmux.Width, rec.Tmux.Height, ShellQuote(rec.WorkDir), ShellQuote(shell)),
		fmt.Sprintf("tmux source-file %s 2>/dev/null || true", ShellQuote(tmuxConf)),
	}
	for _, wc := range rec.AdditionalCommands {
		lines = append(lines,
			fmt.Sprintf("tmux new-window -t %s -n %s -c %s %s", ShellQuote(s), ShellQuote(wc.WindowName), ShellQuote(rec.WorkDir), ShellQuote(shell)),
			fmt.Sprintf("tmux send-keys -t %s -l -- %s && tmux send-keys -t %s Enter", ShellQuote(s+":"+wc.WindowName), ShellQuote(wc.Command), ShellQuote(s+":"+wc.WindowName)))
	}
	// A bounded watcher: records process activity every 5 s while the pane lives.
	watch := fmt.Sprintf("while tmux has-session -t %s 2>/dev/null; do printf '{\"time\":%%s000}' \"$(date +%%s)\" > %s; sleep 5; done",
		ShellQuote(s), ShellQuote(sd+"/activity/process"))
	lines = append(lines,
		fmt.Sprintf("tmux send-keys -t %s -l -- %s", ShellQuote(s+":0"), ShellQuote(rec.Command)),
		fmt.Sprintf("tmux send-keys -t %s Enter", ShellQuote(s+":0")),
		fmt.Sprintf("printf '{\"time\":%%s000}' \"$(date +%%s)\" > %s", ShellQuote(sd+"/activity/start")),
		fmt.Sprintf("(nohup sh -c %s >/dev/null 2>&1 &)", ShellQuote(watch)),
	)
	res, err := h.run(ctx, "start agent "+strconv.Quote(rec.Name), strings.Join(lines, " &&\n"))
	if err != nil {
		return err
	}
	if !res.OK() {
		err := fmt.Errorf("start agent %q on host %q failed (exit %d): %s", rec.Name, h.Name, res.ExitCode, strings.TrimSpace(res.Stderr))
		if res.ExitCode == 3 {
			return WithHint(err, "install tmux on the host (apt-get install tmux)")
		}
		return err
	}
	return nil
}

// StopAgent ends the agent: TERM to its pane processes and their
// descendants (and anything carrying its MNGR_AGENT_ID), KILL after 1 s,
// then the tmux session goes.
func StopAgent(ctx context.Context, h *Host, prefix string, rec AgentRecord) error {
	s := ShellQuote("=" + SessionName(prefix, rec.Name))
	script := fmt.Sprintf(`roots=$(tmux list-panes -s -t %s -F '#{pane_pid}' 2>/dev/null || true)
for p in /proc/[0-9]*; do
  if tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qx %s; then roots="$roots ${p#/proc/}"; fi
done
[ -z "$roots" ] && { tmux kill-session -t %s 2>/dev/null; exit 0; }
all=$roots; frontier=$roots; i=0
while [ -n "$frontier" ] && [ $i -lt 20 ]; do
  next=""; for p in $frontier; do next="$next $(ps -o pid= --ppid "$p" 2>/dev/null)"; done
  frontier=$(echo $next); all="$all $frontier"; i=$((i+1))
done
self=$$
victims=""; for p in $all; do [ "$p" != "$self" ] && victims="$victims $p"; done
kill -TERM $victims 2>/dev/null || true
sleep 1
kill -KILL $victims 2>/dev/null || true
tmux kill-session -t %s 2>/dev/null || true
exit 0`, s, ShellQuote("MNGR_AGENT_ID="+string(rec.ID)), s, s)
	_, err := h.mustRun(ctx, "stop agent "+strconv.Quote(rec.Name), script)
	return err
}

// DestroyAgent stops the agent and removes its state, and its work dir when
// mngr made it.
func DestroyAgent(ctx context.Context, h *Host, prefix string, rec AgentRecord) error {
	if err := StopAgent(ctx, h, prefix, rec); err != nil {
		return err
	}
	targets := []string{agentStateDir(h, rec.ID)}
	if rec.WorkDir == path.Join(h.HostDir, "work", string(rec.ID)) {
		targets = append(targets, rec.WorkDir)
	}
	_, err := h.mustRun(ctx, "remove agent "+strconv.Quote(rec.Name), "rm -rf "+ShellJoin(targets))
	return err
}

// ExecScript is the script that runs command in the agent's work dir with
// its environment.
func ExecScript(h *Host, rec AgentRecord, command string) string {
	return fmt.Sprintf("cd %s && %s && %s", ShellQuote(rec.WorkDir), envPrefix(h, rec), command)
}

// AttachScript is the script connect runs on the host to attach the agent.
func AttachScript(h *Host, prefix string, rec AgentRecord) string {
	_ = h
	return "exec tmux attach -t " + ShellQuote("="+SessionName(prefix, rec.Name))
}

const recordSep = "---MNGR_AGENT_FILE_SEP---"

func listScript(h *Host) string {
	a := ShellQuote(path.Join(h.HostDir, "agents"))
	return fmt.Sprintf(`[ -d %s ] && for f in %s/*/data.json; do [ -f "$f" ] || continue; d=${f%%/data.json}; echo '%s'"$d"; [ -f "$d/active" ] && echo ACTIVE || echo IDLE; cat "$f"; echo; done
echo '---MNGR_PANES---'
tmux list-panes -a -F '#{session_name}|#{window_index}|#{pane_index}|#{pane_dead}|#{pane_current_command}|#{pane_pid}' 2>/dev/null || true
echo '---MNGR_PS---'
ps -e -o pid=,ppid=,comm= 2>/dev/null || true
exit 0`, a, a, recordSep)
}

type agentListing struct {
	records []AgentRecord
	active  map[AgentID]bool
	panes   map[string]paneInfo // by session name, window 0 pane 0
	procs   []procInfo
}

type paneInfo struct {
	dead    bool
	command string
	pid     int
}

type procInfo struct {
	pid, ppid int
	comm      string
}

func parseListing(out string) agentListing {
	l := agentListing{active: map[AgentID]bool{}, panes: map[string]paneInfo{}}
	recPart, rest, _ := strings.Cut(out, "---MNGR_PANES---")
	panePart, psPart, _ := strings.Cut(rest, "---MNGR_PS---")
	for _, chunk := range strings.Split(recPart, recordSep)[1:] {
		lines := strings.SplitN(chunk, "\n", 3)
		if len(lines) < 3 {
			continue
		}
		var r AgentRecord
		if err := json.Unmarshal([]byte(lines[2]), &r); err != nil || r.ID == "" {
			continue
		}
		l.records = append(l.records, r)
		l.active[r.ID] = strings.TrimSpace(lines[1]) == "ACTIVE"
	}
	for _, line := range strings.Split(panePart, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 6 || f[1] != "0" || f[2] != "0" {
			continue
		}
		pid, _ := strconv.Atoi(f[5])
		l.panes[f[0]] = paneInfo{dead: f[3] == "1", command: f[4], pid: pid}
	}
	for _, line := range strings.Split(psPart, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		ppid, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			continue
		}
		l.procs = append(l.procs, procInfo{pid: pid, ppid: ppid, comm: strings.Join(f[2:], " ")})
	}
	sort.Slice(l.records, func(i, j int) bool { return l.records[i].CreateTime.Before(l.records[j].CreateTime) })
	return l
}

var shells = map[string]bool{"bash": true, "sh": true, "zsh": true, "dash": true, "fish": true, "-bash": true, "login": true}

// agentState computes an agent's state from its pane and the process tree.
func (l agentListing) agentState(prefix string, rec AgentRecord) AgentState {
	p, ok := l.panes[SessionName(prefix, rec.Name)]
	if !ok {
		return AgentStopped
	}
	if p.dead {
		return AgentDone
	}
	want := expectedProcess(rec.Type, rec.Command)
	children := map[int][]procInfo{}
	for _, pr := range l.procs {
		children[pr.ppid] = append(children[pr.ppid], pr)
	}
	var desc []procInfo
	frontier := []int{p.pid}
	for depth := 0; depth < 32 && len(frontier) > 0; depth++ {
		var next []int
		for _, pid := range frontier {
			for _, c := range children[pid] {
				desc = append(desc, c)
				next = append(next, c.pid)
			}
		}
		frontier = next
	}
	found := p.command == want && want != ""
	other := false
	for _, d := range desc {
		if d.comm == want {
			found = true
		} else if !shells[d.comm] {
			other = true
		}
	}
	switch {
	case found && l.active[rec.ID]:
		return AgentRunning
	case found:
		return AgentWaiting
	case other:
		return AgentReplaced
	default:
		return AgentDone
	}
}

func readAgentRecords(ctx context.Context, h *Host) ([]AgentRecord, error) {
	res, err := h.mustRun(ctx, "list agents", listScript(h))
	if err != nil {
		return nil, err
	}
	return parseListing(res.Stdout).records, nil
}

// ListAgents reads every agent record on the host and computes its state,
// in one command on the host.
func ListAgents(ctx context.Context, h *Host, prefix string) ([]AgentStatus, error) {
	res, err := h.mustRun(ctx, "list agents", listScript(h))
	if err != nil {
		return nil, err
	}
	l := parseListing(res.Stdout)
	out := make([]AgentStatus, 0, len(l.records))
	for _, r := range l.records {
		out = append(out, AgentStatus{Record: r, State: l.agentState(prefix, r), HostID: h.ID})
	}
	return out, nil
}
